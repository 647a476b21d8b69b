"""ResNet's architecture and its forward and backward passes on batch-last activations
``(C, H, W, N)`` (:mod:`adaptive_lr.fast.chwn`), shared by the gradient's pass, the probes and
evaluation (:mod:`adaptive_lr.models.resnet`).

One function :func:`forward` serves both modes. In training mode (``train=True``) every
BatchNorm normalises with the statistics of the batch it sees (of each of ``groups`` equal parts
of it) and reports them, and Dropout2d applies the step's masks; in evaluation mode BatchNorm uses
the running statistics of ``state`` and there is no dropout. :func:`forward` never changes
``state``: the running statistics are moved by :func:`new_state` from the statistics a
training-mode pass reports, and only the gradient's pass calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fast.chwn import (
    batchnorm_backward,
    batchnorm_eval_backward,
    batchnorm_eval_forward,
    batchnorm_forward,
    conv_backward,
    conv_forward,
    max_pool_backward,
    max_pool_forward,
)
from ..nn.batchnorm import MOMENTUM
from ..nn.dense import dense_backward, dense_forward


class ResNetNoise(tuple):
    """The random state of one training-mode step: a tuple of Dropout2d keep-masks (True =
    kept), bool (N, C_l), one per entry of ``Arch.dropout_after``; empty when dropout is off. A
    ``ResNetNoise`` (even an empty one) selects training mode; ``noise=None`` is evaluation
    mode."""

    __slots__ = ()


@dataclass(frozen=True)
class Block:
    """One BasicBlock: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    name: str  # "layer2.0"
    c_in: int
    c_out: int
    stride: int

    @property
    def downsample(self) -> bool:
        """A 1x1 strided convolution + BN shortcut when the stride or the width changes."""
        return self.stride != 1 or self.c_in != self.c_out


@dataclass(frozen=True)
class Arch:
    in_channels: int
    stem: int  # conv1's output channels
    stem_pool: bool  # 3x3/2 max pooling after the stem
    blocks: tuple  # of Block
    dropout_after: tuple  # stage numbers (1..4) followed by Dropout2d
    n_classes: int

    @property
    def batchnorms(self) -> list[str]:
        """The BatchNorm layers' names, in the order of PyTorch's ``state_dict``."""
        names = ["bn1"]
        for b in self.blocks:
            names += [f"{b.name}.bn1", f"{b.name}.bn2"]
            if b.downsample:
                names.append(f"{b.name}.downsample.1")
        return names

    def layout(self) -> list:
        """``(name, shape)`` of every parameter, in PyTorch's ``state_dict`` order."""
        out = [("conv1.weight", (self.stem, self.in_channels, 3, 3)),
               ("bn1.weight", (self.stem,)), ("bn1.bias", (self.stem,))]
        for b in self.blocks:
            out += [(f"{b.name}.conv1.weight", (b.c_out, b.c_in, 3, 3)),
                    (f"{b.name}.bn1.weight", (b.c_out,)), (f"{b.name}.bn1.bias", (b.c_out,)),
                    (f"{b.name}.conv2.weight", (b.c_out, b.c_out, 3, 3)),
                    (f"{b.name}.bn2.weight", (b.c_out,)), (f"{b.name}.bn2.bias", (b.c_out,))]
            if b.downsample:
                out += [(f"{b.name}.downsample.0.weight", (b.c_out, b.c_in, 1, 1)),
                        (f"{b.name}.downsample.1.weight", (b.c_out,)),
                        (f"{b.name}.downsample.1.bias", (b.c_out,))]
        c = self.blocks[-1].c_out
        return out + [("fc.weight", (self.n_classes, c)), ("fc.bias", (self.n_classes,))]

    def stage_width(self, stage: int) -> int:
        return [b for b in self.blocks if b.name.startswith(f"layer{stage}.")][-1].c_out


def make_arch(in_channels, n_classes, widths, strides, stem_pool, dropout_after,
              blocks_per_stage=2) -> Arch:
    blocks, c_in = [], widths[0]
    for s, (c, stride) in enumerate(zip(widths, strides, strict=True), start=1):
        for i in range(blocks_per_stage):
            blocks.append(Block(f"layer{s}.{i}", c_in, c, stride if i == 0 else 1))
            c_in = c
    return Arch(in_channels, widths[0], stem_pool, tuple(blocks), tuple(dropout_after),
                n_classes)


def _tile(keep, groups):
    return keep if groups == 1 else np.tile(keep, (groups, 1))


