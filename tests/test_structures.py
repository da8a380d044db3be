"""Reading CIF sources, spglib labels, structure types, deduplication and the summary command."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from xrdsym.cli import main
from xrdsym.errors import StructureError
from xrdsym.structures.labelling import (
    Rejected,
    StructureRecord,
    canonical_wyckoffs,
    crystal_system,
    label_crystal,
    load_records,
    reason_category,
    reduced_formula,
)
from xrdsym.structures.prototype import hall_operations
from xrdsym.structures.reader import iter_cif_sources, read_cif_file, read_cif_text
from xrdsym.structures.symmetry import point_group_order, rotation_codes

DATA = Path(__file__).resolve().parent / "data" / "structures"
GOOD = DATA / "good"
BAD = DATA / "bad"

#: Expected reason category of each bad fixture.
BAD_REASONS = {
    "binary": "binary data",
    "no_atoms": "no atoms",
    "not_a_cif": "not a CIF",
    "truncated": "malformed or truncated CIF",
    "unknown_element": "unknown element",
    "zero_volume": "zero-volume cell",
}

#: Rock salt in its primitive rhombohedral cell (a' = a / sqrt 2, 60 degree angles), P1.
NACL_PRIMITIVE = """data_NaCl_primitive
_cell_length_a {a}
_cell_length_b {a}
_cell_length_c {a}
_cell_angle_alpha 60
_cell_angle_beta 60
_cell_angle_gamma 60
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
"""


def _primitive_nacl(a_cubic: float) -> str:
    """CIF text of NaCl in its primitive cell for a cubic lattice parameter (Angstrom)."""
    return NACL_PRIMITIVE.format(a=f"{a_cubic / math.sqrt(2):.6f}")


# --- reading ---------------------------------------------------------------------------------


def test_nacl_is_expanded_to_eight_sites_with_b_factors() -> None:
    crystal = read_cif_file(GOOD / "NaCl.cif")
    assert crystal.name == "NaCl"
    assert crystal.n_sites == 8
    assert Counter(crystal.elements) == {"Na": 4, "Cl": 4}
    assert crystal.volume == pytest.approx(5.6402**3, rel=1e-9)
    b_by_element = {e: b for e, b in zip(crystal.elements, crystal.b_iso, strict=True)}
    assert b_by_element == pytest.approx({"Na": 1.64, "Cl": 1.25}, abs=1e-4)
    assert np.all((crystal.frac_coords >= 0.0) & (crystal.frac_coords < 1.0))


def test_u_iso_and_anisotropic_u_become_b() -> None:
    cscl = read_cif_file(GOOD / "CsCl.cif")
    assert dict(zip(cscl.elements, cscl.b_iso, strict=True)) == pytest.approx(
        {"Cs": 8 * math.pi**2 * 0.0190, "Cl": 8 * math.pi**2 * 0.0230}, rel=1e-4
    )
    rutile = read_cif_file(GOOD / "rutile.cif")
    b_by_element = dict(zip(rutile.elements, rutile.b_iso, strict=True))
    # Ti: U_eq = (U11 + U22 + U33) / 3 = 0.005 A^2 in a tetragonal cell.
    assert b_by_element["Ti"] == pytest.approx(8 * math.pi**2 * 0.0050, rel=1e-3)
    assert b_by_element["O"] == pytest.approx(8 * math.pi**2 * 0.0070, rel=1e-4)


def test_partial_occupancy_is_kept() -> None:
    crystal = read_cif_file(GOOD / "CuAu_disordered.cif")
    assert crystal.n_sites == 8
    occupancy = dict(zip(crystal.elements, crystal.occupancies, strict=True))
    assert occupancy == pytest.approx({"Cu": 0.75, "Au": 0.25})
    label = label_crystal(crystal)
    assert label.space_group == 225
    assert label.wyckoffs == ("4a",)
    assert label.structure_type == "225|4a|AB3"
    assert reduced_formula(crystal) == "Cu3Au"


def test_mixed_sites_in_measured_cif(shared_dir: Path) -> None:
    crystal = read_cif_file(shared_dir / "data/experimental/xred/LiTMO3.cif")
    totals: Counter[str] = Counter()
    for element, occupancy in zip(crystal.elements, crystal.occupancies, strict=True):
        totals[element] += float(occupancy)
    # R-3m hexagonal cell, Z = 3: Li 3 x (0.98 + 0.05), Ni 3 x (0.75 + 0.02), Mn and Co 3 x 0.1.
    assert dict(totals) == pytest.approx(
        {"Li": 3.09, "Ni": 2.31, "Mn": 0.3, "Co": 0.3, "O": 6.0}, abs=1e-9
    )


@pytest.mark.parametrize("stem, reason", sorted(BAD_REASONS.items()))
def test_bad_file_is_named_with_its_reason(stem: str, reason: str) -> None:
    path = BAD / f"{stem}.cif"
    with pytest.raises(StructureError) as error:
        read_cif_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {reason}:")


def test_unknown_space_group_without_operators_is_refused() -> None:
    text = (GOOD / "NaCl.cif").read_text().replace("'F m -3 m'", "'Q 9 9'")
    with pytest.raises(StructureError, match="unknown space group: 'Q 9 9'"):
        read_cif_text(text, "odd")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StructureError, match="no such file"):
        list(iter_cif_sources(tmp_path / "absent.cif"))


# --- sources ---------------------------------------------------------------------------------


def test_folder_is_read_recursively_in_sorted_order() -> None:
    ids = [structure_id for structure_id, _ in iter_cif_sources(DATA)]
    assert ids == sorted(ids)
    assert "good/NaCl" in ids
    assert "bad/truncated" in ids
    assert len(ids) == len(list(DATA.rglob("*.cif")))


def test_table_with_id_column_and_gzip(tmp_path: Path) -> None:
    table = tmp_path / "small.csv.gz"
    with gzip.open(table, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "cif", "note"])
        writer.writerow(["rocksalt", (GOOD / "NaCl.cif").read_text(), "x"])
        writer.writerow(["cscl", (GOOD / "CsCl.cif").read_text(), ""])
    assert [i for i, _ in iter_cif_sources(table)] == ["rocksalt", "cscl"]
    records = list(load_records(table))
    assert [r.label.space_group for r in records if isinstance(r, StructureRecord)] == [225, 221]
    assert records[0].crystal.metadata == {"note": "x"}  # type: ignore[union-attr]


def test_table_without_id_uses_row_numbers_and_needs_cif_column(tmp_path: Path) -> None:
    table = tmp_path / "rows.csv"
    table.write_text('cif\n"' + (GOOD / "CsCl.cif").read_text() + '"\n')
    assert [i for i, _ in iter_cif_sources(table)] == ["row1"]
    bad = tmp_path / "nocif.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(StructureError, match="no 'cif' column"):
        list(iter_cif_sources(bad))


def test_corpus_slice_is_read_and_labelled(shared_dir: Path) -> None:
    table = shared_dir / "data/structures/mp_structures.csv.gz"
    sources = list(itertools.islice(iter_cif_sources(table), 50))
    assert len(sources) == 50
    assert sources[0][0] == "mp-10009"
    gate = read_cif_text(sources[0][1], sources[0][0])
    assert Counter(gate.elements) == {"Ga": 4, "Te": 4}
    label = label_crystal(gate)
    assert (label.space_group, label.symbol) == (194, "P6_3/mmc")
    for structure_id, text in sources:
        assert 1 <= label_crystal(read_cif_text(text, structure_id)).space_group <= 230


# --- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, number, symbol",
    [
        ("NaCl", 225, "Fm-3m"),
        ("KBr", 225, "Fm-3m"),
        ("CsCl", 221, "Pm-3m"),
        ("rutile", 136, "P4_2/mnm"),
    ],
)
def test_known_space_groups(stem: str, number: int, symbol: str) -> None:
    label = label_crystal(read_cif_file(GOOD / f"{stem}.cif"))
    assert (label.space_group, label.symbol) == (number, symbol)


def test_label_comes_from_atoms_not_from_file_claim() -> None:
    text = (GOOD / "KBr.cif").read_text()
    assert "'P 1'" in text
    assert label_crystal(read_cif_text(text, "KBr")).space_group == 225


def test_xred_cifs_get_their_listed_space_group(shared_dir: Path) -> None:
    folder = shared_dir / "data/experimental/xred"
    with (folder / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 17
    for row in rows:
        label = label_crystal(read_cif_file(folder / row["cif"]), symprec=0.01)
        assert (label.space_group, label.symbol) == (int(row["space_group"]), row["symbol"]), row


def test_structure_type_key() -> None:
    nacl, kbr, cscl, rutile = (
        label_crystal(read_cif_file(GOOD / f"{stem}.cif"))
        for stem in ("NaCl", "KBr", "CsCl", "rutile")
    )
    assert nacl.structure_type == kbr.structure_type == "225|4a4b|AB"
    assert cscl.structure_type == "221|1a1b|AB"
    assert nacl.structure_type != cscl.structure_type
    assert rutile.wyckoffs == ("2a", "4f")
    assert rutile.structure_type == "136|2a4f|AB2"


def test_origin_shifted_descriptions_share_a_structure_type() -> None:
    # Fd-3m: an origin shift of (1/2, 1/2, 1/2) swaps 8a <-> 8b and 16c <-> 16d.
    assert canonical_wyckoffs(227, ["8b", "16c", "32e"]) == ("8a", "16d", "32e")
    assert canonical_wyckoffs(227, ["8a", "16d", "32e"]) == ("8a", "16d", "32e")
    assert canonical_wyckoffs(225, ["4b"]) == ("4a",)


@pytest.mark.parametrize(
    "number, system",
    [(1, "triclinic"), (2, "triclinic"), (3, "monoclinic"), (15, "monoclinic"),
     (16, "orthorhombic"), (74, "orthorhombic"), (75, "tetragonal"), (142, "tetragonal"),
     (143, "trigonal"), (167, "trigonal"), (168, "hexagonal"), (194, "hexagonal"),
     (195, "cubic"), (230, "cubic")],
)  # fmt: skip
def test_crystal_system_ranges(number: int, system: str) -> None:
    assert crystal_system(number) == system


# --- batches and deduplication ----------------------------------------------------------------


def test_dedupe_matches_reduced_cells(tmp_path: Path) -> None:
    (tmp_path / "a_NaCl.cif").write_text((GOOD / "NaCl.cif").read_text())
    (tmp_path / "b_NaCl_primitive.cif").write_text(_primitive_nacl(5.6402 * 1.003))
    (tmp_path / "c_NaCl_expanded.cif").write_text(_primitive_nacl(5.6402 * 1.05))
    (tmp_path / "d_KBr.cif").write_text((GOOD / "KBr.cif").read_text())
    items = list(load_records(tmp_path))
    outcome = {item.id: item.reason if isinstance(item, Rejected) else "accepted" for item in items}
    assert outcome == {
        "a_NaCl": "accepted",
        "b_NaCl_primitive": "duplicate of a_NaCl",
        "c_NaCl_expanded": "accepted",
        "d_KBr": "accepted",
    }
    assert len(list(load_records(tmp_path, dedupe=False))) == 4
    assert all(isinstance(i, StructureRecord) for i in load_records(tmp_path, dedupe=False))


def test_batch_goes_on_past_bad_files() -> None:
    items = list(load_records(DATA))
    accepted = {i.id for i in items if isinstance(i, StructureRecord)}
    rejected = {i.id: reason_category(i.reason) for i in items if isinstance(i, Rejected)}
    assert accepted == {f"good/{p.stem}" for p in GOOD.glob("*.cif")}
    assert rejected == {f"bad/{stem}": reason for stem, reason in BAD_REASONS.items()}


def test_workers_give_the_same_stream() -> None:
    serial = [(i.id, type(i).__name__) for i in load_records(DATA, workers=1)]
    parallel = [(i.id, type(i).__name__) for i in load_records(DATA, workers=2)]
    assert parallel == serial


# --- command line ----------------------------------------------------------------------------


def test_cli_summary_of_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["structures", "summary", str(DATA)]) == 0
    out = capsys.readouterr().out
    n_good, n_bad = len(list(GOOD.glob("*.cif"))), len(BAD_REASONS)
    assert f"structures read: {n_good + n_bad}" in out
    assert f"accepted: {n_good}" in out
    assert f"rejected: {n_bad}" in out
    assert "unknown element: 1" in out
    assert "bad/truncated (malformed or truncated CIF" in out


def test_cli_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["structures", "summary", str(GOOD), "--json", "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accepted"] == 5
    assert summary["rejected"] == 0
    assert summary["crystal_systems"]["cubic"] == 4
    assert summary["crystal_systems"]["tetragonal"] == 1
    assert summary["space_groups"]["225"] == {"symbol": "Fm-3m", "count": 3}


def test_cli_single_bad_file_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / "unknown_element.cif"
    assert main(["structures", "summary", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"xrdsym: error: {path}: unknown element: 'Qx'")
    assert "Traceback" not in err


#: Crystal-system counts of the corpus given in ../shared/data/README.md ("roughly", spglib at
#: symprec 0.01-0.1).
CORPUS_SYSTEMS = {
    "triclinic": 890,
    "monoclinic": 3079,
    "orthorhombic": 4151,
    "tetragonal": 3178,
    "trigonal": 1908,
    "hexagonal": 2085,
    "cubic": 3861,
}


@pytest.mark.slow
def test_whole_corpus_in_two_workers(shared_dir: Path) -> None:
    table = shared_dir / "data/structures/mp_structures.csv.gz"
    systems: Counter[str] = Counter()
    groups: set[int] = set()
    reasons: Counter[str] = Counter()
    for item in load_records(table, workers=2):
        if isinstance(item, Rejected):
            reasons[reason_category(item.reason)] += 1
        else:
            systems[item.label.crystal_system] += 1
            groups.add(item.label.space_group)
    assert sum(systems.values()) + sum(reasons.values()) == 19152
    assert set(reasons) <= {"duplicate"}
    assert reasons["duplicate"] < 100
    assert len(groups) >= 187
    for system, expected in CORPUS_SYSTEMS.items():
        assert systems[system] == pytest.approx(expected, rel=0.15), system


def test_cli_summary_progress_counts_every_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar's total is the number of structures, and it reaches it."""
    from xrdsym.cli import structures

    class Bar:
        def __init__(self, total: int | None, unit: str, disabled: bool = False) -> None:
            self.total, self.n = total, 0
            bars.append(self)

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: int) -> None:
            self.n += n

    bars: list[Bar] = []
    monkeypatch.setattr(structures, "progress_bar", Bar)
    assert main(["structures", "summary", str(DATA)]) == 0
    n = len(list(GOOD.glob("*.cif"))) + len(BAD_REASONS)
    assert [(b.total, b.n) for b in bars] == [(n, n)]


def test_rotation_codes_are_one_to_one_on_every_hall_setting() -> None:
    """Equal codes exactly when the matrices are equal, on the operations of all 530 settings;
    the point-group orders are those of the 32 classes (1 to 48)."""
    orders = set()
    for hall_number in range(1, 531):
        rotations, _ = hall_operations(hall_number)
        rows = rotations.reshape(-1, 9)
        codes = rotation_codes(rotations)
        same_code = codes[:, None] == codes[None, :]
        same_matrix = np.all(rows[:, None, :] == rows[None, :, :], axis=2)
        assert np.array_equal(same_code, same_matrix)
        orders.add(point_group_order(rotations))
    assert orders == {1, 2, 3, 4, 6, 8, 12, 16, 24, 48}
