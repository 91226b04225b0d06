"""caffe.io beyond upstream's test_io.py, under NumPy 2: datums both ways
(patches/0005-numpy-2-tobytes-in-caffe-io.patch,
patches/0045-datum-to-array-numpy-2.patch), and a Transformer's mean of
another size than its input, constant or not
(patches/0046-transformer-constant-mean.patch)."""
import numpy as np

import caffe


def test_uint8_datum_round_trip_gives_a_writable_array():
    image = np.random.default_rng(1701).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    datum = caffe.io.array_to_datum(image, label=4)
    assert datum.label == 4 and len(datum.data) == image.size
    back = caffe.io.datum_to_array(datum)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, image)
    back[0, 0, 0] ^= 1  # a copy, not a view of the datum's bytes


def test_float_datum_round_trip():
    values = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    back = caffe.io.datum_to_array(caffe.io.array_to_datum(values))
    np.testing.assert_allclose(back, values, rtol=1e-6)


def transformer(mean):
    t = caffe.io.Transformer({'data': (1, 3, 8, 10)})
    t.set_transpose('data', (2, 0, 1))
    t.set_mean('data', mean)
    return t


def test_constant_mean_of_another_size_is_that_constant():
    image = np.full((8, 10, 3), 0.75, np.float32)
    t = transformer(np.full((3, 16, 20), 0.25))
    np.testing.assert_allclose(t.preprocess('data', image), 0.5)


def test_varying_mean_of_another_size_is_resized():
    # A ramp along the width, 0 to 1: resized to the input's 10 columns
    # (smoothed as it shrinks) it is still a rising ramp within [0, 1].
    ramp = np.tile(np.linspace(0, 1, 20), (3, 16, 1))
    t = transformer(ramp)
    mean = -t.preprocess('data', np.zeros((8, 10, 3), np.float32))
    assert mean.shape == (3, 8, 10)
    assert np.all(np.diff(mean, axis=2) > 0)
    assert 0 <= mean.min() < 0.2 and 0.8 < mean.max() <= 1
