"""The native BlankSquare layer through pycaffe, against its Python prototype."""
import numpy as np
import pytest

import caffe
from caffe.prototypes.blank_square import BlankSquareLayer
from conftest import net_from_text

PINNED_OFFSET = None


class PinnedBlankSquare(BlankSquareLayer):
    """The prototype, with the square where the test says."""

    def draw_offset(self, y_positions, x_positions):
        y, x = PINNED_OFFSET
        assert 0 <= y < y_positions and 0 <= x < x_positions
        return y, x


def make_net(layer, shape=(2, 3, 28, 28), phase=caffe.TRAIN):
    dims = ' '.join(f'dim: {d}' for d in shape)
    return net_from_text(f'''
force_backward: true
layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}
layer {{ name: "occlude" bottom: "data" top: "out" {layer} }}
''', phase)


NATIVE = 'type: "BlankSquare" blank_square_param {{ ratio: {ratio} fill_value: 0 }}'
PROTOTYPE = ('type: "Python" python_param {{ module: "test_blank_square" '
             'layer: "PinnedBlankSquare" param_str: \'{{"ratio": {ratio}}}\' }}')


def run(net, data, top_diff):
    net.blobs['data'].data[...] = data
    net.forward()
    net.blobs['out'].diff[...] = top_diff
    net.backward()
    return net.blobs['out'].data.copy(), net.blobs['data'].diff.copy()


def blanked_corner(out):
    """Top-left corner of the zeros (inputs are in [1, 2])."""
    ys, xs = np.nonzero(out[0, 0] == 0)
    return int(ys.min()), int(xs.min())


@pytest.fixture(autouse=True)
def cpu_mode():
    caffe.set_mode_cpu()
    caffe.set_random_seed(1701)


# Square sizes worked out by hand: floor(ratio x side).
@pytest.mark.parametrize('ratio, shape, h, w', [(0.5, (2, 3, 28, 28), 14, 14),
                                                (0.25, (3, 1, 28, 28), 7, 7),
                                                (0.4, (2, 2, 27, 13), 10, 5)])
@pytest.mark.python_layer
def test_prototype_and_native_agree_on_the_same_square(ratio, shape, h, w):
    global PINNED_OFFSET
    rng = np.random.default_rng(0)
    data = rng.uniform(1, 2, shape).astype(np.float32)
    top_diff = rng.standard_normal(shape).astype(np.float32)
    native_out, native_grad = run(make_net(NATIVE.format(ratio=ratio), shape), data, top_diff)
    PINNED_OFFSET = blanked_corner(native_out)
    proto_out, proto_grad = run(make_net(PROTOTYPE.format(ratio=ratio), shape), data, top_diff)
    np.testing.assert_array_equal(native_out, proto_out)
    np.testing.assert_array_equal(native_grad, proto_grad)
    assert np.count_nonzero(native_out == 0) == shape[0] * shape[1] * h * w


def test_all_parameters_from_prototxt():
    net = make_net('type: "BlankSquare" blank_square_param { ratio: 0.25 fill_value: -7 '
                   'per_sample: true probability: 1 apply_in_test: true }',
                   shape=(8, 1, 28, 28), phase=caffe.TEST)
    net.blobs['data'].data[...] = 1
    net.forward()
    out = net.blobs['out'].data
    assert np.all(np.count_nonzero(out == -7, axis=(1, 2, 3)) == 49)  # 7 x 7 each
    corners = {tuple(np.argwhere(o[0] == -7)[0]) for o in out}
    assert len(corners) > 1  # per_sample


def test_identity_in_test_phase():
    net = make_net(NATIVE.format(ratio=0.5), phase=caffe.TEST)
    data = np.random.default_rng(1).uniform(1, 2, (2, 3, 28, 28))
    out, grad = run(net, data, 3 * np.ones((2, 3, 28, 28)))
    np.testing.assert_array_equal(out, data.astype(np.float32))
    assert np.all(grad == 3)


def test_seed_decides_squares():
    corners = []
    for seed in (5, 5, 6):
        caffe.set_random_seed(seed)
        net = make_net('type: "BlankSquare" blank_square_param { per_sample: true }',
                       shape=(16, 1, 28, 28))
        net.blobs['data'].data[...] = 1
        net.forward()
        corners.append([tuple(np.argwhere(o[0] == 0)[0]) for o in net.blobs['out'].data])
    assert corners[0] == corners[1]
    assert corners[0] != corners[2]


@pytest.mark.parametrize('top, left', [(0, 0), (14, 14), (3, 11)])
def test_fixed_offsets_place_every_square(top, left):
    net = make_net(f'type: "BlankSquare" blank_square_param {{ ratio: 0.5 per_sample: true '
                   f'offset_h: {top} offset_w: {left} apply_in_test: true }}',
                   shape=(5, 2, 28, 28), phase=caffe.TEST)
    net.blobs['data'].data[...] = 1
    expected = np.ones((5, 2, 28, 28), np.float32)
    expected[..., top:top + 14, left:left + 14] = 0
    for _ in range(2):
        net.forward()
        np.testing.assert_array_equal(net.blobs['out'].data, expected)

