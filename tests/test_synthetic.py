"""Structures made new: perturbed corpus crystals, synthetic crystals of all 230 groups, the
fitted statistics, the training stream and ``xrdsym generate``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from synthetic import PrototypePeaks

from xrdsym.errors import StructureError
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.sampling import draw_distinct, draw_index
from xrdsym.structures.labelling import symmetry_dataset
from xrdsym.structures.perturb import (
    PerturbationConfig,
    cell_parameters,
    perturb_prototype,
    similar_elements,
    site_projector,
)
from xrdsym.structures.prototype import (
    Prototype,
    hall_operations,
    orbit_labels,
    prototype_crystal,
    read_prototypes,
)
from xrdsym.structures.reader import read_cif_text
from xrdsym.structures.synthetic import (
    GeneratorConfig,
    SyntheticCrystal,
    SyntheticGenerator,
    closest_contact_ratio,
    fit_statistics,
    load_statistics,
    prototype_wyckoff_letters,
)
from xrdsym.structures.synthetic_checks import (
    extra_translation,
    has_maximal_point_group,
    keeps_its_group,
    spglib_agrees,
)
from xrdsym.structures.wyckoff import load_wyckoff_table

#: Corpus structures read for the perturbation and fitting tests (the first rows of the table).
N_CORPUS = 120


@pytest.fixture(scope="module")
def corpus_prototypes(shared_dir: Path) -> list[Prototype]:
    """Prototypes of the first N_CORPUS structures of the shared Materials Project table."""
    path = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return read_prototypes(path, N_CORPUS)


def images_close_the_cell(positions: np.ndarray, rotations: np.ndarray, t: np.ndarray) -> bool:
    """True when every image W x + t of every position is again a position (mod 1, 1e-4)."""
    images = np.einsum("mij,nj->mni", rotations, positions) + t[:, None, :]
    delta = images[:, :, None, :] - positions[None, None, :, :]
    delta -= np.rint(delta)
    return bool(np.all(np.abs(delta).max(axis=-1).min(axis=-1) < 1e-4))


# --- Prototypes and perturbation ------------------------------------------------------------


def test_prototype_cell_is_invariant_under_its_hall_operations(
    corpus_prototypes: list[Prototype],
) -> None:
    for prototype in corpus_prototypes:
        rotations, translations = hall_operations(prototype.hall_number)
        assert images_close_the_cell(prototype.positions, rotations, translations), prototype.name
        assert symmetry_dataset(prototype_crystal(prototype)).number == prototype.space_group


def test_perturbed_structures_keep_their_space_group(corpus_prototypes: list[Prototype]) -> None:
    rng = np.random.default_rng(0)
    config = PerturbationConfig(substitution=1.0)
    changed_cell = changed_positions = substituted = 0
    for prototype in corpus_prototypes:
        for _ in range(3):
            new = perturb_prototype(prototype, rng, config)
            crystal = prototype_crystal(new)
            assert symmetry_dataset(crystal).number == prototype.space_group, prototype.name
            assert len(new) == len(prototype)
            rotations, translations = hall_operations(new.hall_number)
            assert images_close_the_cell(new.positions, rotations, translations)
            changed_cell += not np.allclose(
                cell_parameters(new.lattice), cell_parameters(prototype.lattice)
            )
            changed_positions += not np.allclose(
                np.sort(new.positions, axis=0), np.sort(prototype.positions, axis=0), atol=1e-6
            )
            substituted += set(new.species) != set(prototype.species)
    trials = 3 * len(corpus_prototypes)
    assert changed_cell == trials
    assert changed_positions > 0.5 * trials  # structures with free coordinates move
    assert substituted > 0.5 * trials


def test_strain_keeps_the_family_constraints(corpus_prototypes: list[Prototype]) -> None:
    rng = np.random.default_rng(1)
    for prototype in corpus_prototypes:
        a, b, c, alpha, beta, gamma = cell_parameters(
            perturb_prototype(prototype, rng, PerturbationConfig(substitution=0.0)).lattice
        )
        if prototype.space_group >= 195:
            assert a == pytest.approx(b) and b == pytest.approx(c)
        if prototype.space_group >= 75:
            assert a == pytest.approx(b)
        if prototype.space_group >= 16:
            assert alpha == pytest.approx(90.0, abs=1e-6) and beta == pytest.approx(90.0, abs=1e-6)


def test_site_projector_keeps_special_positions() -> None:
    rotations, translations = hall_operations(523)  # Fm-3m
    corner = site_projector(np.zeros(3), rotations, translations)
    assert np.allclose(corner, 0.0)  # 4a has no free coordinate
    on_axis = site_projector(np.array([0.2, 0.0, 0.0]), rotations, translations)
    assert np.allclose(on_axis @ np.array([0.1, 0.3, -0.2]), [0.1, 0.0, 0.0])  # 24e: x00


def test_similar_elements_are_chemically_close() -> None:
    assert "K" in similar_elements("Na") or "Li" in similar_elements("Na")
    assert "Br" in similar_elements("Cl")
    assert "O" not in similar_elements("Na")
    assert similar_elements("Xx") == ()


def test_perturbation_is_reproducible(corpus_prototypes: list[Prototype]) -> None:
    prototype = corpus_prototypes[5]
    one = perturb_prototype(prototype, np.random.default_rng(7))
    two = perturb_prototype(prototype, np.random.default_rng(7))
    assert np.array_equal(one.lattice, two.lattice)
    assert np.array_equal(one.positions, two.positions)
    assert one.species == two.species


def test_bad_perturbation_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="strain"):
        PerturbationConfig(strain=-1.0).validate()
    with pytest.raises(ValueError, match="substitution"):
        PerturbationConfig(substitution=2.0).validate()


# --- Wyckoff table and synthetic crystals ---------------------------------------------------


def test_wyckoff_table_matches_pyxtal() -> None:
    from pyxtal.symmetry import Group

    table = load_wyckoff_table()
    for group in (1, 15, 62, 142, 166, 194, 227, 230):
        ours = table.positions(group)
        theirs = Group(group).Wyckoff_positions
        assert [p.letter for p in ours] == [w.letter for w in theirs]
        assert [p.multiplicity for p in ours] == [w.multiplicity for w in theirs]
    with pytest.raises(ValueError, match="1-230"):
        table.positions(231)


def test_every_group_generates_a_closed_orbit_set() -> None:
    generator = SyntheticGenerator()
    for group in range(1, 231):
        sample = generator.sample_group(group, np.random.default_rng([3, group]))
        assert sample.space_group == group
        general = generator.table.positions(group)[0].multiplicity
        assert sample.crystal.n_sites <= max(generator.config.max_atoms, general)
        rotations, translations = sample.operations
        assert images_close_the_cell(sample.crystal.frac_coords, rotations, translations), group


def test_spglib_recovers_the_requested_groups() -> None:
    """Raw draws of every group: accidental higher symmetry stays a minority; with the stream's
    check (spglib unless an orbit is on the general position) every group is reached."""
    generator = SyntheticGenerator()
    raw_disagree = 0
    for group in range(1, 231):
        rng = np.random.default_rng([4, group])
        raw_disagree += not spglib_agrees(generator.sample_group(group, rng))
        for _ in range(20):
            sample = generator.sample_group(group, rng)
            if sample.general or spglib_agrees(sample):
                break
        else:
            raise AssertionError(f"space group {group}: no crystal passes the check in 20 draws")
    assert raw_disagree <= 0.2 * 230


def test_stream_label_noise_is_below_one_percent() -> None:
    """The stream's rule: check spglib unless an orbit is on the general position."""
    generator = SyntheticGenerator()
    rng = np.random.default_rng(5)
    kept = wrong = 0
    while kept < 400:
        sample = generator.sample(rng)
        if not (sample.general or spglib_agrees(sample)):
            continue
        kept += 1
        wrong += not spglib_agrees(sample)
    assert wrong / kept < 0.01


