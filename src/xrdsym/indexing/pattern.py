"""Index one measured profile: peak search, lattice search, extinction analysis of the best cell."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.indexing.extinction import with_extinction
from xrdsym.indexing.lattice import index_peaks
from xrdsym.indexing.results import IndexingResult, PeakSearchResult


def not_indexable(reason: str, wavelength: float, seconds: float = 0.0) -> IndexingResult:
    """An outcome with no peaks and no cell, for a profile the peak search refused."""
    peaks = PeakSearchResult((), wavelength, "absent", "", 0.0)
    return IndexingResult("not indexable", reason, (), peaks, seconds)


def index_pattern(two_theta: Any, counts: Any, wavelength: float) -> IndexingResult:
    """Lines of the profile, the ranked cells that index them, the best cell's extinction scores.

    Args:
        two_theta: (n,) angles in degrees, increasing.
        counts: (n,) intensities.
        wavelength: K-alpha1 (or single) wavelength in Angstrom.

    Returns:
        The :class:`IndexingResult`; a profile the peak search refuses (an
        :class:`~xrdsym.errors.XrdsymError`) gives ``"not indexable"`` with its message, and
        one the powder-quality gate refuses (:mod:`xrdsym.indexing.quality`: amorphous,
        single-crystal or wafer, textured film, too few lines) ``"not indexable"`` with the
        gate's reason and the lines found.
    """
    # deferred until called: imports scipy
    from xrdsym.indexing.quality import check_powder

    start = time.perf_counter()
    x = np.asarray(two_theta, dtype=np.float64)
    try:
        peaks, verdict = check_powder(x, np.asarray(counts, dtype=np.float64), wavelength)
    except XrdsymError as exc:
        return not_indexable(str(exc), wavelength, time.perf_counter() - start)
    if verdict is not None:
        return IndexingResult(
            "not indexable", verdict.reason, (), peaks, time.perf_counter() - start
        )
    result = index_peaks(peaks)
    return with_extinction(result, (float(x[0]), float(x[-1])) if x.size else None)
