"""Lattice search: known cells of the 14 Bravais lattices index back, impurity lines, zero
shift, wrong systems, bad and hostile input."""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

import numpy as np
import pytest

from xrdsym.indexing import metric, settings
from xrdsym.indexing.candidates import merit, promote, supercell_matrices, supercells
from xrdsym.indexing.lattice import IndexingOptions, index_peaks, trial_bases, zero_list
from xrdsym.indexing.refine import refine
from xrdsym.indexing.results import BRAVAIS_LATTICES, ObservedPeak, PeakSearchResult
from xrdsym.indexing.simulated import crystal_lines, line_list
from xrdsym.indexing.zero import zero_candidates
from xrdsym.structures.crystal import Crystal

#: Conventional cells (a, b, c, alpha, beta, gamma) and centring of each Bravais lattice.
CELLS: dict[str, tuple[tuple[float, ...], str]] = {
    "cP": ((4.1, 4.1, 4.1, 90, 90, 90), "P"),
    "cI": ((6.3, 6.3, 6.3, 90, 90, 90), "I"),
    "cF": ((7.7, 7.7, 7.7, 90, 90, 90), "F"),
    "tP": ((4.6, 4.6, 3.0, 90, 90, 90), "P"),
    "tI": ((5.8, 5.8, 12.1, 90, 90, 90), "I"),
    "hP": ((3.9, 3.9, 6.3, 90, 90, 120), "P"),
    "hR": ((4.9, 4.9, 13.1, 90, 90, 120), "R"),
    "oP": ((8.5, 5.4, 6.9, 90, 90, 90), "P"),
    "oC": ((5.1, 8.3, 4.6, 90, 90, 90), "C"),
    "oI": ((4.2, 5.9, 9.4, 90, 90, 90), "I"),
    "oF": ((5.9, 8.1, 10.7, 90, 90, 90), "F"),
    "mP": ((7.3, 7.5, 7.7, 90, 96.5, 90), "P"),
    "mC": ((9.8, 5.6, 7.1, 90, 112.0, 90), "C"),
    "aP": ((5.1, 6.2, 7.3, 82.0, 95.0, 103.0), "P"),
}