def forward(p, x, arch: Arch, *, train: bool, noise=None, state=None, dropout: float = 0.0,
            groups: int = 1, keep_cache: bool = True):
    """The network on ``x`` (C, H, W, N) -> logits (N, n_classes).

    Parameters
    ----------
    p : dict of the parameters (PyTorch's names).
    train : bool
        Training mode (batch statistics, the masks of ``noise``) or evaluation mode (the running
        statistics of ``state``, no dropout).
    noise : ResNetNoise or None
        The masks, of ``N / groups`` examples (the same masks for every group).
    groups : int
        Training mode only: the batch is ``groups`` equal stacked parts, each normalised with its
        own statistics (as ``groups`` separate calls would).
    keep_cache : bool
        False keeps nothing for a backward pass (the probes).

    Returns
    -------
    logits : ndarray (N, n_classes)
    cache : dict for :func:`backward` (empty unless ``keep_cache``)
    stats : dict ``{bn name: (mean, var, M)}`` of the batch statistics (training mode)
    """
    cache, stats = {}, {}

    def conv(name, h, stride, pad):
        out, c = conv_forward(h, p[f"{name}.weight"], stride, pad, keep_cols=keep_cache)
        if keep_cache:
            cache[name] = c
        return out

    def bn(name, z, relu):
        if train:
            out, c, stats[name] = batchnorm_forward(z, p[f"{name}.weight"], p[f"{name}.bias"],
                                                    groups=groups, relu=relu,
                                                    keep_cache=keep_cache)
        else:
            out, c = batchnorm_eval_forward(z, p[f"{name}.weight"], p[f"{name}.bias"],
                                            state[f"{name}.running_mean"],
                                            state[f"{name}.running_var"], relu=relu)
        if keep_cache:
            cache[name] = c
        return out

    h = bn("bn1", conv("conv1", x, 1, 1), relu=not arch.stem_pool)
    if arch.stem_pool:  # relu(maxpool(z)) = maxpool(relu(z)): pool first, 4x fewer ReLUs
        h, cache_pool = max_pool_forward(h, 3, 2, 1)
        np.maximum(h, 0, out=h)
        if keep_cache:
            cache["maxpool"] = (cache_pool, h)
    scale = 1.0 / (1.0 - dropout) if dropout else 1.0
    for b in arch.blocks:
        r = bn(f"{b.name}.bn1", conv(f"{b.name}.conv1", h, b.stride, 1), relu=True)
        r = bn(f"{b.name}.bn2", conv(f"{b.name}.conv2", r, 1, 1), relu=False)
        if b.downsample:
            sc = bn(f"{b.name}.downsample.1",
                    conv(f"{b.name}.downsample.0", h, b.stride, 0), relu=False)
        else:
            sc = h
        r += sc  # the residual sum
        np.maximum(r, 0, out=r)
        h = r
        if keep_cache:
            cache[f"{b.name}.out"] = h
        stage = int(b.name[5])
        if train and b.name.endswith(".1") and stage in arch.dropout_after and dropout:
            keep = noise[arch.dropout_after.index(stage)]
            # (N, C) -> (C, 1, 1, N), the kept entries scaled: h * (mask * scale) is h * scale
            # or 0, bit for bit what h * mask * scale gives, in one pass
            mask = _tile(keep, groups).T[:, None, None, :] * h.dtype.type(scale)
            h = h * mask
            if keep_cache:
                cache[f"drop{stage}"] = mask
    c, n = h.shape[0], h.shape[3]
    feats = h.reshape(c, -1, n).mean(axis=1).T  # average pool: (C, H, W, N) -> (N, C)
    logits, cache_fc = dense_forward(feats, p["fc.weight"], p["fc.bias"])
    if keep_cache:
        cache["fc"] = cache_fc
        cache["pool_shape"] = h.shape
        cache["train"] = train
        cache["scale"] = scale
    return logits, cache, stats


def backward(dlogits, cache: dict, arch: Arch, g: dict) -> None:
    """Backward pass of :func:`forward` (``keep_cache=True``) from ``dlogits`` (N, classes);
    writes every parameter's gradient into the views ``g``."""
    train = cache["train"]

    def bn_back(name, d):
        back = batchnorm_backward if train else batchnorm_eval_backward
        dx, g[f"{name}.weight"][...], g[f"{name}.bias"][...] = back(d, cache[name])
        return dx

    def conv_back(name, d, compute_dx=True):
        dx, g[f"{name}.weight"][...] = conv_backward(d, cache[name], compute_dx)
        return dx

    dfeats, g["fc.weight"][...], g["fc.bias"][...] = dense_backward(dlogits, cache["fc"])
    shape = cache["pool_shape"]  # (C, H, W, N)
    dh = np.broadcast_to((dfeats.T / (shape[1] * shape[2]))[:, None, None, :], shape)
    for b in reversed(arch.blocks):
        stage = int(b.name[5])
        if f"drop{stage}" in cache and b.name.endswith(".1"):
            dh = dh * cache[f"drop{stage}"]  # the mask times the scale
        d = dh * (cache[f"{b.name}.out"] > 0)  # the block's final ReLU
        dr = bn_back(f"{b.name}.bn2", d)
        dr = conv_back(f"{b.name}.conv2", dr)
        dr = bn_back(f"{b.name}.bn1", dr)
        dx = conv_back(f"{b.name}.conv1", dr)
        if b.downsample:
            ds = bn_back(f"{b.name}.downsample.1", d)
            dx += conv_back(f"{b.name}.downsample.0", ds)
        else:
            dx += d  # the identity shortcut
        dh = dx
    if arch.stem_pool:
        cache_pool, pooled = cache["maxpool"]
        dh = max_pool_backward(dh * (pooled > 0), cache_pool)
    dz = bn_back("bn1", dh)
    conv_back("conv1", dz, compute_dx=False)


def new_state(state: dict, stats: dict, momentum: float = MOMENTUM) -> dict:
    """The running statistics after one training-mode pass (PyTorch's rule,
    :func:`adaptive_lr.nn.batchnorm.running_update`): new arrays, ``state`` unchanged."""
    out = {}
    for name, (mean, var, m) in stats.items():
        mean, var = mean[:, 0], var[:, 0]  # one group
        rm, rv = state[f"{name}.running_mean"], state[f"{name}.running_var"]
        keep = rm.dtype.type(1.0 - momentum)
        mom = rm.dtype.type(momentum)
        out[f"{name}.running_mean"] = keep * rm + mom * mean
        out[f"{name}.running_var"] = keep * rv + mom * (var * rm.dtype.type(m / (m - 1)))
        out[f"{name}.num_batches_tracked"] = state[f"{name}.num_batches_tracked"] + 1
    return out
