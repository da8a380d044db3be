"""``--wavelength`` fills in where a file states none; ``--override-wavelength`` replaces a stated
one; ``classify`` and ``compare`` read both the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from research.compare import main as compare
from xrdsym.cli import main
from xrdsym.wavelengths import wavelength_from_name

PATTERNS = Path(__file__).parent / "data" / "patterns"
NO_WAVELENGTH = str(PATTERNS / "si_tabs.xye")
STATED = str(PATTERNS / "si_v21_counts.xrdml")  # states 1.540598 A


def wavelengths(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, dict, str]:
    """Exit code, {file: (wavelength, source)} of the JSON answers, and standard error."""
    code = main(["classify", NO_WAVELENGTH, STATED, "--json", "--no-progress", *options])
    out, err = capsys.readouterr()
    found = {}
    for line in out.strip().splitlines():
        record = json.loads(line)
        prov = record["provenance"]
        found[record["file"]] = (prov["wavelength"], prov["wavelength_source"])
    return code, found, err


def test_wavelength_fills_in_only_where_the_file_states_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, found, _ = wavelengths(capsys, "--wavelength", "MoKa1")
    assert code == 0
    assert found[NO_WAVELENGTH] == (pytest.approx(wavelength_from_name("MoKa1")), "command line")
    assert found[STATED] == (pytest.approx(1.540598), "file")


def test_override_replaces_a_stated_wavelength(capsys: pytest.CaptureFixture[str]) -> None:
    code, found, _ = wavelengths(capsys, "--override-wavelength", "1.6", "--wavelength", "MoKa1")
    assert code == 0
    assert found[NO_WAVELENGTH] == (pytest.approx(1.6), "command line")
    assert found[STATED] == (pytest.approx(1.6), "command line")


def test_without_either_a_file_stating_none_fails_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, found, err = wavelengths(capsys)
    assert code == 1
    assert list(found) == [STATED]
    assert NO_WAVELENGTH in err and "1 of 2 files failed" in err


def test_an_unknown_line_names_its_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = wavelengths(capsys, "--override-wavelength", "XyKa")
    assert code == 1 and "--override-wavelength" in err


def test_compare_reads_the_options_as_classify_does(
    shared_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = shared_dir / "data" / "experimental" / "xred"
    stated = tmp_path / "Sn_stated.csv"  # the same scan with its wavelength in a header line
    stated.write_text("# wavelength = 1.5406\n" + (folder / "Sn.csv").read_text())
    used = {}
    for pattern in (folder / "Sn.csv", stated):
        for option in ("--wavelength", "--override-wavelength"):
            argv = [str(folder / "Sn.cif"), str(pattern), "--json", option, "1.5416"]
            assert compare(argv) == 0
            used[pattern.name, option] = json.loads(capsys.readouterr().out)["wavelength"]
    assert used == {
        ("Sn.csv", "--wavelength"): 1.5416,  # the file states none: filled in
        ("Sn.csv", "--override-wavelength"): 1.5416,
        ("Sn_stated.csv", "--wavelength"): 1.5406,  # the file's stays
        ("Sn_stated.csv", "--override-wavelength"): 1.5416,
    }
