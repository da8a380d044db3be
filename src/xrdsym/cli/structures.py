"""``xrdsym structures``: not available yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``structures`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser("structures", help="(not available yet)")
    parser.set_defaults(handler=lambda args: 2)
