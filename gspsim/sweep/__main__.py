"""``python -m gspsim.sweep``: the sweep command on its own (the same as ``python -m gspsim sweep``)."""

import sys

from ..cli import main

sys.exit(main(["sweep", *sys.argv[1:]]))
