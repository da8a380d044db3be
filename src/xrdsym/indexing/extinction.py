"""Extinction analysis: which extinction groups of an indexed cell explain its observed lines.

For a cell (conventional setting, refined zero shift) the reflections h inside the scored range
are enumerated, and each extinction group of the cell's crystal family is tested against the
lines by the reflection conditions of its space groups (the spglib operations of the standard
setting, :func:`xrdsym.spacegroups.derive.standard_operations`; a reflection is absent when
h R = h and h . t is not an integer for some operation).

Likelihood of the lines under a group (up to a constant shared by all groups):

* an indexed line with at least one allowed reflection within the tolerance: log p_seen
  (an overlap of allowed and forbidden reflections is ambiguous and counts as allowed);
* an indexed line whose reflections within the tolerance are all forbidden: log p_stray, the
  chance that a stray line (impurity, artefact) falls on a forbidden position; such a line
  rules the group out (``forbidden_lines`` > 0);
* a calculated position (reflections merged within the tolerance) with no observed line near
  it: log (1 - p_seen) when the group allows one of its reflections (an unexplained absence),
  0 when the group forbids them all (an absence the group explains).

Settings: the table identifies orthorhombic groups up to a permutation of the axes, so each
orthorhombic group is tried in the six axis orders; monoclinic groups (unique axis b) in the
six cell choices of the a-c plane (c, n and a glides; C, A and I centring); rhombohedral groups
in the obverse and reverse settings of hexagonal axes. A group's score is its best setting.
A centred lattice (I, F, C, R) admits only groups of that centring; a primitive cell admits
every centring, whose lattice absences then count as explained absences.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import replace

import numpy as np

from xrdsym.indexing.results import (
    CellCandidate,
    ExtinctionScore,
    IndexingResult,
    PeakSearchResult,
)
from xrdsym.patterns.bragg import bragg_two_theta
from xrdsym.patterns.reflections import (
    absent_reflections,
    enumerate_reflections,
    reciprocal_radius,
)
from xrdsym.spacegroups.derive import space_group, standard_operations
from xrdsym.spacegroups.table import extinction_groups
from xrdsym.structures.perturb import lattice_from_parameters

#: Probability that an allowed reflection position is seen as a line (weak reflections and
#: overlaps hide the rest).
P_SEEN = 0.5

#: Probability that an observed line on a forbidden position is a stray line (impurity,
#: artefact) rather than a reflection of the phase. Chosen on simulated validation patterns
#: with the extinction temperature (``python -m research.extinction_stray``: the highest
#: likelihood of the true group among 1e-2 ... 1e-12); so small that one forbidden line all but
#: rules a group out.
P_STRAY = 1e-7

#: Smallest matching tolerance between an observed line and a calculated position, degrees.
MIN_TOLERANCE = 0.03

#: Lines scored: the first this many observed lines (the low-angle part, where positions are
#: resolved and the absences tell most).
MAX_SCORED_LINES = 30

_CRYSTAL_SYSTEMS_OF_FAMILY: dict[str, tuple[str, ...]] = {
    "c": ("cubic",),
    "t": ("tetragonal",),
    "h": ("trigonal", "hexagonal"),
    "o": ("orthorhombic",),
    "m": ("monoclinic",),
    "a": ("triclinic",),
}


def crystal_systems_of(bravais: str) -> tuple[str, ...]:
    """Crystal systems whose space groups a lattice of Pearson symbol ``bravais`` can carry.

    hP carries trigonal P and hexagonal groups (a powder pattern's positions cannot tell them
    apart), hR the rhombohedral trigonal groups; every other family one system.
    """
    if bravais == "hR":
        return ("trigonal",)
    return _CRYSTAL_SYSTEMS_OF_FAMILY[bravais[0]]


def _admits_centring(bravais: str, centring: str) -> bool:
    """Whether a lattice ``bravais`` can carry a group of ``centring`` (P, A, C, I, F, R)."""
    lattice_letter = bravais[1].upper()
    if bravais == "hP":
        return centring in ("P", "R")
    if lattice_letter == "P":
        return True
    if lattice_letter in ("C", "A", "S"):
        return centring in ("C", "A")
    return centring == lattice_letter


@functools.cache
def candidate_groups(bravais: str) -> tuple[int, ...]:
    """Extinction-group indices (0-100) admitted by a lattice: its family's systems and centring."""
    systems = crystal_systems_of(bravais)
    found = []
    for index, members in enumerate(extinction_groups()):
        info = space_group(members[0])
        if info.crystal_system in systems and _admits_centring(bravais, info.centring):
            found.append(index)
    return tuple(found)


