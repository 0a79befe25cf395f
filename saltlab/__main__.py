"""Entry point for `python -m saltlab`."""

import sys

from saltlab.cli import main

sys.exit(main())
