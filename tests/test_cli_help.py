"""Every option of every sub-command says what it does, and its default where it has one."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from research.command import OneCommand
from xrdsym.cli import SUBCOMMANDS, build_parser


def parsers(parser: argparse.ArgumentParser, name: str = "xrdsym") -> list[tuple[str, object]]:
    """(command name, parser) of ``parser`` and of all its sub-commands, depth first."""
    found: list[tuple[str, object]] = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                found += parsers(child, f"{name} {sub}")
    return found


def assert_options_explained(name: str, parser: object) -> None:
    """Every option of ``parser`` has a help text that states its default, where it has one."""
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


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_option_has_help_and_its_default(command: str) -> None:
    for name, parser in parsers(build_parser(command)):
        assert_options_explained(name, parser)


#: The research commands, each ``python -m research.NAME`` from the repository root.
RESEARCH_COMMANDS = (
    "report",
    "ablation",
    "compare",
    "evaluate_indexing",
    "search_tolerance",
    "indexing_losses",
    "extinction_stray",
)


@pytest.mark.parametrize("command", RESEARCH_COMMANDS)
def test_every_research_option_has_help_and_its_default(command: str) -> None:
    module = importlib.import_module(f"research.{command}")
    commands = OneCommand(f"python -m research.{command}")
    module.register(commands)
    assert_options_explained(commands.prog, commands.parser)


def test_a_research_command_runs_as_a_module() -> None:
    """``python -m research.report`` from the repository root: its help, and a clear error."""
    root = Path(__file__).resolve().parents[1]
    run = [sys.executable, "-m", "research.report"]
    shown = subprocess.run([*run, "--help"], cwd=root, capture_output=True, text=True)
    assert shown.returncode == 0 and "usage: python -m research.report" in shown.stdout
    assert "--recorded" in shown.stdout
    refused = subprocess.run(run, cwd=root, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "python -m research.report: error: give run folders" in refused.stderr


def test_closed_output_pipe_is_not_a_traceback(shared_dir: Path) -> None:
    """`xrdsym classify many files | head -1` ends without a Python traceback."""
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
