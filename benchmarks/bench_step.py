"""Cost of one basic SGD step and one second-order step for logistic regression.

Prints the median time per training step of ``train()`` (evaluations excluded) with the basic
method (``FixedLR``) and with the second-order method (``SecondOrderLR``: the gradient, five
fused probe losses of Eq. 16, the update), float64, at batch 128 and at full batch (60000 x 784,
random data of MNIST's shape), and their ratio. Runs alternate between the two methods, and the
median over the runs is printed, so a change of machine load affects both alike.

Fused, the probes cost one product ``X @ d`` and two exponentials of the logits, not five
forward passes: a second-order step reads ``X`` three times (forward, backward, ``X d``), a basic
step twice. The last column is the naive second-order step (five separate ``model.loss`` calls)
against the isolated basic step. Like the ``adaptive-lr`` command, the script first raises
malloc's heap thresholds (:func:`adaptive_lr.fast.chunks.raise_heap_thresholds`), so that the
full batch's logits are not page-faulted afresh at every step.

Usage::

    python benchmarks/bench_step.py [--runs 5] [--full-steps 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from adaptive_lr import FixedLR, LogisticRegression, SecondOrderLR, train
from adaptive_lr.fast.chunks import raise_heap_thresholds
from adaptive_lr.finite_diff import probe_points


def per_step(model, controller, X, y, w0, batch_size, epochs) -> float:
    """Seconds of training per step, from the history (evaluations excluded)."""
    h = train(model, controller, X, y, epochs=epochs, batch_size=batch_size, w0=w0,
              eval_chunk=None).history
    return h.time[-1] / len(h.lr)


def naive_ratio(model, w, X, y, repeats: int) -> float:
    """Isolated steps: (gradient + five separate losses) / gradient, medians in turns."""
    def basic():
        _, g = model.loss_and_grad(w, X, y)
        return w - 0.1 * g

    def naive():
        _, g = model.loss_and_grad(w, X, y)
        return [model.loss(w - e * g, X, y) for e in probe_points(0.1, 1e-5)]

    times = [[], []]
    for _ in range(repeats):
        for fn, t in zip((basic, naive), times, strict=True):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return float(np.median(times[1]) / np.median(times[0]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each method, in turns")
    parser.add_argument("--full-steps", type=int, default=20, help="steps per full-batch run")
    args = parser.parse_args(argv)
    raise_heap_thresholds()

    rng = np.random.default_rng(0)
    model = LogisticRegression(784, 10)
    X_all = rng.random((60000, 784))  # float64, MNIST's shape and value range
    y_all = rng.integers(0, 10, 60000)
    w0 = model.init_params(rng)

    print(f"{'batch':>7} {'basic ms':>10} {'2nd-order ms':>13} {'ratio':>7} {'naive ratio':>12}")
    for batch, X, y, epochs in ((128, X_all[:38400], y_all[:38400], 2),
                                (60000, X_all, y_all, args.full_steps)):
        times = [[], []]
        per_step(model, SecondOrderLR(0.1), X, y, w0, batch, 1)  # warm-up
        for _ in range(args.runs):
            for make, t in zip((lambda: FixedLR(0.1), lambda: SecondOrderLR(0.1)), times,
                               strict=True):
                t.append(per_step(model, make(), X, y, w0, batch, epochs))
        tb, ts = (float(np.median(t)) for t in times)
        tn = naive_ratio(model, w0, X[:batch], y[:batch], 3 if batch > 1000 else 300)
        print(f"{batch:>7} {1e3 * tb:>10.3f} {1e3 * ts:>13.3f} {ts / tb:>7.2f} {tn:>12.2f}")


if __name__ == "__main__":
    main()
