"""The native EuclideanLoss equals its Python prototype in one net."""
import itertools

import numpy as np
import pytest

import caffe
from conftest import net_from_text

# Every test here runs the Python prototype (conftest.py skips them without).
pytestmark = pytest.mark.python_layer

# Zero-initialised Bias layers make both inputs learned, so gradients are
# needed and propagate_down alone decides which ones a loss computes
# (force_backward would override propagate_down: false).
NET = '''
name: "euclidean_prototype_vs_native"
layer {{ name: "a" type: "Input" top: "a" input_param {{ shape {{ dim: 6 dim: 3 dim: 5 }} }} }}
layer {{ name: "b" type: "Input" top: "b" input_param {{ shape {{ dim: 6 dim: 15 }} }} }}
layer {{ name: "bias_a" type: "Bias" bottom: "a" top: "a_learned" }}
layer {{ name: "bias_b" type: "Bias" bottom: "b" top: "b_learned" }}
layer {{ name: "split_a" type: "Split" bottom: "a_learned" top: "a_py" top: "a_native" }}
layer {{ name: "split_b" type: "Split" bottom: "b_learned" top: "b_py" top: "b_native" }}
layer {{ name: "prototype" type: "Python" bottom: "a_py" bottom: "b_py" top: "loss_py"
  loss_weight: {weight} {prototype_down}
  python_param {{ module: "caffe.prototypes.euclidean_loss" layer: "EuclideanLossLayer" }} }}
layer {{ name: "native" type: "EuclideanLoss" bottom: "a_native" bottom: "b_native"
  top: "loss_native" loss_weight: {weight} {native_down} }}
'''


def make_net(weight=1.0, propagate_down=None):
    down = ''
    if propagate_down is not None:
        down = ' '.join(f'propagate_down: {str(d).lower()}' for d in propagate_down)
    return net_from_text(NET.format(weight=weight, prototype_down=down, native_down=down))


def fill(net, seed=0):
    rng = np.random.default_rng(seed)
    net.blobs['a'].data[...] = rng.standard_normal(net.blobs['a'].data.shape)
    net.blobs['b'].data[...] = rng.standard_normal(net.blobs['b'].data.shape)
    a = net.blobs['a'].data.astype(np.float64).reshape(6, -1)
    b = net.blobs['b'].data.astype(np.float64).reshape(6, -1)
    return a, b


@pytest.fixture(autouse=True)
def cpu_mode():
    caffe.set_mode_cpu()


@pytest.mark.parametrize('weight', [1.0, 2.5])
def test_same_loss_and_gradients(weight):
    net = make_net(weight)
    a, b = fill(net)
    out = net.forward()
    expected = np.sum((a - b) ** 2) / (2 * 6)
    assert out['loss_native'] == pytest.approx(expected, rel=1e-6)
    assert out['loss_py'] == pytest.approx(expected, rel=1e-6)
    net.backward()
    grad = weight * (a - b) / 6
    for suffix in ('py', 'native'):
        np.testing.assert_allclose(net.blobs[f'a_{suffix}'].diff.reshape(6, -1),
                                   grad, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(net.blobs[f'b_{suffix}'].diff.reshape(6, -1),
                                   -grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(net.blobs['a_py'].diff, net.blobs['a_native'].diff,
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('down', [d for d in itertools.product([True, False], repeat=2)
                                  if any(d)])
def test_propagate_down(down):
    net = make_net(1.0, down)
    a, b = fill(net, seed=1)
    for name in ('a_py', 'b_py', 'a_native', 'b_native'):
        net.blobs[name].diff[...] = 42
    net.forward()
    net.backward()
    grad = (a - b) / 6
    for suffix in ('py', 'native'):
        for blob, sign, wanted in ((f'a_{suffix}', 1, down[0]), (f'b_{suffix}', -1, down[1])):
            diff = net.blobs[blob].diff.reshape(6, -1)
            if wanted:
                np.testing.assert_allclose(diff, sign * grad, rtol=1e-6, atol=1e-7)
            else:
                assert np.all(diff == 42), f'{blob} was written'
