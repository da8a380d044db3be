"""One research command as ``python -m research.NAME``.

A command module has the shape of an ``xrdsym`` sub-command (``register(subparsers)`` adds a
parser whose ``handler`` takes the parsed arguments); :func:`run_command` makes that parser the
whole command line and reports errors as ``xrdsym`` does (:func:`xrdsym.cli.run_handler`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from xrdsym.cli import Parser, run_handler


class OneCommand:
    """Stands in for argparse's sub-parsers: ``add_parser`` makes the top-level parser."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self.parser: argparse.ArgumentParser | None = None

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """The command's parser; a sub-command's ``help`` becomes its description."""
        short_help = kwargs.pop("help", None)
        kwargs.setdefault("description", short_help)
        self.parser = Parser(prog=self.prog, **kwargs)
        return self.parser


def run_command(
    register: Callable[[Any], None], module: str, argv: Sequence[str] | None = None
) -> int:
    """Parse ``argv`` (default: the process arguments) with the parser ``register`` adds and
    run its handler; the exit code. ``module`` is the command's module name, e.g.
    ``research.report``."""
    commands = OneCommand(f"python -m {module}")
    register(commands)
    assert commands.parser is not None, f"{module}: register() added no parser"
    args = commands.parser.parse_args(None if argv is None else list(argv))
    return run_handler(args, commands.prog)