def _monoclinic_transforms() -> tuple[np.ndarray, ...]:
    """Index transforms h_std = h P of the six cell choices of the a-c plane (b unique).

    The six 2x2 integer matrices acting on (h, l) reduce modulo 2 to the six elements of
    GL(2, Z_2), so they permute the parity conditions on h, l and h + l (glides a, c, n;
    centrings C, A, I) in every way.
    """
    blocks = ((1, 0, 0, 1), (0, 1, 1, 0), (1, 1, 0, 1), (1, 0, 1, 1), (0, 1, 1, 1), (1, 1, 1, 0))
    out = []
    for m00, m01, m10, m11 in blocks:
        p = np.zeros((3, 3), dtype=np.int64)
        p[0, 0], p[0, 2], p[2, 0], p[2, 2], p[1, 1] = m00, m01, m10, m11, 1
        out.append(p)
    return tuple(out)


@functools.cache
def setting_transforms(crystal_system: str) -> tuple[np.ndarray, ...]:
    """Integer matrices P mapping observed indices to standard-setting ones, h_std = h_obs P."""
    if crystal_system == "orthorhombic":
        return tuple(np.eye(3, dtype=np.int64)[list(p)] for p in itertools.permutations(range(3)))
    if crystal_system == "monoclinic":
        return _monoclinic_transforms()
    if crystal_system == "trigonal":
        swap_hk = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.int64)  # obverse/reverse
        return (np.eye(3, dtype=np.int64), swap_hk)
    return (np.eye(3, dtype=np.int64),)


def _forbidden(hkl: np.ndarray, group: int) -> np.ndarray:
    """(n_settings, M) bool: reflections the group forbids, in each of its settings."""
    number = extinction_groups()[group][0]
    rotations, translations = standard_operations(number)
    transforms = setting_transforms(space_group(number).crystal_system)
    return np.stack([absent_reflections(hkl @ p, rotations, translations) for p in transforms])


def line_tolerances(peaks: PeakSearchResult) -> np.ndarray:
    """Matching tolerance of each line, degrees: max(MIN_TOLERANCE, 3 sigma, FWHM / 2)."""
    return np.array(
        [max(MIN_TOLERANCE, 3.0 * p.sigma, 0.5 * p.fwhm) for p in peaks.peaks], dtype=np.float64
    )


