"""``python -m pinn_gelu``: the command line."""

import sys

from pinn_gelu.cli import main

sys.exit(main())
