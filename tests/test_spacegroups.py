"""Space-group labels: the derived table against the oracle CSV, gemmi and textbook facts, and
the shipped table against the derivation."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from xrdsym.spacegroups import (
    CRYSTAL_SYSTEMS,
    N_CRYSTAL_SYSTEMS,
    N_EXTINCTION_GROUPS,
    N_SPACE_GROUPS,
    SpaceGroupInfo,
    extinction_groups,
    label_maps,
    load_space_group_table,
    reconcile_probabilities,
    space_group,
    space_group_table_data,
    space_groups,
)
from xrdsym.spacegroups.derive import hkl_grid, systematic_absences


@pytest.fixture(scope="module")
def oracle(shared_dir: Path) -> list[dict[str, str]]:
    """Rows of ``shared/spec/extinction_groups.csv``, one per space group, in number order."""
    with (shared_dir / "spec" / "extinction_groups.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["space_group"]) for row in rows] == list(range(1, 231))
    return rows


# --- the table -------------------------------------------------------------------------------


def test_table_has_230_entries_in_number_order() -> None:
    table = space_groups()
    assert len(table) == N_SPACE_GROUPS == 230
    assert [info.number for info in table] == list(range(1, 231))
    assert all(isinstance(info, SpaceGroupInfo) for info in table)
    assert space_groups() is table  # cached


@pytest.mark.parametrize(
    ("first", "last", "system"),
    [
        (1, 2, "triclinic"),
        (3, 15, "monoclinic"),
        (16, 74, "orthorhombic"),
        (75, 142, "tetragonal"),
        (143, 167, "trigonal"),
        (168, 194, "hexagonal"),
        (195, 230, "cubic"),
    ],
)
def test_crystal_system_boundaries(first: int, last: int, system: str) -> None:
    assert {space_group(n).crystal_system for n in range(first, last + 1)} == {system}
    if first > 1:
        assert space_group(first - 1).crystal_system != system
    if last < 230:
        assert space_group(last + 1).crystal_system != system


@pytest.mark.parametrize(
    ("number", "symbol", "laue", "point_group", "centring"),
    [
        (1, "P1", "-1", "1", "P"),
        (2, "P-1", "-1", "-1", "P"),
        (14, "P2_1/c", "2/m", "2/m", "P"),
        (15, "C2/c", "2/m", "2/m", "C"),
        (19, "P2_12_12_1", "mmm", "222", "P"),
        (38, "Amm2", "mmm", "mm2", "A"),
        (62, "Pnma", "mmm", "mmm", "P"),
        (88, "I4_1/a", "4/m", "4/m", "I"),
        (139, "I4/mmm", "4/mmm", "4/mmm", "I"),
        (148, "R-3", "-3", "-3", "R"),
        (162, "P-31m", "-3m", "-3m", "P"),
        (167, "R-3c", "-3m", "-3m", "R"),
        (186, "P6_3mc", "6/mmm", "6mm", "P"),
        (194, "P6_3/mmc", "6/mmm", "6/mmm", "P"),
        (205, "Pa-3", "m-3", "m-3", "P"),
        (216, "F-43m", "m-3m", "-43m", "F"),
        (225, "Fm-3m", "m-3m", "m-3m", "F"),
        (227, "Fd-3m", "m-3m", "m-3m", "F"),
        (230, "Ia-3d", "m-3m", "m-3m", "I"),
    ],
)
def test_known_symbols_and_classes(
    number: int, symbol: str, laue: str, point_group: str, centring: str
) -> None:
    info = space_group(number)
    assert info.symbol == symbol
    assert info.laue_class == laue
    assert info.point_group == point_group
    assert info.centring == centring


def test_point_groups_and_laue_classes_cover_all_classes() -> None:
    table = space_groups()
    assert len({info.point_group for info in table}) == 32
    assert len({info.laue_class for info in table}) == 11
    # Each Laue class lies in exactly one crystal system; the trigonal one has two.
    systems_of_laue: dict[str, set[str]] = {}
    for info in table:
        systems_of_laue.setdefault(info.laue_class, set()).add(info.crystal_system)
    assert all(len(systems) == 1 for systems in systems_of_laue.values())
    assert {laue for laue, s in systems_of_laue.items() if s == {"trigonal"}} == {"-3", "-3m"}


def test_centring_letters() -> None:
    letters = Counter(info.centring for info in space_groups())
    assert set(letters) == {"P", "A", "C", "I", "F", "R"}
    assert {n for n in range(1, 231) if space_group(n).centring == "R"} == {
        146,
        148,
        155,
        160,
        161,
        166,
        167,
    }
    assert {n for n in range(1, 231) if space_group(n).centring == "F"} == {
        22,
        42,
        43,
        69,
        70,
        196,
        202,
        203,
        209,
        210,
        216,
        219,
        225,
        226,
        227,
        228,
    }


def test_crystal_system_index_property() -> None:
    assert space_group(14).crystal_system_index == 1
    assert space_group(230).crystal_system_index == CRYSTAL_SYSTEMS.index("cubic") == 6
    assert len(CRYSTAL_SYSTEMS) == N_CRYSTAL_SYSTEMS == 7


@pytest.mark.parametrize("bad", [0, -1, 231, 1000])
def test_space_group_out_of_range_raises(bad: int) -> None:
    with pytest.raises(ValueError, match="1-230"):
        space_group(bad)


@pytest.mark.parametrize("bad", [1.5, "14", True, None])
def test_space_group_non_integer_raises(bad: object) -> None:
    with pytest.raises(TypeError):
        space_group(bad)  # type: ignore[arg-type]


def test_space_group_accepts_numpy_integers() -> None:
    assert space_group(np.int64(14)).symbol == "P2_1/c"


# --- systematic absences ---------------------------------------------------------------------


def _absent_set(number: int) -> set[tuple[int, int, int]]:
    mask = systematic_absences(number)
    return {(int(h), int(k), int(ell)) for h, k, ell in hkl_grid()[mask]}


def test_p1_has_no_absences() -> None:
    assert not systematic_absences(1).any()
    assert not systematic_absences(2).any()


def test_p21c_reflection_conditions() -> None:
    # P 1 2_1/c 1: h0l absent for l odd (c glide), 0k0 absent for k odd (2_1 along b).
    expected = {
        (h, k, ell)
        for h, k, ell in map(tuple, hkl_grid().tolist())
        if (k == 0 and ell % 2 == 1) or (h == 0 and ell == 0 and k % 2 == 1)
    }
    assert _absent_set(14) == expected


def test_fcc_lattice_conditions() -> None:
    # Fm-3m: only the F-centring conditions; h, k, l all even or all odd survive.
    expected = {
        (h, k, ell)
        for h, k, ell in map(tuple, hkl_grid().tolist())
        if len({h % 2, k % 2, ell % 2}) > 1
    }
    assert _absent_set(225) == expected


def test_rhombohedral_obverse_condition() -> None:
    # R3, hexagonal axes, obverse: -h + k + l = 3n is the only condition.
    expected = {
        (h, k, ell) for h, k, ell in map(tuple, hkl_grid().tolist()) if (-h + k + ell) % 3 != 0
    }
    assert _absent_set(146) == expected


def test_absences_agree_with_gemmi() -> None:
    """An independent library, from its own operation tables, gives the same absent sets."""
    gemmi = pytest.importorskip("gemmi")
    hkl = hkl_grid().tolist()
    for number in range(1, 231):
        ops = gemmi.find_spacegroup_by_number(number).operations()
        from_gemmi = np.array([ops.is_systematically_absent(h) for h in hkl])
        np.testing.assert_array_equal(systematic_absences(number), from_gemmi, err_msg=str(number))


# --- extinction groups -----------------------------------------------------------------------


def test_extinction_groups_match_oracle(oracle: list[dict[str, str]]) -> None:
    derived = extinction_groups()
    for row in oracle:
        number = int(row["space_group"])
        info = space_group(number)
        assert info.crystal_system == row["crystal_system"], number
        members = tuple(int(m) for m in row["extinction_group_members"].split())
        assert derived[info.extinction_group] == members, number
        # With classes ordered by smallest member the indices agree too.
        assert info.extinction_group == int(row["extinction_group"]), number


def test_extinction_groups_partition_the_230_groups() -> None:
    groups = extinction_groups()
    assert len(groups) == N_EXTINCTION_GROUPS == 101
    flat = [n for group in groups for n in group]
    assert sorted(flat) == list(range(1, 231))
    assert all(list(group) == sorted(group) for group in groups)
    assert [group[0] for group in groups] == sorted(group[0] for group in groups)
    for index, group in enumerate(groups):
        assert {space_group(n).extinction_group for n in group} == {index}
        assert len({space_group(n).crystal_system for n in group}) == 1


def test_extinction_group_counts_per_system() -> None:
    counts = Counter(space_group(group[0]).crystal_system for group in extinction_groups())
    assert [counts[system] for system in CRYSTAL_SYSTEMS] == [1, 6, 33, 31, 6, 7, 17]


@pytest.mark.parametrize(
    "members",
    [(1, 2), (3, 6, 10), (14,), (31, 59), (4, 11), (146, 148, 155, 160, 166), (230,)],
)
def test_known_extinction_groups(members: tuple[int, ...]) -> None:
    assert members in extinction_groups()


@pytest.mark.parametrize(("a", "b"), [(33, 62), (21, 38), (31, 59), (36, 40)])
def test_orthorhombic_axis_relabelling_is_merged(a: int, b: int) -> None:
    """Pna2_1 and Pnma (Pn2_1a setting), Cmm2 family and Amm2, ...: one class each.

    Their absence sets differ in the standard settings and agree after permuting h, k, l.
    """
    n = 13
    cube_a = systematic_absences(a).reshape(n, n, n)
    cube_b = systematic_absences(b).reshape(n, n, n)
    assert not np.array_equal(cube_a, cube_b)
    assert any(
        np.array_equal(cube_a.transpose(axes), cube_b) for axes in itertools.permutations(range(3))
    )
    assert space_group(a).extinction_group == space_group(b).extinction_group


def test_axis_relabelling_is_not_applied_outside_orthorhombic() -> None:
    # P2_1 (4) and P2_1/c (14) are different; P4_1 (76) and P4_3 (78) share absences anyway.
    assert space_group(4).extinction_group != space_group(14).extinction_group
    assert space_group(76).extinction_group == space_group(78).extinction_group


# --- label maps and reconciliation ----------------------------------------------------------


def test_label_maps() -> None:
    system, extinction = label_maps()
    assert system.shape == extinction.shape == (230,)
    assert system.dtype == extinction.dtype == np.int64
    for info in space_groups():
        assert system[info.number - 1] == CRYSTAL_SYSTEMS.index(info.crystal_system)
        assert extinction[info.number - 1] == info.extinction_group
    assert np.all(np.diff(system) >= 0)  # systems follow the numbering
    system[:] = -1  # a copy: the cached table is untouched
    assert label_maps()[0].min() == 0


def test_reconcile_sums_match() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(230), size=5)
    p_system, p_extinction = reconcile_probabilities(p)
    assert p_system.shape == (5, 7)
    assert p_extinction.shape == (5, 101)
    np.testing.assert_allclose(p_system.sum(-1), 1.0)
    np.testing.assert_allclose(p_extinction.sum(-1), 1.0)
    system, extinction = label_maps()
    for s in range(7):
        np.testing.assert_allclose(p_system[:, s], p[:, system == s].sum(-1))
    for e in range(101):
        np.testing.assert_allclose(p_extinction[:, e], p[:, extinction == e].sum(-1))


@pytest.mark.parametrize("number", [1, 14, 59, 167, 230])
def test_reconcile_one_hot(number: int) -> None:
    p = np.zeros(230)
    p[number - 1] = 1.0
    p_system, p_extinction = reconcile_probabilities(p)
    info = space_group(number)
    np.testing.assert_array_equal(p_system, np.eye(7)[info.crystal_system_index])
    np.testing.assert_array_equal(p_extinction, np.eye(101)[info.extinction_group])


@pytest.mark.parametrize("shape", [(230,), (0, 230), (3, 230), (2, 4, 230)])
def test_reconcile_batch_shapes(shape: tuple[int, ...]) -> None:
    p = np.full(shape, 1 / 230)
    p_system, p_extinction = reconcile_probabilities(p)
    assert p_system.shape == (*shape[:-1], 7)
    assert p_extinction.shape == (*shape[:-1], 101)


def test_reconcile_dtypes() -> None:
    p32 = np.full((2, 230), 1 / 230, dtype=np.float32)
    assert all(out.dtype == np.float32 for out in reconcile_probabilities(p32))
    counts = np.zeros(230, dtype=np.int64)
    counts[[0, 1, 13]] = [2, 3, 5]
    p_system, p_extinction = reconcile_probabilities(counts)
    assert p_system.dtype == np.float64
    assert p_system[0] == 5 and p_system[1] == 5
    assert p_extinction[0] == 5 and p_extinction[space_group(14).extinction_group] == 5


@pytest.mark.parametrize(
    "bad",
    [
        np.ones(229),
        np.ones((230, 2)),
        np.float64(1.0),
        np.array([np.nan] + [0.0] * 229),
        np.array([np.inf] + [0.0] * 229),
        np.array([-0.1] + [0.0] * 229),
        np.ones(230, dtype=complex),
        np.array(["x"] * 230),
    ],
    ids=["short", "wrong-axis", "scalar", "nan", "inf", "negative", "complex", "strings"],
)
def test_reconcile_bad_input_raises(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        reconcile_probabilities(bad)


def test_shipped_space_group_table_equals_the_spglib_derivation() -> None:
    shipped = (
        Path(__file__).parents[1] / "src" / "xrdsym" / "spacegroups" / "space_group_table.json"
    )
    table = json.loads(shipped.read_text())
    derived = space_group_table_data()
    assert table["space_groups"] == derived["space_groups"]
    assert table["crystal_systems"] == derived["crystal_systems"]
    assert load_space_group_table().extinction_symbols[21] == "Pna2_1, Pnma"