def _reflections(
    candidate: CellCandidate, wavelength: float, two_theta_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """hkl (M, 3) of the conventional cell and their observed-scale 2theta (zero shift added)."""
    lattice = lattice_from_parameters(np.asarray(candidate.cell, dtype=np.float64))
    g_min = reciprocal_radius(two_theta_range[0] - candidate.zero_shift, wavelength)
    g_max = reciprocal_radius(two_theta_range[1] - candidate.zero_shift, wavelength)
    hkl, g = enumerate_reflections(lattice, g_min, g_max)
    return hkl, bragg_two_theta(g, wavelength) + candidate.zero_shift


def _positions(two_theta: np.ndarray, tolerance: float) -> np.ndarray:
    """Position label of each reflection: reflections closer than ``tolerance`` merge."""
    order = np.argsort(two_theta)
    starts = np.concatenate([[True], np.diff(two_theta[order]) > tolerance])
    labels = np.empty(two_theta.shape[0], dtype=np.int64)
    labels[order] = np.cumsum(starts) - 1
    return labels


def score_extinction_groups(
    candidate: CellCandidate,
    peaks: PeakSearchResult,
    two_theta_range: tuple[float, float] | None = None,
    p_seen: float = P_SEEN,
    p_stray: float = P_STRAY,
) -> tuple[ExtinctionScore, ...]:
    """Score the extinction groups the candidate's lattice admits against the observed lines.

    Args:
        candidate: the indexed cell (conventional setting, zero shift in degrees).
        peaks: the observed lines (2theta in degrees at ``peaks.wavelength``).
        two_theta_range: the measured range in degrees; absences are counted from its start
            (default: from the first observed line) up to the last scored line.
        p_seen: probability that an allowed position shows a line.
        p_stray: probability that an observed line on a forbidden position is a stray line.

    Returns:
        One :class:`ExtinctionScore` per admitted group, highest log-likelihood first (ties by
        group index). Empty when there are no lines.
    """
    lines = np.array([p.two_theta for p in peaks.peaks], dtype=np.float64)
    if lines.size == 0:
        return ()
    tolerance = line_tolerances(peaks)
    scored = slice(0, min(MAX_SCORED_LINES, lines.size))
    lines, tolerance = lines[scored], tolerance[scored]
    start = float(lines[0] - tolerance[0]) if two_theta_range is None else two_theta_range[0]
    hkl, calc = _reflections(candidate, peaks.wavelength, (start, float(lines[-1] + tolerance[-1])))
    near = np.abs(calc[None, :] - lines[:, None]) <= tolerance[:, None]  # (lines, reflections)
    indexed = np.asarray(near.any(axis=1), dtype=bool)
    position = _positions(calc, float(np.min(tolerance)))
    unseen = np.ones(int(position.max()) + 1 if position.size else 0, dtype=bool)
    unseen[position[near.any(axis=0)]] = False
    scores = [
        _score_group(group, hkl, near, indexed, position, unseen, p_seen, p_stray)
        for group in candidate_groups(candidate.bravais)
    ]
    return tuple(sorted(scores, key=lambda s: (-s.log_likelihood, s.group)))


def _score_group(
    group: int,
    hkl: np.ndarray,
    near: np.ndarray,
    indexed: np.ndarray,
    position: np.ndarray,
    unseen: np.ndarray,
    p_seen: float,
    p_stray: float,
) -> ExtinctionScore:
    """The best setting's score of one group (see the module docstring for the terms)."""
    best: tuple[float, int, int, int] | None = None
    for forbidden in _forbidden(hkl, group):
        allowed_near = (near & ~forbidden[None, :]).any(axis=1)
        n_forbidden_lines = int(np.sum(indexed & ~allowed_near))
        n_allowed_lines = int(np.sum(indexed)) - n_forbidden_lines
        allowed_position = np.zeros(unseen.shape[0], dtype=bool)
        allowed_position[position[~forbidden]] = True
        unexplained = int(np.sum(unseen & allowed_position))
        explained = int(np.sum(unseen & ~allowed_position))
        log_likelihood = (
            n_allowed_lines * math.log(p_seen)
            + n_forbidden_lines * math.log(p_stray)
            + unexplained * math.log1p(-p_seen)
        )
        if best is None or log_likelihood > best[0]:
            best = (log_likelihood, n_forbidden_lines, explained, unexplained)
    assert best is not None
    members = extinction_groups()[group]
    return ExtinctionScore(
        group=group,
        symbol=", ".join(space_group(n).symbol for n in members),
        space_groups=members,
        log_likelihood=best[0],
        forbidden_lines=best[1],
        explained_absences=best[2],
        unexplained_absences=best[3],
    )


def with_extinction(
    result: IndexingResult, two_theta_range: tuple[float, float] | None = None
) -> IndexingResult:
    """``result`` with the extinction scores of every candidate, accepted or not (unchanged
    when no cell was found): the joined answer weighs each cell by its fitted probability of
    being right, which depends on its scores."""
    if not result.candidates:
        return result
    scores = tuple(
        score_extinction_groups(c, result.peaks, two_theta_range) for c in result.candidates
    )
    return replace(result, extinction=scores[0], later_extinction=scores[1:])


#: Centring translations of each lattice letter (R: obverse setting on hexagonal axes).
CENTRING_VECTORS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "P": (),
    "A": ((0.0, 0.5, 0.5),),
    "C": ((0.5, 0.5, 0.0),),
    "I": ((0.5, 0.5, 0.5),),
    "F": ((0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0)),
    "R": ((2 / 3, 1 / 3, 1 / 3), (1 / 3, 2 / 3, 2 / 3)),
}


def cell_positions(
    candidate: CellCandidate, wavelength: float, two_theta_range: tuple[float, float]
) -> np.ndarray:
    """Sorted 2theta (degrees, zero shift added) of the reflections the cell's lattice allows.

    Lattice absences only (h . t not an integer for a centring vector t); the reflections of
    one angle are listed once.
    """
    hkl, two_theta = _reflections(candidate, wavelength, two_theta_range)
    vectors = np.array(CENTRING_VECTORS[candidate.centring], dtype=np.float64).reshape(-1, 3)
    identity = np.broadcast_to(np.eye(3, dtype=np.int64), (vectors.shape[0], 3, 3))
    allowed = ~absent_reflections(hkl, identity, vectors)
    return np.unique(np.round(two_theta[allowed], 5))
