"""ResNet-18 of the paper's Sec. 4.2.3 and 5 (the authors' ``neural_networks/resnet.py``), with
BatchNorm whose running statistics are model state that no probe can disturb.

The default network (the authors')::

    conv1 3->16 3x3 pad 1 -> BN -> ReLU -> maxpool 3x3/2 pad 1 (32 -> 16)
    -> layer1: 2 BasicBlocks, 16 channels, stride 1          (16x16)
    -> layer2: 2 BasicBlocks, 32 channels, stride 2 -> Dropout2d(0.5)   (8x8)
    -> layer3: 2 BasicBlocks, 64 channels, stride 1          (8x8)
    -> layer4: 2 BasicBlocks, 128 channels, stride 2 -> Dropout2d(0.5)  (4x4)
    -> average pool over the 4x4 map -> fc 128->10

A BasicBlock is ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, 3x3 convolutions with
padding 1 and no bias, the first with the block's stride; the shortcut is the identity, or a 1x1
convolution with the block's stride (no bias) and a BatchNorm when the stride or the width changes
(He et al., 2016, option B). On 32x32 inputs this network has 701,466 parameters (CIFAR-10) and
takes 21.7 M multiply-adds per image (convolutions and fc; :func:`multiply_adds`).
``ResNet18.he_cifar()`` is the standard CIFAR ResNet-18 of He et al.: 64-128-256-512 channels,
strides 1-2-2-2, no max pooling, no dropout, 11,173,962 parameters, 555 M multiply-adds.

Initialisation (the authors'): every convolution He-normal, ``N(0, 2 / (k*k*out_channels))``;
BatchNorm weight 1 and bias 0; fc PyTorch's default ``nn.Linear`` initialisation, weight and bias
uniform in ``(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

Modes and state. ``noise`` selects the mode, as for LeNet: a :class:`ResNetNoise` from
:meth:`ResNet18.sample_noise` (even one without masks, when dropout is off) is training mode,
``noise=None`` evaluation mode.

* Training mode: every BatchNorm normalises with the statistics of the batch it is given
  (biased variance), Dropout2d applies the step's masks. :meth:`~ResNet18.forward_backward`
  returns the new running statistics (momentum 0.1, unbiased variance, PyTorch's rule) as
  ``GradientPass.state``; :meth:`~ResNet18.loss` and :meth:`~ResNet18.line_losses` return none.
  The probes of a step therefore all see one function, the gradient's: BatchNorm with the
  statistics of the probe batch at the probe point, the gradient's dropout masks.
* Evaluation mode: BatchNorm uses the running statistics of ``state``, no dropout.

``state`` is a dict of arrays under PyTorch's buffer names (``bn1.running_mean``,
``bn1.running_var``, ``bn1.num_batches_tracked``, ``layer1.0.bn1.running_mean``, ...);
``state=None`` means :meth:`~ResNet18.init_state` (zeros and ones, as a fresh PyTorch module).
No method modifies the arrays of a state it is given.

Probes. :meth:`~ResNet18.line_losses` runs one forward-only training-mode pass per step size.
Stacking the probes along the batch axis would be exact only with each BatchNorm normalising
every probe's group with its own statistics (``groups`` of
:func:`~adaptive_lr.fast.chwn.batchnorm_forward` does that, tested against separate passes), and
it does not pay: ``python benchmarks/bench_resnet.py`` times one pass on the ``5N`` images
stacked against five passes on ``N``, a lower bound on the fused cost (a fused pass would also
need each probe's own weights). On a shared 2-core machine the stacked pass took 1.34-1.37
times as long as the five passes at batch 256 (the paper's batch); at batch 32 it took 0.34
times as long with OpenBLAS on 2 threads, whose small products stall each other when the cores
are busy, and 1.04 times with ``OPENBLAS_NUM_THREADS=1``. The plain loop is kept.
"""

from __future__ import annotations

import numpy as np

from ..arguments import (
    check_flag,
    check_image_shape,
    check_int,
    check_int_tuple,
    check_real,
    describe,
    is_integer,
)
from ..fast.chwn import to_batch_last
from ..nn import softmax_cross_entropy_backward, softmax_cross_entropy_per_example_forward
from ..nn.dropout2d import dropout2d_mask
from ..nn.losses import cross_entropy_per_example
from ..params import make_layout
from .base import (
    GradientPass,
    Model,
    check_dtype,
    check_images,
    check_labels,
    raise_if_inputs_not_finite,
)
from .resnet_layers import Arch, ResNetNoise, backward, forward, make_arch, new_state

