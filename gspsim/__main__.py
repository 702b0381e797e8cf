"""``python -m gspsim``."""

import sys

from .cli import main

sys.exit(main())
