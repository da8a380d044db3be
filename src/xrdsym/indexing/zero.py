"""Zero-shift candidates from harmonic line pairs, before any cell is known.

A reflection h and its multiple n h (n = 2, 3) satisfy sin(theta_nh) = n sin(theta_h) exactly.
With a zero offset z (observed 2theta = true 2theta + z) the pair (i, j) fixes z through

    f(z) = sin((2theta_j - z) / 2) - n sin((2theta_i - z) / 2) = 0,

solved by two Newton steps from z = 0. Every pair of the first lines gives a value; pairs that
are true harmonics agree on the instrument's z, the others scatter. The values within
``MAX_ZERO`` are clustered (width ``CLUSTER_WIDTH``) and the best-supported cluster centres are
the candidates; the lattice search is run from each (observed lines corrected by -z), and the
least squares refine z further.
"""

from __future__ import annotations

import numpy as np

#: Largest |zero shift| looked for, degrees (measured laboratory scans: -0.43 to +0.08).
MAX_ZERO = 0.5

#: Pair values closer than this (degrees) support the same zero shift.
CLUSTER_WIDTH = 0.02

#: A cluster needs this many pairs to be a candidate.
MIN_SUPPORT = 3

#: Harmonic orders tried.
ORDERS = (2, 3)


def pair_zero_shifts(two_theta: np.ndarray) -> np.ndarray:
    """Zero shifts (degrees) that make some pair of lines an exact harmonic pair."""
    tt = np.asarray(two_theta, dtype=np.float64)
    i, j = np.triu_indices(tt.size, k=1)
    values = []
    for n in ORDERS:
        z = np.zeros(i.size)
        for _ in range(2):
            half_i = np.radians(tt[i] - z) / 2.0
            half_j = np.radians(tt[j] - z) / 2.0
            f = np.sin(half_j) - n * np.sin(half_i)
            slope = (n * np.cos(half_i) - np.cos(half_j)) * np.pi / 360.0
            with np.errstate(divide="ignore", invalid="ignore"):
                z = z - f / slope
        values.append(z[np.isfinite(z) & (np.abs(z) <= MAX_ZERO)])
    return np.concatenate(values)


def zero_candidates(two_theta: np.ndarray, max_candidates: int = 1) -> list[float]:
    """Best-supported zero shifts (degrees), most pairs first; [] when no cluster has
    MIN_SUPPORT pairs. Clusters: the densest windows of CLUSTER_WIDTH over the sorted values,
    each centred on its median."""
    values = np.sort(pair_zero_shifts(two_theta))
    found: list[float] = []
    while values.size and len(found) < max_candidates:
        ends = np.searchsorted(values, values + CLUSTER_WIDTH, side="right")
        counts = ends - np.arange(values.size)
        start = int(np.argmax(counts))
        if counts[start] < MIN_SUPPORT:
            break
        window = values[start : ends[start]]
        found.append(float(np.median(window)))
        values = np.concatenate([values[:start], values[ends[start] :]])
    return found
