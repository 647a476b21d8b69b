"""adaptive-lr: the reference NumPy implementation of Ravaut & Gorti,
"Faster gradient descent via an adaptive learning rate"."""

__version__ = "0.1.0"
