"""DIGITS' occlusion layer as a Python layer: the prototype of BlankSquare.

Copies its input and writes fill_value into a rectangle of floor(ratio H) x
floor(ratio W) (the last two axes are H and W), at one position for the whole
batch, uniform over every place it fits. Backward passes the gradient outside
the rectangle and zeroes it inside.

param_str (optional) is JSON: {"ratio": 0.5, "fill_value": 0}.

Differences from the DIGITS original: Python 3 integer division; positions
over every place the square fits (DIGITS' randrange(H/2) never reaches the
last row and column); a real gradient instead of none.
"""
import json
import math
import random

import caffe


class BlankSquareLayer(caffe.Layer):

    def setup(self, bottom, top):
        params = json.loads(self.param_str) if self.param_str else {}
        self.ratio = float(params.get('ratio', 0.5))
        self.fill_value = float(params.get('fill_value', 0))
        if not 0 < self.ratio <= 1:
            raise ValueError(f'BlankSquareLayer: ratio must be in (0, 1], got {self.ratio}')
        if len(bottom) != 1 or len(top) != 1:
            raise ValueError('BlankSquareLayer needs 1 bottom and 1 top')
        if bottom[0].data.ndim < 3:
            raise ValueError(f'BlankSquareLayer: needs image data (at least 3 '
                             f'axes), got shape {bottom[0].data.shape}')

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)
        height, width = bottom[0].data.shape[-2:]
        self.size = (math.floor(self.ratio * height + 1e-4),
                     math.floor(self.ratio * width + 1e-4))
        if min(self.size) == 0:
            raise ValueError(f'BlankSquareLayer: ratio {self.ratio} of {height}x{width} '
                             f'images is a square of zero pixels')

    def draw_offset(self, y_positions, x_positions):
        """Top-left corner of this pass's square."""
        return random.randrange(y_positions), random.randrange(x_positions)

    def forward(self, bottom, top):
        height, width = bottom[0].data.shape[-2:]
        h, w = self.size
        self.offset = self.draw_offset(height - h + 1, width - w + 1)
        top[0].data[...] = bottom[0].data
        top[0].data[(Ellipsis,) + self.square()] = self.fill_value

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].diff[...] = top[0].diff
            bottom[0].diff[(Ellipsis,) + self.square()] = 0

    def square(self):
        (y, x), (h, w) = self.offset, self.size
        return slice(y, y + h), slice(x, x + w)
