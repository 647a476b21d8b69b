"""Robustness of SafeguardedSecondOrderLR against the paper's controllers, from several starts.

Prints one table per data set (rows: controllers; columns: initial rates eta0):

* ``mnist``: logistic regression on MNIST, batch 32, float64, from eta0 in {1e-3, 1e-2, 1e-1, 1};
  each cell is ``test accuracy / final eta (median eta over the last tenth of the steps)``,
  where the final eta is ``controller.lr``, the rate of the last update (for the second-order
  controllers the rate computed for a next step, ``controller.state.next_lr``, is not shown);
  ``x`` marks a run that produced a non-finite eta or weight. The ``validation`` rows hold out
  ``--n-val`` training images (never trained on) and probe on a random batch of them (Sec. 5.3,
  Eq. 22-23); the other rows train on all 60000 images. ``FirstOrderLR`` with its default
  ``derivative="next-gradient"`` (Eq. 8) never evaluates the probe: its rows are the
  training-gradient rule; ``derivative="probe"`` takes ``f'`` from the probe (Eq. 15), and on
  the held-out batch it is the first-order rule (Eq. 6) on the validation loss.
* ``fixed``: MNIST again, fixed rates (``--fixed-etas``) along the gradient and along the averaged
  direction.
* ``seeds``: MNIST again, every row of ``mnist`` and two variants of the recommended setting
  (``average=0.999``, no trust region) with the seeds ``--seeds`` (which also draw the validation
  split): the range over the starts of the accuracy and of the last-tenth median eta.
* ``linemin``: MNIST again, where the expected line losses along ``d`` have their minimum, on the
  batch that made the gradient and on the held-out set: at the weights of SGD at rate 0.1
  (0, 1 and 3 epochs) and of the held-out SafeguardedSecondOrderLR run, along the gradient and
  along the averaged direction.
* ``beta``: MNIST again, the recommended setting with the averaged direction's ``beta`` varied.
* ``ablation``: MNIST again, SafeguardedSecondOrderLR with one safeguard switched off at a time,
  with held-out probes along the averaged gradient (the recommended setting), along the raw
  gradient, and with training probes.
* ``float32``: MNIST again in float32, the default and the fixed finite-difference step.
* ``boston``: linear regression, full batch, the paper's rates, ``--boston-iters`` iterations;
  loss spikes (a training loss more than 2x the previous iteration's), final losses, and for
  SecondOrderLR the share of steps in which ``delta`` exceeds 1% of the denominator of Eq. 16.
* ``lenet``: LeNet-5 on the 4000/1000 CIFAR-10 subset, batch 32, ``--lenet-epochs`` epochs.
* ``blobs``: 10 Gaussian classes in 50 dimensions (the synthetic data of notebook 7), softmax
  regression, batch 32, 3 epochs; no data files needed.

Rows marked ``averaged`` step along :class:`~adaptive_lr.AveragedGradientDirection` (beta 0.9)
instead of the raw gradient. Besides the final eta, each row prints the spread across starts of
the median eta over the last tenth of the steps: the final eta is one noisy sample. With
``--trace``, each classification table is followed by one line per run: the median eta of each
epoch, the dips of the last epoch, the longest run of doublings, and for SafeguardedSecondOrderLR
the sizes and signs of the probed ``f'`` and ``f''`` and the one-step Newton targets.

Run (one thread: the machine may be shared with timing benchmarks)::

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ADAPTIVE_LR_DATA=/path/to/data \
        python benchmarks/bench_safeguarded.py --tables mnist,ablation,boston,lenet

Tables whose data are absent are skipped with a message.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from adaptive_lr import (
    AveragedGradientDirection,
    FirstOrderLR,
    FixedLR,
    GradientDirection,
    LinearRegression,
    LogisticRegression,
    SafeguardedSecondOrderLR,
    SecondOrderLR,
    train,
)
from adaptive_lr.datasets import (
    DataNotFoundError,
    images_as_float,
    load_boston,
    load_cifar10,
    load_mnist,
    mnist_as_features,
    validation_split,
)
from adaptive_lr.finite_diff import first_derivative, newton_denominator, second_derivative

TABLES = ("mnist", "seeds", "fixed", "linemin", "beta", "ablation", "float32", "boston", "lenet",
          "blobs")


class Traced(SafeguardedSecondOrderLR):
    """SafeguardedSecondOrderLR that keeps each step's rate and probed ``f'_k``, ``f''_k``
    (Eq. 15, 14) for ``--trace``; the rule itself is unchanged."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.trace: list[tuple[float, float, float]] = []

    def step(self, grad, phi) -> float:
        eta = self.state.next_lr
        eps = self.step_eps(eta)
        used = super().step(grad, phi)
        f = self.last_f
        if f is not None and np.all(np.isfinite(f)):
            self.trace.append((eta, first_derivative(f[1], f[3], eps),
                               second_derivative(f[0], f[2], f[4], eps)))
        return used


