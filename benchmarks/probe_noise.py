"""Rounding noise of the five probe losses of Eq. 16 in float32: the fused probe against five
separate loss evaluations (the figures quoted in the models' ``line_losses`` docstrings).

For each model, at realistic weights (after a warm-up of float32 SGD or gradient descent) and
with ``d`` the float32 batch gradient, it compares the second difference
``D2 = f(eta+2eps) + f(eta-2eps) - 2 f(eta)`` and the first difference
``D1 = f(eta+eps) - f(eta-eps)`` of

* ``fused``: ``model.line_losses`` (with the gradient's forward cache), in float32;
* ``plain``: ``Model.line_losses``, one separate float32 ``loss`` per rate;

against a float64 reference on the same float32 ``w``, ``d``, ``X`` cast up, at the same
float32-rounded rates. It prints the RMS and the largest error over ``--k`` batches, for
``eta = 0.1`` and ``0.4`` (``eta = 0.01`` on Boston), ``eps = 1e-5``.

Usage (MNIST and CIFAR-10 need ``ADAPTIVE_LR_DATA``; models whose data are absent are skipped)::

    python benchmarks/probe_noise.py [--k 200] [--only logistic|linear|lenet]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from adaptive_lr import LeNet, LinearRegression, LogisticRegression
from adaptive_lr.datasets import DataError, load_boston
from adaptive_lr.experiments.data import load_data
from adaptive_lr.finite_diff import probe_points
from adaptive_lr.models.base import Model

EPS = 1e-5


def differences(f) -> tuple[float, float]:
    f = np.asarray(f, dtype=np.float64)
    return f[4] + f[0] - 2 * f[2], f[3] - f[1]


def measure(title: str, model, steps, etas, k: int) -> None:
    """Print the noise table of ``k`` probes drawn from ``steps`` (tuples w, d, X, y, noise,
    cache in float32)."""
    errors = {(eta, probe, part): [] for eta in etas for probe in ("fused", "plain")
              for part in ("D2", "D1")}
    t0 = time.perf_counter()
    for _, (w, d, X, y, noise, cache) in zip(range(k), steps, strict=False):  # k of them
        w64, d64, X64 = w.astype(np.float64), d.astype(np.float64), X.astype(np.float64)
        for eta in etas:
            points = probe_points(eta, EPS)
            reference = differences(Model.line_losses(
                model, w64, d64, points.astype(np.float32).astype(np.float64), X64, y,
                noise=noise))
            for probe, f in (("fused", model.line_losses(w, d, points, X, y, noise=noise,
                                                         cache=cache)),
                             ("plain", Model.line_losses(model, w, d, points, X, y,
                                                         noise=noise))):
                for part, value, ref in zip(("D2", "D1"), differences(f), reference,
                                            strict=True):
                    errors[eta, probe, part].append(value - ref)
    print(f"\n## {title} ({k} batches, {time.perf_counter() - t0:.0f} s)\n")
    print("| eta | probe | D2 error RMS | D2 error max | D1 error RMS | D1 error max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for eta in etas:
        for probe in ("fused", "plain"):
            cells = []
            for part in ("D2", "D1"):
                e = np.asarray(errors[eta, probe, part])
                cells += [f"{np.sqrt(np.mean(e * e)):.2g}", f"{np.abs(e).max():.2g}"]
            print(f"| {eta:g} | {probe} | " + " | ".join(cells) + " |", flush=True)


def sgd(model, X, y, rng, batch, rate, warm, noisy=False):
    """Float32 SGD at ``rate``; after ``warm`` steps, yields every step's probe inputs."""
    w = model.init_params(rng, np.float32)
    step = 0
    while True:
        idx = rng.choice(len(X), size=batch, replace=False) if batch else slice(None)
        Xb, yb = np.ascontiguousarray(X[idx], dtype=np.float32), y[idx]
        noise = model.sample_noise(rng, len(yb)) if noisy else None
        out = model.forward_backward(w, Xb, yb, noise=noise)
        if step >= warm:
            yield w, out.grad, Xb, yb, noise, out.cache
        w = w - np.float32(rate) * out.grad
        step += 1


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=200, help="batches per table (default 200)")
    p.add_argument("--only", choices=("logistic", "linear", "lenet"))
    args = p.parse_args(argv)
    print(f"numpy {np.__version__}, float32 probes against float64, eps = {EPS:g}")
    if args.only in (None, "logistic"):
        try:
            mnist = load_data("mnist", "features")
            for batch in (32, 1024):
                measure(f"LogisticRegression, MNIST, batch {batch}, after 300 SGD steps at 0.1",
                        LogisticRegression(784, 10),
                        sgd(LogisticRegression(784, 10), mnist.X, mnist.y,
                            np.random.default_rng(1), batch, 0.1, 300), (0.1, 0.4), args.k)
        except DataError as exc:
            print(f"\nskipping LogisticRegression on MNIST: {exc}")
    if args.only in (None, "linear"):
        X, y, _, _ = load_boston()
        model = LinearRegression(X.shape[1])
        measure("LinearRegression, Boston, full batch of 400, after 300 GD steps at 1e-6",
                model, sgd(model, X, y.astype(np.float32), np.random.default_rng(1), None,
                           1e-6, 300), (0.01,), args.k)
    if args.only in (None, "lenet"):
        try:
            cifar = load_data("cifar10", "images")
            model = LeNet()
            measure("LeNet, CIFAR-10, batch 32, dropout 0.5, after 300 SGD steps at 0.1", model,
                    sgd(model, cifar.X, cifar.y, np.random.default_rng(1), 32, 0.1, 300,
                        noisy=True), (0.1, 0.4), args.k)
        except DataError as exc:
            print(f"\nskipping LeNet on CIFAR-10: {exc}")


if __name__ == "__main__":
    main()
