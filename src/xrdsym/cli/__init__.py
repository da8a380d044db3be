"""The ``xrdsym`` command: a thin layer over the Python API.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``handler`` to a function ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help with each option's default appended, unless the help states it already or the
    default says nothing (None, off, a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = action.default is None or isinstance(action.default, bool)
        if "default" in text or quiet or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argument parser whose help (and that of its sub-commands) uses
    :class:`HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered (or just ``only``).

    Registering one sub-command imports only its module, so ``xrdsym classify`` does not
    import the training stack (torch) to build its parser.
    """
    parser = Parser(
        prog="xrdsym",
        description="Crystal system, extinction group and space group from powder XRD patterns.",
    )
    parser.add_argument("--version", action="version", version=f"xrdsym {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in (only,) if only in SUBCOMMAND_MODULES else SUBCOMMAND_MODULES:
        module = importlib.import_module(f"xrdsym.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; expected errors print ``xrdsym: error: ...`` and exit 1."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(first if first in SUBCOMMAND_MODULES else None)
    args = parser.parse_args(arguments)
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return code
    except XrdsymError as exc:
        print(f"xrdsym: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xrdsym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout (e.g. `| head`) stopped early
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