__all__ = ["ResNet18", "ResNetNoise", "multiply_adds"]

AUTHORS = dict(widths=(16, 32, 64, 128), strides=(1, 2, 1, 2), stem_pool=True, dropout=0.5,
               dropout_after=(2, 4))
HE_CIFAR = dict(widths=(64, 128, 256, 512), strides=(1, 2, 2, 2), stem_pool=False, dropout=0.0,
                dropout_after=())


def _out(side, stride):  # a 3x3 convolution with padding 1 (or 1x1, no padding)
    return (side - 1) // stride + 1


def multiply_adds(arch: Arch, image_size=(32, 32)) -> int:
    """Multiply-adds of one image through the convolutions and fc (BatchNorm, ReLU and pooling,
    a few per activation, are not counted)."""
    h, w = image_size
    total = arch.stem * arch.in_channels * 9 * h * w
    if arch.stem_pool:
        h, w = _out(h, 2), _out(w, 2)
    for b in arch.blocks:
        h2, w2 = _out(h, b.stride), _out(w, b.stride)
        total += b.c_out * b.c_in * 9 * h2 * w2 + b.c_out * b.c_out * 9 * h2 * w2
        if b.downsample:
            total += b.c_out * b.c_in * h2 * w2
        h, w = h2, w2
    return total + arch.n_classes * arch.blocks[-1].c_out


