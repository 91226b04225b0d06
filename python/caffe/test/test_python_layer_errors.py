"""A Python layer's error reaches the user instead of crashing the process.

pycaffe raises the layer's own exception (the interpreter survives) with a
note naming the layer; the caffe CLI prints the traceback and the layer's
name and exits with status 1 (upstream: std::terminate, status 134).
"""
import os
import subprocess

import pytest

import caffe

# Every test here runs a Python layer (conftest.py skips them without).
pytestmark = pytest.mark.python_layer


class Failing(caffe.Layer):
    """Identity that raises in forward when param_str says so."""

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        if self.param_str == 'fail':
            raise ZeroDivisionError('boom in forward')
        top[0].data[...] = bottom[0].data

    def backward(self, top, propagate_down, bottom):
        pass


def net_file(folder, module='test_python_layer_errors', layer='Failing', param_str='fail'):
    path = folder / f'{module}-{layer}-{param_str}.prototxt'
    path.write_text(f'''
name: "errors"
layer {{ name: "data" type: "DummyData" top: "data"
  dummy_data_param {{ shape {{ dim: 2 dim: 3 }} }} }}
layer {{ name: "faulty" type: "Python" bottom: "data" top: "out"
  python_param {{ module: "{module}" layer: "{layer}" param_str: "{param_str}" }} }}
layer {{ name: "loss" type: "EuclideanLoss" bottom: "out" bottom: "data" top: "loss" }}
''')
    return str(path)


def test_pycaffe_raises_the_layers_exception_and_survives(tmp_path):
    net = caffe.Net(net_file(tmp_path), caffe.TRAIN)
    with pytest.raises(ZeroDivisionError, match='boom in forward') as info:
        net.forward()
    assert ("Python layer 'faulty' (test_python_layer_errors.Failing) failed in forward"
            in getattr(info.value, '__notes__', []))
    healthy = caffe.Net(net_file(tmp_path, param_str='ok'), caffe.TRAIN)
    assert healthy.forward()['loss'] == 0


def test_pycaffe_missing_module_and_class_are_named(tmp_path):
    with pytest.raises(ModuleNotFoundError, match="no_such_module") as info:
        caffe.Net(net_file(tmp_path, module='no_such_module'), caffe.TRAIN)
    assert any("cannot import module 'no_such_module'" in n for n in info.value.__notes__)
    with pytest.raises(AttributeError, match="has no class 'NoSuchLayer'"):
        caffe.Net(net_file(tmp_path, layer='NoSuchLayer'), caffe.TRAIN)


def caffe_train(folder, net):
    caffe_bin = os.environ.get('CAFFE_BIN')
    if not caffe_bin:
        pytest.skip('CAFFE_BIN names no caffe binary')
    solver = folder / 'solver.prototxt'
    solver.write_text(f'net: "{net}"\nbase_lr: 0.1\nmax_iter: 2\nsolver_mode: CPU\n'
                      'snapshot_after_train: false\n')
    # What was on PYTHONPATH stays after ours (numpy and pytest may live there).
    path = [os.path.dirname(__file__), os.path.dirname(os.path.dirname(caffe.__file__))]
    env = dict(os.environ, GLOG_logtostderr='1', PYTHONPATH=os.pathsep.join(
        path + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    return subprocess.run([caffe_bin, 'train', '--solver', str(solver)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_traceback_and_exits_1(tmp_path):
    result = caffe_train(tmp_path, net_file(tmp_path))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Python layer 'faulty' (test_python_layer_errors.Failing) failed in forward" \
        in result.stderr
    assert 'Traceback (most recent call last)' in result.stderr
    assert 'ZeroDivisionError: boom in forward' in result.stderr
    assert 'terminate called' not in result.stderr


def test_cli_missing_module_is_named(tmp_path):
    result = caffe_train(tmp_path, net_file(tmp_path, module='no_such_module'))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "cannot import module 'no_such_module'" in result.stderr
    assert "No module named 'no_such_module'" in result.stderr