def test_general_position_crystals_have_no_more_symmetry() -> None:
    generator = SyntheticGenerator()
    rng = np.random.default_rng(6)
    general = [s for s in (generator.sample(rng) for _ in range(300)) if s.general]
    assert len(general) > 50
    assert sum(not spglib_agrees(s) for s in general) <= 0.02 * len(general)


def test_seeds_reproduce_crystals_exactly() -> None:
    generator = SyntheticGenerator()
    one = generator.sample(np.random.default_rng(11))
    two = generator.sample(np.random.default_rng(11))
    other = generator.sample(np.random.default_rng(12))
    assert one.space_group == two.space_group
    assert np.array_equal(one.crystal.lattice, two.crystal.lattice)
    assert np.array_equal(one.crystal.frac_coords, two.crystal.frac_coords)
    assert one.crystal.elements == two.crystal.elements
    assert not np.array_equal(one.crystal.frac_coords, other.crystal.frac_coords)


def test_generated_atoms_keep_their_distance() -> None:
    generator = SyntheticGenerator(config=GeneratorConfig(min_distance_ratio=0.6))
    rng = np.random.default_rng(8)
    for _ in range(50):
        crystal = generator.sample(rng).crystal
        frac = crystal.frac_coords
        delta = frac[None] - frac[:, None]
        delta -= np.rint(delta)
        dist = np.linalg.norm(delta @ crystal.lattice, axis=-1)
        np.fill_diagonal(dist, np.inf)
        assert dist.min() > 0.3  # Angstrom; the smallest radii sum is about 1 A


