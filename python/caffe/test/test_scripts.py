"""Upstream's command-line scripts, run as a user runs them: from the folder
that holds the built (or installed) `caffe` package, where they sit, so
that their `import caffe` finds it."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import caffe

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(caffe.__file__)))

DEPLOY = '''name: "tiny"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 10 dim: 3 dim: 16 dim: 16 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
'''


def run_script(name, *args, cwd):
    script = os.path.join(SCRIPTS, name)
    assert os.path.isfile(script), f'{name} is not beside the caffe package in {SCRIPTS}'
    # A clean path: the script must find caffe from where it sits.
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['GLOG_minloglevel'] = '2'
    return subprocess.run([sys.executable, script, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def deploy(tmp_path):
    path = tmp_path / 'deploy.prototxt'
    path.write_text(DEPLOY)
    return path


def test_classify_writes_each_images_class_probabilities(deploy, tmp_path):
    skimage_io = pytest.importorskip('skimage.io')
    net = caffe.Net(str(deploy), caffe.TEST)
    net.save(str(tmp_path / 'weights.caffemodel'))
    rng = np.random.default_rng(1701)
    for i in range(3):
        skimage_io.imsave(str(tmp_path / f'image{i}.png'),
                          rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8))
    np.save(tmp_path / 'mean.npy', np.full((3, 16, 16), 0.5, np.float32))
    result = run_script('classify.py', '--model_def', str(deploy),
                        '--pretrained_model', 'weights.caffemodel', '--images_dim', '16,16',
                        '--mean_file', 'mean.npy', '--raw_scale', '1', str(tmp_path),
                        'out.npy', '--ext', 'png', cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    probabilities = np.load(tmp_path / 'out.npy')
    assert probabilities.shape == (3, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_draw_net_renders_the_net(deploy, tmp_path):
    pytest.importorskip('pydot')
    if not shutil.which('dot'):
        pytest.skip('Graphviz (dot) is not installed')
    result = run_script('draw_net.py', str(deploy), 'net.png', cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'net.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
