"""Zone search of the lattice search: zones from line pairs, cells from zone pairs, and lattices
of any symmetry found without their family's trials."""

from __future__ import annotations

import time

import numpy as np
import pytest

from xrdsym.indexing import metric, settings, zones
from xrdsym.indexing.lattice import IndexingOptions, index_peaks
from xrdsym.indexing.results import ObservedPeak, PeakSearchResult

WAVELENGTH = 1.5406


def reciprocal(cell: tuple[float, ...]) -> np.ndarray:
    lattice = metric.lattice_from_cell(cell)
    return np.linalg.inv(lattice @ lattice.T)


def distinct_q(gstar: np.ndarray, limit: int = 5) -> np.ndarray:
    r = np.arange(-limit, limit + 1)
    hkl = np.array(np.meshgrid(r, r, r)).reshape(3, -1).T
    q = np.einsum("ni,ij,nj->n", hkl, gstar, hkl)
    return np.unique(np.round(q[q > 0], 10))


def windows(q: np.ndarray, width: float = 2e-5) -> tuple[np.ndarray, np.ndarray]:
    return q - width, q + width


def test_a_zone_is_found_from_its_difference_line() -> None:
    """Lines (1,0), (0,1) and only (1,-1) of a zone with R = a*.b* > 0: R comes from the
    (1,-1) line as |Q - Q_a - Q_b| / 2."""
    qa, qb, r = 0.02, 0.03, 0.004
    q = np.array([qa, qb, qa + qb - 2 * r, 4 * qa, 4 * qb])
    q = np.sort(q)
    found = zones.zone_trials(q, n_base=5)
    assert np.any(np.all(np.isclose(found, [qa, qb, r], rtol=1e-6), axis=1))


#: The zone search's index pairs beyond (1, 1) (IndexingOptions.zone_pair_indices).
WIDER_PAIRS = ((1, 1), (1, 2), (2, 1))


def test_a_zone_without_its_diagonal_lines_is_found_from_a_1_2_line() -> None:
    """Lines (1,0), (0,1) and (1,2) of a zone whose (1,+-1) lines are absent: (1, 1) alone
    fixes no R that holds the zone, the (1, 2) pair gives R = |Q - Q_a - 4 Q_b| / 4."""
    qa, qb, r = 0.02, 0.03, 0.004
    q = np.sort(np.array([qa, qb, qa + 4 * qb + 4 * r, 4 * qa, 4 * qb]))

    def holds(found: np.ndarray) -> bool:
        return bool(np.any(np.all(np.isclose(found, [qa, qb, r], rtol=1e-6), axis=1)))

    assert not holds(zones.zone_trials(q, n_base=5))
    assert holds(zones.zone_trials(q, n_base=5, pair_indices=WIDER_PAIRS))


def zone_pair_of_a_triclinic_cell() -> tuple[np.ndarray, np.ndarray, float]:
    """Zones (c*, b*) and (c*, a*) of a triclinic cell with the signs of b* and a* chosen so
    that both R >= 0; the cell's expected parameters (c*, b*, a* order) and its b* . a*."""
    gstar = reciprocal((5.1, 6.3, 7.7, 82.0, 97.0, 104.0))
    qa, qb, qc = gstar[0, 0], gstar[1, 1], gstar[2, 2]
    sign_b = np.sign(gstar[2, 1]) or 1.0
    sign_a = np.sign(gstar[2, 0]) or 1.0
    zone_pair = np.array([[qc, qb, abs(gstar[2, 1])], [qc, qa, abs(gstar[2, 0])]])
    f = sign_b * sign_a * gstar[0, 1]
    expected = np.array([qc, qb, qa, abs(gstar[2, 1]), abs(gstar[2, 0]), f])
    return zone_pair, expected, f


def closest_error(params: np.ndarray, expected: np.ndarray) -> float:
    return float(np.min(np.abs(params - expected).max(axis=1)))


def test_a_cells_third_angle_comes_from_a_0_1_2_line() -> None:
    """Two zones sharing c* and a line (0, 1, 2) of the other two vectors fix b* . a*."""
    zone_pair, expected, f = zone_pair_of_a_triclinic_cell()
    qb, qa = expected[1], expected[2]
    line = np.array([qb + 4 * qa + 4 * f])  # (0, 1, 2) in the (c*, b*, a*) basis
    assert closest_error(zones.cells_from_zones(zone_pair, line), expected) > 1e-4
    wider = zones.cells_from_zones(zone_pair, line, WIDER_PAIRS)
    assert closest_error(wider, expected) < 1e-12


def test_two_zones_sharing_a_vector_give_the_cell() -> None:
    zone_pair, expected, f = zone_pair_of_a_triclinic_cell()
    qb, qa = expected[1], expected[2]
    bc_line = qb + qa + 2 * f  # (b* + a*) in the signed basis
    params = zones.cells_from_zones(zone_pair, np.array([bc_line]))
    assert closest_error(params, expected) < 1e-12


def test_zone_trials_contain_a_triclinic_cell() -> None:
    cell = (5.1, 6.3, 7.7, 82.0, 97.0, 104.0)
    q = distinct_q(reciprocal(cell))[:25]
    low, high = windows(q)
    trials, finished = zones.zone_cell_trials(q, low, high, 7, 5000.0, 30, time.monotonic() + 30)
    assert finished
    volumes = 1.0 / np.sqrt(np.linalg.det(metric.reciprocal_metric(trials, "triclinic")))
    true_volume = float(np.sqrt(np.linalg.det(np.linalg.inv(reciprocal(cell)))))
    assert np.any(np.isclose(volumes, true_volume, rtol=1e-4))


def lines_of_cell(cell: tuple[float, ...], centring: str, n: int = 30) -> PeakSearchResult:
    """The first ``n`` distinct lines of a conventional cell and centring (no intensities)."""
    lattice = settings.primitive_lattice(metric.lattice_from_cell(cell), centring)
    q = distinct_q(np.linalg.inv(lattice @ lattice.T), 6)
    two_theta = metric.two_theta_from_q(
        q[q < metric.q_from_two_theta(np.array(100.0), 1.5406)], WAVELENGTH
    )[:n]
    peaks = tuple(ObservedPeak(float(t), 0.003, 100.0, 100.0, 0.1) for t in two_theta)
    return PeakSearchResult(peaks, WAVELENGTH, "absent", "none", 0.0)


@pytest.mark.parametrize(
    ("cell", "centring", "pearson"),
    [
        ((9.8, 5.6, 7.1, 90.0, 112.0, 90.0), "C", "mC"),
        ((7.3, 7.5, 7.7, 90.0, 96.5, 90.0), "P", "mP"),
        ((5.9, 8.1, 10.7, 90.0, 90.0, 90.0), "F", "oF"),
    ],
)
def test_the_zone_search_alone_finds_a_lattice_and_its_bravais_type(
    cell: tuple[float, ...], centring: str, pearson: str
) -> None:
    """With only the zone search (no symmetric trials), the lattice is found as a primitive
    cell and promoted to its Bravais lattice by reduction."""
    options = IndexingOptions(systems=(), triclinic=True, max_seconds=30.0)
    result = index_peaks(lines_of_cell(cell, centring), options=options)
    best = result.candidates[0]
    true = settings.reduced_cell(metric.lattice_from_cell(cell), centring)
    assert settings.same_lattice(true, best.reduced_cell), best.cell
    assert best.bravais == pearson