def test_generated_peaks_match_pymatgen() -> None:
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.core import Lattice, Structure
    from test_peaks import PYMATGEN_WAVELENGTH

    from xrdsym.patterns.compare import peak_list_mismatches

    generator = SyntheticGenerator()
    calculator = XRDCalculator(wavelength=PYMATGEN_WAVELENGTH)
    failures = []
    for group in (2, 14, 62, 88, 136, 148, 166, 186, 194, 216, 225, 227):
        sample = generator.sample_group(group, np.random.default_rng([9, group]))
        crystal = sample.crystal
        structure = Structure(Lattice(crystal.lattice), list(crystal.elements), crystal.frac_coords)
        reference = calculator.get_pattern(structure, two_theta_range=(10.0, 110.0))
        ours = compute_peaks(
            crystal,
            wavelength=PYMATGEN_WAVELENGTH,
            polarization="none",
            form_factors="pymatgen",
            min_relative_intensity=1e-5,
            operations=sample.operations,
            exact_operations=True,
        )
        problems = peak_list_mismatches(
            np.array(reference.x), np.array(reference.y), ours.two_theta, ours.intensity
        )
        if problems:
            failures.append(f"sg {group}: {problems[:3]}")
    assert failures == []


def test_equivalent_reflections_give_the_full_peak_list() -> None:
    generator = SyntheticGenerator()
    for group in (1, 2, 15, 70, 142, 167, 191, 205, 229):
        sample = generator.sample_group(group, np.random.default_rng([10, group]))
        full = compute_peaks(sample.crystal, operations=sample.operations)
        fast = compute_peaks(sample.crystal, operations=sample.operations, exact_operations=True)
        assert np.array_equal(full.multiplicity, fast.multiplicity)
        assert np.allclose(full.two_theta, fast.two_theta, atol=1e-9)
        assert np.allclose(full.intensity, fast.intensity, atol=1e-3)


# --- Statistics -----------------------------------------------------------------------------


def test_statistics_fit_on_a_tiny_corpus(
    corpus_prototypes: list[Prototype], tmp_path: Path
) -> None:
    tiny = corpus_prototypes[:30]
    letters = [prototype_wyckoff_letters(p) for p in tiny]
    assert all(
        len(w) == len(np.unique(orbit_labels(p))) for w, p in zip(letters, tiny, strict=True)
    )
    stats = fit_statistics(tiny, letters, source={"test": "tiny"})
    assert sum(stats.space_group_counts) == 30
    path = stats.save(tmp_path / "stats.json")
    loaded = load_statistics(path)
    assert loaded.space_group_counts == stats.space_group_counts
    generator = SyntheticGenerator(loaded)
    prior = generator.space_group_prior()
    assert prior.sum() == pytest.approx(1.0)
    assert prior.min() > 0  # the floor reaches groups absent from the corpus
    rng = np.random.default_rng(0)
    groups = {generator.sample(rng).space_group for _ in range(200)}
    assert groups - {p.space_group for p in tiny}  # some groups come from the floor
    assert set(generator.elements) <= {s for p in tiny for s in p.species}


