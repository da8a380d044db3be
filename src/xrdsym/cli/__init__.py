"""The ``xrdsym`` command: a thin layer over the Python API.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``handler`` to a function ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xrdsym import __version__
from xrdsym.errors import XrdsymError

#: Sub-command modules, in the order of the data flow.
SUBCOMMAND_MODULES = (
    "structures",
    "simulate",
    "generate",
    "dataset",
    "train",
    "evaluate",
    "classify",
    "compare",
    "measured",
    "ablation",
    "report",
    "bundle",
    "calibrate",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="xrdsym",
        description="Crystal system, extinction group and space group from powder XRD patterns.",
    )
    parser.add_argument("--version", action="version", version=f"xrdsym {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"xrdsym.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; expected errors print ``xrdsym: error: ...`` and exit 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except XrdsymError as exc:
        print(f"xrdsym: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xrdsym: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
