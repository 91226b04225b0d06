"""The port-check tool passes both ports and catches broken ones; bad
arguments end in a usage error, never in an abort."""
import os
import subprocess
import sys
import tempfile

import pytest

import caffe
from caffe import portcheck

# Every test here runs a Python layer (conftest.py skips them without).
pytestmark = pytest.mark.python_layer

EUCLIDEAN = ['--prototype', 'caffe.prototypes.euclidean_loss.EuclideanLossLayer',
             '--shape', '8,6', '--shape', '8,6', '--time', '0.05']
BLANK_SQUARE = ['--prototype', 'caffe.prototypes.blank_square.BlankSquareLayer',
                '--shape', '4,2,12,12', '--stochastic', '--passes', '150', '--time', '0.05']


def test_euclidean_loss_port_passes(capsys):
    assert portcheck.main(EUCLIDEAN + ['--native', 'type: "EuclideanLoss"']) == 0
    out = capsys.readouterr().out
    assert 'propagate_down=10 bottom[1]' in out and 'not written, as asked' in out
    assert 'native bottom[1]' in out and out.rstrip().endswith('PASS')


def test_blank_square_port_passes_statistics(capsys):
    assert portcheck.main(BLANK_SQUARE + ['--native', 'type: "BlankSquare"']) == 0
    out = capsys.readouterr().out
    assert 'top[0] fraction changed' in out and 'prototype 0.2500  native 0.2500' in out


def test_blank_square_with_other_parameters_is_caught(capsys):
    native = 'type: "BlankSquare" blank_square_param { ratio: 0.25 }'
    assert portcheck.main(BLANK_SQUARE + ['--native', native]) == 1
    assert 'FAIL' in capsys.readouterr().out


def test_broken_native_layer_is_caught(capsys):
    plugin = os.environ.get('CAFFE_BROKEN_LAYERS')
    if not plugin:
        pytest.skip('CAFFE_BROKEN_LAYERS names no plugin (CTest sets it)')
    assert portcheck.main(EUCLIDEAN + ['--plugin', plugin,
                                       '--native', 'type: "BrokenEuclideanLoss"']) == 1
    assert 'BrokenEuclideanLoss' in caffe.layer_type_list()
    out = capsys.readouterr().out
    failed = out[out.index('FAIL:'):]
    assert 'propagate_down=11 bottom[1]' in failed
    assert 'native bottom[1]' in failed          # finite differences disagree
    assert 'bottom[0]' not in failed.replace('native bottom[1]', '')  # a is right


