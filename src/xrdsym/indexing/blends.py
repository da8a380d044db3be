"""Blends: fitted lines much wider than the lines at their angle.

Two lines closer than about one FWHM show one maximum, and one pseudo-Voigt fitted to them
lands at their centroid, between the two, with a FWHM larger than either. The maximum of the
blend lies nearer its stronger part. So a fitted line wider than BLEND_WIDTH times the line
width expected at its angle keeps its detected maximum as its position.

The expected width is the Caglioti trend H^2 = U tan^2(theta) + V tan(theta) + W (H in
degrees) fitted by least squares to the squared FWHM of the fitted lines, in TREND_ROUNDS
rounds that each leave out the lines wider than BLEND_WIDTH times the previous trend.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from xrdsym.indexing.peak_fit import LineGuess
from xrdsym.indexing.results import ObservedPeak

#: A fitted line wider than this many times the width trend at its angle is a blend.
BLEND_WIDTH = 1.3

#: Rounds of the trend fit, and the fewest lines it needs.
TREND_ROUNDS = 3
MIN_TREND_LINES = 6


def width_trend(two_theta: np.ndarray, fwhm: np.ndarray) -> np.ndarray | None:
    """Caglioti FWHM (degrees) at each line from the lines themselves (module docstring),
    or None with fewer than MIN_TREND_LINES lines or a trend that is not positive."""
    if two_theta.size < MIN_TREND_LINES:
        return None
    t = np.tan(np.radians(two_theta) / 2.0)
    design = np.column_stack([t * t, t, np.ones_like(t)])
    kept = np.ones(t.size, dtype=bool)
    trend = None
    for _ in range(TREND_ROUNDS):
        if kept.sum() < MIN_TREND_LINES:
            break
        coeffs, *_ = np.linalg.lstsq(design[kept], fwhm[kept] ** 2, rcond=None)
        squared = design @ coeffs
        if not np.all(squared > 0.0):
            return None
        trend = np.sqrt(squared)
        kept = fwhm <= BLEND_WIDTH * trend
    return trend


def blend_maxima(
    fitted: list[ObservedPeak], guesses: list[LineGuess]
) -> tuple[list[ObservedPeak], int]:
    """The fitted lines with each blend (module docstring) moved to its detected maximum
    (``guesses``, in the same order), its sigma at least the move; and how many moved."""
    if not fitted:
        return fitted, 0
    two_theta = np.array([p.two_theta for p in fitted])
    fwhm = np.array([p.fwhm for p in fitted])
    trend = width_trend(two_theta, fwhm)
    if trend is None:
        return fitted, 0
    out, moved = [], 0
    for peak, guess, expected in zip(fitted, guesses, trend, strict=True):
        if peak.fwhm > BLEND_WIDTH * expected and peak.two_theta != guess.two_theta:
            shift = abs(peak.two_theta - guess.two_theta)
            peak = replace(peak, two_theta=guess.two_theta, sigma=max(peak.sigma, shift))
            moved += 1
        out.append(peak)
    return out, moved