def test_shipped_statistics_come_from_a_training_part() -> None:
    stats = load_statistics()
    assert stats.source["part"] == "train"
    assert stats.source["structures"] > 1000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON"),
        ('{"format": "other"}', "not a synthetic-statistics"),
        ('{"format": "xrdsym-synthetic-statistics", "version": 99}', "version"),
        ('{"format": "xrdsym-synthetic-statistics", "version": 1}', "malformed"),
    ],
)
def test_bad_statistics_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(StructureError, match=message) as info:
        load_statistics(path)
    assert str(path) in str(info.value)


def test_missing_statistics_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StructureError, match="cannot read"):
        load_statistics(tmp_path / "absent.json")


# --- The training stream --------------------------------------------------------------------


def test_stream_items_are_reproducible_and_mixed(corpus_prototypes: list[Prototype]) -> None:
    from xrdsym.datasets.stream import StreamMix, StructureStream
    from xrdsym.patterns.grid import Grid
    from xrdsym.training.data import StreamedPatterns

    source = PrototypePeaks(corpus_prototypes[:20])
    stream = StructureStream(source, StreamMix(corpus=1, perturbed=1, synthetic=1))
    patterns = StreamedPatterns(stream, Grid(10.0, 110.0, 2001), seed=3)
    first = [patterns.render_item(0, i) for i in range(20)]
    again = [patterns.render_item(0, i) for i in range(20)]
    for (x, g), (y, h) in zip(first, again, strict=True):
        assert g == h and np.array_equal(x, y)
    assert all(v > 0 for v in stream.counts.drawn.values())
    other_epoch = [patterns.render_item(1, i) for i in range(20)]
    assert any(not np.array_equal(x, y) for (x, _), (y, _) in zip(first, other_epoch, strict=True))
    prior = stream.label_prior(np.arange(20))
    assert prior.sum() == pytest.approx(1.0)


def test_a_ramped_stream_moves_from_its_start_mix_to_its_end_mix(
    corpus_prototypes: list[Prototype],
) -> None:
    """Epoch 0 draws only the start mix's kinds, epochs past the ramp only the end mix's; the
    probabilities in between are the linear interpolation, and the model card's average over
    the patterns seen lies between the two."""
    from xrdsym.datasets.stream import StreamMix, StructureStream

    source = PrototypePeaks(corpus_prototypes[:20])
    stream = StructureStream(source, StreamMix(0, 1, 0), start=StreamMix(corpus=1), ramp_epochs=4)
    assert stream.probabilities_at(0).tolist() == [1.0, 0.0, 0.0]
    assert stream.probabilities_at(1).tolist() == [0.75, 0.25, 0.0]
    assert stream.probabilities_at(9).tolist() == [0.0, 1.0, 0.0]
    for index in range(20):
        stream.draw(index, np.random.default_rng(index), epoch=0)
    assert stream.counts.drawn == {"corpus": 20, "perturbed": 0, "synthetic": 0}
    for index in range(20):
        stream.draw(index, np.random.default_rng(index), epoch=5)
    assert stream.counts.drawn["perturbed"] == 20 and stream.counts.drawn["corpus"] == 20
    # 2.5 epochs of 20 items: 20 at p=1, 20 at p=0.75, 10 at p=0.5 of the corpus
    mean = stream.mean_probabilities(50, 20)
    assert mean[0] == pytest.approx((20 * 1.0 + 20 * 0.75 + 10 * 0.5) / 50)
    with pytest.raises(ValueError, match="ramp"):
        StructureStream(source, StreamMix(0, 1, 0), ramp_epochs=3)


