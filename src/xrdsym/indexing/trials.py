"""Trial cells of the symmetric families from low-angle lines, and their fast screening against
the observed lines (the triclinic trials come from zones: :mod:`xrdsym.indexing.zones`).

Trials (in the spirit of TREOR's "base lines"): a family with p parameters is fixed by p lines.
Every choice of p lines among the first ``n_base`` observed lines, each given one of the family's
low-index reflections, is a linear system design(hkl) . p = Q_obs solved for p. Systems that are
singular, give a metric that is not positive definite, or a cell larger than the volume bound are
dropped; duplicates (equal within 0.2 % in every parameter, after putting equivalent settings in
one order) are merged. An impurity among the base lines only removes the choices that use it,
but weak impurity lines crowd the first lines out of the base and fail the pre-screen; the
search therefore also solves and pre-screens trials on its strong lines alone
(``best_trials(base=...)``, :func:`xrdsym.indexing.lattice.trial_bases`).

Screening: each trial's reflections up to the last screened line (a fixed index box per family)
are compared with the observed Q windows (2theta +- tolerance). The score rewards indexed lines
and penalises the density of calculated lines (the bias of big cells that M20 also corrects):

    score = n_indexed - DENSITY_PENALTY * n_calc / n_lines.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Iterator

import numpy as np

from xrdsym.indexing import metric

#: Weight of the calculated-line density in the screening score (see module docstring).
DENSITY_PENALTY = 0.5

#: Index box (|h|, |k|, |l| limits) of the screening reflections per family.
SCREEN_BOX: dict[str, tuple[int, int, int]] = {
    "cubic": (12, 12, 12),
    "tetragonal": (10, 10, 10),
    "hexagonal": (10, 10, 10),
    "orthorhombic": (7, 7, 7),
    "monoclinic": (6, 6, 6),
    "triclinic": (4, 4, 4),
}

#: How many low-index reflections (the simplest by h^2 + k^2 + l^2) a base line may take.
N_BASE_REFLECTIONS: dict[str, int] = {
    "cubic": 40,
    "tetragonal": 24,
    "hexagonal": 24,
    "orthorhombic": 19,
    "monoclinic": 12,
}

#: Trials solved and screened per block (bounds memory: block x box entries).
BLOCK = 4096

#: Pre-screen (all families but cubic): the first PRESCREEN_LINES lines against the reflections
#: of the family's index box PRESCREEN_BOX; a trial goes on to the full screen when it misses at
#: most PRESCREEN_MISSES of them.
PRESCREEN_LINES = 10
PRESCREEN_BOX: dict[str, tuple[int, int, int]] = {
    "tetragonal": (4, 4, 8),
    "hexagonal": (4, 4, 8),
    "orthorhombic": (3, 3, 3),
    "monoclinic": (3, 3, 3),
}
PRESCREEN_MISSES = 3


@functools.cache
def design_rows(system: str, limits: tuple[int, int, int]) -> np.ndarray:
    """Distinct design rows (coefficients of p in Q) of the index box, simplest first (cached,
    read-only)."""
    hkl = metric.hkl_box(limits, system)
    order = np.argsort((hkl**2).sum(axis=1), kind="stable")
    rows = metric.design(hkl[order], system)
    _, first = np.unique(np.round(rows, 9), axis=0, return_index=True)
    distinct = rows[np.sort(first)]
    distinct.setflags(write=False)
    return distinct


def base_reflections(system: str) -> np.ndarray:
    """Design rows a base line may take: the family's simplest distinct reflections."""
    return design_rows(system, (3, 3, 3))[: N_BASE_REFLECTIONS[system]]


def canonical(params: np.ndarray, system: str) -> np.ndarray:
    """One representative of equivalent parameter sets: orthorhombic A >= B >= C
    (a <= b <= c); monoclinic E >= 0 and A >= C (the h <-> l and h -> -h settings)."""
    params = params.copy()
    if system == "orthorhombic":
        params = -np.sort(-params, axis=1)
    elif system == "monoclinic":
        params[:, 3] = np.abs(params[:, 3])
        swap = params[:, 0] < params[:, 2]
        params[swap, 0], params[swap, 2] = params[swap, 2], params[swap, 0].copy()
    return params


def cell_volumes(params: np.ndarray, system: str) -> np.ndarray:
    """(T,) cell volume det(G*)^(-1/2) of each trial, infinite where G* is not positive definite
    (Sylvester's criterion on its leading minors; the 3 x 3 determinant written out)."""
    g = metric.reciprocal_metric(params, system)
    m2 = g[:, 0, 0] * g[:, 1, 1] - g[:, 0, 1] ** 2
    m3 = (
        g[:, 0, 0] * (g[:, 1, 1] * g[:, 2, 2] - g[:, 1, 2] ** 2)
        - g[:, 0, 1] * (g[:, 0, 1] * g[:, 2, 2] - g[:, 1, 2] * g[:, 0, 2])
        + g[:, 0, 2] * (g[:, 0, 1] * g[:, 1, 2] - g[:, 1, 1] * g[:, 0, 2])
    )
    good = (g[:, 0, 0] > 0) & (m2 > 0) & (m3 > 0)
    return np.where(good, 1.0 / np.sqrt(np.where(good, m3, 1.0)), np.inf)


