"""Every option of every sub-command says what it does, and its default where it has one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from xrdsym.cli import SUBCOMMANDS, build_parser


def parsers(parser: argparse.ArgumentParser, name: str = "xrdsym") -> list[tuple[str, object]]:
    """(command name, parser) of ``parser`` and of all its sub-commands, depth first."""
    found: list[tuple[str, object]] = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                found += parsers(child, f"{name} {sub}")
    return found


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_option_has_help_and_its_default(command: str) -> None:
    for name, parser in parsers(build_parser(command)):
        assert isinstance(parser, argparse.ArgumentParser)
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings[0]}: no help"
            informative = action.default is not None and not isinstance(action.default, bool)
            if informative and action.default is not argparse.SUPPRESS:
                text = " ".join(parser.format_help().split())
                assert "default" in action.help or f"(default: {action.default}" in text, (
                    f"{name} {action.option_strings[0]}: default {action.default!r} not shown"
                )


def test_closed_output_pipe_is_not_a_traceback(shared_dir: Path) -> None:
    """`xrdsym classify many files | head -1` ends without a Python traceback."""
    import subprocess
    import sys

    files = sorted(str(p) for p in (shared_dir / "data/experimental/xred").glob("*.csv"))
    files = [f for f in files if not f.endswith("labels.csv")]
    command = [sys.executable, "-m", "xrdsym.cli", "classify", *files, "--wavelength", "CuKa1"]
    command.append("--no-index")  # the pipe is under test, not the indexing
    pipeline = subprocess.run(
        ["bash", "-c", " ".join(f"'{c}'" for c in command) + " | head -n 1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pipeline.stdout.count("\n") == 1
    assert "Traceback" not in pipeline.stderr
    assert "BrokenPipeError" not in pipeline.stderr