def test_a_ramped_run_states_what_it_saw(corpus_prototypes: list[Prototype]) -> None:
    """stream_start without stream_ramp_epochs (or the other way round) is refused; a ramped
    configuration builds a stream whose model-card summary names the ramp and the kind
    weights averaged over the patterns seen."""
    from xrdsym.training.config import load_config
    from xrdsym.training.parts import make_stream, stream_summary

    with pytest.raises(ValueError, match="stream_start"):
        load_config(None, ['stream_start={"corpus": 1}', "max_minutes=1"])
    with pytest.raises(ValueError, match="stream_ramp_epochs"):
        load_config(None, ["stream_ramp_epochs=3", "max_minutes=1"])
    with pytest.raises(ValueError, match="unknown kinds"):
        load_config(None, ['stream_start={"x": 1}', "stream_ramp_epochs=3", "max_minutes=1"])
    config = load_config(
        None,
        [
            'stream_start={"corpus": 1}',
            "stream_ramp_epochs=2",
            'stream={"perturbed": 1}',
            "max_minutes=1",
        ],
    )
    stream = make_stream(config, PrototypePeaks(corpus_prototypes[:10]))
    summary = stream_summary(config, stream, np.arange(10), patterns_seen=20)
    assert summary["stream"] == {"corpus": 0.0, "perturbed": 1.0, "synthetic": 0.0}
    assert summary["stream_start"] == {"corpus": 1} and summary["stream_ramp_epochs"] == 2
    assert summary["stream_seen"]["corpus"] == pytest.approx(0.75)
    # 10 corpus structures, and one new crystal per perturbed pattern (5 of 20 expected)
    assert summary["distinct_crystals"] == 15


def test_synthetic_crystals_give_a_few_patterns_each(corpus_prototypes: list[Prototype]) -> None:
    """With 3 patterns per crystal, positions 0-2 share one crystal (same label and peak
    positions, other profiles); an item does not depend on which items were drawn before."""
    from xrdsym.datasets.stream import StreamMix, StructureStream
    from xrdsym.patterns.grid import Grid
    from xrdsym.training.data import StreamedPatterns

    def fresh() -> StreamedPatterns:
        stream = StructureStream(PrototypePeaks(corpus_prototypes[:20]), StreamMix(0, 0, 1))
        return StreamedPatterns(stream, Grid(10.0, 110.0, 2001), 3, patterns_per_crystal=3)

    patterns = fresh()
    peaks = []
    for position in range(9):
        key = patterns.crystal_key(0, 0, position)
        assert key is not None
        peaks.append(patterns.stream.draw(position, np.random.default_rng(position), key))
    for block in range(3):
        first, *rest = peaks[3 * block : 3 * block + 3]
        assert all(g[2] == first[2] and np.array_equal(g[0], first[0]) for g in rest)
    assert not np.array_equal(peaks[0][0], peaks[3][0]) or peaks[0][2] != peaks[3][2]
    in_order = [patterns.render_item(0, i, 0, i) for i in range(6)]
    assert not np.array_equal(in_order[0][0], in_order[1][0])
    alone = fresh().render_item(0, 4, 0, 4)
    assert alone[1] == in_order[4][1] and np.array_equal(alone[0], in_order[4][0])
    assert fresh().crystal_key(0, 1, 0) != patterns.crystal_key(0, 0, 0)


def test_fast_draws_equal_numpy_choice_number_for_number() -> None:
    """draw_index and draw_distinct give numpy's choice results from the same random numbers,
    so the generator's crystals do not depend on which of them it calls."""
    for seed in range(200):
        weights = np.random.default_rng([seed, 1]).uniform(0, 1, 1 + seed % 40)
        weights[seed % len(weights)] = 0.0 if len(weights) > 1 else 1.0
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        assert draw_index(ours, weights) == theirs.choice(len(weights), p=weights / weights.sum())
        p = np.random.default_rng([seed, 2]).uniform(0.01, 1, 30)
        p /= p.sum()
        size = 1 + seed % 6
        assert draw_distinct(ours, p, size).tolist() == theirs.choice(30, size, False, p).tolist()
        assert ours.random() == theirs.random()


