"""Euclidean loss as a Python layer: the prototype of the native EuclideanLoss.

loss = sum((a - b)^2) / (2 N), N the size of the first axis. Backward gives
+(a - b) / N to a and -(a - b) / N to b, times the top's diff (so loss_weight
is honoured), for the bottoms that propagate_down asks for.
"""
import numpy as np

import caffe


class EuclideanLossLayer(caffe.Layer):

    def setup(self, bottom, top):
        if len(bottom) != 2 or len(top) != 1:
            raise ValueError(f'EuclideanLossLayer needs 2 bottoms and 1 top, '
                             f'got {len(bottom)} and {len(top)}')

    def reshape(self, bottom, top):
        a, b = bottom[0].data, bottom[1].data
        if a.ndim == 0 or a.shape[0] != b.shape[0] or a.size != b.size:
            raise ValueError(f'EuclideanLossLayer: bottom[0] {a.shape} and '
                             f'bottom[1] {b.shape} must have the same first '
                             f'axis and the same number of elements')
        self.diff = np.zeros_like(a)
        top[0].reshape()  # a scalar, like Caffe's loss layers

    def forward(self, bottom, top):
        self.diff[...] = bottom[0].data - bottom[1].data.reshape(self.diff.shape)
        num = bottom[0].data.shape[0]
        top[0].data[...] = np.sum(np.square(self.diff, dtype=np.float64)) / (2.0 * num)

    def backward(self, top, propagate_down, bottom):
        num = bottom[0].data.shape[0]
        scale = top[0].diff.flat[0] / num
        for i, sign in ((0, 1.0), (1, -1.0)):
            if propagate_down[i]:
                bottom[i].diff[...] = (sign * scale * self.diff).reshape(
                    bottom[i].diff.shape)