class ResNet18(Model):
    """ResNet-18 as a pure function of one flat parameter vector, with BatchNorm state.

    Parameters
    ----------
    in_channels, n_classes : int
        3 and 10 (CIFAR-10) or 100 (CIFAR-100).
    image_size : int or (int, int)
        Input height and width (32 for CIFAR). The average pooling covers the whole final map
        (4x4 for 32x32 inputs with either preset).
    widths : 4 ints
        Channels of layer1-layer4 (conv1 has ``widths[0]``). Default the authors' 16-32-64-128.
    strides : 4 ints
        Stride of the first block of each stage. Default the authors' 1-2-1-2.
    stem_pool : bool
        The 3x3/2 max pooling after conv1 (the authors': True).
    dropout : float
        Dropout2d probability after the stages in ``dropout_after`` (the authors': 0.5 after
        layer2 and layer4). 0 switches it off.
    dropout_after : tuple of stage numbers in 1..4

    Notes
    -----
    The compute dtype is the dtype of ``w``; ``X`` (N, C, H, W) is cast to it. Evaluation runs
    in chunks of ``eval_batch_size`` images (the running statistics make it per-example);
    training-mode passes never chunk, since BatchNorm couples the examples of a batch.
    """

    task = "classification"

    def __init__(self, in_channels: int = 3, n_classes: int = 10, image_size=32, *,
                 widths=AUTHORS["widths"], strides=AUTHORS["strides"],
                 stem_pool: bool = AUTHORS["stem_pool"], dropout: float = AUTHORS["dropout"],
                 dropout_after=AUTHORS["dropout_after"], eval_batch_size: int = 256):
        h, w = check_image_shape("image_size", image_size)
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.n_classes = check_int("n_classes", n_classes, 2)
        self.image_size = (h, w)
        if min(self.image_size) < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        widths = check_int_tuple("widths", widths, 4)
        strides = check_int_tuple("strides", strides, 4)
        stem_pool = check_flag("stem_pool", stem_pool)
        dropout = check_real("dropout", dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if not isinstance(dropout_after, (tuple, list)) or any(
                not is_integer(s) or s not in (1, 2, 3, 4) for s in dropout_after):
            raise ValueError(f"dropout_after must hold stage numbers 1..4, got "
                             f"{describe(dropout_after)}")
        dropout_after = tuple(int(s) for s in dropout_after)
        eval_batch_size = check_int("eval_batch_size", eval_batch_size, 1)
        self.widths, self.strides, self.stem_pool = widths, strides, bool(stem_pool)
        self.dropout, self.dropout_after = float(dropout), dropout_after
        self.eval_batch_size = int(eval_batch_size)
        self.arch = make_arch(self.in_channels, self.n_classes, widths, strides, self.stem_pool,
                              dropout_after if self.dropout else ())
        self.layout = make_layout(self.arch.layout())
        side = list(self.image_size)
        if self.stem_pool:
            side = [_out(s, 2) for s in side]
        for s in strides:
            side = [_out(t, s) for t in side]
        self.final_map = tuple(side)

    @classmethod
    def he_cifar(cls, in_channels: int = 3, n_classes: int = 10, **kw) -> ResNet18:
        """The standard CIFAR ResNet-18 of He et al.: 64-128-256-512, strides 1-2-2-2, no max
        pooling, no dropout (about 11.2 M parameters)."""
        return cls(in_channels, n_classes, **{**HE_CIFAR, **kw})

    def __repr__(self) -> str:
        return (f"ResNet18(in_channels={self.in_channels}, n_classes={self.n_classes}, "
                f"image_size={self.image_size}, widths={self.widths}, strides={self.strides}, "
                f"stem_pool={self.stem_pool}, dropout={self.dropout}, "
                f"dropout_after={self.dropout_after})")

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds per image (:func:`multiply_adds`)."""
        return multiply_adds(self.arch, self.image_size)

    # -- parameters, state and randomness --------------------------------------------------
    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        """The authors' initialisation (module docstring), drawn in float64 and rounded."""
        dtype = check_dtype(dtype)
        parts = []
        fan_in = self.layout[-2][1][1]
        for name, shape in self.layout:
            size = int(np.prod(shape))
            if name.endswith(".weight") and len(shape) == 4:  # convolutions
                n = shape[2] * shape[3] * shape[0]  # k * k * out_channels
                parts.append(rng.normal(0.0, np.sqrt(2.0 / n), size))
            elif name.startswith("fc."):
                bound = 1.0 / np.sqrt(fan_in)
                parts.append(rng.uniform(-bound, bound, size))
            else:  # BatchNorm
                parts.append(np.ones(size) if name.endswith(".weight") else np.zeros(size))
        return np.concatenate(parts).astype(dtype)

    def init_state(self, dtype=np.float64) -> dict[str, np.ndarray]:
        """Running statistics of a fresh model: means 0, variances 1, no batch tracked."""
        dtype = check_dtype(dtype)
        state = {}
        for name in self.arch.batchnorms:
            c = dict(self.layout)[f"{name}.weight"][0]
            state[f"{name}.running_mean"] = np.zeros(c, dtype=dtype)
            state[f"{name}.running_var"] = np.ones(c, dtype=dtype)
            state[f"{name}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
        return state

    def sample_noise(self, rng: np.random.Generator, n: int) -> ResNetNoise:
        """Training mode for one step on ``n`` examples: the Dropout2d keep-masks (none when
        dropout is off)."""
        if not self.dropout:
            return ResNetNoise()
        return ResNetNoise(dropout2d_mask(rng, n, self.arch.stage_width(s), self.dropout)
                           for s in self.dropout_after)

    # -- checks ----------------------------------------------------------------------------
    def _check_X(self, X, dtype) -> np.ndarray:
        return check_images(X, dtype, self.in_channels, self.image_size, "ResNet18")

    def _check_noise(self, noise, n: int):
        if noise is None:
            return None
        if not isinstance(noise, ResNetNoise):
            raise ValueError(f"noise must be a ResNetNoise from sample_noise (training mode) "
                             f"or None (evaluation mode), got {type(noise).__name__}")
        want = [(n, self.arch.stage_width(s)) for s in self.dropout_after] if self.dropout else []
        got = [(np.asarray(m).dtype, np.shape(m)) for m in noise]
        if len(got) != len(want) or any(
                d != np.bool_ or s != t for (d, s), t in zip(got, want, strict=True)):
            raise ValueError(f"noise must hold bool masks of shapes {want}, got {got}")
        if self.final_map[0] * self.final_map[1] * n < 2:
            raise ValueError("training mode needs more than 1 value per channel in the last "
                             f"BatchNorm: a batch of {n} {self.image_size} images is too small")
        return noise

    def _check_state(self, state, dtype=np.float64) -> dict:
        if state is None:
            return self.init_state(dtype)
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from init_state(), got "
                             f"{type(state).__name__}")
        want = self.init_state(dtype)
        if set(state) != set(want):
            missing, extra = set(want) - set(state), set(state) - set(want)
            raise ValueError(f"state does not fit this ResNet18: missing {sorted(missing)[:3]},"
                             f" unexpected {sorted(extra)[:3]}")
        for key, ref in want.items():
            a = np.asarray(state[key])
            if a.shape != ref.shape:
                raise ValueError(f"state[{key!r}] has shape {a.shape}, expected {ref.shape}")
            if key.endswith(("running_mean", "running_var")) and not np.all(np.isfinite(a)):
                raise ValueError(f"state[{key!r}] contains NaN or inf")
        return {k: (np.asarray(v, dtype=dtype) if k.endswith(("mean", "var")) else np.asarray(v))
                for k, v in state.items()}

    def _inputs(self, w, X, y, noise, state):
        w = self._check_w(w)
        X = self._check_X(X, w.dtype)
        y = check_labels(y, X.shape[0], self.n_classes)
        return w, X, y, self._check_noise(noise, X.shape[0]), self._check_state(state, w.dtype)

    # -- the network -----------------------------------------------------------------------
    def _forward(self, w, X, noise, state, keep_cache=False):
        x = to_batch_last(X)  # (N, C, H, W) -> (C, H, W, N)
        return forward(self.unflatten(w), x, self.arch, train=noise is not None, noise=noise,
                       state=state, dropout=self.dropout, keep_cache=keep_cache)

    def _chunks(self, n, noise):
        size = n if noise is not None else self.eval_batch_size  # BatchNorm couples a batch
        return [slice(a, min(a + size, n)) for a in range(0, n, size)]

    def _per_example(self, w, X, y, noise, state) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=w.dtype)
        for s in self._chunks(X.shape[0], noise):
            logits = self._forward(w, X[s], noise, state)[0]
            out[s] = cross_entropy_per_example(logits, y[s])[0]
        return out

    # -- the model interface ---------------------------------------------------------------
    def loss(self, w, X, y, *, noise=None, state=None) -> float:
        """Mean cross-entropy (summed in float64): training mode with ``noise``, evaluation mode
        (running statistics of ``state``) without."""
        w, X, y, noise, state = self._inputs(w, X, y, noise, state)
        loss = float(np.sum(self._per_example(w, X, y, noise, state), dtype=np.float64)) / len(y)
        if not np.isfinite(loss):
            raise_if_inputs_not_finite(w, X)
        return loss

    def forward_backward(self, w, X, y, *, noise=None, state=None) -> GradientPass:
        """Loss, gradient and, in training mode, the new running statistics (the only place they
        change). In evaluation mode the returned state is ``state`` itself."""
        w, X, y, noise, st = self._inputs(w, X, y, noise, state)
        n = X.shape[0]
        logits, cache, stats = self._forward(w, X, noise, st, keep_cache=True)
        losses, ce = softmax_cross_entropy_per_example_forward(logits, y)
        grad = np.zeros_like(w)
        backward(softmax_cross_entropy_backward(1.0, ce, n), cache, self.arch,
                 self.unflatten(grad))
        loss = float(np.sum(losses, dtype=np.float64)) / n
        if not np.isfinite(loss):
            raise_if_inputs_not_finite(w, X)
        state_out = new_state(st, stats) if noise is not None else st
        return GradientPass(loss, grad, None, state_out)

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None, state=None) -> np.ndarray:
        """``[L(w - eta d) for eta in etas]`` (Eq. 3-4): one forward-only pass per rate, in the
        mode ``noise`` selects, with the step's masks; no state is returned or changed."""
        w, X, y, noise, state = self._inputs(w, X, y, noise, state)
        d = self._check_direction(w, d)
        etas = np.asarray(etas, dtype=np.float64)
        out = np.empty(etas.shape[0], dtype=np.float64)
        for i, eta in enumerate(etas):
            per_example = self._per_example(w - w.dtype.type(eta) * d, X, y, noise, state)
            out[i] = float(np.sum(per_example, dtype=np.float64)) / len(y)
        return out

    def predict(self, w, X, *, state=None) -> np.ndarray:
        """Class labels (N,) int64, in evaluation mode (running statistics, no dropout)."""
        w = self._check_finite_w(w)
        X = self._check_X(X, w.dtype)
        state = self._check_state(state, w.dtype)
        out = np.empty(X.shape[0], dtype=np.int64)
        for s in self._chunks(X.shape[0], None):
            out[s] = np.argmax(self._forward(w, X[s], None, state)[0], axis=1)
        return out
