"""``python -m adaptive_lr``: the ``adaptive-lr`` command (see :mod:`adaptive_lr.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