#: Lattice translations of each centring (fractions of the conventional cell).
TRANSLATIONS: dict[str, list[list[float]]] = {
    "P": [[0, 0, 0]],
    "I": [[0, 0, 0], [0.5, 0.5, 0.5]],
    "F": [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
    "C": [[0, 0, 0], [0.5, 0.5, 0]],
    "R": [[0, 0, 0], [2 / 3, 1 / 3, 1 / 3], [1 / 3, 2 / 3, 2 / 3]],
}


def crystal_of(name: str, seed: int = 0) -> Crystal:
    """Three atoms at random positions, repeated by the lattice centring: the only systematic
    absences are those of the centring."""
    cell, centring = CELLS[name]
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    base = rng.random((3, 3))
    frac = np.concatenate([(base + np.array(t)) % 1.0 for t in TRANSLATIONS[centring]])
    elements = ("Fe", "O", "Si") * len(TRANSLATIONS[centring])
    n = len(elements)
    return Crystal(
        metric.lattice_from_cell(cell), frac, elements, np.ones(n), np.full(n, 0.5), name=name
    )


def true_reduced(name: str) -> tuple[float, ...]:
    cell, centring = CELLS[name]
    return settings.reduced_cell(metric.lattice_from_cell(cell), centring)


def lines_of(name: str, seed: int = 0, **kwargs: Any) -> PeakSearchResult:
    kwargs.setdefault("position_sigma", 0.01)
    kwargs.setdefault("rng", np.random.default_rng(seed))
    return crystal_lines(crystal_of(name, seed), two_theta_range=(5.0, 100.0), **kwargs)


def test_cells_cover_the_14_bravais_lattices() -> None:
    assert sorted(CELLS) == sorted(BRAVAIS_LATTICES)


#: Lattices whose best cell the fitted acceptance rule must take at these figures. The rule
#: asks monoclinic and triclinic cells for 20 and 24 lines indexed (14 plus 2 per free
#: parameter beyond the first), and the small cP cell has 13 lines in 5-100 degrees: their
#: acceptance is not asserted.
ACCEPTED = ("cI", "cF", "tP", "tI", "hP", "hR", "oP", "oC", "oI", "oF")


@pytest.mark.parametrize("name", list(CELLS))
def test_each_bravais_lattice_indexes_back_to_its_cell(name: str) -> None:
    options = IndexingOptions(triclinic=name == "aP", max_seconds=30.0)
    result = index_peaks(lines_of(name), options=options)
    if name in ACCEPTED:
        assert result.status == "indexed", result.reason
    best = result.candidates[0]
    assert settings.same_lattice(true_reduced(name), best.reduced_cell), (
        best.bravais,
        best.cell,
    )
    assert best.bravais == name
    assert best.hkl and len(best.hkl) == best.n_lines
    assert best.m20 > 40 and best.f_n > 40
    assert all(s >= 0 for s in best.cell_sigma)


def lines_with_impurities() -> PeakSearchResult:
    """The oP lattice's lines with three impurity lines among them."""
    clean = lines_of("oP", seed=3)
    extra = [ObservedPeak(t, 0.01, 6.0, 0.6, 0.1) for t in (14.37, 27.91, 33.05)]
    peaks = tuple(sorted(clean.peaks + tuple(extra), key=lambda p: p.two_theta))
    return PeakSearchResult(peaks, clean.wavelength, "absent", "test", 0.0)


def test_impurity_lines_are_tolerated() -> None:
    result = index_peaks(lines_with_impurities())
    assert result.status == "indexed", result.reason
    best = result.candidates[0]
    assert settings.same_lattice(true_reduced("oP"), best.reduced_cell)
    assert len(best.unindexed) >= 1


@pytest.mark.xfail(
    strict=True,
    reason="known: the ranking's merit prefers a refinement of the same lattice that indexes "
    "one impurity line (a 0.05 % longer a, M20 39.9) to the one that leaves all three "
    "unindexed (M20 63.0); the two more base lines found that refinement (docs/indexing.md)",
)
def test_the_first_cell_leaves_every_impurity_line_unindexed() -> None:
    best = index_peaks(lines_with_impurities()).candidates[0]
    assert len(best.unindexed) >= 2


@pytest.mark.parametrize("shift", [-0.12, 0.08])
def test_zero_shift_is_recovered(shift: float) -> None:
    result = index_peaks(lines_of("tI", seed=1, zero_shift=shift))
    assert result.status == "indexed", result.reason
    best = result.candidates[0]
    assert settings.same_lattice(true_reduced("tI"), best.reduced_cell)
    assert best.zero_shift == pytest.approx(shift, abs=0.01)


@pytest.mark.parametrize("shift", [0.22, -0.2])
def test_a_large_zero_shift_without_harmonic_pairs_is_found_from_the_starts(shift: float) -> None:
    """A monoclinic list offers no harmonic-pair estimate; the search window (0.10 degrees)
    cannot absorb the shift from 0 alone, the default starts at +-0.15 reach it."""
    lines = lines_of("mP", seed=0, zero_shift=shift, position_sigma=0.02)
    two_theta = np.array([p.two_theta for p in lines.peaks])
    assert zero_candidates(two_theta[:25], 1) == []
    assert zero_list(two_theta[:25], IndexingOptions()) == [0.0, 0.15, -0.15]
    # a budget no loaded machine exhausts: the starts, not the time, are under test
    options = IndexingOptions(max_seconds=120.0)
    best = index_peaks(lines, options=options).candidates[0]
    assert settings.same_lattice(true_reduced("mP"), best.reduced_cell)
    assert best.zero_shift == pytest.approx(shift, abs=0.02)
    only_zero = index_peaks(
        lines, options=dataclasses.replace(options, zero_starts=(0.0,))
    ).candidates
    assert not only_zero or not settings.same_lattice(true_reduced("mP"), only_zero[0].reduced_cell)


def test_zero_starts_follow_the_estimate_and_skip_near_duplicates() -> None:
    lines = lines_of("tP", seed=0, zero_shift=0.16)
    two_theta = np.array([p.two_theta for p in lines.peaks])[:25]
    (estimate,) = zero_candidates(two_theta, 1)
    assert estimate == pytest.approx(0.16, abs=0.02)
    assert zero_list(two_theta, IndexingOptions()) == [estimate, 0.0, -0.15]
    assert zero_list(two_theta, IndexingOptions(zero_starts=())) == [estimate]


def test_cell_uncertainties_cover_the_error() -> None:
    best = index_peaks(lines_of("hP", seed=2)).candidates[0]
    true_cell = CELLS["hP"][0]
    for i in (0, 2):
        assert abs(best.cell[i] - true_cell[i]) < 5 * best.cell_sigma[i] + 1e-4


def test_a_wrong_crystal_system_is_not_accepted() -> None:
    """A monoclinic pattern searched only among cubic, tetragonal and hexagonal cells (the
    zone search off: it would find the monoclinic cell)."""
    options = IndexingOptions(systems=("cubic", "tetragonal", "hexagonal"), triclinic=False)
    result = index_peaks(lines_of("mP", seed=4), options=options)
    assert result.status == "not indexable"
    assert "acceptance rule" in result.reason


def test_a_cubic_cell_is_reported_cubic_when_searched_first_as_monoclinic() -> None:
    options = IndexingOptions(system_order=("monoclinic",))
    result = index_peaks(lines_of("cF", seed=5), options=options)
    assert result.status == "indexed"
    assert result.candidates[0].bravais == "cF"


def test_too_few_lines_are_not_indexable() -> None:
    peaks = tuple(ObservedPeak(t, 0.01, 100.0, 10.0, 0.1) for t in (28.4, 47.3, 56.1))
    result = index_peaks(PeakSearchResult(peaks, 1.5406, "absent", "test", 0.0))
    assert result.status == "not indexable"
    assert result.reason == "3 lines found; the search needs at least 5"
    assert result.candidates == ()


@pytest.mark.parametrize("seed", range(4))
def test_random_lines_are_not_indexed(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    two_theta = np.sort(rng.uniform(10.0, 80.0, 25))
    peaks = line_list(two_theta, rng.uniform(5, 100, 25), 1.5406, resolution=0.0)
    result = index_peaks(peaks)
    assert result.status == "not indexable", result.candidates[0]


def test_thousands_of_lines_finish_within_the_bound() -> None:
    rng = np.random.default_rng(7)
    two_theta = np.sort(rng.uniform(5.0, 120.0, 5000))
    peaks = line_list(two_theta, rng.uniform(1, 100, 5000), 1.5406, resolution=0.0)
    start = time.monotonic()
    result = index_peaks(peaks, options=IndexingOptions(max_seconds=5.0))
    assert time.monotonic() - start < 7.0
    assert result.status == "not indexable"


def test_the_time_budget_is_reported() -> None:
    rng = np.random.default_rng(8)
    two_theta = np.sort(rng.uniform(10.0, 80.0, 30))
    peaks = line_list(two_theta, rng.uniform(5, 100, 30), 1.5406, resolution=0.0)
    options = IndexingOptions(max_seconds=0.05, triclinic=True)
    start = time.monotonic()
    result = index_peaks(peaks, options=options)
    assert time.monotonic() - start < 2.0
    assert result.status == "not indexable"
    assert "time budget of 0.05 s exhausted" in result.reason


def test_same_lattice_sees_through_reduced_forms() -> None:
    fcc = (3.96, 3.96, 3.96, 60.0, 60.0, 60.0)
    assert settings.same_lattice(fcc, (3.96, 3.96, 3.96, 90.018, 119.99, 119.99))
    assert not settings.same_lattice(fcc, (3.96, 3.96, 3.96, 90.0, 90.0, 90.0))
    assert not settings.same_lattice(fcc, (3.99, 3.96, 3.96, 60.0, 60.0, 60.0))


def _write_profile(path: object, peaks: PeakSearchResult) -> None:
    """A two-column scan with Gaussian lines (FWHM 0.08 degrees) on a flat background."""
    x = np.arange(5.0, 100.0, 0.01)
    y = np.full_like(x, 50.0)
    for p in peaks.peaks:
        y += 20.0 * p.height * np.exp(-4 * np.log(2) * ((x - p.two_theta) / 0.08) ** 2)
    y = np.random.default_rng(0).poisson(y).astype(float)
    np.savetxt(str(path), np.column_stack([x, y]), fmt="%.4f")


def test_index_command_prints_cells_and_skips_bad_files(tmp_path, capsys) -> None:
    import json

    from xrdsym.cli import main

    good = tmp_path / "scan.xy"
    _write_profile(good, lines_of("cP", seed=9))
    bad = tmp_path / "empty.xy"
    bad.write_text("not a scan\n")
    code = main(["index", str(good), str(bad), "--wavelength", "1.540562", "--json", "--jobs", "1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "empty.xy" in captured.err and "1 of 2 files failed" in captured.err
    answer = json.loads(captured.out.strip().splitlines()[0])
    assert answer["file"] == str(good)
    best = answer["candidates"][0]
    assert settings.same_lattice(true_reduced("cP"), best["reduced_cell"])
    # each candidate's fitted probability of being the right cell, the first one's also alone
    probabilities = answer["cell_probabilities"]
    assert len(probabilities) == len(answer["candidates"]) == len(answer["later_extinction"]) + 1
    assert answer["cell_probability"] == probabilities[0] and sum(probabilities) <= 1.0
    table = tmp_path / "cells.csv"
    assert main(["index", str(good), "--wavelength", "1.540562", "--csv", str(table)]) == 0
    import csv

    rows = list(csv.DictReader(table.open()))
    assert [float(r["probability"]) for r in rows] == [round(p, 4) for p in probabilities[:3]]


def test_calculated_lines_per_observed_line_bound_the_acceptance() -> None:
    """The best cell reports N_calc (distinct allowed lines up to the 20th line); a bound on
    N_calc per observed line below what the true cell needs refuses it, with the reason."""
    peaks = lines_of("cP", seed=6)
    best = index_peaks(peaks).candidates[0]
    two_theta = sorted(p.two_theta for p in peaks.peaks)
    last = metric.q_from_two_theta(
        np.array([two_theta[min(20, best.n_lines) - 1]]), peaks.wavelength
    )
    params = metric.params_from_metric(
        metric.metric_from_lattice(metric.lattice_from_cell(best.cell)), "cubic"
    )
    _, q = metric.reflections(params, "cubic", "P", float(last[0]) * 1.001)
    assert abs(best.n_calculated - metric.distinct_count(q, 1e-6)) <= 1
    bound = 0.9 * best.n_calculated / min(20, best.n_lines)
    refused = index_peaks(peaks, options=IndexingOptions(max_calculated_per_line=bound))
    assert refused.status == "not indexable"
    assert "calculated lines per observed line" in refused.reason


def test_index_text_lists_the_refused_candidates_under_the_reason() -> None:
    """A pattern whose cells the acceptance rule refuses prints the reason, then the cells
    found (for the user to check), ranked as for an indexed pattern."""
    from xrdsym.cli.index import format_result

    peaks = lines_of("cP", seed=6)
    best = index_peaks(peaks).candidates[0]
    bound = 0.9 * best.n_calculated / min(20, best.n_lines)
    refused = index_peaks(peaks, options=IndexingOptions(max_calculated_per_line=bound))
    text = format_result("scan.xy", refused, 2).splitlines()
    assert text[0].startswith("scan.xy: not indexable: ")
    assert text[1].strip().startswith("candidates found, none accepted")
    assert text[2].strip().startswith(f"1. {refused.candidates[0].bravais} ")


def test_index_text_gives_each_cells_fitted_probability() -> None:
    """With the bundled evidence weight, each cell carries the probability that
    ``xrdsym classify`` weighs it by; without a weight (or a cell) there is none."""
    from xrdsym.cli.index import bundled_weight, format_result
    from xrdsym.indexing.extinction import with_extinction

    result = with_extinction(index_peaks(lines_of("cP", seed=6)), (10.0, 110.0))
    weight = bundled_weight()
    assert weight is not None
    probability = weight.first_cell_probability(result)
    assert probability is not None and 0.0 <= probability <= 1.0
    probabilities = weight.cell_probabilities(result)
    assert len(result.candidates) >= 2 and probabilities.size == len(result.candidates)
    assert probabilities[0] == probability and probabilities.sum() <= 1.0
    text = format_result("scan.xy", result, 2, probabilities.tolist())
    assert f"right with probability {probability:.0%} (fitted" in text
    assert f"right with probability {probabilities[1]:.0%}\n" in text + "\n"
    assert text.count("right with probability") == 2  # the two cells printed
    assert weight.first_cell_probability(dataclasses.replace(result, candidates=())) is None
    assert "right with probability" not in format_result("scan.xy", result, 2)


def test_a_broken_weight_record_is_named_and_the_cells_print_without_it(
    tmp_path, monkeypatch, capsys
) -> None:
    import xrdsym.classify.loading as loading
    from xrdsym.cli.index import bundled_weight

    (tmp_path / "indexing_weight.json").write_text("{not json")
    monkeypatch.setattr(loading, "bundled_model_dir", lambda: tmp_path)
    assert bundled_weight() is None
    warning = capsys.readouterr().err
    assert "indexing_weight.json" in warning and "without their probability" in warning


def test_index_command_takes_zero_starts_and_names_bad_ones(tmp_path, capsys, monkeypatch) -> None:
    """``--zero-starts`` replaces the search's starts (a shift of -0.4 degrees is then found
    from -0.4); a start beyond the bound or too many starts are refused with the reason."""
    import json

    import xrdsym.cli.index as index_command
    from xrdsym.cli import main

    scan = tmp_path / "shifted.xy"
    _write_profile(scan, lines_of("mP", seed=0, zero_shift=-0.4, position_sigma=0.01))
    args = ["index", str(scan), "--wavelength", "1.540562", "--json", "--jobs", "1"]
    searched_with: list[IndexingOptions] = []
    index_file = index_command.index_file

    def recording(path: str, override: Any, fallback: Any, options: IndexingOptions) -> Any:
        searched_with.append(options)
        return index_file(path, override, fallback, options)

    monkeypatch.setattr(index_command, "index_file", recording)
    assert main([*args, "--zero-starts", "0", "-0.4"]) == 0
    assert searched_with[-1].zero_starts == (0.0, -0.4)
    best = json.loads(capsys.readouterr().out.strip().splitlines()[0])["candidates"][0]
    assert settings.same_lattice(true_reduced("mP"), best["reduced_cell"])
    assert best["zero_shift"] == pytest.approx(-0.4, abs=0.03)
    assert main(args) == 0
    assert searched_with[-1].zero_starts == IndexingOptions().zero_starts
    capsys.readouterr()
    assert main([*args, "--zero-starts", "0", "-3"]) != 0
    assert "-3 is not a zero shift within +-1 degrees" in capsys.readouterr().err
    assert main([*args, "--zero-starts", *["0"] * 10]) != 0
    assert "at most 9 values" in capsys.readouterr().err


def test_a_centring_that_loses_an_impurity_line_is_a_candidate_of_its_own() -> None:
    """An impurity line on a reflection of the hexagonal cell that the R centring forbids
    (here 1 0 0) is indexed by the primitive cell and not by the rhombohedral one: a strict
    rule keeps the hP cell (three times the volume); with one line allowed to be lost the hR
    cell competes, and its higher M20 ranks it first."""
    from xrdsym.indexing.metric import two_theta_from_q

    clean = lines_of("hR", seed=2)
    a = CELLS["hR"][0][0]
    q_100 = 4.0 / (3.0 * a**2)  # 1/d^2 of 1 0 0 on hexagonal axes, A^-2
    at = float(two_theta_from_q(np.array(q_100), clean.wavelength))
    assert all(abs(p.two_theta - at) > 0.3 for p in clean.peaks)  # a line of its own
    impurity = ObservedPeak(at, 0.01, 20.0, 2.0, 0.1)
    peaks = tuple(sorted((*clean.peaks, impurity), key=lambda p: p.two_theta))
    lines = PeakSearchResult(peaks, clean.wavelength, "absent", "test", 0.0)
    strict = index_peaks(lines, options=IndexingOptions(centring_lines_lost=0))
    assert strict.candidates[0].bravais == "hP"
    assert not any(
        settings.same_lattice(true_reduced("hR"), c.reduced_cell) for c in strict.candidates
    )
    tolerant = index_peaks(lines, options=IndexingOptions(centring_lines_lost=1))
    best = tolerant.candidates[0]
    assert best.bravais == "hR" and settings.same_lattice(true_reduced("hR"), best.reduced_cell)
    assert best.n_indexed == best.n_lines - 1  # the impurity stays unindexed
    assert any(c.bravais == "hP" for c in tolerant.candidates[1:])  # the hP cell stays listed


#: Four weak impurity lines below the first line of each lattice's list (degrees 2theta).
LOW_IMPURITIES = {"mP": (6.0, 8.1, 9.4, 10.7), "hP": (5.2, 7.3, 9.0, 10.5)}

#: The trials' base lines before the two more per family: with 11 hexagonal base lines, the
#: hP lattice's seven among them fix its cell from all lines, so the second pass is tested
#: with the earlier numbers.
EARLIER_BASE_LINES = (
    ("cubic", 4),
    ("tetragonal", 9),
    ("hexagonal", 9),
    ("orthorhombic", 7),
    ("monoclinic", 6),
    ("triclinic", 7),
)


@pytest.mark.parametrize("name", sorted(LOW_IMPURITIES))
def test_weak_impurity_lines_below_the_first_lines_do_not_hide_the_cell(name: str) -> None:
    """Four lines of 3 % of the strongest below the phase's first line take four of the base
    lines the trials are solved from and fail the pre-screen of every trial: with the earlier
    base lines one pass of trials from all lines misses the cell, the second pass from the
    lines of at least 5 % finds it; the default search finds it too."""
    clean = lines_of(name, seed=1 if name == "mP" else 0)
    strongest = max(p.height for p in clean.peaks)
    assert min(p.two_theta for p in clean.peaks) > max(LOW_IMPURITIES[name]) + 0.3
    weak = [
        ObservedPeak(t, 0.01, 0.03 * strongest, 0.003 * strongest, 0.1)
        for t in LOW_IMPURITIES[name]
    ]
    peaks = tuple(sorted(clean.peaks + tuple(weak), key=lambda p: p.two_theta))
    lines = PeakSearchResult(peaks, clean.wavelength, "absent", "test", 0.0)

    def first_is_true(base_min_height: float, **options: Any) -> bool:
        chosen = IndexingOptions(base_min_height=base_min_height, **options)
        result = index_peaks(lines, options=chosen)
        return bool(result.candidates) and settings.same_lattice(
            true_reduced(name), result.candidates[0].reduced_cell
        )

    assert not first_is_true(0.0, base_lines=EARLIER_BASE_LINES)
    assert first_is_true(0.05, base_lines=EARLIER_BASE_LINES)
    assert first_is_true(0.05)  # the default search


def test_trial_bases_add_the_strong_lines_only_when_weak_ones_are_among_the_base() -> None:
    heights = np.array([50.0, 100.0, 2.0, 40.0, 30.0, 1.0, 20.0])
    every = np.arange(7)
    assert [b.tolist() for b in trial_bases(heights, 4, 0.05)] == [
        every.tolist(),
        [0, 1, 3, 4, 6],
    ]
    assert [b.tolist() for b in trial_bases(heights, 2, 0.05)] == [every.tolist()]  # 50, 100
    assert [b.tolist() for b in trial_bases(heights, 4, 0.0)] == [every.tolist()]  # off
    assert [b.tolist() for b in trial_bases(heights, 4, 0.01)] == [every.tolist()]  # none weaker


@pytest.mark.parametrize(("index", "count"), [(2, 7), (3, 13), (4, 35)])
def test_supercell_matrices_give_each_sublattice_of_an_index_once(index: int, count: int) -> None:
    matrices = supercell_matrices(index)
    assert matrices.shape == (count, 3, 3)
    assert np.allclose(np.linalg.det(matrices), index)
    # two matrices give one sublattice when one is the other times a unimodular matrix
    for i, j in itertools.combinations(range(count), 2):
        between = matrices[j] @ np.linalg.inv(matrices[i])
        assert not np.allclose(between, np.round(between), atol=1e-9)


def doubled_tetragonal(displacement: float) -> tuple[Crystal, np.ndarray]:
    """The tP crystal of CELLS with c doubled, one atom of the second half displaced by
    ``displacement`` along each axis (fractional): the lines with l odd are the
    superstructure's."""
    sub = crystal_of("tP")
    lattice = np.asarray(sub.lattice).copy()
    lattice[2] *= 2.0
    lower = sub.frac_coords.copy()
    lower[:, 2] /= 2.0
    upper = lower + np.array([0.0, 0.0, 0.5])
    upper[0] += displacement
    n = 2 * lower.shape[0]
    crystal = Crystal(
        lattice,
        np.concatenate([lower, upper]) % 1.0,
        sub.elements * 2,
        np.ones(n),
        np.full(n, 0.5),
        name="tP doubled",
    )
    return crystal, lattice


def test_a_supercell_indexes_the_lines_its_sub_cell_leaves() -> None:
    """The sub-cell of a doubled tetragonal cell leaves the superstructure lines unindexed;
    among its supercells of index 2 the doubled cell indexes every line with the best merit."""
    crystal, lattice = doubled_tetragonal(0.05)
    lines = crystal_lines(crystal, two_theta_range=(5.0, 100.0), position_sigma=0.01)
    two_theta = np.array([p.two_theta for p in lines.peaks])[:25]
    gstar = metric.metric_from_lattice(np.asarray(crystal_of("tP").lattice))
    params = metric.params_from_metric(gstar, "tetragonal")
    sub = refine(two_theta, lines.wavelength, params, "tetragonal", "P", 0.1)
    assert sub is not None and sub.n_indexed < two_theta.size - 3
    parent = promote(sub, two_theta, lines.wavelength, 0.1)
    found = supercells(parent, two_theta, lines.wavelength, 0.1, (2,), 5000.0)
    best = max(found, key=merit)
    assert settings.same_lattice(settings.reduced_cell(lattice, "P"), best.reduced)
    assert best.pearson == "tP" and best.refined.n_indexed == two_theta.size
    assert all(f.refined.n_indexed > sub.n_indexed for f in found)
    # a cell that indexes every line has no supercell to try
    whole = promote(
        refine(two_theta, lines.wavelength, best.refined.params, "tetragonal", "P", 0.1),  # type: ignore[arg-type]
        two_theta,
        lines.wavelength,
        0.1,
    )
    assert supercells(whole, two_theta, lines.wavelength, 0.1, (2, 3, 4), 5000.0) == []
    # no supercell beyond the volume bound
    assert supercells(parent, two_theta, lines.wavelength, 0.1, (2,), 1.5 * sub.volume) == []