def test_command_line_exit_status():
    command = [sys.executable, '-m', 'caffe.portcheck'] + EUCLIDEAN
    ok = subprocess.run(command + ['--native', 'type: "EuclideanLoss"'],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # A stochastic layer checked value for value: the squares differ.
    mismatch = subprocess.run(
        [sys.executable, '-m', 'caffe.portcheck', '--time', '0.05',
         '--prototype', 'caffe.prototypes.blank_square.BlankSquareLayer',
         '--native', 'type: "BlankSquare"', '--shape', '2,1,8,8', '--input-range', '1', '2'],
        capture_output=True, text=True, timeout=300)
    assert mismatch.returncode == 1, mismatch.stdout + mismatch.stderr
    assert 'top[0]' in mismatch.stdout and 'FAIL' in mismatch.stdout


# The pyloss prototype of the seed document (Caffe's old Python-layer
# example), its typos fixed: a loss of shape (1,) where Caffe's loss layers
# are scalars (), and a backward that ignores top.diff (so loss_weight).
SEED_PYLOSS = """
import numpy as np
import caffe


class EuclideanLossLayer(caffe.Layer):

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("Need two inputs to compute distance.")

    def reshape(self, bottom, top):
        if bottom[0].count != bottom[1].count:
            raise Exception("Inputs must have the same dimension.")
        self.diff = np.zeros_like(bottom[0].data, dtype=np.float32)
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.diff[...] = bottom[0].data - bottom[1].data
        top[0].data[...] = np.sum(self.diff**2) / bottom[0].num / 2.

    def backward(self, top, propagate_down, bottom):
        for i in range(2):
            if not propagate_down[i]:
                continue
            sign = 1 if i == 0 else -1
            bottom[i].diff[...] = SCALE * sign * self.diff / bottom[i].num
"""


def seed_pyloss(tmp_path, monkeypatch, name, scale):
    (tmp_path / f'{name}.py').write_text(SEED_PYLOSS.replace('SCALE', str(scale)))
    monkeypatch.syspath_prepend(str(tmp_path))
    return ['--prototype', f'{name}.EuclideanLossLayer', '--native', 'type: "EuclideanLoss"',
            '--shape', '8,6', '--shape', '8,6', '--time', '0.05']


def test_seed_pyloss_passes_with_notes(tmp_path, monkeypatch, capsys):
    assert portcheck.main(seed_pyloss(tmp_path, monkeypatch, 'seed_pyloss', 1)) == 0
    out = capsys.readouterr().out
    assert 'top[0]: native shape (), prototype (1,); both hold one value' in out
    assert 'the prototype ignores top.diff' in out
    assert 'backward (top diffs of 1)' in out
    assert 'native' in out and 'gradient doubles with top.diff' in out
    assert out.rstrip().endswith('PASS')


def test_wrong_prototype_gradient_is_not_excused(tmp_path, monkeypatch, capsys):
    # Twice the right gradient, and it ignores top.diff: the note does not
    # hide the disagreement.
    args = seed_pyloss(tmp_path, monkeypatch, 'seed_pyloss_doubled', 2)
    assert portcheck.main(args) == 1
    out = capsys.readouterr().out
    failed = out[out.index('FAIL:'):]
    assert 'propagate_down=11 bottom[0]' in failed and 'prototype bottom[0]' in failed


def usage_error(args, capsys):
    with pytest.raises(SystemExit) as info:
        portcheck.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('usage: python -m caffe.portcheck')
    return err


@pytest.mark.parametrize('native, expected', [
    ('type: "EuclideanLoss" euclidean_param {', 'is not LayerParameter text'),
    ('type: "NoSuchLayer"', "no layer type 'NoSuchLayer' is registered"),
    ('blank_square_param { ratio: 0.5 }', 'names no layer type'),
    ('name: "mine" type: "EuclideanLoss"', 'leave out name'),
])
def test_bad_native_is_a_usage_error(native, expected, capsys):
    err = usage_error(EUCLIDEAN + ['--native', native], capsys)
    assert expected in err


@pytest.mark.parametrize('shape, expected', [
    ('8,x', 'expected e.g. 16,3,28,28'),
    ('8,0', 'dimensions must be positive'),
    ('65536,65536', 'the most a Caffe blob holds'),
])
def test_bad_shape_is_a_usage_error(shape, expected, capsys):
    err = usage_error(['--prototype', 'caffe.prototypes.blank_square.BlankSquareLayer',
                       '--native', 'type: "BlankSquare"', '--shape', shape], capsys)
    assert expected in err


def test_what_caffe_rejects_is_a_usage_error(capsys):
    # Shapes EuclideanLoss refuses, a parameter BlankSquare refuses: Caffe's
    # CHECK fails in the child that builds the nets, and its message is the
    # error.
    err = usage_error(['--prototype', 'caffe.prototypes.euclidean_loss.EuclideanLossLayer',
                       '--native', 'type: "EuclideanLoss"',
                       '--shape', '8,6', '--shape', '4,6'], capsys)
    assert 'Caffe rejects the layers with --shape 8,6 --shape 4,6 on the CPU' in err
    err = usage_error(BLANK_SQUARE + ['--native',
                                      'type: "BlankSquare" blank_square_param { ratio: 2 }'],
                      capsys)
    assert 'Caffe rejects the layers' in err and 'ratio' in err
    assert caffe.layer_type_list()  # this process is alive


def test_command_line_bad_arguments_exit_2_without_abort():
    result = subprocess.run(
        [sys.executable, '-m', 'caffe.portcheck', '--time', '0.05',
         '--prototype', 'caffe.prototypes.blank_square.BlankSquareLayer',
         '--native', 'type: "BlankSquare" blank_square_param { ratio: 2 }',
         '--shape', '2,1,8,8', '--stochastic'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'python -m caffe.portcheck: error: Caffe rejects the layers' in result.stderr
    assert 'Check failure stack trace' not in result.stderr


def test_gpu_takes_a_device_id(capsys):
    parser = portcheck.build_parser()
    required = ['--prototype', 'm.C', '--native', 'type: "X"', '--shape', '1']
    assert parser.parse_args(required).gpu is None
    assert parser.parse_args(required + ['--gpu']).gpu == 0
    assert parser.parse_args(required + ['--gpu', '3']).gpu == 3
    # No machine has a GPU 99 (and a CPU-only build has none): a usage error.
    err = usage_error(EUCLIDEAN + ['--native', 'type: "EuclideanLoss"', '--gpu', '99'], capsys)
    assert 'on GPU 99' in err
    err = usage_error(EUCLIDEAN + ['--native', 'type: "EuclideanLoss"', '--gpu', '-1'], capsys)
    assert 'a device id is 0 or more' in err


def test_no_temporary_files_are_left(tmp_path, monkeypatch, capsys):
    scratch = tmp_path / 'scratch'
    scratch.mkdir()
    monkeypatch.setenv('TMPDIR', str(scratch))
    monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
    assert portcheck.main(EUCLIDEAN + ['--native', 'type: "EuclideanLoss"']) == 0
    assert list(scratch.iterdir()) == []
