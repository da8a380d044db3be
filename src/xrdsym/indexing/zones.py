"""Trial primitive cells from zones of the reciprocal lattice (in the spirit of Ito's method).

A zone is a plane of the reciprocal lattice, spanned by two vectors a*, b*; its reflections
(h, k, 0) have

    Q(h, k) = h^2 Q_a + k^2 Q_b + 2 h k R,   R = a* . b*   (1/Angstrom^2).

The search does not assume any symmetry:

1. Basis lengths: the Q of the first ``n_base`` lines, each also taken as the second order of
   a vector whose first order is absent (Q / 4).
2. Zones: every pair of basis lengths Q_a <= Q_b with R fixed by one more line taken as
   (1, 1) or (1, -1): R = |Q_m - Q_a - Q_b| / 2 with |2R| <= REDUCED_SLACK x Q_a, or R = 0.
   Each zone is screened against the first lines (:func:`xrdsym.indexing.trials.screen` with
   the zone's reflections: lines whose Q window holds a Q(h, k), minus the density of its
   calculated lines), and the best
   ``max_zones`` are kept.
3. Cells: two kept zones sharing a basis vector (a*, b*) and (a*, c*) fix five of the six
   parameters of G*; the sixth, b* . c*, comes from one more line taken as (0, 1, +-1), or 0.
   These triclinic trials are screened and the best are returned for refinement; the Bravais
   lattice of a refined cell is found afterwards by reduction (spglib), so a monoclinic or
   orthorhombic lattice that the symmetric trials missed is found here too.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from xrdsym.indexing.trials import (
    BLOCK,
    SCREEN_BOX,
    cell_volumes,
    dedupe_keys,
    design_rows,
    screen,
    top_by_key,
)

#: |h|, |k| limit of the zone reflections screened.
ZONE_BOX = 6

#: Zones kept after screening (their pairs sharing a vector make the cells). 100 zones with
#: REDUCED_SLACK 2 found the right first cell for 380 of 600 simulated validation patterns,
#: 40 zones with reduced pairs only for 370, at about 0.3 s more per pattern (a one-off
#: comparison on the stored lines of ``research.evaluate_indexing --part val --limit 600``).
MAX_ZONES = 100

#: Observed lines the zones and cells are screened against (the first ones).
SCREEN_LINES = 20

#: Zones with |2R| up to this many times Q_a are tried (1: reduced pairs only; more: also
#: the pairs of observed lines that span a zone whose reduced basis holds an unobserved one).
REDUCED_SLACK = 2.0

#: Default indices (h, k) a line is taken as to fix a zone's R and a cell's b* . c*: the
#: first diagonal, (1, 1) and (1, -1) (``IndexingOptions.zone_pair_indices``).
DIAGONAL_PAIRS: tuple[tuple[int, int], ...] = ((1, 1),)

#: A zone must index at least this many of the screened lines to be kept.
MIN_ZONE_LINES = 4


@functools.cache
def zone_rows() -> np.ndarray:
    """(H, 3) coefficients (h^2, k^2, 2hk) of the zone reflections with |h|, |k| <= ZONE_BOX,
    one of each +-(h, k) pair, (0, 0) excluded (read-only)."""
    r = np.arange(-ZONE_BOX, ZONE_BOX + 1)
    grid_h, grid_k = np.meshgrid(r, r, indexing="ij")
    h, k = grid_h.ravel(), grid_k.ravel()
    first = (h > 0) | ((h == 0) & (k > 0))
    h, k = h[first], k[first]
    rows = np.stack([h**2, k**2, 2 * h * k], axis=1).astype(np.float64)
    rows.setflags(write=False)
    return rows


def basis_lengths(q_obs: np.ndarray, n_base: int) -> np.ndarray:
    """Candidate Q of basis vectors: the first ``n_base`` lines and a quarter of each (the line
    as the second order of an absent first order), ascending and distinct."""
    first = q_obs[: min(n_base, q_obs.shape[0])]
    values = np.concatenate([first, first / 4.0])
    return np.unique(np.round(values, 12))


def zone_trials(
    q_obs: np.ndarray, n_base: int, pair_indices: tuple[tuple[int, int], ...] = DIAGONAL_PAIRS
) -> np.ndarray:
    """(Z, 3) zones (Q_a, Q_b, R): every pair of basis lengths Q_a <= Q_b with R = 0 and with
    R = |Q_m - h^2 Q_a - k^2 Q_b| / (2 h k) from each line m taken as each (h, k) of
    ``pair_indices`` (R >= 0: the sign of b* is free in a zone, so (h, k) stands for
    (h, -k) too), within |2R| <= REDUCED_SLACK x Q_a."""
    base = basis_lengths(q_obs, n_base)
    ia, ib = np.triu_indices(base.shape[0])
    qa, qb = base[ia], base[ib]
    parts = [np.zeros((qa.shape[0], 1))]
    for h, k in pair_indices:
        parts.append(
            np.abs(q_obs[None, :] - h * h * qa[:, None] - k * k * qb[:, None]) / (2.0 * h * k)
        )
    r = np.concatenate(parts, axis=1)  # (pairs, 1 + lines x len(pair_indices))
    reduced = 2.0 * r <= REDUCED_SLACK * qa[:, None] * (1.0 + 1e-9)
    pair, line = np.nonzero(reduced)
    zones = np.stack([qa[pair], qb[pair], r[pair, line]], axis=1)
    return zones[qa[pair] * qb[pair] - r[pair, line] ** 2 > 0.0]


def best_zones(
    q_obs: np.ndarray,
    q_low: np.ndarray,
    q_high: np.ndarray,
    n_base: int,
    max_zones: int,
    pair_indices: tuple[tuple[int, int], ...] = DIAGONAL_PAIRS,
) -> np.ndarray:
    """The ``max_zones`` best-screened distinct zones indexing at least MIN_ZONE_LINES lines
    (:func:`zone_trials` with ``pair_indices``)."""
    zones = zone_trials(q_obs, n_base, pair_indices)
    if zones.shape[0] == 0:
        return zones
    hits, score = screen(zones, zone_rows(), q_low, q_high)
    good = hits >= MIN_ZONE_LINES
    zones, score = zones[good], score[good]
    return zones[top_by_key(dedupe_keys(zones), score, max_zones)]


def cells_from_zones(
    zones: np.ndarray, q_obs: np.ndarray, pair_indices: tuple[tuple[int, int], ...] = DIAGONAL_PAIRS
) -> np.ndarray:
    """(T, 6) triclinic parameters (A, B, C, D, E, F of :data:`metric.BASIS`) from every two
    zones sharing a basis length: zone (Q_s, Q_p, R_sp) and zone (Q_s, Q_r, R_sr) give
    A = Q_s, B = Q_p, C = Q_r and the off-diagonal G* entries D = R_sp, E = R_sr, F = R_pr
    with R_pr = 0 or +-(Q_m - j^2 Q_p - k^2 Q_r) / (2 j k) for each line m taken as (0, j, k),
    (j, k) of ``pair_indices``."""
    ends = np.concatenate([zones[:, [0, 1, 2]], zones[:, [1, 0, 2]]])  # (shared, other, R)
    which = np.concatenate([np.arange(zones.shape[0])] * 2)
    same = np.isclose(ends[:, None, 0], ends[None, :, 0], rtol=1e-9, atol=0.0)
    first, second = np.nonzero(np.triu(same, 1) & (which[:, None] != which[None, :]))
    if first.size == 0:
        return np.zeros((0, 6))
    shared, p, r_sp = ends[first, 0], ends[first, 1], ends[first, 2]
    r_other, r_sr = ends[second, 1], ends[second, 2]
    parts = [np.zeros((p.shape[0], 1))]
    for j, k in pair_indices:
        r = (q_obs[None, :] - j * j * p[:, None] - k * k * r_other[:, None]) / (2.0 * j * k)
        parts.extend([r, -r])
    r_pr = np.concatenate(parts, axis=1)
    n = r_pr.shape[1]
    return np.stack(
        [
            np.repeat(shared, n),
            np.repeat(p, n),
            np.repeat(r_other, n),
            np.repeat(r_sp, n),
            np.repeat(r_sr, n),
            r_pr.ravel(),
        ],
        axis=1,
    )


def zone_cell_trials(
    q_obs: np.ndarray,
    q_low: np.ndarray,
    q_high: np.ndarray,
    n_base: int,
    max_volume: float,
    keep: int,
    deadline: float,
    pair_indices: tuple[tuple[int, int], ...] = DIAGONAL_PAIRS,
) -> tuple[np.ndarray, bool]:
    """The ``keep`` best-screened distinct triclinic trials built from zones whose R and cells
    whose b* . c* are fixed by lines taken as the indices ``pair_indices``, and whether the
    search finished before the deadline (``time.monotonic()`` value); the same contract as
    :func:`xrdsym.indexing.trials.best_trials`."""
    n = min(SCREEN_LINES, q_obs.shape[0])
    q_obs, q_low, q_high = q_obs[:n], q_low[:n], q_high[:n]
    zones = best_zones(q_obs, q_low, q_high, n_base, MAX_ZONES, pair_indices)
    params = cells_from_zones(zones, q_obs, pair_indices)
    params = params[cell_volumes(params, "triclinic") <= max_volume]
    if time.monotonic() > deadline or params.shape[0] == 0:
        return params[:0], time.monotonic() <= deadline
    rows = design_rows("triclinic", SCREEN_BOX["triclinic"])
    score = np.empty(params.shape[0])
    for start in range(0, params.shape[0], BLOCK):
        score[start : start + BLOCK] = screen(params[start : start + BLOCK], rows, q_low, q_high)[1]
    return params[top_by_key(dedupe_keys(params), score, keep)], time.monotonic() <= deadline
