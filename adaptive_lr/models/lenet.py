"""LeNet-5 of the paper's Sec. 4.2.3: two convolutions, then three fully connected layers, with
dropout after the first two fully connected layers.

``conv1(C->6, 5x5) -> ReLU -> maxpool 2 -> conv2(6->16, 5x5) -> ReLU -> maxpool 2 -> flatten
-> fc1(16*S*S->120) -> ReLU -> dropout -> fc2(120->84) -> ReLU -> dropout -> fc3(84->classes)``

with ``S = 5`` for 32x32 inputs (CIFAR-10) and ``S = 4`` for 28x28 inputs (MNIST). The loss is the
mean softmax cross-entropy. Parameter names and shapes are PyTorch's (``conv1.weight`` (6,C,5,5),
..., ``fc3.weight`` (classes, 84)), in the order of PyTorch's ``state_dict``.

Kernels. The convolutions and poolings run on the fast kernels of :mod:`adaptive_lr.fast`, on
batch-last activations (C, H, W, N); each reproduces textbook layers of :mod:`adaptive_lr.nn` on
(N, C, H, W), to rounding (``tests/test_lenet_textbook.py`` checks the whole loss and gradient):

* conv1, conv2: :func:`~adaptive_lr.fast.conv_rows.conv_rows_forward_batch_last` and
  :func:`~adaptive_lr.fast.conv_rows.conv_rows_backward_batch_last` (by kernel rows on
  :func:`~adaptive_lr.fast.unfold.unfold_width`) reproduce :func:`~adaptive_lr.nn.conv.conv_forward`
  and :func:`~adaptive_lr.nn.conv.conv_backward` (by im2col);
* ReLU and pooling after each convolution: :func:`~adaptive_lr.fast.pool.max_pool_relu_batch_last`
  and its backward reproduce :func:`~adaptive_lr.nn.activations.relu_forward` followed by
  :func:`~adaptive_lr.nn.pool.max_pool_forward`, and their backward passes;
* the fused probes (:mod:`.lenet_probe`) use the forward-only
  :func:`~adaptive_lr.fast.conv_rows.conv_rows_batch_last`,
  :func:`~adaptive_lr.fast.conv_rows.rows_matmul` and the same pooling;
* :mod:`adaptive_lr.fast.chunks` splits the batch into chunks of ``CHUNK`` examples.

fc1-fc3, their ReLUs, dropout and the loss are the textbook layers themselves
(:mod:`adaptive_lr.nn.dense`, :mod:`~adaptive_lr.nn.activations`, :mod:`~adaptive_lr.nn.dropout`,
:mod:`~adaptive_lr.nn.losses`). The layers are wired in :mod:`.lenet_layers`.

Implementation notes (each one is exact, not an approximation):

* Max pooling commutes with ReLU (both are monotone), so the network applies ReLU *after* each
  pooling, on a 4x smaller array. Gradients agree away from ties and kinks.
* The first layer needs no input gradient: its backward pass computes only ``dW`` and ``db``.
* Dropout masks are an explicit input (:meth:`LeNet.sample_noise`), so that the gradient and every
  probe of one step see the same function; ``noise=None`` is evaluation mode (no dropout), as the
  paper intends and unlike the authors' code, which also dropped units at test time.
* The width-unfolded input of a convolution by kernel rows holds ``C*5*H*OW`` numbers per image,
  ``5*OH/H`` times fewer than the im2col (4.4 for conv1 on 32x32). The fused probes
  (:meth:`LeNet.line_losses`) reuse it and conv1's pre-activations from the gradient's pass, and
  run each later layer once on all probes stacked (:mod:`.lenet_probe`).
* :meth:`LeNet.forward_backward` runs on chunks of ``CHUNK`` examples and sums their gradients
  (the same gradient, rounded differently), so that temporaries stay small and are not
  page-faulted afresh on every step (:mod:`adaptive_lr.fast.chunks`).
"""

from __future__ import annotations

import numpy as np

from ..arguments import (
    check_image_shape,
    check_int,
    check_real,
    check_real_array,
)
from ..fast.chunks import example_chunks, map_chunks, raise_heap_thresholds
from ..nn import (
    cross_entropy_per_example,
    dropout_mask,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_per_example_forward,
)
from ..params import make_layout
from .base import (
    GradientPass,
    Model,
    check_dtype,
    check_etas,
    check_images,
    check_labels,
    check_rng,
    raise_if_inputs_not_finite,
)
from .lenet_layers import (
    CHUNK,
    KERNEL,
    LeNetCache,
    LeNetNoise,
    backward,
    check_image_size,
    chunk_noise,
    conv1_forward,
    tail_forward,
)
from .lenet_probe import fused_line_losses

__all__ = ["CHUNK", "LeNet", "LeNetCache", "LeNetNoise"]


