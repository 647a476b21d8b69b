"""Central differences with a random upstream gradient, the oracle of the layer tests.

For ``s(x) = sum(dout * f(x))`` the central difference ``(s(x + h e_i) - s(x - h e_i)) / (2h)``
differs from ``ds/dx_i`` by at most ``h**2/6 * |s'''|`` (truncation) plus about
``eps_mach * |s| / h`` (rounding). The layers are piecewise polynomials of degree <= 2 in each
input away from ReLU kinks and pooling ties (softmax aside, whose derivatives are O(1)), so in
float64 with ``h = 1e-6`` the truncation term vanishes or is ~1e-12 and rounding ~ 1e-16 * |s| /
1e-6 ~ 1e-10 * |s|: the tolerance ``atol = rtol = 1e-7`` leaves a wide margin.
"""

from __future__ import annotations

import numpy as np

H = 1e-6
TOL = 1e-7


def numerical_grad(f, x: np.ndarray, dout: np.ndarray, h: float = H) -> np.ndarray:
    """Central-difference gradient of ``sum(dout * f(x))`` with respect to every entry of ``x``."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views into x and grad
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.sum(dout * f(x))
        flat[i] = old - h
        minus = np.sum(dout * f(x))
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def assert_close(actual, expected, tol: float = TOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)
