"""``python -m xrdsym.cli``: the ``xrdsym`` command (used by ``torchrun -m xrdsym.cli train``)."""

import sys

from xrdsym.cli import main

sys.exit(main())
