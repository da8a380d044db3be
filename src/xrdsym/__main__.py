"""``python -m xrdsym``: the ``xrdsym`` command."""

import sys

from xrdsym.cli import main

sys.exit(main())
