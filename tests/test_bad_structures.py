"""Impossible or oversized structures and bad tolerances: each a clean error at the CLI.

Every case is fed to ``xrdsym simulate`` in-process; the command must exit 1 with one line
``xrdsym: error: <file>: <problem>`` and no traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import StructureError


def cif(a: float, sites: list[str], group: str = "P 1", b: float | None = None) -> str:
    """A CIF of a cubic (or tetragonal, given ``b``) cell with the listed atom-site rows
    (label, element, x, y, z, occupancy)."""
    b = a if b is None else b
    return "\n".join(
        [
            "data_test",
            f"_cell_length_a {a}",
            f"_cell_length_b {b}",
            f"_cell_length_c {a}",
            "_cell_angle_alpha 90",
            "_cell_angle_beta 90",
            "_cell_angle_gamma 90",
            f"_symmetry_space_group_name_H-M '{group}'",
            "loop_",
            "_atom_site_label",
            "_atom_site_type_symbol",
            "_atom_site_fract_x",
            "_atom_site_fract_y",
            "_atom_site_fract_z",
            "_atom_site_occupancy",
            *sites,
            "",
        ]
    )


def many_sites(n: int) -> list[str]:
    """``n`` atoms on general positions spread through the cell."""
    rng = np.random.default_rng(0)
    return [f"Cu{i} Cu {x:.4f} {y:.4f} {z:.4f} 1" for i, (x, y, z) in enumerate(rng.random((n, 3)))]


#: (case, CIF text, extra options, expected problem in the message).
BAD_STRUCTURES = [
    ("huge_cell", cif(1000.0, ["Cu1 Cu 0 0 0 1"]), [], "cell too large"),
    ("large_cell", cif(300.0, ["Cu1 Cu 0 0 0 1"]), [], "cell too large"),
    ("many_sites", cif(60.0, many_sites(1000), "F m -3 m"), [], "too many sites"),
    ("fcc_images_merge", cif(0.5, ["Cu1 Cu 0 0 0 1"], "F m -3 m"), [], "atoms too close"),
    (
        "occupancy_sum",
        cif(4.0, ["Fe1 Fe 0 0 0 0.7", "Co1 Co 0 0 0 0.6"]),
        [],
        "occupancies sum to 1.3",
    ),
    ("negative_occupancy", cif(4.0, ["Cu1 Cu 0 0 0 1", "O1 O .5 .5 .5 -0.5"]), [], "negative"),
    ("two_full_atoms", cif(4.0, ["Na1 Na 0 0 0 1", "Cl1 Cl 0 0 0 1"]), [], "site Na1"),
    ("close_atoms", cif(4.0, ["Na1 Na 0 0 0 1", "Cl1 Cl 0.05 0 0 1"]), [], "sites Na1 and Cl1"),
    ("negative_symprec", cif(4.0, ["Cu1 Cu 0 0 0 1"]), ["--symprec", "-1"], "symprec"),
    ("nan_symprec", cif(4.0, ["Cu1 Cu 0 0 0 1"]), ["--symprec", "nan"], "symprec"),
    ("large_symprec", cif(4.0, ["Cu1 Cu 0 0 0 1"]), ["--symprec", "3"], "symprec"),
]


@pytest.mark.parametrize(
    ("case", "text", "options", "problem"), BAD_STRUCTURES, ids=[c[0] for c in BAD_STRUCTURES]
)
def test_bad_structure_is_a_clean_cli_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    text: str,
    options: list[str],
    problem: str,
) -> None:
    from xrdsym.cli import main

    path = tmp_path / f"{case}.cif"
    path.write_text(text)
    out = tmp_path / "out.xy"
    assert main(["simulate", str(path), "-o", str(out), *options]) == 1
    error = capsys.readouterr().err
    assert error.startswith("xrdsym: error: ") and problem in error, error
    if "symprec" not in problem:
        assert str(path) in error  # the message names the structure
    assert "Traceback" not in error and not out.exists()


def test_split_site_and_shared_site_within_one_are_accepted(tmp_path: Path) -> None:
    from xrdsym.structures.reader import read_cif_text

    split = read_cif_text(cif(4.0, ["Na1 Na 0 0 0 0.5", "Na2 Na 0.05 0 0 0.5"]), "split")
    assert split.n_sites == 2
    mixed = read_cif_text(cif(4.0, ["Fe1 Fe 0 0 0 0.5", "Co1 Co 0 0 0 0.5"]), "mixed")
    assert mixed.n_sites == 2
    fcc = read_cif_text(cif(3.6, ["Cu1 Cu 0 0 0 1"], "F m -3 m"), "fcc")
    assert fcc.n_sites == 4


def test_dataset_build_reports_an_impossible_structure_by_name(tmp_path: Path) -> None:
    from xrdsym.datasets.build import BuildConfig, build_dataset

    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "fcc_ok.cif").write_text(cif(3.6, ["Cu1 Cu 0 0 0 1"], "F m -3 m"))
    (folder / "fcc_tiny.cif").write_text(cif(0.5, ["Cu1 Cu 0 0 0 1"], "F m -3 m"))
    report = build_dataset(
        tmp_path / "ds", BuildConfig(cif_sources=(str(folder),)), workers=1, progress=False
    )
    assert report["structures"] == 1
    (item,) = report["rejected_items"]
    assert item["id"] == "fcc_tiny" and "atoms too close" in item["reason"]


def test_reflection_limit_and_bounded_index_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from xrdsym.patterns import peaks, reflections
    from xrdsym.structures.crystal import Crystal

    crystal = Crystal(
        lattice=np.eye(3) * 50.0,
        frac_coords=np.zeros((1, 3)),
        elements=("Cu",),
        occupancies=np.ones(1),
        b_iso=np.zeros(1),
        name="big-cell",
    )
    with pytest.raises(StructureError, match="big-cell: too many reflections"):
        peaks.compute_peaks(crystal, wavelength=0.3)
    lattice = np.array([[7.0, 0.0, 0.0], [1.0, 9.0, 0.0], [0.5, -1.0, 11.0]])
    whole = reflections.enumerate_reflections(lattice, 0.1, 1.0)
    monkeypatch.setattr(reflections, "MAX_BLOCK_ENTRIES", 64)  # blocks smaller than a k-l plane
    blocked = reflections.enumerate_reflections(lattice, 0.1, 1.0)
    assert np.array_equal(whole[0], blocked[0]) and np.array_equal(whole[1], blocked[1])


def test_structures_summary_refuses_a_bad_symprec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xrdsym.cli import main

    path = tmp_path / "ok.cif"
    path.write_text(cif(4.0, ["Cu1 Cu 0 0 0 1"]))
    assert main(["structures", "summary", str(path), "--symprec", "-1"]) == 1
    assert "symprec must be a number in (0, 1]" in capsys.readouterr().err
