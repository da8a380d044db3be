"""The light install: classifying and the command's help import none of the training stack.

Each check runs in a fresh interpreter and reads ``sys.modules`` afterwards, so a module-level
``import torch`` anywhere on the path fails it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xrdsym.cli import SUBCOMMANDS

#: Packages of the ``train`` extra that the light install does not have.
TRAINING_ONLY = ("torch", "pandas", "pymatgen", "pyxtal", "dask", "safetensors", "onnxscript")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "src/xrdsym/examples/PbSO4_CuKa.csv"


def imported_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; the training-only packages and the xrdsym.cli
    sub-command modules it imported."""
    probe = f"""
import contextlib, io, json, sys
with contextlib.redirect_stdout(io.StringIO()):
    try:
{chr(10).join("        " + line for line in code.strip().splitlines())}
    except SystemExit:
        pass
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({TRAINING_ONLY!r}))
cli = sorted(m for m in sys.modules if m.startswith("xrdsym.cli."))
print(json.dumps({{"heavy": heavy, "cli": cli}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_classify_imports_no_training_package() -> None:
    found = imported_after(
        f"""
from xrdsym.cli import main
code = main(["classify", "{EXAMPLE}", "--wavelength", "CuKa1", "--json", "--csv", "-"])
assert code == 0, code
"""
    )
    assert found["heavy"] == []


def test_top_level_help_imports_no_sub_command() -> None:
    found = imported_after('from xrdsym.cli import main\nmain(["--help"])')
    assert found["heavy"] == []
    assert found["cli"] == []


@pytest.mark.parametrize("command", [c for c in SUBCOMMANDS if c in ("classify", "index", "peaks")])
def test_help_of_a_chemists_command_imports_no_torch(command: str) -> None:
    found = imported_after(f'from xrdsym.cli import main\nmain(["{command}", "--help"])')
    assert found["heavy"] == []


def test_help_lists_the_chemists_commands_first() -> None:
    from xrdsym.cli import command_list

    listed = [line.split()[0] for line in command_list().splitlines() if line.startswith("  ")]
    assert listed[0] == "classify"
    assert listed.index("classify") < listed.index("train") < listed.index("evaluate")


def test_the_probe_sees_a_training_import() -> None:
    """The probe itself: an import of pandas is reported."""
    assert imported_after("import pandas")["heavy"] == ["pandas"]


@pytest.mark.parametrize("command", [c for c in SUBCOMMANDS if c in ("index", "peaks")])
def test_peak_search_and_indexing_import_no_training_package(command: str) -> None:
    found = imported_after(
        f"""
from xrdsym.cli import main
code = main(["{command}", "{EXAMPLE}", "--wavelength", "CuKa", "--json"])
assert code == 0, code
"""
    )
    assert found["heavy"] == []
