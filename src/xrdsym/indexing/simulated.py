"""Line lists as a peak search would report them, from a crystal structure (for tests, the
acceptance-rule fit and the benchmark).

The structure's peaks (:func:`xrdsym.patterns.peaks.compute_peaks`) are thinned the way a
measurement thins them: lines weaker than ``min_intensity`` percent of the strongest are lost,
lines closer than ``resolution`` degrees merge into one at their intensity-weighted position, and
each position gets a Gaussian error of ``position_sigma`` degrees plus a common ``zero_shift``.
"""

from __future__ import annotations

import numpy as np

from xrdsym.indexing.results import ObservedPeak, PeakSearchResult
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.structures.crystal import Crystal
from xrdsym.wavelengths import CU_KA1


def merge_close(
    two_theta: np.ndarray, intensity: np.ndarray, resolution: float
) -> tuple[np.ndarray, np.ndarray]:
    """Merge ascending lines closer than ``resolution`` degrees (chained) into their
    intensity-weighted mean position and summed intensity."""
    if two_theta.size == 0:
        return two_theta, intensity
    group = np.concatenate([[0], np.cumsum(np.diff(two_theta) > resolution)])
    total = np.bincount(group, weights=intensity)
    position = np.bincount(group, weights=intensity * two_theta) / np.maximum(total, 1e-300)
    return position, total


def line_list(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    wavelength: float,
    *,
    min_intensity: float = 1.0,
    resolution: float = 0.03,
    position_sigma: float = 0.0,
    zero_shift: float = 0.0,
    rng: np.random.Generator | None = None,
    source: str = "simulated",
) -> PeakSearchResult:
    """A :class:`PeakSearchResult` from calculated lines (2theta degrees, intensities 0-100)."""
    order = np.argsort(two_theta)
    position, total = merge_close(
        np.asarray(two_theta, dtype=np.float64)[order],
        np.asarray(intensity, dtype=np.float64)[order],
        resolution,
    )
    keep = total >= min_intensity / 100.0 * total.max() if total.size else total > 0
    position, total = position[keep], total[keep]
    rng = rng or np.random.default_rng(0)
    noise = rng.normal(0.0, position_sigma, position.size) if position_sigma > 0 else 0.0
    observed = position + noise + zero_shift
    sigma = max(position_sigma, 1e-3)
    peaks = tuple(
        ObservedPeak(float(t), sigma, float(i), float(i) * 0.1, 0.1)
        for t, i in zip(observed, total, strict=True)
    )
    return PeakSearchResult(peaks, wavelength, "absent", source, 0.0, ())


def crystal_lines(
    crystal: Crystal,
    wavelength: float = CU_KA1,
    two_theta_range: tuple[float, float] = (5.0, 90.0),
    **kwargs: object,
) -> PeakSearchResult:
    """Observed-like lines of a crystal (see :func:`line_list` for the keyword arguments)."""
    peaks = compute_peaks(crystal, wavelength, two_theta_range)
    return line_list(peaks.two_theta, peaks.intensity, wavelength, **kwargs)  # type: ignore[arg-type]