def _rock_salt(anion: str) -> SyntheticCrystal:
    """Fm-3m with Na on 4a and ``anion`` on 4b (a = 5.64 A)."""
    from xrdsym.structures.crystal import Crystal

    table = load_wyckoff_table()
    sites = {p.letter: p for p in table.positions(225)}
    frac = np.concatenate([sites["a"].orbit(np.zeros(3)), sites["b"].orbit(np.zeros(3))])
    crystal = Crystal(
        lattice=5.64 * np.eye(3),
        frac_coords=frac,
        elements=("Na",) * 4 + (anion,) * 4,
        occupancies=np.ones(8),
        b_iso=np.zeros(8),
        name="rock salt",
    )
    return SyntheticCrystal(crystal, 225, table.group_operations(225), ("4a", "4b"), False)


def test_holohedral_check_finds_extra_translations_as_spglib_does() -> None:
    """NaCl keeps Fm-3m; Na on both sites is Pm-3m with half the cell, which the translation
    test catches. On special-position crystals of the m-3m and 6/mmm groups it never keeps a
    crystal spglib assigns to another group."""
    assert keeps_its_group(_rock_salt("Cl")) and spglib_agrees(_rock_salt("Cl"))
    assert not keeps_its_group(_rock_salt("Na")) and not spglib_agrees(_rock_salt("Na"))
    generator = SyntheticGenerator()
    rng = np.random.default_rng(5)
    checked = stricter = 0
    for group in [*range(191, 195), *range(221, 231)]:
        assert has_maximal_point_group(group, load_wyckoff_table().group_operations(group)[0])
        for _ in range(40):
            sample = generator.sample_group(group, rng)
            if sample.general:
                continue
            checked += 1
            agrees = spglib_agrees(sample)
            if keeps_its_group(sample):
                assert agrees, (group, sample.wyckoffs)
            else:
                stricter += agrees
    assert checked >= 50
    assert stricter <= 0.05 * checked
    table = load_wyckoff_table()
    maximal = [g for g in range(1, 231) if has_maximal_point_group(g, table.group_operations(g)[0])]
    assert maximal == [*range(191, 195), *range(221, 231)]


def test_perturbed_stream_needs_stored_cells() -> None:
    from xrdsym.datasets.stream import StreamMix, StructureStream
    from xrdsym.errors import DatasetError

    class NoCells:
        def __len__(self) -> int:
            return 1

        def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            return np.array([30.0]), np.array([100.0])

        def space_group(self, index: int) -> int:
            return 1

    with pytest.raises(DatasetError, match="format 1"):
        StructureStream(NoCells(), StreamMix(perturbed=1.0))


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"perturbed": 1}, [0.0, 1.0, 0.0]),
        ({"synthetic": 2}, [0.0, 0.0, 1.0]),
        ({"corpus": 1, "perturbed": 1}, [0.5, 0.5, 0.0]),
    ],
)
def test_stream_kinds_not_named_weigh_nothing(table: dict, expected: list[float]) -> None:
    from xrdsym.datasets.stream import check_mix

    assert check_mix(table).probabilities().tolist() == expected


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('stream={"bogus": 1}', "unknown kinds"),
        ('stream={"corpus": 0}', "not all 0"),
        ('stream={"corpus": "a"}', "must be a number"),
        ('perturbation={"strain": -1}', "strain"),
        ('perturbation={"nope": 1}', "unknown fields"),
        ('generator={"floor": 3}', "floor"),
    ],
)
def test_stream_settings_are_validated(override: str, message: str) -> None:
    from xrdsym.training.config import load_config

    with pytest.raises(ValueError, match=message):
        load_config(None, [override, "max_minutes=1"])


# --- xrdsym generate ------------------------------------------------------------------------


