"""``xrdsym compare``: not available yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``compare`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser("compare", help="(not available)")
    parser.set_defaults(handler=lambda args: 2)
