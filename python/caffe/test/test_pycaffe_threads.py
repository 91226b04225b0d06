"""pycaffe in several Python threads.

pycaffe releases the GIL while C++ computes, and Python layers take it back:
threads running their own nets with Python layers agree with one thread and
finish, and another Python thread runs while a forward computes. (What two
threads gain on two cores is measured by benchmarks/pycaffe_session_benchmark.py,
not asserted here.) Caffe's mode and device are per thread: every thread that
computes sets them first.
"""
import sys
import threading
import time

import numpy as np
import pytest

import caffe
from conftest import cuda_devices, net_from_text

class Doubler(caffe.Layer):
    """top = 2 bottom, in Python."""

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = 2 * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = 2 * top[0].diff


PYTHON_LAYERS_NET = '''
name: "threads"
force_backward: true
layer { name: "a" type: "Input" top: "a" input_param { shape { dim: 8 dim: 1 dim: 12 dim: 12 } } }
layer { name: "b" type: "Input" top: "b" input_param { shape { dim: 8 dim: 1 dim: 12 dim: 12 } } }
layer { name: "double" type: "Python" bottom: "a" top: "doubled"
  python_param { module: "test_pycaffe_threads" layer: "Doubler" } }
layer { name: "ip" type: "InnerProduct" bottom: "doubled" top: "ip"
  inner_product_param { num_output: 144 weight_filler { type: "gaussian" std: 0.05 } } }
layer { name: "flat_b" type: "Flatten" bottom: "b" top: "flat_b" }
layer { name: "loss" type: "Python" bottom: "ip" bottom: "flat_b" top: "loss" loss_weight: 1
  python_param { module: "caffe.prototypes.euclidean_loss" layer: "EuclideanLossLayer" } }
'''

HEAVY_NET = '''
name: "heavy"
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 64 dim: 1024 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "ip1"
  inner_product_param { num_output: 1024 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 1024 weight_filler { type: "gaussian" std: 0.01 } } }
'''


def make_net(text, seed):
    caffe.set_random_seed(seed)
    return net_from_text(text)


def set_mode(mode):
    """This thread's Caffe mode (and device 0 for the GPU)."""
    if mode == 'gpu':
        caffe.set_device(0)
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()


@pytest.fixture(autouse=True)
def cpu_mode_on_exit():
    yield
    caffe.set_mode_cpu()


def train_steps(mode, seed, iterations):
    """Forward/backward with Python layers in `mode`; returns the losses and
    a gradient."""
    set_mode(mode)
    net = make_net(PYTHON_LAYERS_NET, seed)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(iterations):
        net.blobs['a'].data[...] = rng.uniform(1, 2, net.blobs['a'].data.shape)
        net.blobs['b'].data[...] = rng.uniform(-1, 1, net.blobs['b'].data.shape)
        losses.append(float(net.forward()['loss']))
        net.backward()
    return losses, net.params['ip'][0].diff.copy()


def run_threads(target, args_list, timeout):
    results = [None] * len(args_list)
    errors = []

    def run(i, args):
        try:
            results[i] = target(*args)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), 'threads hung (deadlock?)'
    assert not errors, errors
    return results


MODES = ['cpu', pytest.param('gpu', marks=pytest.mark.skipif(
    cuda_devices() == 0, reason='no GPU (or a CPU-only Caffe)'))]


@pytest.mark.python_layer
@pytest.mark.parametrize('mode', MODES)
def test_threads_with_python_layers_agree_with_one_thread(mode):
    # Both sides run the same code in the same mode (the same BLAS, layers
    # and fillers; cuBLAS is bit-wise reproducible with one handle per thread
    # on one GPU), so equality is exact.
    seeds = [11, 12, 13, 14]
    expected = [train_steps(mode, s, 40) for s in seeds]
    results = run_threads(train_steps, [(mode, s, 40) for s in seeds], timeout=300)
    for (losses, grad), (want_losses, want_grad) in zip(results, expected):
        assert losses == want_losses
        np.testing.assert_array_equal(grad, want_grad)


def test_caffe_state_is_per_thread():
    seen = []

    def read_rank():
        # A new thread starts from Caffe's defaults, whatever this one set.
        seen.append(caffe.solver_rank())

    caffe.set_solver_rank(3)
    try:
        run_threads(read_rank, [()], timeout=60)
    finally:
        caffe.set_solver_rank(0)
    assert seen == [0]


def gil_probe(compute, max_calls=2000):
    """Where another Python thread first ran while this one called
    `compute` repeatedly: 'during' a call or 'between' calls.

    With a switch interval far longer than the test, the interpreter never
    takes the GIL from a running thread, so the other thread can run only
    where this one releases the GIL itself: inside `compute` if it releases
    it, else only at the join after the loop. Deterministic either way; the
    loop bound only keeps a broken build from hanging.
    """
    state = ['between']
    go, ran = threading.Event(), threading.Event()
    seen = []

    def other():
        go.wait()
        seen.append(state[0])
        ran.set()

    thread = threading.Thread(target=other)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(600)
    try:
        thread.start()  # runs up to go.wait(), which releases the GIL
        go.set()        # wakes it; Event.set does not release the GIL
        for _ in range(max_calls):
            state[0] = 'during'
            compute()
            state[0] = 'between'
            if ran.is_set():
                break
    finally:
        sys.setswitchinterval(interval)
        thread.join(60)
    assert not thread.is_alive()
    return seen[0]


def test_other_threads_run_during_forward():
    net = make_net(HEAVY_NET, 1)
    assert gil_probe(net.forward) == 'during'


def test_gil_probe_sees_a_held_gil():
    # The probe's negative control: Python computing holds the GIL.
    def python_compute():
        total = 0
        for i in range(10000):
            total += i * i
        return total

    assert gil_probe(python_compute, max_calls=20) == 'between'
