"""Upstream's tools beside pycaffe, each run as a user runs it: tools/extra
(a real `caffe train` log through parse_log.py, parse_log.sh and
plot_training_log.py.example, a net through summarize.py; Python 3:
patches/0041-tools-extra-python-3.patch, glog's year-prefixed lines:
patches/0059-extract-seconds-glog-year-prefix.patch) and
scripts/download_model_binary.py
(patches/0042-download-model-binary-python-3.patch: Python 3, PyYAML 6)."""
import csv
import hashlib
import os
import subprocess
import sys

import pytest

NET = '''name: "tiny"
layer {{ name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param {{
    shape {{ dim: 8 dim: 6 }} shape {{ dim: 8 }}
    data_filler {{ type: "gaussian" }} data_filler {{ type: "constant" value: 1 }} }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  param {{ lr_mult: 1 }} param {{ lr_mult: 2 decay_mult: 0 }}
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy"
  include {{ phase: TEST }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }}
'''

SOLVER = '''net: "{net}"
base_lr: 0.01
lr_policy: "step"
gamma: 0.5
stepsize: 10
max_iter: 20
display: 5
test_iter: 2
test_interval: 10
solver_mode: CPU
snapshot_after_train: false
'''


def caffe_root():
    root = os.environ.get('CAFFE_ROOT')
    if not root:
        pytest.skip('CAFFE_ROOT (env.sh) names no Caffe tree')
    return root


def tools_extra():
    return os.path.join(caffe_root(), 'tools', 'extra')


@pytest.fixture(scope='module')
def training(tmp_path_factory, build_tool):
    """Trains the tiny net for 20 iterations; returns its folder, where
    caffe.log is the log (glog's lines, as `caffe train 2> caffe.log`)."""
    folder = tmp_path_factory.mktemp('training')
    net = folder / 'net.prototxt'
    net.write_text(NET.format())
    (folder / 'solver.prototxt').write_text(SOLVER.format(net=net))
    env = dict(os.environ, GLOG_logtostderr='1')
    result = subprocess.run([build_tool('caffe'), 'train', '--solver', 'solver.prototxt'],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    (folder / 'caffe.log').write_text(result.stderr)
    return folder


def run(args, cwd, status=0, **env):
    result = subprocess.run(args, cwd=cwd, env=dict(os.environ, **env),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == status, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_parse_log_writes_training_and_test_tables(training, tmp_path):
    run([sys.executable, os.path.join(tools_extra(), 'parse_log.py'),
         str(training / 'caffe.log'), str(tmp_path)], cwd=tmp_path)
    with open(tmp_path / 'caffe.log.train', newline='') as f:
        train = list(csv.DictReader(f))
    with open(tmp_path / 'caffe.log.test', newline='') as f:
        test = list(csv.DictReader(f))
    # Displayed every 5 iterations. The learning rate halves at 10 (a row
    # takes the last rate logged before its outputs, as upstream's does).
    assert [float(row['NumIters']) for row in train] == [0, 5, 10, 15]
    rates = [float(row['LearningRate']) for row in train]
    assert rates[0] == 0.01 and rates[-1] == 0.005 and rates == sorted(rates, reverse=True)
    seconds = [float(row['Seconds']) for row in train]
    assert seconds[0] >= 0 and seconds == sorted(seconds)
    assert all(float(row['loss']) > 0 for row in train)
    # Tested at 0, 10 and after the last iteration.
    assert [float(row['NumIters']) for row in test] == [0, 10, 20]
    assert all(0 <= float(row['accuracy']) <= 1 for row in test)


def test_parse_log_sh_and_plot_training_log(training, tmp_path):
    log = tmp_path / 'caffe.log'
    log.write_text((training / 'caffe.log').read_text())
    run(['bash', os.path.join(tools_extra(), 'parse_log.sh'), 'caffe.log'], cwd=tmp_path)
    rows = (tmp_path / 'caffe.log.train').read_text().split('\n')
    assert rows[0].split() == ['#Iters', 'Seconds', 'TrainingLoss', 'LearningRate']
    # Every displayed loss, the final one included.
    assert [row.split()[0] for row in rows[1:] if row] == ['0', '5', '10', '15', '20']
    # Chart 6: Train loss vs. Iters, from the same tables.
    run([sys.executable, os.path.join(tools_extra(), 'plot_training_log.py.example'),
         '6', 'loss.png', 'caffe.log'], cwd=tmp_path, MPLBACKEND='Agg')
    assert (tmp_path / 'loss.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_summarize_lists_layers_with_their_parameters(training):
    out = run([sys.executable, os.path.join(tools_extra(), 'summarize.py'),
               str(training / 'net.prototxt')], cwd=training)
    ip = [line for line in out.split('\n') if line.startswith('ip ')]
    assert len(ip) == 1, out
    # Its two parameters: the weights' (nothing to say), the bias's.
    assert '(, x2.0 Dx0.0)' in ip[0], ip[0]


def test_download_model_binary_fetches_and_checks_the_weights(training, tmp_path):
    pytest.importorskip('yaml')
    # A model zoo entry whose URL is a local file: the whole download runs
    # offline.
    source = training / 'net.prototxt'
    sha1 = hashlib.sha1(source.read_bytes()).hexdigest()
    model = tmp_path / 'model'
    model.mkdir()

    def readme(digest):
        (model / 'readme.md').write_text(
            '---\nname: tiny\ncaffemodel: tiny.caffemodel\n'
            f'caffemodel_url: file://{source}\nsha1: {digest}\n---\n\nA tiny net.\n')

    script = [sys.executable, os.path.join(caffe_root(), 'scripts', 'download_model_binary.py'),
              str(model)]
    readme(sha1)
    run(script, cwd=tmp_path)
    assert (model / 'tiny.caffemodel').read_bytes() == source.read_bytes()
    assert 'Model already exists.' in run(script, cwd=tmp_path)
    (model / 'tiny.caffemodel').unlink()
    readme('0' * 40)
    out = run(script, cwd=tmp_path, status=1)
    assert 'ERROR: model did not download correctly!' in out
