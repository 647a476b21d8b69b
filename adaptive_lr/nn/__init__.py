"""The textbook layers: each a ``forward(...) -> (out, cache)`` and ``backward(dout, cache) ->
grads`` pair on (N, C, H, W) images or (N, D) features, with a naive loop reference next to it
(cs231n's ``layers.py``).

* :mod:`.conv`: convolution by im2col (:mod:`.im2col`), with stride and padding;
* :mod:`.pool`: 2x2 max pooling; :mod:`.activations`: ReLU; :mod:`.dense`: fully connected;
* :mod:`.dropout`: inverted dropout with an explicit mask; :mod:`.losses`: softmax cross-entropy;
* ResNet's layers: :mod:`.batchnorm` (training and evaluation mode, running statistics),
  :mod:`.dropout2d` (whole channels), :mod:`.max_pool_window` (any window, stride and padding),
  :mod:`.avg_pool` and :mod:`.residual` (the convolutions are :mod:`.conv`'s, strided and padded).

The kernels that exist only for speed (LeNet's batch-last convolution and pooling, the chunks of
examples) are in :mod:`adaptive_lr.fast`, each tested against the layers here.
"""

from .activations import relu_backward, relu_forward
from .avg_pool import avg_pool_backward, avg_pool_forward
from .batchnorm import (
    batchnorm_backward,
    batchnorm_eval_backward,
    batchnorm_eval_forward,
    batchnorm_forward,
    running_update,
)
from .conv import conv_backward, conv_forward
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .dropout2d import dropout2d_backward, dropout2d_forward, dropout2d_mask
from .im2col import col2im, conv_output_size, im2col
from .losses import (
    cross_entropy_per_example,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_per_example_forward,
)
from .max_pool_window import max_pool_window_backward, max_pool_window_forward
from .pool import max_pool_backward, max_pool_forward
from .residual import residual_backward, residual_forward

__all__ = [
    "avg_pool_backward",
    "avg_pool_forward",
    "batchnorm_backward",
    "batchnorm_eval_backward",
    "batchnorm_eval_forward",
    "batchnorm_forward",
    "dropout2d_backward",
    "dropout2d_forward",
    "dropout2d_mask",
    "max_pool_window_backward",
    "max_pool_window_forward",
    "residual_backward",
    "residual_forward",
    "running_update",
    "col2im",
    "conv_backward",
    "conv_forward",
    "conv_output_size",
    "cross_entropy_per_example",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "im2col",
    "max_pool_backward",
    "max_pool_forward",
    "relu_backward",
    "relu_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "softmax_cross_entropy_per_example_forward",
]
