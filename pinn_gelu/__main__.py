"""``python -m pinn_gelu``: the command line."""

import sys

from .cli import main

sys.exit(main())