class RaisingFallback(Traced):
    """A curvature fallback that also *raises* eta by ``r`` when the averaged curvature is not
    positive and the averaged slope is negative (the variant the default replaced)."""

    def _propose(self, F1, F2, slope, eta, eps):
        proposal = super()._propose(F1, F2, slope, eta, eps)
        if self.curvature_fallback and not F2 > 0 and slope < 0:
            return proposal._replace(candidate=eta * self.factor)
        return proposal


class TwoSidedTrust(Traced):
    """A trust region that also limits decreases, ``eta(k) / r <= eta' <= r eta(k)`` (the
    variant the one-sided region replaced)."""

    def _propose(self, F1, F2, slope, eta, eps):
        proposal = super()._propose(F1, F2, slope, eta, eps)
        return proposal._replace(candidate=max(proposal.candidate, eta / self.factor))


class DeltaShare(SecondOrderLR):
    """SecondOrderLR that counts the steps where ``delta`` exceeds 1% of the denominator
    ``f(eta+2eps) + f(eta-2eps) - 2 f(eta)`` of Eq. 16 (where "always" and "if-zero" differ by
    more than 1%)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.dominated: list[bool] = []

    def step(self, grad, phi) -> float:
        eta = super().step(grad, phi)
        f = self.last_f
        self.dominated.append(bool(self.delta > 0.01 * abs(newton_denominator(f[0], f[2], f[4]))))
        return eta


def safeguarded(cls=Traced, **kw):
    return lambda eta: cls(eta, **kw)


def averaged(beta=0.9):
    return lambda: AveragedGradientDirection(beta)


def first_order_on_probe(alpha):
    return lambda eta: FirstOrderLR(eta, alpha=alpha, derivative="probe")


# (row label, controller factory of eta0, probe batch[, direction factory])
CLASSIFIER_ROWS = [
    ("SGD, fixed eta0", FixedLR, "train"),
    ("SGD, fixed eta0, averaged", FixedLR, "train", averaged()),
    ("SecondOrderLR, delta always", SecondOrderLR, "train"),
    ("SecondOrderLR, delta if-zero", lambda e: SecondOrderLR(e, delta_rule="if-zero"), "train"),
    ("FirstOrderLR (Eq. 8, next training gradient), alpha 1e-6",
     lambda e: FirstOrderLR(e, alpha=1e-6), "train"),
    ("FirstOrderLR (Eq. 8, next training gradient), alpha 1e-3",
     lambda e: FirstOrderLR(e, alpha=1e-3), "train"),
    ("FirstOrderLR on the probe (Eq. 15, 6), alpha 1e-3", first_order_on_probe(1e-3),
     "validation"),
    ("FirstOrderLR on the probe (Eq. 15, 6), alpha 1e-2", first_order_on_probe(1e-2),
     "validation"),
    ("FirstOrderLR on the probe (Eq. 15, 6), alpha 1e-2, averaged", first_order_on_probe(1e-2),
     "validation", averaged()),
    ("Safeguarded, training probe", safeguarded(), "train"),
    ("Safeguarded, training probe, averaged", safeguarded(), "train", averaged()),
    ("Safeguarded, validation probe", safeguarded(), "validation"),
    ("Safeguarded, validation probe, averaged", safeguarded(), "validation", averaged()),
]

# LeNet is ~50x slower per step: the rows that answer the question, not the diagnostics.
LENET_ROWS = [row for row in CLASSIFIER_ROWS if row[0] in (
    "SGD, fixed eta0", "SecondOrderLR, delta always", "SecondOrderLR, delta if-zero",
    "FirstOrderLR (Eq. 8, next training gradient), alpha 1e-6", "Safeguarded, training probe",
    "Safeguarded, validation probe", "Safeguarded, validation probe, averaged")] + [
    ("Safeguarded, validation probe, averaged, average=0.999", safeguarded(average=0.999),
     "validation", averaged()),
    ("Safeguarded, validation probe, averaged, fallback that also raises eta",
     safeguarded(RaisingFallback), "validation", averaged()),
]

FIXED_ROWS = [row for row in CLASSIFIER_ROWS if row[0].startswith("SGD, fixed")]

# The seeds table: every MNIST row, and the two variants of the recommended setting that beat
# it on seed 0 in the ablation.
SEED_ROWS = CLASSIFIER_ROWS + [
    ("Safeguarded, validation probe, averaged, average=0.999", safeguarded(average=0.999),
     "validation", averaged()),
    ("Safeguarded, validation probe, averaged, no trust region", safeguarded(trust_ratio=None),
     "validation", averaged()),
]

# A fixed rate never evaluates the probe: "validation" only makes these rows train on the same
# 4000 points as the held-out rows.
BLOB_ROWS = [("SGD, fixed eta0, on the 4000 points", FixedLR, "validation"),
             ("SGD, fixed eta0, averaged, on the 4000 points", FixedLR, "validation",
              averaged())] + [row for row in CLASSIFIER_ROWS if row[0].startswith(
                  "Safeguarded, validation probe")] + [
    ("Safeguarded, validation probe, averaged, average=0.999", safeguarded(average=0.999),
     "validation", averaged())]

# (row label, keyword arguments[, controller class])
ABLATION_ROWS = [
    ("all safeguards (default, average=0.99)", {}),
    ("average=0.9", {"average": 0.9}),
    ("average=0.999", {"average": 0.999}),
    ("no averaging (average=0)", {"average": 0.0}),
    ("no trust region", {"trust_ratio": None}),
    ("no curvature fallback", {"curvature_fallback": False}),
    ("no target fallback", {"target_fallback": False}),
    ("no increasing-step guard", {"no_increasing_step": False}),
    ("fixed eps=1e-5 (relative_eps=None)", {"relative_eps": None}),
    ("no eps floor (eps=1e-12)", {"eps": 1e-12}),
    ("no eps floor, fallback that also raises eta", {"eps": 1e-12}, RaisingFallback),
    ("trust region only", {"average": 0.0, "curvature_fallback": False,
                           "target_fallback": False, "no_increasing_step": False}),
    ("none (= Eq. 16, if-zero)", {"average": 0.0, "trust_ratio": None,
                                  "curvature_fallback": False, "target_fallback": False,
                                  "no_increasing_step": False, "relative_eps": None}),
]

FLOAT32_ROWS = [row for row in ABLATION_ROWS if row[0] in (
    "all safeguards (default, average=0.99)", "fixed eps=1e-5 (relative_eps=None)")]


def ablation_rows(rows, probe_on, direction):
    return [(label, safeguarded(*cls, **kw), probe_on, *([direction] * bool(direction)))
            for label, kw, *cls in rows]


def run(model, controller, data, *, epochs, batch_size, seed, probe_on, dtype=np.float64,
        direction=None):
    """Train once; return (history, final eta, finite?) with the validation split if asked.

    The final eta is ``controller.lr``, the rate of the last update."""
    X, y, X_test, y_test, val_idx, train_idx = data
    kw = {}
    if probe_on == "validation":
        kw = {"X_val": X[val_idx], "y_val": y[val_idx], "probe_on": "validation"}
        X, y = X[train_idx], y[train_idx]
    res = train(model, controller, X, y, epochs=epochs, batch_size=batch_size, seed=seed,
                dtype=dtype, X_test=X_test, y_test=y_test, direction=direction, **kw)
    h = res.history
    finite = (h.diverged is None and all(math.isfinite(v) for v in h.lr)
              and math.isfinite(controller.lr) and bool(np.all(np.isfinite(res.w))))
    return h, controller.lr, finite


def _range(values, fmt=".2g") -> str:
    """10th to 90th percentile."""
    if len(values) == 0:
        return "-"
    lo, hi = np.percentile(values, [10, 90])
    return f"{lo:{fmt}} to {hi:{fmt}}"


def trace_line(label, eta0, history, controller) -> str:
    """One run of ``--trace`` as a Markdown table row."""
    lr, ep = np.asarray(history.lr), np.asarray(history.epoch_of_iter)
    medians = [float(np.median(lr[ep == e])) for e in range(1, ep.max() + 1)]
    last = lr[ep == ep.max()]
    dip = last < medians[-1] / 10
    doubling = lr[1:] >= 1.99 * lr[:-1]
    longest = run_length = 0
    for up in doubling:
        run_length = run_length + 1 if up else 0
        longest = max(longest, run_length)
    cells = [label, f"{eta0:g}", ", ".join(f"{m:.3g}" for m in medians),
             f"{dip.mean():.0%}", "yes" if dip[-1] else "no", str(longest), f"{lr.max():.3g}"]
    t = np.asarray(getattr(controller, "trace", []), dtype=np.float64).reshape(-1, 3)
    if len(t):
        eta, d1, d2 = t.T
        convex = d2 > 0
        cells += [_range(np.abs(d1)), _range(np.abs(d2)), f"{np.mean(d1 < 0):.0%}",
                  f"{np.mean(~convex):.0%}", _range(eta[convex] - d1[convex] / d2[convex])]
    else:
        cells += ["-"] * 5
    return "| " + " | ".join(cells) + " |"


def classification_table(title, model, data, rows, etas, *, epochs, batch_size, seed,
                         dtype=np.float64, trace=False):
    print(f"\n## {title}\n")
    head = " | ".join(f"eta0={e:g}" for e in etas)
    print(f"| controller | probe | {head} | min acc | eta spread: final, last-tenth median "
          "| passes/step |")
    print("|" + " --- |" * (len(etas) + 5))
    traces = []
    for label, factory, probe_on, *direction in rows:
        cells, accs, finals, medians, passes = [], [], [], [], ""
        t0 = time.perf_counter()
        for eta0 in etas:
            c = factory(eta0)
            h, lr, finite = run(model, c, data, epochs=epochs, batch_size=batch_size, seed=seed,
                                probe_on=probe_on, dtype=dtype,
                                direction=direction[0]() if direction else None)
            acc = h.test_acc[-1]
            accs.append(acc if finite else 0.0)
            finals.append(lr)
            medians.append(float(np.median(h.lr[-max(1, len(h.lr) // 10):])))
            cells.append(f"{acc:.4f} / {lr:.3g} ({medians[-1]:.3g})" + ("" if finite else " x"))
            n_iter = len(h.lr)
            passes = f"{h.forward / n_iter:g}f + {h.backward / n_iter:g}b"
            if trace:
                traces.append(trace_line(label, eta0, h, c))
        spread = max(finals) / min(finals)
        spread_median = max(medians) / min(medians)
        print(f"| {label} | {probe_on} | " + " | ".join(cells)
              + f" | {min(accs):.4f} | {spread:.3g}x, {spread_median:.3g}x | {passes} |",
              flush=True)
        print(f"  ({label}: {time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    if trace:
        print("\nTrace: median eta of each epoch; last epoch: share of steps below a tenth of "
              "its median (dips), is the last step one; longest run of steps that each double "
              "eta or more; largest eta; for SafeguardedSecondOrderLR, over all steps: 10th-90th "
              "percentiles of |f'_k| and |f''_k|, share of f'_k < 0 and of f''_k <= 0, 10th-90th "
              "percentiles of the one-step Newton targets eta_k - f'_k / f''_k (f''_k > 0).\n")
        print("| controller | eta0 | median eta per epoch | dips | last step in a dip | "
              "longest doubling run | max eta | abs f' | abs f'' | f' < 0 | f'' <= 0 | "
              "Newton targets |")
        print("|" + " --- |" * 12)
        print("\n".join(traces), flush=True)


def mnist_data(n_val, seed):
    X, y, X_test, y_test = load_mnist()
    X, X_test = mnist_as_features(X), mnist_as_features(X_test)
    train_idx, val_idx = validation_split(len(X), n_val, rng=seed)
    return X, y, X_test, y_test, val_idx, train_idx


def blob_data():
    """Notebook 7's data: 10 Gaussian classes in 50 dimensions, 5000 training and 1000 test
    points, 1000 of the training points held out for the validation probe."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 50))
    labels = rng.integers(0, 10, 6000)
    points = 0.5 * centres[labels] + rng.normal(size=(6000, 50))
    X, y, X_test, y_test = points[:5000], labels[:5000], points[5000:], labels[5000:]
    train_idx, val_idx = validation_split(len(X), 1000, np.random.default_rng(1))
    return X, y, X_test, y_test, val_idx, train_idx


