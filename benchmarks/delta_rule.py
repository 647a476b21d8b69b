"""What the smoothing delta of Eq. 17-18 does, measured: the figures behind REPRODUCTION.md and
docs/design.md on the delta rule, the float32 runs and the first-order comparison.

For each run it prints the median rate per epoch, the test metric per epoch, and how often
``delta`` dominates the denominator ``D = f(eta+2eps) + f(eta-2eps) - 2 f(eta)`` of Eq. 16
(the share of steps with ``delta > 0.01 |D|``, i.e. where the "always" reading changes the step
by more than 1 %):

* ``boston``: linear regression, full batch, eta0 = 1e-2, float64, both readings of Eq. 17-18;
  final training and test loss, loss spikes (an iteration whose training loss is more than 10x
  the previous one);
* ``mnist``: logistic regression, batch 32, eta0 = 0.01: both readings in float64 and float32,
  each with the fused probe and with five plain loss evaluations (``--probes``), and
  ``FirstOrderLR`` with the meta rate ``alpha = 4 eps^2 / delta`` that the "always" reading
  amounts to on a full batch.

Usage (MNIST needs the real files: ``ADAPTIVE_LR_DATA`` names the folder holding ``mnist/``)::

    python benchmarks/delta_rule.py boston
    python benchmarks/delta_rule.py mnist [--epochs 2] [--dtypes float64 float32]
"""

from __future__ import annotations

import argparse

import numpy as np

from adaptive_lr import FirstOrderLR, LinearRegression, LogisticRegression, SecondOrderLR, train
from adaptive_lr.datasets import load_boston
from adaptive_lr.experiments.data import load_data
from adaptive_lr.finite_diff import newton_denominator
from adaptive_lr.models.base import Model

EPS, DELTA = 1e-5, 1e-6


class Recording(SecondOrderLR):
    """SecondOrderLR that keeps the denominator of Eq. 16 of every step."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.denominators = []

    def step(self, grad, phi):
        eta = super().step(grad, phi)
        f = self.last_f
        self.denominators.append(newton_denominator(f[0], f[2], f[4]))
        return eta


class PlainProbes(LogisticRegression):
    """Logistic regression whose probe is five separate loss evaluations (no fusion)."""

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None, state=None):
        return Model.line_losses(self, w, d, etas, X, y, noise=noise, state=state)


def epoch_medians(history) -> list[float]:
    lr, ep = np.asarray(history.lr), np.asarray(history.epoch_of_iter)
    return [float(np.median(lr[ep == e])) for e in range(1, ep.max() + 1)]


def dominated(controller) -> str:
    den = np.abs(np.asarray(controller.denominators))
    return f"{np.mean(DELTA > 0.01 * den):.0%}"


def boston(args) -> None:
    X, y, X_test, y_test = load_boston()
    model = LinearRegression(X.shape[1])
    print(f"Boston, full batch, {args.iters} iterations, eta0 1e-2, eps {EPS:g}, delta "
          f"{DELTA:g}, float64, seed 0\n")
    print("| rule | steps with delta > 1% of D | final train loss | final test loss | "
          "best test loss (iteration) | spikes (x10) | final eta |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for rule in ("always", "if-zero"):
        c = Recording(1e-2, eps=EPS, delta=DELTA, delta_rule=rule)
        h = train(model, c, X, y, epochs=args.iters, X_test=X_test, y_test=y_test).history
        loss = np.asarray(h.loss)
        best = int(np.argmin(h.test_loss))
        print(f"| {rule} | {dominated(c)} | {h.train_loss[-1]:.4g} | {h.test_loss[-1]:.4g} | "
              f"{h.test_loss[best]:.4g} ({h.epoch[best]}) | "
              f"{int(np.sum(loss[1:] > 10 * loss[:-1]))} | {h.lr[-1]:.3g} |", flush=True)


def mnist(args) -> None:
    data = load_data("mnist", "features")
    print(f"MNIST logistic regression, batch 32, eta0 0.01, eps {EPS:g}, delta {DELTA:g}, "
          f"{args.epochs} epochs, seed 0; data: {data.source}\n")
    print("| run | dtype | probe | steps with delta > 1% of D | median eta per epoch | "
          "test accuracy per epoch |")
    print("| --- | --- | --- | --- | --- | --- |")
    runs = [(f"SecondOrderLR, {rule}", rule) for rule in ("always", "if-zero")]
    runs.append((f"FirstOrderLR, alpha = 4 eps^2 / delta = {4 * EPS**2 / DELTA:g}", None))
    for dtype in args.dtypes:
        for label, rule in runs:
            for probe in (args.probes if rule is not None else ["-"]):
                model = (PlainProbes if probe == "plain" else LogisticRegression)(784, 10)
                c = (Recording(0.01, eps=EPS, delta=DELTA, delta_rule=rule) if rule
                     else FirstOrderLR(0.01, alpha=4 * EPS**2 / DELTA, delta=DELTA))
                h = train(model, c, data.X, data.y, epochs=args.epochs, batch_size=32,
                          dtype=dtype, X_test=data.X_test, y_test=data.y_test).history
                share = dominated(c) if rule else "-"
                etas = ", ".join(f"{v:.3g}" for v in epoch_medians(h))
                accs = ", ".join(f"{v:.4f}" for v in h.test_acc[1:])
                note = f" ({h.diverged})" if h.diverged else ""
                print(f"| {label} | {dtype} | {probe} | {share} | {etas} | {accs}{note} |",
                      flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("table", choices=("boston", "mnist"))
    p.add_argument("--iters", type=int, default=500, help="Boston iterations (default 500)")
    p.add_argument("--epochs", type=int, default=2, help="MNIST epochs (default 2)")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    p.add_argument("--probes", nargs="+", default=["fused", "plain"])
    args = p.parse_args(argv)
    {"boston": boston, "mnist": mnist}[args.table](args)


if __name__ == "__main__":
    main()
