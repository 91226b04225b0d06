"""A Python layer trains through the `caffe` CLI with pycaffe's interpreter.

The CLI embeds Python; it must see the same interpreter, virtual environment
and packages (NumPy 2 here) as the Python that imports pycaffe.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import caffe

# Every test here runs a Python layer (conftest.py skips them without).
pytestmark = pytest.mark.python_layer

LAYER_MODULE = '''
import json, sys
import numpy as np
import caffe


class SquareLoss(caffe.Layer):
    """loss = sum(x^2) / 2; records the interpreter it runs in."""

    def setup(self, bottom, top):
        with open(self.param_str, "w") as f:
            json.dump({"prefix": sys.prefix, "numpy": np.__file__,
                       "numpy_version": np.__version__}, f)

    def reshape(self, bottom, top):
        top[0].reshape(1)

    def forward(self, bottom, top):
        top[0].data[0] = 0.5 * np.sum(bottom[0].data ** 2)

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = top[0].diff[0] * bottom[0].data
'''

NET = '''
name: "cli_python_layer"
layer {{ name: "data" type: "DummyData" top: "data"
  dummy_data_param {{ shape {{ dim: 4 dim: 3 }}
                     data_filler {{ type: "constant" value: 1 }} }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param {{ num_output: 2 weight_filler {{ type: "constant" value: 1 }} }} }}
layer {{ name: "loss" type: "Python" bottom: "ip" top: "loss" loss_weight: 1
  python_param {{ module: "cli_square_loss" layer: "SquareLoss"
                 param_str: "{probe}" }} }}
'''

SOLVER = '''
net: "{net}"
base_lr: 0.01
lr_policy: "fixed"
max_iter: 3
display: 1
solver_mode: CPU
snapshot_after_train: false
'''


def test_caffe_train_runs_python_layer_with_pycaffes_interpreter(tmp_path, build_tool):
    probe = tmp_path / 'probe.json'
    (tmp_path / 'cli_square_loss.py').write_text(textwrap.dedent(LAYER_MODULE))
    net = tmp_path / 'net.prototxt'
    net.write_text(NET.format(probe=probe))
    solver = tmp_path / 'solver.prototxt'
    solver.write_text(SOLVER.format(net=net))

    # The interpreter Caffe was built for, which runs this test: neither an
    # activated environment nor $CAFFE_PYTHON may choose another.
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'CAFFE_PYTHON')}
    pycaffe_dir = os.path.dirname(os.path.dirname(caffe.__file__))
    # What was on PYTHONPATH stays after ours (numpy may live there).
    env['PYTHONPATH'] = os.pathsep.join(
        [str(tmp_path), pycaffe_dir] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    env['GLOG_logtostderr'] = '1'
    result = subprocess.run([build_tool('caffe'), 'train', '--solver', str(solver)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]

    seen = json.loads(probe.read_text())
    assert seen['prefix'] == sys.prefix
    assert seen['numpy'] == np.__file__
    assert seen['numpy_version'] == np.__version__

    # The loss is computed by the layer: x = 1, ip = 3 per output, so the
    # first loss is 0.5 * 4 * 2 * 3^2 = 36.
    assert re.search(r'Iteration 0 \(.*\), loss = 36\n', result.stderr), result.stderr