LINE_GRID = np.geomspace(1e-3, 10, 41)  # 10 points per decade


def line_minimum_table(model, data, *, seed, rate=0.1, epochs=(0, 1, 3), n_steps=300):
    """Where the expected line losses along d have their minimum, at the weights of SGD at a
    fixed rate and at the weights of the held-out SafeguardedSecondOrderLR runs."""
    X, y, _, _, val_idx, train_idx = data
    Xt, yt, Xv, yv = X[train_idx], y[train_idx], X[val_idx], y[val_idx]
    print(f"\n## Minimum of the expected line loss along d, MNIST (batch 32, float64, seed {seed})"
          f"\n\nWeights: {len(Xt)} training images, after k epochs of SGD at fixed rate {rate:g} "
          "along the direction, or after the 3 epochs of the SafeguardedSecondOrderLR run from "
          f"eta0 = 0.1 with held-out probes ({len(Xv)} images) along it. Then {n_steps} more steps "
          "(at the fixed rate, or at that run's last-tenth median rate), each adding to the mean "
          "line losses L(w - eta d) on a grid of eta (1e-3 to 10, 10 points per decade): on the "
          f"batch that made the gradient (same-batch) and on all {len(Xv)} held-out images (the "
          "expectation over held-out batches). Bootstrap: 10th-90th percentiles of the held-out "
          "argmin over 200 resamplings of the steps. Quadratic: -mean f'(0) / mean f''(0), exact "
          "held-out derivatives at eta = 0.\n")
    print("| direction | weights | same-batch argmin | held-out argmin (bootstrap) | held-out "
          "quadratic | held-out mean f'(0) |")
    print("| --- | --- | --- | --- | --- | --- |")
    grid = np.r_[0.0, LINE_GRID]
    for name, make in (("gradient", GradientDirection), ("averaged beta=0.9", averaged())):
        starts = [(f"SGD {rate:g}, {k} epochs", k) for k in epochs] + [("safeguarded run", None)]
        for label, k in starts:
            direction = make()
            if k is None:
                res = train(model, SafeguardedSecondOrderLR(0.1), Xt, yt, epochs=3,
                            batch_size=32, seed=seed, direction=direction,
                            probe_on="validation", X_val=Xv, y_val=yv)
                step = float(np.median(res.history.lr[-max(1, len(res.history.lr) // 10):]))
                label = f"safeguarded run, then {step:.3g}"
            else:
                res = train(model, FixedLR(rate), Xt, yt, epochs=k, batch_size=32, seed=seed,
                            direction=direction)
                step = rate
            w = res.w.copy()
            rng = np.random.default_rng([seed, 0 if k is None else k + 1])
            same, held, slopes, curvatures = [], [], [], []
            for _ in range(n_steps):
                b = rng.choice(len(Xt), 32, replace=False)
                d = direction(model.loss_and_grad(w, Xt[b], yt[b])[1])
                f = model.line_losses(w, d, grid, Xt[b], yt[b])
                same.append(f[1:] - f[0])
                f = model.line_losses(w, d, grid, Xv, yv)
                held.append(f[1:] - f[0])
                f1, f2 = model.line_derivatives(w, d, 0.0, Xv, yv)
                slopes.append(f1)
                curvatures.append(f2)
                w = w - step * d
            held = np.array(held)
            boot = [LINE_GRID[np.argmin(held[rng.integers(0, n_steps, n_steps)].mean(axis=0))]
                    for _ in range(200)]
            lo, hi = np.percentile(boot, [10, 90])
            print(f"| {name} | {label} | {LINE_GRID[np.argmin(np.mean(same, axis=0))]:.3g} | "
                  f"{LINE_GRID[np.argmin(held.mean(axis=0))]:.3g} ({lo:.3g}-{hi:.3g}) | "
                  f"{-np.mean(slopes) / np.mean(curvatures):.3g} | {np.mean(slopes):.2g} |",
                  flush=True)


def seeds_table(title, model, data_of_seed, rows, etas, seeds, *, epochs, batch_size):
    """Per row and seed: the range over the starts of the test accuracy and of the last-tenth
    median eta."""
    print(f"\n## {title}\n")
    print("Cells: test accuracy, lowest-highest over the starts " + ", ".join(
        f"{e:g}" for e in etas) + "; in brackets the same for the median eta over the last tenth "
          "of the steps.\n")
    print("| controller | probe | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|" + " --- |" * (len(seeds) + 2))
    datas = {s: data_of_seed(s) for s in seeds}
    for label, factory, probe_on, *direction in rows:
        cells = []
        for s in seeds:
            accs, medians = [], []
            for eta0 in etas:
                h, _, finite = run(model, factory(eta0), datas[s], epochs=epochs,
                                   batch_size=batch_size, seed=s, probe_on=probe_on,
                                   direction=direction[0]() if direction else None)
                accs.append(h.test_acc[-1] if finite else 0.0)
                medians.append(float(np.median(h.lr[-max(1, len(h.lr) // 10):])))
            cells.append(f"{min(accs):.4f}-{max(accs):.4f} ({min(medians):.3g}-{max(medians):.3g})")
        print(f"| {label} | {probe_on} | " + " | ".join(cells) + " |", flush=True)


def boston_table(iters, seed):
    X, y, X_test, y_test = load_boston()
    model = LinearRegression(X.shape[1])
    rows = [
        ("SGD, fixed 1e-6", FixedLR(1e-6)),
        ("SecondOrderLR 1e-2, eps 1e-5, delta always", DeltaShare(1e-2, eps=1e-5)),
        ("SecondOrderLR 1e-2, eps 1e-5, delta if-zero",
         DeltaShare(1e-2, eps=1e-5, delta_rule="if-zero")),
        ("FirstOrderLR 1e-7, alpha 1e-9", FirstOrderLR(1e-7, alpha=1e-9)),
        ("Safeguarded 1e-2 (defaults)", SafeguardedSecondOrderLR(1e-2)),
        ("Safeguarded 1e-2, no increasing-step guard",
         SafeguardedSecondOrderLR(1e-2, no_increasing_step=False)),
        ("Safeguarded 1e-2, two-sided trust region", TwoSidedTrust(1e-2)),
        ("Safeguarded 1e-2, average=0.999", SafeguardedSecondOrderLR(1e-2, average=0.999)),
        ("Safeguarded 1e-6 (defaults)", SafeguardedSecondOrderLR(1e-6)),
    ]
    print(f"\n## Boston: linear regression (half-MSE, raw features), full batch, {iters} "
          f"iterations, float64, seed {seed}\n")
    print("Spike: an iteration whose training loss is more than 2x the previous one. Final eta: "
          "the rate of the last update (controller.lr). Last column: steps in which delta "
          "exceeds 1% of the denominator of Eq. 16 (SecondOrderLR only).\n")
    print("| controller | spikes | max loss / first loss | final train loss | final test loss "
          "| final eta | passes/step | delta > 1% of the denominator |")
    print("|" + " --- |" * 8)
    for label, c in rows:
        res = train(model, c, X, y, epochs=iters, batch_size=None, seed=seed,
                    X_test=X_test, y_test=y_test)
        h = res.history
        loss = np.array(h.loss)
        spikes = int(np.sum(loss[1:] > 2 * loss[:-1]))
        n = len(h.lr)
        div = "" if h.diverged is None else " (diverged)"
        share = f"{np.mean(c.dominated):.0%}" if isinstance(c, DeltaShare) else "-"
        print(f"| {label} | {spikes} | {loss.max() / loss[0]:.3g} | {h.train_loss[-1]:.4g}{div} | "
              f"{h.test_loss[-1]:.4g} | {c.lr:.3g} | {h.forward / n:g}f + "
              f"{h.backward / n:g}b | {share} |", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables", default="mnist,boston",
                   help=f"comma-separated subset of {','.join(TABLES)}")
    p.add_argument("--epochs", type=int, default=3, help="MNIST epochs (default 3)")
    p.add_argument("--etas", default="1e-3,1e-2,1e-1,1", help="initial rates for MNIST")
    p.add_argument("--fixed-etas", default="0.02,0.03,0.05,0.1,0.2,0.3,0.5,1",
                   help="rates of the fixed table")
    p.add_argument("--n-val", type=int, default=5000, help="held-out MNIST validation images")
    p.add_argument("--boston-iters", type=int, default=500)
    p.add_argument("--lenet-epochs", type=int, default=2)
    p.add_argument("--lenet-etas", default="1e-3,1e-2,1e-1")
    p.add_argument("--blob-etas", default="1e-3,1e-2,1e-1,1,2.5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default="0,1,2", help="seeds of the seeds table")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="precision of the MNIST ablation (the float32 table is float32, the "
                        "others float64)")
    p.add_argument("--trace", action="store_true",
                   help="after each classification table, one line per run (see above)")
    args = p.parse_args(argv)
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    for t in tables:
        if t not in TABLES:
            p.error(f"unknown table {t!r}; choose from {TABLES}")
    etas = [float(e) for e in args.etas.split(",")]
    trace = args.trace

    if {"mnist", "seeds", "fixed", "linemin", "beta", "ablation", "float32"} & set(tables):
        try:
            data = mnist_data(args.n_val, args.seed)
        except (DataNotFoundError, FileNotFoundError) as e:
            print(f"\nskipping the MNIST tables: data not found ({e}); set ADAPTIVE_LR_DATA")
            data = None
        if data is not None:
            model = LogisticRegression(784, 10)
            common = {"epochs": args.epochs, "batch_size": 32, "seed": args.seed,
                      "trace": trace}
            where = (f"batch 32, {args.epochs} epochs, seed {args.seed}; validation "
                     f"probe: {args.n_val} held-out images")
            if "mnist" in tables:
                classification_table(f"MNIST logistic regression ({where}, float64); "
                                     "cells: test acc / final eta (last-tenth median)", model, data,
                                     CLASSIFIER_ROWS, etas, **common)
            if "seeds" in tables:
                seeds = [int(v) for v in args.seeds.split(",")]
                seeds_table(f"Seeds, MNIST (batch 32, {args.epochs} epochs; validation probe: "
                            f"{args.n_val} held-out images, split by the seed; float64)", model,
                            lambda s: (*data[:4], *reversed(validation_split(
                                len(data[0]), args.n_val, rng=s))),
                            SEED_ROWS, etas, seeds, epochs=args.epochs, batch_size=32)
            if "fixed" in tables:
                classification_table(f"Fixed rates, MNIST ({where}, float64)", model, data,
                                     FIXED_ROWS, [float(e) for e in args.fixed_etas.split(",")],
                                     **common)
            if "linemin" in tables:
                line_minimum_table(model, data, seed=args.seed)
            if "beta" in tables:
                rows = [(f"Safeguarded, validation probe, averaged beta={b:g}", safeguarded(),
                         "validation", averaged(b)) for b in (0.5, 0.8, 0.9, 0.95, 0.99)]
                classification_table(f"The averaged direction's beta, MNIST ({where}, float64)",
                                     model, data, rows, etas, **common)
            if "ablation" in tables:
                for probe_on, direction, name in (("validation", averaged(), "averaged"),
                                                  ("validation", None, "gradient"),
                                                  ("train", None, "gradient")):
                    classification_table(f"Ablation, {probe_on} probe, {name} direction, MNIST "
                                         f"({where}, {args.dtype})", model, data,
                                         ablation_rows(ABLATION_ROWS, probe_on, direction), etas,
                                         dtype=np.dtype(args.dtype), **common)
            if "float32" in tables:
                for direction, name in ((averaged(), "averaged"), (None, "gradient")):
                    classification_table(f"Float32, validation probe, {name} direction, MNIST "
                                         f"({where}, float32)", model, data,
                                         ablation_rows(FLOAT32_ROWS, "validation", direction),
                                         etas, dtype=np.float32, **common)
    if "boston" in tables:
        try:
            boston_table(args.boston_iters, args.seed)
        except (DataNotFoundError, FileNotFoundError) as e:
            print(f"\nskipping the Boston table: data not found ({e})")
    if "blobs" in tables:
        classification_table(
            "Notebook 7's Gaussian classes (10 classes, 50 dimensions, 5000 train / 1000 test, "
            "validation probe: 1000 held-out training points; batch 32, 3 epochs, float64, "
            f"seed {args.seed}); cells: test acc / final eta (last-tenth median)",
            LogisticRegression(50, 10), blob_data(), BLOB_ROWS,
            [float(e) for e in args.blob_etas.split(",")], epochs=3, batch_size=32,
            seed=args.seed, trace=trace)
    if "lenet" in tables:
        try:
            from adaptive_lr.models.lenet import LeNet
        except ImportError:
            print("\nskipping the LeNet table: adaptive_lr.models.lenet is not available")
            return
        try:
            X, y, X_test, y_test = load_cifar10()
        except (DataNotFoundError, FileNotFoundError) as e:
            print(f"\nskipping the LeNet table: CIFAR-10 not found ({e}); set ADAPTIVE_LR_DATA")
            return
        X, X_test = images_as_float(X), images_as_float(X_test)
        n_val = len(X) // 8
        train_idx, val_idx = validation_split(len(X), n_val, rng=args.seed)
        data = (X, y, X_test, y_test, val_idx, train_idx)
        lenet_etas = [float(e) for e in args.lenet_etas.split(",")]
        classification_table(
            f"LeNet-5 on CIFAR-10 ({len(X)} train / {len(X_test)} test images, batch 32, "
            f"float64, {args.lenet_epochs} epochs, seed {args.seed}; validation probe: "
            f"{n_val} held-out images); cells: test acc / final eta (last-tenth median)",
            LeNet(), data, LENET_ROWS, lenet_etas, epochs=args.lenet_epochs,
            batch_size=32, seed=args.seed, trace=trace)


if __name__ == "__main__":
    main()
