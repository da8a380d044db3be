"""Weighted draws of indices, number for number the draws of ``numpy.random.Generator.choice``.

``choice`` checks its probabilities on every call, which costs more than the draw itself on
the hot paths of the training stream (the kind of each item) and of the synthetic generator
(space group, Wyckoff positions, elements). These functions make the same draws from the same
uniform numbers without the checks; the callers pass weights they have validated once.
"""

from __future__ import annotations

import numpy as np


def draw_index(rng: np.random.Generator, weights: np.ndarray) -> int:
    """An index drawn with probability weights / sum(weights) (weights >= 0, not all 0).

    The same draw as ``rng.choice(len(weights), p=weights / weights.sum())``, from the same
    single uniform number u: the first k with cdf_k > u, cdf = cumsum(p) / its last value;
    without choice's checks of p, which cost more than the draw on the generator's hot path.
    """
    cdf = np.cumsum(weights / weights.sum())
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def draw_distinct(rng: np.random.Generator, probabilities: np.ndarray, size: int) -> np.ndarray:
    """``size`` distinct indices drawn with ``probabilities`` (all > 0), in draw order.

    The same draw as ``rng.choice(len(p), size, replace=False, p=p)``: rounds of uniform numbers
    for the missing indices, each round on the cdf of p with the indices found so far set to 0,
    keeping each round's new indices in first-drawn order.
    """
    p = np.array(probabilities, dtype=np.float64)
    found = np.zeros(size, dtype=np.int64)
    n_found = 0
    while n_found < size:
        x = rng.random((size - n_found,))
        if n_found > 0:
            p[found[:n_found]] = 0
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        new = cdf.searchsorted(x, side="right")
        _, first = np.unique(new, return_index=True)
        first.sort()
        new = new.take(first)
        found[n_found : n_found + new.size] = new
        n_found += new.size
    return found
