"""A first run: the paper's Boston Housing experiment (Sec. 4.2.1) in a few seconds.

Full-batch linear regression on the bundled data with the paper's rates: basic SGD at 1e-6,
the first-order rule from 1e-7 with alpha = 1e-9, the second-order rule from 1e-2 with
eps = 1e-5. Prints the final losses and the learning rates reached, or where a run diverged.
"""

from __future__ import annotations

import numpy as np

from . import FirstOrderLR, FixedLR, LinearRegression, SecondOrderLR, train
from .datasets import load_boston


def main(iterations: int = 500) -> None:
    X, y, X_test, y_test = load_boston()
    model = LinearRegression(X.shape[1])
    runs = {
        "basic (eta = 1e-6)": FixedLR(1e-6),
        "first-order (eta0 = 1e-7, alpha = 1e-9)": FirstOrderLR(1e-7, alpha=1e-9),
        "second-order (eta0 = 1e-2, eps = 1e-5)": SecondOrderLR(1e-2, eps=1e-5),
    }
    print(f"Boston Housing, full batch, {iterations} iterations, seed 0")
    print(f"{'method':<42} {'train loss':>11} {'test loss':>10} {'final eta':>10}")
    for name, controller in runs.items():
        with np.errstate(over="ignore", invalid="ignore"):
            h = train(model, controller, X, y, epochs=iterations, seed=0,
                      X_test=X_test, y_test=y_test).history
        if h.diverged:
            print(f"{name:<42} {h.diverged}")
            continue
        print(f"{name:<42} {h.train_loss[-1]:>11.3f} {h.test_loss[-1]:>10.3f} "
              f"{np.median(h.lr[-10:]):>10.3g}")


if __name__ == "__main__":
    main()