class LeNet(Model):
    """LeNet-5 as a pure function of one flat parameter vector.

    Parameters
    ----------
    in_channels : int
        3 for CIFAR-10, 1 for MNIST.
    n_classes : int
    image_size : int or (int, int)
        Height and width of the inputs (32 for CIFAR-10, 28 for MNIST; at least 16).
    dropout : float
        Drop probability of the two dropout layers, in [0, 1). Default 0.5 (PyTorch's default and
        the classic choice; the paper does not state its value). 0.0 switches dropout off.
    eval_batch_size : int
        :meth:`loss` and :meth:`predict` process large inputs in chunks of this many images to bound
        memory (conv1's unfolded input holds 15*32*28 numbers per 32x32 RGB image).
    threads : int
        Worker threads for the chunks of ``CHUNK`` examples of :meth:`forward_backward` and
        :meth:`line_losses` (default 1: none). NumPy releases the GIL in its loops, so 2 threads
        use 2 cores for the element-wise work too, which BLAS threads never do; run with
        ``OPENBLAS_NUM_THREADS=1`` then, else the two kinds of threads compete for the cores.
        The results do not depend on it: chunk gradients are added in chunk order.

    Notes
    -----
    The compute dtype is the dtype of ``w`` (float32 or float64); ``X`` is cast to it once.
    """

    task = "classification"

    def __init__(
        self,
        in_channels: int = 3,
        n_classes: int = 10,
        image_size: int | tuple[int, int] = 32,
        dropout: float = 0.5,
        eval_batch_size: int = 256,
        threads: int = 1,
    ):
        h, w = check_image_shape("image_size", image_size)
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.n_classes = check_int("n_classes", n_classes, 2)
        self.image_size = (h, w)
        check_image_size(h, w, "image_size")
        self.dropout = check_real("dropout", dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size, 1)
        self.threads = check_int("threads", threads, 1)
        # the side S of conv2's pooled maps: conv 5 -> pool 2 -> conv 5 -> pool 2
        s2 = [((side - KERNEL + 1) // 2 - KERNEL + 1) // 2 for side in (h, w)]
        self.flat_features = 16 * s2[0] * s2[1]  # 400 for 32x32, 256 for 28x28
        c, k = self.in_channels, KERNEL
        self.layout = make_layout([
            ("conv1.weight", (6, c, k, k)), ("conv1.bias", (6,)),
            ("conv2.weight", (16, 6, k, k)), ("conv2.bias", (16,)),
            ("fc1.weight", (120, self.flat_features)), ("fc1.bias", (120,)),
            ("fc2.weight", (84, 120)), ("fc2.bias", (84,)),
            ("fc3.weight", (self.n_classes, 84)), ("fc3.bias", (self.n_classes,)),
        ])  # fmt: skip

    def __repr__(self) -> str:
        return (f"LeNet(in_channels={self.in_channels}, n_classes={self.n_classes}, "
                f"image_size={self.image_size}, dropout={self.dropout})")

    # -- parameters and randomness ---------------------------------------------------------
    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        """PyTorch's default: weights and biases uniform in ``(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

        Drawn in float64 and rounded, so the float32 start is the float64 start rounded.
        """
        dtype = check_dtype(dtype)
        check_rng(rng)
        parts = []
        for name, shape in self.layout:
            weight_shape = dict(self.layout)[name.replace(".bias", ".weight")]
            bound = 1.0 / np.sqrt(np.prod(weight_shape[1:]))  # fan_in = C*KH*KW or D_in
            parts.append(rng.uniform(-bound, bound, size=int(np.prod(shape))))
        return np.concatenate(parts).astype(dtype)

    def sample_noise(self, rng: np.random.Generator, n: int) -> LeNetNoise | None:
        """Dropout keep-masks for one step on ``n`` examples; ``None`` when ``dropout == 0``."""
        check_rng(rng)
        n = check_int("n", n, 1)
        if self.dropout == 0.0:
            return None
        return LeNetNoise(dropout_mask(rng, (n, 120), self.dropout),
                          dropout_mask(rng, (n, 84), self.dropout))

    # -- checks ----------------------------------------------------------------------------
    def _check_X(self, X, dtype) -> np.ndarray:
        X = check_real_array("X", X)
        if X.ndim == 4:
            check_image_size(*X.shape[2:], "X")  # too small for LeNet, before a size mismatch
        return check_images(X, dtype, self.in_channels, self.image_size, "LeNet")

    def _check_noise(self, noise, n: int):
        if noise is None:
            return None
        if self.dropout == 0.0:
            raise ValueError("this LeNet has dropout=0.0: noise must be None")
        if not isinstance(noise, LeNetNoise):
            raise ValueError(f"noise must be a LeNetNoise from sample_noise, got {type(noise)}")
        for name, mask, width in (("keep1", noise.keep1, 120), ("keep2", noise.keep2, 84)):
            if mask.dtype != np.bool_ or mask.shape != (n, width):
                raise ValueError(f"noise.{name} must be bool of shape ({n}, {width}), got "
                                 f"{mask.dtype} {mask.shape}")
        return noise

    def _inputs(self, w, X, y, noise):
        w = self._check_w(w)
        X = self._check_X(X, w.dtype)
        y = check_labels(y, X.shape[0], self.n_classes)
        return w, X, y, self._check_noise(noise, X.shape[0])

    # -- the network (see adaptive_lr.models.lenet_layers) ---------------------------------
    def _per_example_losses(self, w, X, y, noise) -> np.ndarray:
        p = self.unflatten(w)
        logits, _ = tail_forward(conv1_forward(p, X)[0], p, noise, self.dropout)
        return cross_entropy_per_example(logits, y)[0]  # (N,)

    def _chunks(self, n: int, size: int | None = None):
        return example_chunks(n, self.eval_batch_size if size is None else size)

    def _mean(self, per_example: np.ndarray) -> float:
        """The batch mean exactly as :meth:`loss` sums it (chunks of ``eval_batch_size``)."""
        total = sum(float(np.sum(per_example[s])) for s in self._chunks(per_example.shape[0]))
        return total / per_example.shape[0]

    # -- the model interface ---------------------------------------------------------------
    def loss(self, w, X, y, *, noise=None, state=None) -> float:
        """Mean cross-entropy on the batch (dropout with ``noise``, evaluation mode without)."""
        self._check_state(state)
        w, X, y, noise = self._inputs(w, X, y, noise)
        per_example = np.empty(X.shape[0], dtype=w.dtype)
        for s in self._chunks(X.shape[0]):
            per_example[s] = self._per_example_losses(w, X[s], y[s], chunk_noise(noise, s))
        loss = self._mean(per_example)
        if not np.isfinite(loss):
            raise_if_inputs_not_finite(w, X)
        return loss

    def forward_backward(self, w, X, y, *, noise=None, state=None) -> GradientPass:
        """Loss, gradient (flat, dtype of ``w``) and a :class:`LeNetCache` for the probes.

        Runs on chunks of ``CHUNK`` examples (module docstring), on ``threads`` threads, and adds
        up their gradients in chunk order.
        """
        self._check_state(state)
        X_arg = X
        w, X, y, noise = self._inputs(w, X, y, noise)
        n = X.shape[0]
        p = self.unflatten(w)
        raise_heap_thresholds()  # once per process: see adaptive_lr.fast.chunks

        def chunk(s):
            grad_s = np.zeros_like(w)
            z1_s, conv1_cache = conv1_forward(p, X[s])
            logits, c = tail_forward(z1_s, p, chunk_noise(noise, s), self.dropout)
            losses, ce_cache = softmax_cross_entropy_per_example_forward(logits, y[s])
            dlogits = softmax_cross_entropy_backward(1.0, ce_cache, n)  # of the mean over n
            backward(dlogits, c, conv1_cache, self.unflatten(grad_s))
            return losses, grad_s, conv1_cache.u, z1_s

        parts = map_chunks(chunk, self._chunks(n, CHUNK), self.threads)
        grad = parts[0][1]
        for part in parts[1:]:
            grad += part[1]
        loss = self._mean(np.concatenate([part[0] for part in parts]))  # (N,)
        if not np.isfinite(loss):
            raise_if_inputs_not_finite(w, X)
        u1, z1 = (tuple(part[i] for part in parts) for i in (2, 3))
        return GradientPass(loss, grad, LeNetCache(X_arg, w.copy(), n, u1, z1))

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None,
                    state=None) -> np.ndarray:
        """``[L(w - eta*d) for eta in etas]`` (Eq. 3-4), fused: see :mod:`.lenet_probe`.

        ``w, d`` (n_params,) of one dtype, ``etas`` (P,), ``X`` (N, C, H, W), ``y`` (N,), ``noise``
        the step's :class:`LeNetNoise` or None, ``cache`` a :class:`LeNetCache` from
        ``forward_backward(w, X, y)`` on this batch or None. Returns float64 losses (P,),
        computed in the dtype of ``w`` with the batch mean summed in float64.
        """
        self._check_state(state)
        w_checked, X_checked, y, noise = self._inputs(w, X, y, noise)
        d = self._check_direction(w_checked, d)
        etas = check_etas(etas)
        return fused_line_losses(w_checked, d, etas, X_checked, y, noise, cache, X_arg=X,
                                 layout=self.layout, dropout=self.dropout, threads=self.threads)

    def predict(self, w, X, *, state=None) -> np.ndarray:
        """Class labels (N,) int64, in evaluation mode (no dropout)."""
        self._check_state(state)
        w = self._check_finite_w(w)
        X = self._check_X(X, w.dtype)
        p = self.unflatten(w)
        out = np.empty(X.shape[0], dtype=np.int64)
        for s in self._chunks(X.shape[0]):
            logits, _ = tail_forward(conv1_forward(p, X[s])[0], p, None, self.dropout)
            out[s] = np.argmax(logits, axis=1)
        return out
