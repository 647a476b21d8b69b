"""SGD-HD and Adam-HD (Baydin et al., ICLR 2018, "Online learning rate adaptation with
hypergradient descent") are :class:`FirstOrderLR` with the paper's Eq. 8.

Their Algorithms 2 and 4 update the rate first, from the new gradient and the previous step's
direction, then step with the new rate along the new direction:

* SGD-HD: ``alpha_t = alpha_{t-1} + beta g_t . g_{t-1}``, ``w_t = w_{t-1} - alpha_t g_t``;
* Adam-HD: ``alpha_t = alpha_{t-1} + beta g_t . d_{t-1}`` with ``d`` Adam's direction
  ``m_hat / (sqrt(v_hat) + eps)`` (``d_0 = 0``, so the first step does not move the rate),
  ``w_t = w_{t-1} - alpha_t d_t``.

That is :class:`FirstOrderLR` (``derivative="next-gradient"``, Eq. 6 and 8 with meta rate
``alpha = beta``) driving :class:`~adaptive_lr.directions.GradientDirection` or
:class:`~adaptive_lr.directions.AdamDirection`, and ``tests/test_peers.py`` checks it against
a plain loop of their Algorithm 4. The one difference: the rate is floored at ``delta`` (Eq. 19;
the default 1e-6), where Baydin et al. let it reach 0 or below.
"""

from __future__ import annotations

from .first_order import FirstOrderLR

#: The hypergradient rates Baydin et al. use in all their experiments (Sec. 5).
SGD_HD_BETA = 1e-3
ADAM_HD_BETA = 1e-7


def sgd_hd(eta, *, alpha=SGD_HD_BETA, delta=1e-6) -> FirstOrderLR:
    """SGD-HD (Baydin et al., Algorithm 2) with their ``beta = 1e-3``; the direction is the
    gradient (the training loop's default).

    >>> sgd_hd(0.01)
    FirstOrderLR(lr=0.01, alpha=0.001, delta=1e-06, beta=0, derivative='next-gradient')
    """
    return FirstOrderLR(eta, alpha=alpha, delta=delta)


def adam_hd(eta=1e-3, *, alpha=ADAM_HD_BETA, delta=1e-6) -> FirstOrderLR:
    """Adam-HD (Baydin et al., Algorithm 4) with their ``beta = 1e-7``, to be run with
    :class:`~adaptive_lr.directions.AdamDirection` (``train(..., direction=AdamDirection())``,
    ``--direction adam``).

    >>> adam_hd()
    FirstOrderLR(lr=0.001, alpha=1e-07, delta=1e-06, beta=0, derivative='next-gradient')
    """
    return FirstOrderLR(eta, alpha=alpha, delta=delta)
