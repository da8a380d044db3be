"""``xrdsym simulate`` run in-process on a CIF written into tmp_path."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from xrdsym.cli import main
from xrdsym.wavelengths import CU_KA1, K_ALPHA1

NACL_CIF = """data_NaCl
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
_cell_length_a 5.6402
_cell_length_b 5.6402
_cell_length_c 5.6402
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
"""


@pytest.fixture()
def nacl_cif(tmp_path: Path) -> Path:
    path = tmp_path / "NaCl.cif"
    path.write_text(NACL_CIF)
    return path


def test_clean_pattern_and_peak_table(nacl_cif: Path, tmp_path: Path) -> None:
    out, table = tmp_path / "nacl.xy", tmp_path / "peaks.csv"
    assert main(["simulate", str(nacl_cif), "-o", str(out), "--peaks", str(table)]) == 0
    data = np.loadtxt(out)
    assert data.shape == (10001, 2)
    assert data[0, 0] == pytest.approx(10.0) and data[-1, 0] == pytest.approx(110.0)
    # The strongest point is the 200 reflection at 2 asin(lambda / a).
    two_theta_200 = np.degrees(2.0 * np.arcsin(CU_KA1 / 5.6402))
    assert data[np.argmax(data[:, 1]), 0] == pytest.approx(two_theta_200, abs=0.01)
    assert data[:, 1].min() >= 0.0
    with table.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["two_theta", "d_spacing", "h", "k", "l", "multiplicity", "intensity"]
    by_hkl = {(r["h"], r["k"], r["l"]): r for r in rows}
    assert by_hkl[("1", "1", "1")]["multiplicity"] == "8"
    assert by_hkl[("2", "0", "0")]["multiplicity"] == "6"
    assert float(by_hkl[("2", "0", "0")]["intensity"]) == pytest.approx(100.0)
    assert ("1", "0", "0") not in by_hkl


def test_random_pattern_is_reproducible(nacl_cif: Path, tmp_path: Path) -> None:
    paths = [tmp_path / f"r{i}.xy" for i in range(3)]
    seeds = ["5", "5", "6"]
    for path, seed in zip(paths, seeds, strict=True):
        argv = ["simulate", str(nacl_cif), "-o", str(path), "--random", "--seed", seed]
        assert main(argv) == 0
    first, again, other = (np.loadtxt(p)[:, 1] for p in paths)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.min() > 0.0  # background and Poisson counts
    assert np.all(first == np.rint(first))


def test_wavelength_moves_the_peaks(nacl_cif: Path, tmp_path: Path) -> None:
    out, table = tmp_path / "mo.xy", tmp_path / "mo.csv"
    argv = ["simulate", str(nacl_cif), "-o", str(out), "--wavelength", "MoKa1", "--peaks"]
    assert main([*argv, str(table)]) == 0
    with table.open() as handle:
        rows = {(r["h"], r["k"], r["l"]): float(r["two_theta"]) for r in csv.DictReader(handle)}
    expected = np.degrees(2.0 * np.arcsin(K_ALPHA1["Mo"] / 5.6402))
    assert rows[("2", "0", "0")] == pytest.approx(expected, abs=1e-4)
    assert np.loadtxt(out).shape == (10001, 2)


def test_bad_cif_is_reported_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.cif"
    bad.write_text("this is not a crystal structure\n")
    assert main(["simulate", str(bad), "-o", str(tmp_path / "x.xy")]) == 1
    err = capsys.readouterr().err
    assert "xrdsym: error:" in err and "broken.cif" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.xy").exists()


def test_unknown_wavelength_is_an_error(
    nacl_cif: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", str(nacl_cif), "-o", str(tmp_path / "x.xy"), "--wavelength", "XyKa"]
    assert main(argv) == 1
    assert "unknown wavelength" in capsys.readouterr().err


def test_simulate_api_is_what_the_command_writes(nacl_cif: Path, tmp_path: Path) -> None:
    from xrdsym.simulate import CLEAN_PARAMS, simulate
    from xrdsym.structures.reader import read_cif_file

    out = tmp_path / "random.xy"
    assert main(["simulate", str(nacl_cif), "-o", str(out), "--random", "--seed", "4"]) == 0
    written = np.loadtxt(out)
    pattern = simulate(nacl_cif, random=True, seed=4)
    np.testing.assert_allclose(written[:, 0], pattern.two_theta, atol=5e-5)
    np.testing.assert_allclose(written[:, 1], pattern.counts, rtol=5e-6)
    assert pattern.counts.shape == (10001,) and pattern.grid.wavelength == CU_KA1
    # A Crystal gives the same pattern as its CIF; the clean profile has no noise.
    clean = simulate(read_cif_file(nacl_cif))
    assert clean.params == CLEAN_PARAMS
    np.testing.assert_array_equal(clean.counts, simulate(nacl_cif).counts)
    assert float(clean.counts.max()) == pytest.approx(1e4)
    mo = simulate(nacl_cif, wavelength="MoKa1")
    assert mo.grid.wavelength == K_ALPHA1["Mo"] and len(mo.peaks) > len(clean.peaks)


def test_simulate_api_reports_an_empty_range(nacl_cif: Path) -> None:
    from xrdsym.errors import XrdsymError
    from xrdsym.patterns.grid import Grid
    from xrdsym.simulate import simulate

    with pytest.raises(XrdsymError, match="no reflection between 1 and 5 degrees"):
        simulate(nacl_cif, grid=Grid(1.0, 5.0, 401, CU_KA1))
