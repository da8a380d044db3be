"""Index one measured profile: peak search, powder-quality gate, lattice search, extinction
analysis of the candidate cells. :func:`index_profile` is the one pipeline that ``xrdsym
index`` and ``xrdsym classify`` both run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.indexing.extinction import with_extinction
from xrdsym.indexing.lattice import index_peaks
from xrdsym.indexing.results import IndexingResult, PeakSearchResult

if TYPE_CHECKING:
    from xrdsym.indexing.lattice import IndexingOptions


def not_indexable(reason: str, wavelength: float, seconds: float = 0.0) -> IndexingResult:
    """An outcome with no peaks and no cell, for a profile the peak search refused."""
    peaks = PeakSearchResult((), wavelength, "absent", "", 0.0)
    return IndexingResult("not indexable", reason, (), peaks, seconds)


def index_profile(
    two_theta: Any,
    counts: Any,
    wavelength: float,
    *,
    options: IndexingOptions | None = None,
    source: str = "profile",
) -> IndexingResult:
    """Lines of the profile, the ranked cells that index them, every cell's extinction scores.

    Args:
        two_theta: (n,) angles in degrees, increasing.
        counts: (n,) intensities.
        wavelength: K-alpha1 (or single) wavelength in Angstrom.
        options: the lattice search's options (default: :class:`IndexingOptions`).
        source: name of the profile in error messages (its file).

    Returns:
        The :class:`IndexingResult`; a profile the powder-quality gate refuses
        (:mod:`xrdsym.indexing.quality`: amorphous, single-crystal or wafer, textured film, too
        few lines) is ``"not indexable"`` with the gate's reason and the lines found.

    Raises:
        PatternFileError: a profile the peak search cannot read (non-finite values, angles not
            increasing, too few points...), naming ``source`` and the problem.
    """
    # deferred until called: imports scipy
    from xrdsym.indexing.quality import check_powder

    start = time.perf_counter()
    x = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(counts, dtype=np.float64)
    peaks, verdict = check_powder(x, y, wavelength, source=source)
    if verdict is not None:
        return IndexingResult(
            "not indexable", verdict.reason, (), peaks, time.perf_counter() - start
        )
    result = index_peaks(peaks, options=options)
    return with_extinction(result, (float(x[0]), float(x[-1])))


def index_pattern(
    two_theta: Any, counts: Any, wavelength: float, options: IndexingOptions | None = None
) -> IndexingResult:
    """:func:`index_profile`, with a profile the peak search refuses (an
    :class:`~xrdsym.errors.XrdsymError`) given as ``"not indexable"`` with its message (for
    ``classify``, whose network still answers such a profile)."""
    start = time.perf_counter()
    try:
        return index_profile(two_theta, counts, wavelength, options=options)
    except XrdsymError as exc:
        return not_indexable(str(exc), wavelength, time.perf_counter() - start)
