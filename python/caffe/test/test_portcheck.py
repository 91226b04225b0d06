"""The port-check tool passes both ports and catches broken ones."""
import ctypes
import os
import subprocess
import sys

import pytest

import caffe
from caffe import portcheck

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
    ctypes.CDLL(plugin, mode=ctypes.RTLD_GLOBAL)
    assert 'BrokenEuclideanLoss' in caffe.layer_type_list()
    assert portcheck.main(EUCLIDEAN + ['--native', 'type: "BrokenEuclideanLoss"']) == 1
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