#: Column maps of the design rows (row' = row @ T) between equivalent settings of a family,
#: the maps that :func:`canonical` undoes: orthorhombic axis permutations; monoclinic the
#: h <-> l swap and h -> -h (sign of the hl term), and both.
SETTING_MAPS: dict[str, tuple[np.ndarray, ...]] = {
    "orthorhombic": tuple(
        np.eye(3)[list(order)] for order in itertools.permutations(range(3)) if order != (0, 1, 2)
    ),
    "monoclinic": (
        np.eye(4)[[2, 1, 0, 3]],
        np.diag([1.0, 1.0, 1.0, -1.0]),
        np.eye(4)[[2, 1, 0, 3]] @ np.diag([1.0, 1.0, 1.0, -1.0]),
    ),
}


def _row_images(base: np.ndarray, transform: np.ndarray) -> np.ndarray | None:
    """(N,) position in ``base`` of each row mapped by ``transform``; None when some image is
    not a base row (the list is not closed under the map)."""
    lookup = {row.tobytes(): i for i, row in enumerate(np.round(base, 9))}
    images = [lookup.get(row.tobytes()) for row in np.round(base @ transform, 9)]
    if any(i is None for i in images):
        return None
    return np.array(images, dtype=np.int64)


def representative_assignments(base: np.ndarray, system: str) -> np.ndarray:
    """(T, p) reflection positions, one assignment per class of assignments that give
    equivalent cells: an assignment (r_1 .. r_p) of reflections to the p base lines and its
    image under a setting map (:data:`SETTING_MAPS`) give the same cell after
    :func:`canonical`, so only the lexicographically smallest of the images is kept."""
    n, n_params = base.shape
    index = np.array(list(itertools.product(range(n), repeat=n_params)), dtype=np.int64)
    weights = n ** np.arange(n_params - 1, -1, -1, dtype=np.int64)
    code = index @ weights
    keep = np.ones(index.shape[0], dtype=bool)
    for transform in SETTING_MAPS.get(system, ()):
        images = _row_images(base, transform)
        if images is not None:
            keep &= code <= images[index] @ weights
    return index[keep]


@functools.cache
def inverse_assignments(system: str) -> np.ndarray:
    """(T, p, p) inverses of the non-singular representative assignments of base reflections
    to p lines (:func:`representative_assignments`; row i: the reflection of line i), so that
    a trial is p = inverse @ Q of the p lines."""
    base = base_reflections(system)
    matrices = base[representative_assignments(base, system)]
    good = np.abs(np.linalg.det(matrices)) > 1e-9
    return np.linalg.inv(matrices[good])


def dedupe_keys(params: np.ndarray) -> np.ndarray:
    """(T,) integer keys equal for parameter sets equal within ~0.1 % each: the rounded
    logarithms sign(p) round(log(|p| + floor) / 1e-3) (floor = 1e-4 of the largest parameter,
    for cross terms near zero) combined into one int64 by a fixed odd-multiplier hash."""
    floor = np.abs(params).max(axis=1, keepdims=True) * 1e-4
    rounded = (np.sign(params) * np.round(np.log(np.abs(params) + floor) / 1e-3)).astype(np.int64)
    return rounded @ _HASH_MULTIPLIERS[: params.shape[1]]


#: Odd 64-bit multipliers of :func:`dedupe_keys` (wrap-around products: a fixed hash).
_HASH_MULTIPLIERS = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
    ],
    dtype=np.uint64,
).astype(np.int64)


