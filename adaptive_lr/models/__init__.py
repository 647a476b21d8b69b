"""Models: pure functions of one flat parameter vector (see :mod:`adaptive_lr.models.base`)."""

from .base import Model

__all__ = ["Model"]
