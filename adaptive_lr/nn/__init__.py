"""Neural-network layers in NumPy, each a ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads`` pair with a naive loop reference next to it (cs231n style)."""

from .activations import relu_backward, relu_forward
from .chunks import example_chunks, map_chunks
from .conv import conv_backward, conv_forward, conv_from_cols
from .conv_rows import ConvRowsCache, conv_rows_backward_batch_last, conv_rows_forward_batch_last
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .im2col import col2im, conv_output_size, im2col
from .losses import (
    cross_entropy_per_example,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_per_example_forward,
)
from .pool import max_pool_backward, max_pool_forward

__all__ = [
    "ConvRowsCache",
    "col2im",
    "conv_backward",
    "conv_forward",
    "conv_from_cols",
    "conv_rows_backward_batch_last",
    "conv_rows_forward_batch_last",
    "conv_output_size",
    "cross_entropy_per_example",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "example_chunks",
    "im2col",
    "map_chunks",
    "max_pool_backward",
    "max_pool_forward",
    "relu_backward",
    "relu_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "softmax_cross_entropy_per_example_forward",
]