def test_generate_writes_cifs_that_read_back(tmp_path: Path) -> None:
    from xrdsym.cli import main

    out = tmp_path / "gen"
    assert main(["generate", "crystals", str(out), "--space-group", "62", "--count", "3"]) == 0
    cifs = sorted(out.glob("*.cif"))
    assert len(cifs) == 3
    for path in cifs:
        crystal = read_cif_text(path.read_text(), path.stem)
        assert symmetry_dataset(crystal).number == 62
        peaks = (out / f"{path.stem}_peaks.csv").read_text().splitlines()
        assert peaks[0].startswith("two_theta_deg") and len(peaks) > 5
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [r["requested_space_group"] for r in rows] == ["62"] * 3
    again = tmp_path / "again"
    main(["generate", "crystals", str(again), "--space-group", "62", "--count", "3"])
    assert (again / "062_0001.cif").read_text() == (out / "062_0001.cif").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space-group", "0"], "1-230"),
        (["--space-group", "231"], "1-230"),
        (["--count", "0"], "--count"),
        (["--statistics", "missing.json"], "cannot read"),
    ],
)
def test_generate_refuses_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from xrdsym.cli import main

    code = main(["generate", "crystals", str(tmp_path / "out"), *args])
    assert code == 1
    assert message in capsys.readouterr().err


def test_generate_fit_writes_statistics(tmp_path: Path) -> None:
    from synthetic import SyntheticPeaks, write_dataset

    from xrdsym.cli import main

    root = write_dataset(tmp_path / "ds", SyntheticPeaks(24))
    code = main(["generate", "fit", str(root), "--output", str(tmp_path / "s.json")])
    assert code == 1  # a dataset without stored cells is refused cleanly
    assert not (tmp_path / "s.json").exists()


def _extra_translation_one_by_one(crystal, rotations, translations, symprec=0.01):  # type: ignore[no-untyped-def]
    """The translation test written plainly: every candidate tau against every atom."""
    frac = np.mod(np.asarray(crystal.frac_coords, dtype=np.float64), 1.0)
    elements = np.asarray(crystal.elements)
    lattice = np.asarray(crystal.lattice)
    identity = np.all(np.asarray(rotations).reshape(-1, 9) == np.eye(3).ravel(), axis=1)
    own = np.asarray(translations, dtype=np.float64)[identity]
    for j in np.flatnonzero(elements == elements[0]):
        tau = frac[j] - frac[0]
        if any(np.linalg.norm((d - np.rint(d)) @ lattice) < symprec for d in tau - own):
            continue
        maps = True
        for i in range(len(frac)):
            d = frac[i] + tau - frac[elements == elements[i]]
            d -= np.rint(d)
            if not np.any(np.linalg.norm(d @ lattice, axis=1) < symprec):
                maps = False
                break
        if maps:
            return True
    return False


def test_blockwise_translation_test_agrees_with_the_plain_one() -> None:
    generator = SyntheticGenerator()
    rng = np.random.default_rng(11)
    samples = [_rock_salt("Cl"), _rock_salt("Na")]
    for group in (221, 225, 229, 191):
        samples += [generator.sample_group(group, rng) for _ in range(15)]
    verdicts = []
    for sample in samples:
        rotations, translations = sample.operations
        fast = extra_translation(sample.crystal, rotations, translations)
        assert fast == _extra_translation_one_by_one(sample.crystal, rotations, translations)
        verdicts.append(fast)
    assert any(verdicts) and not all(verdicts)


def test_coordinates_are_redrawn_before_a_whole_draw_is_rejected() -> None:
    with pytest.raises(ValueError, match="coordinate_draws"):
        GeneratorConfig(coordinate_draws=0).validate()

    def whole_draws(config: GeneratorConfig) -> float:
        generator = SyntheticGenerator(config=config)
        rng = np.random.default_rng(2)
        made = [generator._try_sample(62, rng) for _ in range(300)]
        for sample in made:
            if sample is not None:
                crystal = sample.crystal
                radii = generator.element_radii[
                    [list(generator.elements).index(e) for e in crystal.elements]
                ]
                ratio = closest_contact_ratio(crystal.frac_coords, crystal.lattice, radii)
                assert ratio >= config.min_distance_ratio - 1e-9
        return sum(sample is None for sample in made) / len(made)

    assert whole_draws(GeneratorConfig(coordinate_draws=4)) < whole_draws(
        GeneratorConfig(coordinate_draws=1)
    )
