"""Cost of one basic SGD step and one second-order step for logistic regression.

Prints the median time of each (after a warm-up, timed in turns) at batch 128 and at full
batch (60000 x 784, random data of MNIST's shape), float64, and their ratio. The second-order
step is the gradient plus the five fused probe losses (Eq. 16) plus the update; fused, the
probes cost one extra product ``X @ d`` and two exponentials of the logits, not five forward
passes. The naive step (five separate ``model.loss`` calls) is printed for comparison.

Usage::

    python benchmarks/bench_step.py [--repeats 200] [--full-repeats 9]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from adaptive_lr import FixedLR, LogisticRegression, Probe, SecondOrderLR
from adaptive_lr.finite_diff import probe_points
from adaptive_lr.nn.chunks import raise_heap_thresholds


def median_times(fns, repeats: int, warmup: int = 3) -> list[float]:
    """Median seconds of each function, timed round-robin (one call of each in turn) so that
    a change of machine load affects them alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def make_steps(model, w, X, y):
    basic, second = FixedLR(0.1), SecondOrderLR(0.1)

    def basic_step():
        _, g, _ = model.forward_backward(w, X, y)
        eta = basic.step(g, None)
        return w - eta * g

    def second_order_step():
        _, g, cache = model.forward_backward(w, X, y)
        eta = second.step(g, Probe(model, w, g, X, y, cache=cache))
        second.lr = 0.1  # keep the rate fixed so every repeat does the same work
        return w - eta * g

    def naive_step():
        _, g = model.loss_and_grad(w, X, y)
        f = [model.loss(w - e * g, X, y) for e in probe_points(0.1, 1e-5)]
        return w - 0.1 * g, f

    return basic_step, second_order_step, naive_step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed steps at batch 128")
    parser.add_argument("--full-repeats", type=int, default=9, help="timed steps at full batch")
    args = parser.parse_args(argv)
    raise_heap_thresholds()  # as train() does: temporaries stay in the heap between steps

    rng = np.random.default_rng(0)
    model = LogisticRegression(784, 10)
    X_all = rng.random((60000, 784))  # float64, MNIST's shape and value range
    y_all = rng.integers(0, 10, 60000)
    w = model.init_params(rng)

    print(f"{'batch':>7} {'basic ms':>10} {'2nd-order ms':>13} {'ratio':>7} {'naive ratio':>12}")
    for n, repeats in ((128, args.repeats), (60000, args.full_repeats)):
        X, y = X_all[:n], y_all[:n]
        basic, second, naive = make_steps(model, w, X, y)
        tb, ts = median_times([basic, second], repeats)
        tb_n, tn = median_times([basic, naive], max(3, repeats // 3))
        tn *= tb / tb_n  # the naive step relative to the basic step of its own round
        print(f"{n:>7} {1e3 * tb:>10.3f} {1e3 * ts:>13.3f} {ts / tb:>7.2f} {tn / tb:>12.2f}")


if __name__ == "__main__":
    main()
