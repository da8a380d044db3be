"""``xrdsym evaluate``: not available yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser("evaluate", help="(not available yet)")
    parser.set_defaults(handler=lambda args: 2)
