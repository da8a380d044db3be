"""From refined trial cells to candidate lattices: centring, Bravais lattice, settings.

A trial refined as a primitive cell of one family may be

- the conventional cell of a centred lattice (every indexed line obeys a centring condition):
  each centring of the family is refined in turn and kept when it indexes as many lines with a
  better M20 (fewer possible lines). A centring that loses a line or two (an impurity or noise
  line the primitive cell indexes by chance among its many calculated lines) and gains the
  M20 is a second candidate beside the primitive one (:func:`promotions`); the ranking
  (:func:`merit`) orders the two;
- a cell of a lattice of higher symmetry (a cubic lattice found as tetragonal, a face-centred
  cubic one found as its rhombohedral primitive cell): the Bravais lattice of the primitive
  lattice's metric is found with spglib (:func:`xrdsym.indexing.settings.bravais_of`) and the
  cell refined again in its conventional setting, kept when its M20 stays within
  ``PROMOTION_M20_RATIO`` of the lower-symmetry fit and it indexes as many lines;
- a sub-cell of the true lattice, when the superstructure lines are weak: the lines it leaves
  unindexed may be the few strong enough to be seen. Each supercell of index n (the
  sublattices of the direct lattice, L' = H L for the integer matrices H of determinant n in
  Hermite normal form: 7, 13 and 35 of them for n = 2, 3, 4) that indexes more of the lines
  is refined and promoted (:func:`supercells`), and competes in the ranking.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from xrdsym.indexing import metric, settings
from xrdsym.indexing.refine import MIN_DISCREPANCY, Refined, assign, indexed_by_metric, refine

#: A higher-symmetry setting is kept when its M20 is at least this fraction of the fit it came
#: from (the extra constraints cost a little precision, never many lines).
PROMOTION_M20_RATIO = 0.6

#: A centred setting is kept when its M20 exceeds the primitive fit's by this factor.
CENTRING_M20_GAIN = 1.2

#: Ranking factor per free cell parameter fewer (see :func:`merit`).
SYMMETRY_PREFERENCE = 1.25


@dataclass(frozen=True)
class Found:
    """A refined cell with its Bravais lattice and reduced cell."""

    refined: Refined
    pearson: str
    crystal_system: str
    conventional: np.ndarray
    reduced: tuple[float, float, float, float, float, float]


def conventional_lattice(refined: Refined) -> np.ndarray:
    """Conventional cell rows of a refined cell (a along x)."""
    return metric.lattice_from_cell(metric.cell_from_metric(refined.gstar))


def best_centring(
    refined: Refined,
    two_theta: np.ndarray,
    wavelength: float,
    tolerance: float,
    lines_lost: int = 0,
) -> Refined:
    """The centring of the family with the best M20 among those that index all but
    ``lines_lost`` of the lines the cell before it indexed (the cell itself when none gains
    CENTRING_M20_GAIN in M20)."""
    best = refined
    for centring in metric.CENTRINGS[refined.system]:
        needed = best.n_indexed - lines_lost if best is refined else best.n_indexed
        if centring == refined.centring or not _keeps_lines(
            refined, centring, two_theta, wavelength, tolerance, needed
        ):
            continue
        trial = refine(
            two_theta,
            wavelength,
            refined.params,
            refined.system,
            centring,
            tolerance,
            refined.zero_shift,
        )
        if (
            trial is not None
            and trial.n_indexed >= needed
            and trial.m20 >= CENTRING_M20_GAIN * best.m20
        ):
            best = trial
    return best


def _keeps_lines(
    refined: Refined,
    centring: str,
    two_theta: np.ndarray,
    wavelength: float,
    tolerance: float,
    needed: int,
) -> bool:
    """Whether the unrefined cell with another centring still indexes ``needed`` lines within
    the search window: a centring that loses lines at the start does not regain them in
    refinement (the window only narrows), so it is not refined."""
    _, _, indexed, _ = assign(
        two_theta,
        wavelength,
        refined.params,
        refined.system,
        centring,
        refined.zero_shift,
        tolerance,
        all_lines=False,
    )
    return int(np.count_nonzero(indexed)) >= needed


def _in_setting(
    lattice: np.ndarray,
    system: str,
    centring: str,
    like: Refined,
    two_theta: np.ndarray,
    wavelength: float,
    tolerance: float,
) -> Refined | None:
    """Refine the cell ``lattice`` (conventional rows) in a family and centring."""
    family = settings.family_of(system)
    params = metric.params_from_metric(metric.metric_from_lattice(lattice), family)
    return refine(two_theta, wavelength, params, family, centring, tolerance, like.zero_shift)


def promote(refined: Refined, two_theta: np.ndarray, wavelength: float, tolerance: float) -> Found:
    """Bravais lattice and conventional setting of a refined cell (module docstring)."""
    refined = best_centring(refined, two_theta, wavelength, tolerance)
    primitive = settings.primitive_lattice(conventional_lattice(refined), refined.centring)
    reduced_rows = settings.niggli(primitive)
    symprec = settings.default_symprec(refined.volume)
    for precision in (symprec, symprec / 5.0):
        pearson, system, centring, conventional = settings.bravais_of(reduced_rows, precision)
        candidate = _in_setting(
            conventional, system, centring, refined, two_theta, wavelength, tolerance
        )
        if (
            candidate is not None
            and candidate.n_indexed >= refined.n_indexed
            and candidate.m20 >= PROMOTION_M20_RATIO * refined.m20
        ):
            candidate = best_family_centring(candidate, two_theta, wavelength, tolerance)
            return _found(candidate, system)
    fallback_system = refined.system
    return Found(
        refined,
        metric.PEARSON[(refined.system, refined.centring)],
        fallback_system,
        conventional_lattice(refined),
        settings.cell_of_lattice(reduced_rows),
    )


def promotions(
    refined: Refined,
    two_theta: np.ndarray,
    wavelength: float,
    tolerance: float,
    lines_lost: int,
) -> list[Found]:
    """:func:`promote` of a refined cell, and of its best centring that indexes all but
    ``lines_lost`` of its lines when that is another lattice (the two compete in the
    ranking)."""
    strict = promote(refined, two_theta, wavelength, tolerance)
    if lines_lost <= 0 or refined.centring != "P":
        return [strict]
    tolerant = best_centring(refined, two_theta, wavelength, tolerance, lines_lost)
    if tolerant.centring in ("P", strict.refined.centring):
        return [strict]
    return [strict, promote(tolerant, two_theta, wavelength, tolerance)]


def best_family_centring(
    refined: Refined, two_theta: np.ndarray, wavelength: float, tolerance: float
) -> Refined:
    """Centring check after promotion for cells that came in primitive (the I or F absences of
    a cubic cell found as primitive tetragonal are only visible in the cubic setting)."""
    if refined.centring != "P":
        return refined
    return best_centring(refined, two_theta, wavelength, tolerance)


def _found(refined: Refined, system: str) -> Found:
    lattice = conventional_lattice(refined)
    reduced = settings.reduced_cell(lattice, refined.centring)
    pearson = metric.PEARSON[(refined.system, refined.centring)]
    crystal_system = "trigonal" if pearson == "hR" else system
    if refined.system == "hexagonal" and pearson == "hP":
        crystal_system = "hexagonal"
    return Found(refined, pearson, crystal_system, lattice, reduced)


def merit(found: Found, n_first: int = 20) -> float:
    """Ranking figure: M20 x (e_indexed / e_all) x f^2 x SYMMETRY_PREFERENCE^(6 - p).

    e_indexed is the mean |2theta residual| of the indexed lines among the first ``n_first``
    (as in M20), e_all the same mean over all of them with each unindexed line counted at the
    tolerance, and f the indexed fraction of those lines: M20 alone ignores unindexed lines
    (a cell indexing four lines of twenty has a tiny N_calc and a huge M20). The preference
    factor (p free parameters: cubic 1 ... triclinic 6) makes a lower symmetry index clearly
    better to outrank a higher one (more free parameters fit a few lines more easily)."""
    ref = found.refined
    indexed = ref.indexed[:n_first]
    residual = np.abs(ref.residual[:n_first])
    floor = MIN_DISCREPANCY
    e_indexed = max(float(residual[indexed].mean()), floor) if np.any(indexed) else ref.tolerance
    e_all = float(np.where(indexed, np.maximum(residual, floor), ref.tolerance).mean())
    n_params = len(metric.BASIS[ref.system])
    fraction = float(np.count_nonzero(indexed)) / max(indexed.size, 1)
    preference = SYMMETRY_PREFERENCE ** (6 - n_params)
    return ref.m20 * e_indexed / e_all * fraction**2 * preference


def distinct(found: list[Found]) -> list[Found]:
    """Best-merit representative of each lattice (equal reduced cells), best first."""
    ordered = sorted(found, key=merit, reverse=True)
    kept: list[Found] = []
    for item in ordered:
        if not any(settings.same_lattice(item.reduced, k.reduced, 0.002, 0.2) for k in kept):
            kept.append(item)
    return kept


def volume(found: Found) -> float:
    """Conventional cell volume in Angstrom^3."""
    return float(abs(np.linalg.det(found.conventional)))


@functools.cache
def supercell_matrices(index: int) -> np.ndarray:
    """(m, 3, 3) integer matrices H in lower-triangular Hermite normal form with det H =
    ``index``: rows (a, 0, 0), (b, c, 0), (d, e, f) with a c f = index, 0 <= b, d < a and
    0 <= e < c (each entry below a pivot reduced modulo it). Each gives one sublattice of index
    ``index`` of a lattice with rows L (the supercell L' = H L), every sublattice once."""
    found = []
    for a, c in itertools.product(range(1, index + 1), repeat=2):
        if index % (a * c):
            continue
        f = index // (a * c)
        for b, d, e in itertools.product(range(a), range(a), range(c)):
            found.append([[a, 0, 0], [b, c, 0], [d, e, f]])
    return np.array(found, dtype=np.float64)


def supercells(
    found: Found,
    two_theta: np.ndarray,
    wavelength: float,
    tolerance: float,
    indices: tuple[int, ...],
    max_volume: float,
) -> list[Found]:
    """The supercells (:func:`supercell_matrices` of each of ``indices``) of a cell that leaves
    lines unindexed, each refined as a primitive cell from the cell's zero shift and promoted
    (:func:`promote`), kept when it indexes more lines than the cell and its volume is within
    ``max_volume`` (Angstrom^3). A supercell indexes every line its sub-cell does (its
    reciprocal lattice holds the sub-cell's), so it is refined only when the unrefined metric
    already indexes more lines within the window ``tolerance`` (degrees)."""
    ref = found.refined
    if ref.n_indexed == ref.indexed.size:
        return []
    rows = settings.niggli(settings.primitive_lattice(found.conventional, ref.centring))
    base_volume = abs(float(np.linalg.det(rows)))
    kept: list[Found] = []
    for index in indices:
        if index * base_volume > max_volume:
            break
        for matrix in supercell_matrices(index):
            gstar = metric.metric_from_lattice(matrix @ rows)
            indexed = indexed_by_metric(two_theta, wavelength, gstar, ref.zero_shift, tolerance)
            if int(np.count_nonzero(indexed)) <= ref.n_indexed:
                continue
            params = metric.params_from_metric(gstar, "triclinic")
            trial = refine(
                two_theta, wavelength, params, "triclinic", "P", tolerance, ref.zero_shift
            )
            if trial is not None and trial.n_indexed > ref.n_indexed:
                kept.append(promote(trial, two_theta, wavelength, tolerance))
    return kept
