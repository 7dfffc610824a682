"""Exercises of notebook 04 (pooling)."""
import numpy as np

from cnnlib import ops
from cnnlib.labs.core import call, exercise, rng, same_array

_POOL_CASES = [((6, 8, 3), 2, 2), ((4, 4, 1), 2, 2), ((7, 7, 2), 3, 2), ((9, 6, 4), 3, 3), ((5, 7, 2), 2, 1)]


@exercise("04.max_pool", "max pooling from scratch, channel by channel", "implement", "core")
def check_max_pool(max_pool):
    """`max_pool(x, size, stride)`: x of shape (H, W, C), valid max pooling, each channel on its own."""
    random = rng(4)
    for shape, size, stride in _POOL_CASES:
        x = random.normal(size=shape)
        on = f"on a random {'×'.join(map(str, shape))} input with size {size}, stride {stride}"
        got = call(max_pool, x.copy(), size, stride, on=on)
        expected = ops.pool2d(x, size, stride, mode="max")
        h, w, c = expected.shape
        same_array(got, expected, on, hints=[
            (ops.pool2d(x, size, stride, mode="avg"), "that is average pooling: take the largest value of each window"),
            (ops.pool2d(x, size, stride, mode="max").max(axis=-1),
             "the channels were mixed: pool each channel on its own and keep the channel axis"),
            (ops.pool2d(x, size, 1, mode="max"), "the stride is ignored: move the window by `stride`, not by one"),
            (ops.pool2d(x, stride, size, mode="max") if stride <= x.shape[0] and stride <= x.shape[1] else np.zeros(0),
             "size and stride are swapped"),
            (ops.pool2d(x, size, stride, mode="max", padding="same"),
             "that is 'same' pooling (windows hanging over the edge); valid pooling keeps only whole windows"),
            (ops.pool2d(x, (size, 1), (stride, 1), mode="max"),
             "pooled along the rows only: the window is size × size and moves in both directions"),
        ], shape_hints=[
            ((h, w), "the channel axis is missing: pool each channel and return (H', W', C)"),
        ])
    return f"matches cnnlib.ops.pool2d on {len(_POOL_CASES)} random inputs, sizes and strides"
