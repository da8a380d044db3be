"""Blends: fitted lines much wider than the lines at their angle.

Two lines closer than about one FWHM show one maximum, and one pseudo-Voigt fitted to them
lands at their centroid, between the two, with a FWHM larger than either. A fitted line wider
than BLEND_WIDTH times the line width expected at its angle is such a blend:

* it is fitted again, on SPLIT_WINDOW_FWHM of its FWHM either side (at most
  3 MAX_POINTS_PER_LINE points, as the cluster fits), as one line and as two
  lines of the expected width (:func:`split_blend`); the two lines replace it when they lower
  the residual sum of squares by F = (RSS_1 - RSS_2) / (RSS_2 / dof) >= ``split_f``, lie at
  least MIN_SPLIT_FWHM expected widths apart and both stand ``min_snr`` noise deviations high.
  With K-alpha2 present but not stripped, two parts at the K-alpha2 separation (within
  DOUBLET_TOLERANCE expected widths) are the doublet of one line: the K-alpha1 part is kept;
* otherwise it keeps its detected maximum as its position, which lies nearer its stronger part
  than the centroid does.

The expected width is the Caglioti trend H^2 = U tan^2(theta) + V tan(theta) + W (H in
degrees) fitted by least squares to the squared FWHM of the fitted lines, in TREND_ROUNDS
rounds that each leave out the lines wider than TREND_KEEP times the previous trend.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from xrdsym.indexing.peak_fit import (
    MAX_POINTS_PER_LINE,
    MIN_FWHM_STEPS,
    ClusterModel,
    Companion,
    LineGuess,
    fit_model,
    peaks_from_fit,
)
from xrdsym.indexing.results import ObservedPeak
from xrdsym.patterns.bragg import bragg_shift

#: A fitted line wider than this many times the width trend at its angle is a blend.
BLEND_WIDTH = 1.3

#: Rounds of the trend fit, each leaving out the lines wider than TREND_KEEP times the
#: previous trend (tighter than BLEND_WIDTH: a blend pulls the first trend up towards it), and
#: the fewest lines it needs.
TREND_ROUNDS = 3
TREND_KEEP = 1.15
MIN_TREND_LINES = 6

#: Half width of the window of the split fit, in the blend's fitted FWHM.
SPLIT_WINDOW_FWHM = 1.0

#: Least separation of the two parts of a split blend, in expected widths.
MIN_SPLIT_FWHM = 0.3

#: Two parts this close (in expected widths) to the K-alpha2 separation are one doublet.
DOUBLET_TOLERANCE = 0.25


@dataclass(frozen=True)
class BlendContext:
    """What the split fits need besides the lines.

    Attributes:
        x, net: the searched profile (2theta in degrees, net counts).
        step: its step, degrees.
        noise: noise standard deviation of ``net``, counts.
        min_snr: least height of each part, in ``noise``.
        split_f: least F of the split (0: no split, blends keep their maxima).
        companion: the unstripped K-alpha2 of the anode, or None.
        room: most lines the splits may add (the search's cap on lines).
    """

    x: np.ndarray
    net: np.ndarray
    step: float
    noise: float
    min_snr: float
    split_f: float
    companion: Companion | None
    room: int


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
        kept = fwhm <= TREND_KEEP * trend
    return trend


def split_blend(
    peak: ObservedPeak, expected: float, context: BlendContext
) -> list[ObservedPeak] | None:
    """The two lines (or the K-alpha1 line of a doublet) of a blend, or None when the split
    does not pass the tests of the module docstring."""
    half = SPLIT_WINDOW_FWHM * peak.fwhm
    i0, i1 = np.searchsorted(context.x, [peak.two_theta - half, peak.two_theta + half])
    stride = max(1, int(np.ceil((i1 - i0) / (3 * MAX_POINTS_PER_LINE))))
    xs, ys = context.x[i0:i1:stride], context.net[i0:i1:stride]
    if xs.size < 16:
        return None
    min_fwhm = MIN_FWHM_STEPS * context.step
    gap = float(np.sqrt(max(peak.fwhm**2 - expected**2, (0.5 * expected) ** 2)))
    one = [LineGuess(peak.two_theta, peak.height, peak.fwhm)]
    two = [
        LineGuess(peak.two_theta - gap / 2.0, 0.6 * peak.height, expected),
        LineGuess(peak.two_theta + gap / 2.0, 0.6 * peak.height, expected),
    ]
    single = ClusterModel(xs, 1, peak.two_theta, min_fwhm)
    double = ClusterModel(xs, 2, peak.two_theta, min_fwhm)
    fit_one = fit_model(single, ys, one, context.step, bounded=False)
    fit_two = fit_model(double, ys, two, context.step, bounded=False)
    if fit_one is None or fit_two is None:
        return None
    rss_one, rss_two = float(fit_one.fun @ fit_one.fun), float(fit_two.fun @ fit_two.fun)
    dof = max(xs.size - 9, 1)
    if rss_two <= 0.0 or (rss_one - rss_two) / (rss_two / dof) < context.split_f:
        return None
    parts = sorted(peaks_from_fit(fit_two, double, two, context.step), key=lambda p: p.two_theta)
    apart = parts[1].two_theta - parts[0].two_theta >= MIN_SPLIT_FWHM * expected
    high = all(p.height >= context.min_snr * context.noise for p in parts)
    if not (apart and high):
        return None
    if context.companion is not None:
        second = float(
            bragg_shift(np.array([parts[0].two_theta]), context.companion.wavelength_ratio)[0]
        )
        if abs(second - parts[1].two_theta) <= DOUBLET_TOLERANCE * expected:
            return parts[:1]
    return parts


def resolve_blends(
    fitted: list[ObservedPeak],
    guesses: list[LineGuess],
    selected: np.ndarray,
    context: BlendContext,
) -> tuple[list[ObservedPeak], int, int]:
    """The fitted lines with each blend split (:func:`split_blend`; only the ``selected``
    ones, those fitted) or moved to its detected maximum (``guesses``, in the same order; its
    sigma at least the move); and how many blends were split and how many moved."""
    if not fitted:
        return fitted, 0, 0
    two_theta = np.array([p.two_theta for p in fitted])
    fwhm = np.array([p.fwhm for p in fitted])
    trend = width_trend(two_theta, fwhm)
    if trend is None:
        return fitted, 0, 0
    out, split, moved = [], 0, 0
    for peak, guess, expected, chosen in zip(fitted, guesses, trend, selected, strict=True):
        if peak.fwhm <= BLEND_WIDTH * expected:
            out.append(peak)
            continue
        splittable = chosen and context.split_f > 0 and split < context.room
        parts = split_blend(peak, float(expected), context) if splittable else None
        if parts is not None:
            out.extend(parts)
            split += 1
        elif peak.two_theta != guess.two_theta:
            shift = abs(peak.two_theta - guess.two_theta)
            out.append(replace(peak, two_theta=guess.two_theta, sigma=max(peak.sigma, shift)))
            moved += 1
        else:
            out.append(peak)
    return out, split, moved
