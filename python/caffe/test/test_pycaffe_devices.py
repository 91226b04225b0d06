"""A GPU that pycaffe cannot use is a Python RuntimeError saying why
(patches/0048-pycaffe-unusable-gpu-raises.patch), where Caffe's own checks
(NO_GPU, CUDA_CHECK) abort the interpreter, killing a notebook's kernel; the
mode stays what it was."""
import numpy as np
import pytest

import caffe
from conftest import cuda_devices, net_from_text

NET = '''input: "x" input_shape { dim: 2 dim: 3 }
layer { name: "scale" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } }
'''


def forward_on_the_cpu():
    """A forward pass; in a CPU-only build a net in GPU mode would abort."""
    net = net_from_text(NET, caffe.TEST)
    net.blobs['x'].data[...] = np.arange(6).reshape(2, 3)
    return net.forward()['y']


@pytest.mark.cpu_only_build
@pytest.mark.parametrize('call, name', [(caffe.set_mode_gpu, 'set_mode_gpu()'),
                                        (lambda: caffe.set_device(0), 'set_device(0)')])
def test_a_cpu_only_build_refuses_the_gpu_with_an_exception(call, name):
    caffe.set_mode_cpu()
    with pytest.raises(RuntimeError) as error:
        call()
    assert str(error.value) == (f'caffe.{name}: this Caffe was built CPU-only (without '
                                'CUDA); use caffe.set_mode_cpu()')
    np.testing.assert_array_equal(forward_on_the_cpu(),
                                  2 * np.arange(6).reshape(2, 3))


@pytest.mark.cuda_build
def test_gpu_mode_without_a_usable_gpu_is_an_exception():
    caffe.set_mode_cpu()
    if cuda_devices() > 0:
        caffe.set_mode_gpu()  # a GPU is there: no exception
        caffe.set_mode_cpu()
        return
    with pytest.raises(RuntimeError, match=r'^caffe\.set_mode_gpu\(\): no GPU is usable \(.+\)$'):
        caffe.set_mode_gpu()
    np.testing.assert_array_equal(forward_on_the_cpu(),
                                  2 * np.arange(6).reshape(2, 3))


@pytest.mark.cuda_build
def test_a_device_the_machine_lacks_is_an_exception():
    with pytest.raises(RuntimeError,
                       match=r'^caffe\.set_device\(4096\): (this machine has \d+ GPU\(s\), '
                             r'numbered from 0|no GPU is usable \(.+\))$'):
        caffe.set_device(4096)
    with pytest.raises(RuntimeError, match=r'^caffe\.set_device\(-1\): '):
        caffe.set_device(-1)
