"""Controllers and directions by name: the one table that the command line and the experiments
both read.

Each entry names the class and the keyword arguments a user may set on it (``eta`` is the
controller's first argument), so a caller passes only the options that apply and an option that
does not apply is an error, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .controllers import (
    ArmijoLR,
    DAdaptSGDLR,
    DoGLR,
    ExactNewtonLR,
    FirstOrderLR,
    FixedLR,
    GeNLR,
    PolyakLR,
    SafeguardedSecondOrderLR,
    SecondOrderLR,
    adam_hd,
    alig,
    sgd_hd,
)
from .directions import AdamDirection, AveragedGradientDirection, GradientDirection


@dataclass(frozen=True)
class Entry:
    """A class by name, with the options a user may set and a one-line description."""

    cls: type
    options: tuple[str, ...]
    summary: str


CONTROLLERS: dict[str, Entry] = {
    "fixed": Entry(FixedLR, ("eta",), "the basic method: a fixed rate"),
    "first-order": Entry(FirstOrderLR, ("eta", "alpha", "delta", "beta", "derivative", "eps"),
                         "gradient descent on the rate, Eq. 6-8"),
    "second-order": Entry(SecondOrderLR, ("eta", "eps", "delta", "delta_rule", "beta"),
                          "the paper's Newton step from five probe losses, Eq. 16-21"),
    "exact-newton": Entry(ExactNewtonLR, ("eta", "delta"),
                          "Newton with exact f', f'' (linear and logistic models only)"),
    "safeguarded": Entry(SafeguardedSecondOrderLR, ("eta", "eps", "delta", "average"),
                         "SafeguardedSecondOrderLR, beyond the paper (docs/safeguarded.md)"),
    # the methods people pick instead (docs/compare.md)
    "armijo": Entry(ArmijoLR, ("eta", "c", "backtrack", "gamma", "n_batches", "eta_max", "delta"),
                    "stochastic Armijo line search (Vaswani et al. 2019)"),
    "sps": Entry(PolyakLR, ("eta", "c", "smoothing", "gamma", "n_batches", "eta_max", "f_star",
                            "delta"),
                 "stochastic Polyak step, SPS (Loizou et al. 2021)"),
    "alig": Entry(alig, ("eta", "eta_max", "delta", "n_batches"),
                  "ALI-G without momentum (Berrada et al. 2020): SPS_max with c = 1"),
    "gen": Entry(GeNLR, ("eta", "every", "smooth", "delta"),
                 "GeN, a parabola through eta * {-1, 0, 1} (Bu & Xu 2024)"),
    "sgd-hd": Entry(sgd_hd, ("eta", "alpha", "delta"),
                    "SGD-HD (Baydin et al. 2018): first-order with alpha 1e-3"),
    "adam-hd": Entry(adam_hd, ("eta", "alpha", "delta"),
                     "Adam-HD (Baydin et al. 2018): first-order with alpha 1e-7; use with the "
                     "adam direction"),
    "dog": Entry(DoGLR, ("eta", "reps_rel"), "DoG, parameter-free (Ivgi et al. 2023)"),
    "d-adapt": Entry(DAdaptSGDLR, ("eta", "d0", "scale", "growth_rate"),
                     "D-Adaptation for SGD, parameter-free (Defazio & Mishchenko 2023)"),
}

DIRECTIONS: dict[str, Entry] = {
    "gradient": Entry(GradientDirection, (), "the gradient: SGD"),
    "averaged": Entry(AveragedGradientDirection, ("beta",),
                      "the bias-corrected average of recent gradients (beta 0.9)"),
    "adam": Entry(AdamDirection, ("beta1", "beta2", "eps"), "Adam's direction (Sec. 5.4)"),
}


def _make(table: dict[str, Entry], what: str, name: str, kwargs: dict):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(table)}")
    entry = table[name]
    extra = sorted(set(kwargs) - set(entry.options))
    if extra:
        raise ValueError(f"the {what} {name!r} takes {', '.join(entry.options) or 'no options'}"
                         f"; {', '.join(extra)} do(es) not apply to it")
    return entry.cls(**kwargs)


def make_controller(name: str, **hyper):
    """The controller ``name`` with the hyperparameters ``hyper`` (``eta`` among them).

    >>> make_controller("second-order", eta=0.01, delta_rule="if-zero")
    SecondOrderLR(lr=0.01, eps=1e-05, delta=1e-06, delta_rule='if-zero', beta=0)
    """
    if name == "first-order" and "alpha" not in hyper:
        raise ValueError("the first-order controller needs alpha (--alpha)")
    return _make(CONTROLLERS, "controller", name, hyper)


def make_direction(name: str, **options):
    """The step direction ``name`` (``"gradient"``, ``"averaged"``, ``"adam"``)."""
    return _make(DIRECTIONS, "direction", name, options)
