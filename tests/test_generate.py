"""Generated crystals: compositions, spglib labels, reproducibility and limits."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import numpy as np
import pytest

from xrdsym.spacegroups import CRYSTAL_SYSTEMS
from xrdsym.structures.generate import (
    MAX_ATOMS_PER_CELL,
    _AttemptTimeoutError,
    _time_limit,
    generate_crystal,
    generate_records,
    random_composition,
    wyckoff_multiplicities,
)
from xrdsym.structures.labelling import Rejected, StructureRecord, crystal_system, label_crystal

#: Crystal systems such that a supergroup never has a lower one.
SYSTEM_ORDER = CRYSTAL_SYSTEMS

#: One or two groups of every crystal system.
GROUPS_ACROSS_SYSTEMS = (2, 14, 62, 123, 136, 166, 191, 194, 221, 225)


def _sums_of_multiplicities(space_group: int, max_orbits: int) -> set[int]:
    """Every sum of 1..max_orbits Wyckoff multiplicities of a group."""
    multiplicities = sorted(set(wyckoff_multiplicities(space_group)))
    return {
        sum(combo)
        for k in range(1, max_orbits + 1)
        for combo in itertools.combinations_with_replacement(multiplicities, k)
    }


def test_wyckoff_multiplicities_of_known_groups() -> None:
    # Fm-3m: 4a 4b 8c 24d 24e 32f 48g 48h 48i 96j 96k 192l (International Tables).
    assert sorted(wyckoff_multiplicities(225)) == [4, 4, 8, 24, 24, 32, 48, 48, 48, 96, 96, 192]
    assert sorted(wyckoff_multiplicities(14)) == [2, 2, 2, 2, 4]


@pytest.mark.parametrize("space_group", [14, 136, 225])
def test_random_compositions_use_wyckoff_multiplicities(space_group: int) -> None:
    rng = np.random.default_rng(3)
    allowed = _sums_of_multiplicities(space_group, 2)
    for _ in range(20):
        composition = random_composition(space_group, rng)
        assert composition is not None
        elements, counts = composition
        assert 1 <= len(elements) <= 3
        assert len(set(elements)) == len(elements) == len(counts)
        assert sum(counts) <= MAX_ATOMS_PER_CELL
        assert set(counts) <= allowed


@pytest.mark.parametrize("space_group", GROUPS_ACROSS_SYSTEMS)
def test_generated_crystal_label_is_spglib_and_matches_request(space_group: int) -> None:
    rng = np.random.default_rng(space_group)
    records = list(generate_records([space_group], 1, rng, require_requested=True))
    assert len(records) == 1
    record = records[0]
    assert isinstance(record, StructureRecord)
    crystal = record.crystal
    assert record.id == f"gen-{space_group:03d}-0"
    assert crystal.metadata["requested_space_group"] == str(space_group)
    assert record.label == label_crystal(crystal, 0.01)
    assert record.label.space_group == space_group
    assert 1 <= crystal.n_sites <= MAX_ATOMS_PER_CELL
    assert crystal.volume > 0.0
    assert np.all(crystal.occupancies == 1.0)


def test_labels_can_differ_from_requests_but_are_spglib_labels() -> None:
    rng = np.random.default_rng(11)
    records = list(generate_records([3, 75, 147, 195], 3, rng))
    assert len(records) == 12
    assert all(isinstance(r, StructureRecord) for r in records)
    pairs = []
    for record in records:
        assert isinstance(record, StructureRecord)
        assert record.label == label_crystal(record.crystal)
        pairs.append((int(record.crystal.metadata["requested_space_group"]), record.label))
    assert any(label.space_group != requested for requested, label in pairs)
    for requested, label in pairs:
        # pyxtal places atoms by the operations of the requested group, so spglib finds that
        # group or a supergroup, whose crystal system is never lower in this order.
        found_system = SYSTEM_ORDER.index(label.crystal_system)
        assert found_system >= SYSTEM_ORDER.index(crystal_system(requested))


def test_generation_is_reproducible_from_the_generator() -> None:
    first = generate_crystal(62, np.random.default_rng(5))
    second = generate_crystal(62, np.random.default_rng(5))
    assert first is not None and second is not None
    assert first.elements == second.elements
    np.testing.assert_allclose(first.lattice, second.lattice)
    np.testing.assert_allclose(first.frac_coords, second.frac_coords)


def test_matched_counts_per_group() -> None:
    rng = np.random.default_rng(2)
    records = list(generate_records([225, 14, 99], {225: 2, 14: 1}, rng))
    requested = Counter(r.id.split("-")[1] for r in records)
    assert requested == {"225": 2, "014": 1}


def test_impossible_request_is_rejected_with_reason() -> None:
    # Fd-3c (228) has no Wyckoff position of 8 atoms or fewer.
    rng = np.random.default_rng(0)
    records = list(generate_records([228], 1, rng, max_atoms=8, max_attempts=2))
    assert records == [
        Rejected(
            "gen-228-0", "pyxtal", "generation failed: pyxtal found no crystal in space group 228"
        )
    ]


def test_invalid_space_group_number() -> None:
    with pytest.raises(ValueError, match="1-230"):
        generate_crystal(231, np.random.default_rng(0))


def test_attempt_time_limit_interrupts() -> None:
    start = time.perf_counter()
    with pytest.raises(_AttemptTimeoutError), _time_limit(0.05):
        time.sleep(2.0)
    assert time.perf_counter() - start < 1.0


def test_default_generation_sets_no_wall_clock_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default no attempt is cut by the clock, so the crystals depend on the seed alone and a
    slower machine builds the same dataset."""
    import xrdsym.structures.generate as generate

    limits: list[float] = []
    real_limit = generate._time_limit

    def recording_limit(seconds: float):  # type: ignore[no-untyped-def]
        limits.append(seconds)
        return real_limit(seconds)

    monkeypatch.setattr(generate, "_time_limit", recording_limit)
    crystal = generate_crystal(62, np.random.default_rng(3))
    assert crystal is not None
    assert limits and all(seconds == 0 for seconds in limits)


def test_zero_time_limit_never_interrupts() -> None:
    with _time_limit(0.0):
        time.sleep(0.1)
