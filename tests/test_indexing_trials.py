"""Trial screening of the lattice search: the vectorised window counts agree with a direct
count, overlapping windows and more lines than one bit mask holds included."""

from __future__ import annotations

import numpy as np
import pytest

from xrdsym.indexing import trials


def direct_count(q_calc: np.ndarray, q_low: np.ndarray, q_high: np.ndarray) -> np.ndarray:
    """Lines with some calculated Q inside [q_low, q_high), trial by trial."""
    inside = (q_calc[:, :, None] >= q_low) & (q_calc[:, :, None] < q_high)
    return inside.any(axis=1).sum(axis=1)


@pytest.mark.parametrize(("n_lines", "width"), [(10, 0.002), (25, 0.02), (140, 0.004)])
def test_lines_indexed_counts_like_a_direct_comparison(n_lines: int, width: float) -> None:
    rng = np.random.default_rng(n_lines)
    centres = np.sort(rng.uniform(0.05, 0.6, n_lines))
    q_low, q_high = centres - width / 2, centres + width / 2  # wide ones overlap
    q_calc = rng.uniform(0.0, 0.7, (300, 60))
    q_calc[:5, :n_lines] = centres[:60]  # every line indexed for a few trials
    counts = trials.lines_indexed(q_calc, q_low, q_high)
    np.testing.assert_array_equal(counts, direct_count(q_calc, q_low, q_high))
    assert counts[:5].min() == min(n_lines, 60)


def test_overlapping_windows_count_every_line_they_hold() -> None:
    q_low = np.array([0.10, 0.11, 0.30])
    q_high = np.array([0.12, 0.13, 0.31])
    q_calc = np.array([[0.115, 0.5], [0.105, 0.125], [0.2, 0.305], [0.0, 0.9]])
    np.testing.assert_array_equal(trials.lines_indexed(q_calc, q_low, q_high), [2, 2, 1, 0])


def test_best_trials_keep_one_of_equal_parameter_sets() -> None:
    """A cubic pattern: the trials from different base lines that give the same cell are kept
    once, and the true cell is the best."""
    a = 4.1
    q_obs = np.array([n / a**2 for n in (1, 2, 3, 4, 5, 6, 8, 9, 10)])
    found, finished = trials.best_trials(
        q_obs, q_obs * 0.999, q_obs * 1.001, "cubic", 4, 5000.0, 10, deadline=float("inf")
    )
    assert finished
    keys = trials.dedupe_keys(found)
    assert np.unique(keys).size == keys.size
    assert found[0, 0] == pytest.approx(1 / a**2, rel=1e-6)


@pytest.mark.parametrize("system", ["orthorhombic", "monoclinic"])
def test_representative_assignments_give_every_cell(system: str) -> None:
    """Dropping the assignments that differ by a change of setting loses no cell: the distinct
    canonical trials of all assignments and of the representatives are the same."""
    base = trials.base_reflections(system)
    n_params = base.shape[1]
    every = np.array(list(np.ndindex(*(base.shape[0],) * n_params)))
    kept = trials.representative_assignments(base, system)
    assert 3 * kept.shape[0] < every.shape[0]
    q_lines = np.array([0.031, 0.047, 0.052, 0.088])[:n_params]

    def cells(assignments: np.ndarray) -> set[int]:
        matrices = base[assignments]
        good = np.abs(np.linalg.det(matrices)) > 1e-9
        params = np.linalg.inv(matrices[good]) @ q_lines
        return set(trials.dedupe_keys(trials.canonical(params, system)).tolist())

    assert cells(kept) == cells(every)
