"""Robustness of SafeguardedSecondOrderLR against the paper's controllers, from several starts.

Prints one table per data set (rows: controllers; columns: initial rates eta0):

* ``mnist``: logistic regression on MNIST, batch 32, float64, from eta0 in {1e-3, 1e-2, 1e-1, 1};
  each cell is ``test accuracy / final eta (median eta over the last tenth of the steps)``;
  ``x`` marks a run that produced a non-finite eta
  or weight. The ``validation probe`` rows hold out ``--n-val`` training images (never trained
  on) and probe on a random batch of them (Sec. 5.3, Eq. 22-23); the other rows train on all
  60000 images.
* ``boston``: linear regression, full batch, the paper's rates, ``--boston-iters`` iterations;
  loss spikes (a training loss more than 2x the previous iteration's) and final losses.
* ``lenet``: LeNet-5 on the 4000/1000 CIFAR-10 subset, batch 32, ``--lenet-epochs`` epochs.
* ``ablation``: MNIST again, SafeguardedSecondOrderLR with one safeguard switched off at a time,
  with held-out probes along the averaged gradient (the recommended setting) and along the raw
  gradient.
* ``beta``: MNIST again, the recommended setting with the averaged direction's ``beta`` varied.

Rows marked ``averaged`` step along :class:`~adaptive_lr.AveragedGradientDirection` (beta 0.9)
instead of the raw gradient. Besides the final eta, each row prints the spread across starts of
the median eta over the last tenth of the steps: the final eta is one noisy sample.

Run (one thread: the machine may be shared with timing benchmarks)::

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ADAPTIVE_LR_DATA=../shared/data \
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

TABLES = ("mnist", "ablation", "beta", "boston", "lenet")


def safeguarded(**kw):
    return lambda eta: SafeguardedSecondOrderLR(eta, **kw)


def averaged(beta=0.9):
    return lambda: AveragedGradientDirection(beta)


# (row label, controller factory of eta0, probe batch[, direction factory])
CLASSIFIER_ROWS = [
    ("SGD, fixed eta0", FixedLR, "train"),
    ("SGD, fixed eta0, averaged", FixedLR, "train", averaged()),
    ("SecondOrderLR, delta always", SecondOrderLR, "train"),
    ("SecondOrderLR, delta if-zero", lambda e: SecondOrderLR(e, delta_rule="if-zero"), "train"),
    ("FirstOrderLR, alpha 1e-6", lambda e: FirstOrderLR(e, alpha=1e-6), "train"),
    ("FirstOrderLR, alpha 1e-3", lambda e: FirstOrderLR(e, alpha=1e-3), "validation"),
    ("Safeguarded, training probe", safeguarded(), "train"),
    ("Safeguarded, training probe, averaged", safeguarded(), "train", averaged()),
    ("Safeguarded, validation probe", safeguarded(), "validation"),
    ("Safeguarded, validation probe, averaged", safeguarded(), "validation", averaged()),
]

# LeNet is ~50x slower per step: the rows that answer the question, not the diagnostics.
LENET_ROWS = [row for row in CLASSIFIER_ROWS if row[0] in (
    "SGD, fixed eta0", "SecondOrderLR, delta always", "SecondOrderLR, delta if-zero",
    "FirstOrderLR, alpha 1e-6", "Safeguarded, training probe", "Safeguarded, validation probe",
    "Safeguarded, validation probe, averaged")]

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
    ("trust region only", {"average": 0.0, "curvature_fallback": False,
                           "target_fallback": False, "no_increasing_step": False}),
    ("none (= Eq. 16, if-zero)", {"average": 0.0, "trust_ratio": None,
                                  "curvature_fallback": False, "target_fallback": False,
                                  "no_increasing_step": False, "relative_eps": None}),
]


def run(model, controller, data, *, epochs, batch_size, seed, probe_on, dtype=np.float64,
        direction=None):
    """Train once; return (history, final eta, finite?) with the validation split if asked."""
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


def classification_table(title, model, data, rows, etas, *, epochs, batch_size, seed,
                         dtype=np.float64):
    print(f"\n## {title}\n")
    head = " | ".join(f"eta0={e:g}" for e in etas)
    print(f"| controller | probe | {head} | min acc | eta spread: final, last-tenth median "
          "| passes/step |")
    print("|" + " --- |" * (len(etas) + 5))
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
        spread = max(finals) / min(finals)
        spread_median = max(medians) / min(medians)
        print(f"| {label} | {probe_on} | " + " | ".join(cells)
              + f" | {min(accs):.4f} | {spread:.3g}x, {spread_median:.3g}x | {passes} |",
              flush=True)
        print(f"  ({label}: {time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)


def mnist_data(n_val, seed):
    X, y, X_test, y_test = load_mnist()
    X, X_test = mnist_as_features(X), mnist_as_features(X_test)
    train_idx, val_idx = validation_split(len(X), n_val, rng=seed)
    return X, y, X_test, y_test, val_idx, train_idx


def boston_table(iters, seed):
    X, y, X_test, y_test = load_boston()
    model = LinearRegression(X.shape[1])
    rows = [
        ("SGD, fixed 1e-6", FixedLR(1e-6)),
        ("SecondOrderLR 1e-2, eps 1e-5, delta always", SecondOrderLR(1e-2, eps=1e-5)),
        ("SecondOrderLR 1e-2, eps 1e-5, delta if-zero",
         SecondOrderLR(1e-2, eps=1e-5, delta_rule="if-zero")),
        ("FirstOrderLR 1e-7, alpha 1e-9", FirstOrderLR(1e-7, alpha=1e-9)),
        ("Safeguarded 1e-2 (defaults)", SafeguardedSecondOrderLR(1e-2)),
        ("Safeguarded 1e-2, no increasing-step guard",
         SafeguardedSecondOrderLR(1e-2, no_increasing_step=False)),
        ("Safeguarded 1e-6 (defaults)", SafeguardedSecondOrderLR(1e-6)),
    ]
    print(f"\n## Boston: linear regression (half-MSE, raw features), full batch, {iters} "
          f"iterations, float64, seed {seed}\n")
    print("Spike: an iteration whose training loss is more than 2x the previous one.\n")
    print("| controller | spikes | max loss / first loss | final train loss | final test loss "
          "| final eta | passes/step |")
    print("|" + " --- |" * 7)
    for label, c in rows:
        res = train(model, c, X, y, epochs=iters, batch_size=None, seed=seed,
                    X_test=X_test, y_test=y_test)
        h = res.history
        loss = np.array(h.loss)
        spikes = int(np.sum(loss[1:] > 2 * loss[:-1]))
        n = len(h.lr)
        div = "" if h.diverged is None else " (diverged)"
        print(f"| {label} | {spikes} | {loss.max() / loss[0]:.3g} | {h.train_loss[-1]:.4g}{div} | "
              f"{h.test_loss[-1]:.4g} | {c.lr:.3g} | {h.forward / n:g}f + "
              f"{h.backward / n:g}b |", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables", default="mnist,boston",
                   help=f"comma-separated subset of {','.join(TABLES)}")
    p.add_argument("--epochs", type=int, default=3, help="MNIST epochs (default 3)")
    p.add_argument("--etas", default="1e-3,1e-2,1e-1,1", help="initial rates for MNIST")
    p.add_argument("--n-val", type=int, default=5000, help="held-out MNIST validation images")
    p.add_argument("--boston-iters", type=int, default=500)
    p.add_argument("--lenet-epochs", type=int, default=2)
    p.add_argument("--lenet-etas", default="1e-3,1e-2,1e-1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="precision of the MNIST ablation (the other tables are float64)")
    args = p.parse_args(argv)
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    for t in tables:
        if t not in TABLES:
            p.error(f"unknown table {t!r}; choose from {TABLES}")
    etas = [float(e) for e in args.etas.split(",")]

    if "mnist" in tables or "ablation" in tables:
        try:
            data = mnist_data(args.n_val, args.seed)
        except (DataNotFoundError, FileNotFoundError) as e:
            print(f"\nskipping the MNIST tables: data not found ({e}); set ADAPTIVE_LR_DATA")
            data = None
        if data is not None:
            model = LogisticRegression(784, 10)
            common = {"epochs": args.epochs, "batch_size": 32, "seed": args.seed}
            where = (f"batch 32, {args.epochs} epochs, seed {args.seed}; validation "
                     f"probe: {args.n_val} held-out images")
            if "mnist" in tables:
                classification_table(f"MNIST logistic regression ({where}, float64); "
                                     "cells: test acc / final eta (last-tenth median)", model, data,
                                     CLASSIFIER_ROWS, etas, **common)
            if "ablation" in tables:
                for probe_on, direction, name in (("validation", averaged(), "averaged"),
                                                  ("validation", None, "gradient"),
                                                  ("train", None, "gradient")):
                    rows = [(label, safeguarded(**kw), probe_on, *([direction] * bool(direction)))
                            for label, kw in ABLATION_ROWS]
                    classification_table(f"Ablation, {probe_on} probe, {name} direction, MNIST "
                                         f"({where}, {args.dtype})", model, data, rows, etas,
                                         dtype=np.dtype(args.dtype), **common)
            if "beta" in tables:
                rows = [(f"Safeguarded, validation probe, averaged beta={b:g}", safeguarded(),
                         "validation", averaged(b)) for b in (0.5, 0.8, 0.9, 0.95, 0.99)]
                classification_table(f"The averaged direction's beta, MNIST ({where}, float64)",
                                     model, data, rows, etas, **common)
    if "boston" in tables:
        try:
            boston_table(args.boston_iters, args.seed)
        except (DataNotFoundError, FileNotFoundError) as e:
            print(f"\nskipping the Boston table: data not found ({e})")
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
            batch_size=32, seed=args.seed)


if __name__ == "__main__":
    main()
