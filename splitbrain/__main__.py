"""``python -m splitbrain ...`` (and ``torchrun -m splitbrain ...``): the ``splitbrain`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
