"""The ``xrdsym`` command: a thin layer over the Python API.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``handler`` to a function ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Any

from xrdsym import __version__
from xrdsym.errors import XrdsymError

#: Sub-commands in groups, each (name, one-line help). The help is written here so that
#: ``xrdsym --help`` lists them without importing any sub-command module (some import torch).
#: A name whose module is not installed in ``xrdsym.cli`` is left out.
COMMAND_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "analyse a measured pattern",
        (
            ("classify", "crystal system, extinction group and space group of pattern files"),
            ("index", "unit cell of a pattern from its peak positions"),
            ("peaks", "peak positions, widths and intensities of a pattern"),
            ("simulate", "simulate the powder pattern of a CIF structure"),
        ),
    ),
    (
        "build data and train models",
        (
            ("structures", "read and label crystal structures (CIF file, folder or CIF table)"),
            ("generate", "synthetic crystals as the training stream draws them"),
            ("dataset", "build and inspect training datasets"),
            ("train", "train a CNN on rendered patterns (resumable; torchrun for several)"),
            ("calibrate", "calibrate a model on held-out simulated patterns; export to ONNX"),
            ("bundle", "copy a finished run's weights and measured accuracies into a folder"),
        ),
    ),
    (
        "evaluate models",
        (
            ("evaluate", "accuracy of a trained model on a dataset split"),
            ("evaluate-measured", "accuracy on measured patterns listed in a labels CSV"),
        ),
    ),
)

#: Module of each sub-command whose name is not its module's.
MODULE_OF = {"evaluate-measured": "measured"}


def _installed(name: str) -> bool:
    """Whether the module of sub-command ``name`` exists (found without importing it)."""
    return importlib.util.find_spec(f"xrdsym.cli.{MODULE_OF.get(name, name)}") is not None


#: Sub-command names in the order of :data:`COMMAND_GROUPS`.
SUBCOMMANDS = tuple(
    name for _, commands in COMMAND_GROUPS for name, _ in commands if _installed(name)
)

#: Sub-command modules (one per sub-command).
SUBCOMMAND_MODULES = tuple(MODULE_OF.get(name, name) for name in SUBCOMMANDS)


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


def command_list() -> str:
    """The sub-commands by group, one per line with its help, for ``xrdsym --help``."""
    lines: list[str] = []
    for title, commands in COMMAND_GROUPS:
        lines.append(f"{'' if not lines else chr(10)}{title}:")
        lines += [f"  {name:<19}{text}" for name, text in commands if name in SUBCOMMANDS]
    return "\n".join(lines)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with sub-command ``only`` registered in full (its module imported).

    Without ``only`` (``xrdsym --help``, a mistyped command) every sub-command is a bare name
    and no sub-command module is imported, so the help appears at once and needs no torch.
    """
    parser = Parser(
        prog="xrdsym",
        usage="xrdsym [-h] [--version] COMMAND ..." if only is None else None,
        description="Crystal system, extinction group and space group from powder XRD patterns.",
        epilog=command_list() + "\n\n'xrdsym COMMAND --help' describes a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xrdsym {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS
    )
    for name in SUBCOMMANDS:
        if name == only:
            module = importlib.import_module(f"xrdsym.cli.{MODULE_OF.get(name, name)}")
            module.register(subparsers)
        else:
            subparsers.add_parser(name, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; expected errors print ``xrdsym: error: ...`` and exit 1."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(first)
    return run_handler(parser.parse_args(arguments))


def run_handler(args: argparse.Namespace, prog: str = "xrdsym") -> int:
    """Run the handler of parsed ``args``; its exit code. Expected errors print
    ``PROG: error: ...`` and give 1, an unexpected one a line and a crash log, and 2."""
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return code
    except XrdsymError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout (e.g. `| head`) stopped early
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141
    except MemoryError:
        print(
            f"{prog}: error: out of memory (the input or settings need more than is free)",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # noqa: BLE001 - the last resort: one line and where the rest is
        log = write_crash_log(exc)
        print(
            f"{prog}: internal error: {type(exc).__name__}: {str(exc)[:200]} (traceback in {log})",
            file=sys.stderr,
        )
        return 2


def write_crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a file in the temporary folder; its path
    (or ``not written`` when that fails)."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="xrdsym-error-", suffix=".log", delete=False
        ) as handle:
            handle.write("".join(traceback.format_exception(exc)))
            return handle.name
    except OSError:
        return "not written"


if __name__ == "__main__":
    sys.exit(main())
