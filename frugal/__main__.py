"""`python -m frugal ...`: the same as the `frugal` console script."""

import sys

from frugal.cli import main

sys.exit(main())