def solve_trials(
    q_obs: np.ndarray, system: str, n_base: int, max_volume: float
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks of canonical trial parameters from the first ``n_base`` lines with their
    :func:`dedupe_keys`, distinct within a block (duplicates across blocks are merged when
    the best trials are kept)."""
    inverses = inverse_assignments(system)
    n_params = inverses.shape[1]
    n_base = min(n_base, q_obs.shape[0])
    for lines in itertools.combinations(range(n_base), n_params):
        params = inverses @ q_obs[list(lines)]
        params = params[cell_volumes(params, system) <= max_volume]
        if params.shape[0] == 0:
            continue
        params = canonical(params, system)
        keys = dedupe_keys(params)
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)
        yield params[first], keys[first]


#: Lines per bit mask in :func:`lines_indexed` (bits of an int64 left free of the sign).
MASK_BITS = 62


def window_segments(q_low: np.ndarray, q_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Q axis cut at every window edge: ascending edges (E,) and the bit mask (E + 1,) of
    the observed lines (bit j: line j, at most MASK_BITS lines) whose window [q_low_j, q_high_j)
    holds each segment; segment k lies between edges k - 1 and k (0 and E: outside all)."""
    edges = np.unique(np.concatenate([q_low, q_high]))
    middle = 0.5 * (edges[:-1] + edges[1:])
    inside = (q_low[None, :] <= middle[:, None]) & (middle[:, None] < q_high[None, :])
    bits = np.left_shift(np.int64(1), np.arange(q_low.shape[0], dtype=np.int64))
    masks = np.zeros(edges.shape[0] + 1, dtype=np.int64)
    masks[1:-1] = (inside * bits).sum(axis=1)
    return edges, masks


def lines_indexed(q_calc: np.ndarray, q_low: np.ndarray, q_high: np.ndarray) -> np.ndarray:
    """(T,) number of observed lines whose Q window holds some calculated Q of trial t
    (q_calc (T, H); windows ascending, as the lines are): each calculated Q is looked up in
    the segments of :func:`window_segments` by one binary search, and the masks of a trial's
    values are OR-ed and their bits counted."""
    count = np.zeros(q_calc.shape[0], dtype=np.int64)
    for start in range(0, q_low.shape[0], MASK_BITS):
        edges, masks = window_segments(
            q_low[start : start + MASK_BITS], q_high[start : start + MASK_BITS]
        )
        hit = np.bitwise_or.reduce(masks[np.searchsorted(edges, q_calc, side="right")], axis=1)
        count += np.bitwise_count(hit)
    return count


def screen(
    params: np.ndarray,
    rows: np.ndarray,
    q_low: np.ndarray,
    q_high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Lines indexed and screening score of each trial (module docstring).

    Args:
        params: (T, p) trial parameters.
        rows: (H, p) design rows of the screening box.
        q_low, q_high: (N,) Q window of each observed line (2theta +- tolerance).

    Returns:
        (T,) number of lines with a calculated Q inside their window, and (T,) score: that
        number minus DENSITY_PENALTY x (calculated Q up to the last window) / N (distinct box
        rows; equal Q of different rows count separately, a mild extra penalty on special
        metrics).
    """
    q_calc = params @ rows.T  # (T, H)
    n_calc = np.count_nonzero(q_calc <= float(q_high[-1]), axis=1)
    hits = lines_indexed(q_calc, q_low, q_high)
    return hits, hits - DENSITY_PENALTY * n_calc / q_low.shape[0]


def best_trials(
    q_obs: np.ndarray,
    q_low: np.ndarray,
    q_high: np.ndarray,
    system: str,
    n_base: int,
    max_volume: float,
    keep: int,
    deadline: float,
    base: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """The ``keep`` best-screened distinct trials of one family, and whether the search
    finished before the deadline (``time.monotonic()`` value).

    ``base``: positions (ascending) of the lines the trials are solved from (its first
    ``n_base``) and pre-screened against; default all lines. The full screen reads every line,
    so lines left out of the base (weak impurity lines) only count as unindexed there."""
    base = np.arange(q_obs.shape[0]) if base is None else np.asarray(base)
    rows = design_rows(system, SCREEN_BOX[system])
    best = np.zeros((0, rows.shape[1]))
    best_keys = np.zeros(0, dtype=np.int64)
    best_score = np.zeros(0)
    for block, block_keys in solve_trials(q_obs[base], system, n_base, max_volume):
        for start in range(0, block.shape[0], BLOCK):
            part, part_keys = block[start : start + BLOCK], block_keys[start : start + BLOCK]
            passed = prescreen(part, system, q_low[base], q_high[base])
            if not np.any(passed):
                continue
            part, part_keys = part[passed], part_keys[passed]
            _, score = screen(part, rows, q_low, q_high)
            best = np.vstack([best, part])
            best_keys = np.concatenate([best_keys, part_keys])
            best_score = np.concatenate([best_score, score])
            if best_score.size > 4 * keep:
                top = top_by_key(best_keys, best_score, keep)
                best, best_keys, best_score = best[top], best_keys[top], best_score[top]
        if time.monotonic() > deadline:
            return best[top_by_key(best_keys, best_score, keep)], False
    return best[top_by_key(best_keys, best_score, keep)], True


def prescreen(params: np.ndarray, system: str, q_low: np.ndarray, q_high: np.ndarray) -> np.ndarray:
    """(T,) True for the trials that index all but PRESCREEN_MISSES of the first
    PRESCREEN_LINES lines with the reflections of the family's PRESCREEN_BOX (cubic trials all
    pass)."""
    if system not in PRESCREEN_BOX or params.shape[0] == 0:
        return np.ones(params.shape[0], dtype=bool)
    rows = design_rows(system, PRESCREEN_BOX[system])
    n = min(PRESCREEN_LINES, q_low.shape[0])
    hits = lines_indexed(params @ rows.T, q_low[:n], q_high[:n])
    return hits >= n - PRESCREEN_MISSES


def top_by_key(keys: np.ndarray, score: np.ndarray, keep: int) -> np.ndarray:
    """Positions of the ``keep`` best scores, one per key (the first of equal keys in score
    order)."""
    order = np.argsort(-score, kind="stable")
    _, first = np.unique(keys[order], return_index=True)
    return order[np.sort(first)][:keep]
