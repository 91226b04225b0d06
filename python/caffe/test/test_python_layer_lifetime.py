"""A Python layer lives as long as what uses it: once the last net, solver
or Python reference holding it is gone, the layer and what it holds are
freed; net.layers gives it as its own object
(patches/0058-pycaffe-python-layers-as-their-own-objects.patch).

The C++ layer kept a counted reference to its Python object, which owns the
C++ layer: a cycle that Python's collector cannot see, so every Python layer
lived, with its arrays, until the process ended (found by LeakSanitizer in
CI's sanitize stage).
"""
import gc
import weakref

import numpy as np
import pytest

import caffe

# Every test here runs a Python layer (conftest.py skips them without).
pytestmark = pytest.mark.python_layer


class Holding(caffe.Layer):
    """Identity that holds a 4 MB array, as prototypes hold buffers; it
    records a weak reference to every instance."""

    instances = []

    def setup(self, bottom, top):
        Holding.instances.append(weakref.ref(self))
        self.buffer = np.zeros(1 << 20, np.float32)

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = top[0].diff


NET = '''name: "lifetime" force_backward: true
layer { name: "data" type: "DummyData" top: "data" top: "target"
  dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 3 }
    data_filler { type: "gaussian" } } }
layer { name: "held" type: "Python" bottom: "data" top: "out"
  python_param { module: "test_python_layer_lifetime" layer: "Holding" } }
layer { name: "loss" type: "EuclideanLoss" bottom: "out" bottom: "target" top: "loss" }
'''


@pytest.fixture
def net_path(tmp_path):
    Holding.instances.clear()
    path = tmp_path / 'net.prototxt'
    path.write_text(NET)
    return str(path)


def alive():
    gc.collect()
    return sum(ref() is not None for ref in Holding.instances)


def test_layers_are_freed_with_their_nets(net_path):
    for _ in range(3):
        net = caffe.Net(net_path, caffe.TRAIN)
        net.forward()
        net.backward()
        assert alive() == 1
        del net
        assert alive() == 0
    assert len(Holding.instances) == 3


def test_layers_are_freed_with_their_solver(net_path, tmp_path):
    solver_path = tmp_path / 'solver.prototxt'
    solver_path.write_text(f'train_net: "{net_path}" test_net: "{net_path}" '
                           'test_iter: 1 test_interval: 1000 base_lr: 0.01 '
                           'lr_policy: "fixed" max_iter: 10 solver_mode: CPU')
    solver = caffe.get_solver(str(solver_path))
    solver.step(2)
    assert alive() == 2  # the train net's layer and the test net's
    del solver
    assert alive() == 0


def test_net_layers_gives_the_python_layer_itself(net_path):
    # As upstream's pycaffe did: code reaches a data layer's own methods
    # (py-faster-rcnn: net.layers[0].set_roidb(...)).
    net = caffe.Net(net_path, caffe.TRAIN)
    layer = net.layers[list(net._layer_names).index('held')]
    assert isinstance(layer, Holding) and layer is net.layer_dict['held']
    assert layer is Holding.instances[0]()
    assert [type(l).__name__ for l in net.layers] == ['Layer', 'Holding', 'Layer']
    assert [l.type for l in net.layers] == ['DummyData', 'Python', 'EuclideanLoss']


def test_a_layer_outlives_its_net_while_python_holds_it(net_path):
    net = caffe.Net(net_path, caffe.TRAIN)
    layer = net.layers[list(net._layer_names).index('held')]
    data = net.layers[0]
    del net
    assert alive() == 1
    assert layer.buffer.shape == (1 << 20,) and layer.type == 'Python'
    assert data.type == 'DummyData'
    del layer
    assert alive() == 0
