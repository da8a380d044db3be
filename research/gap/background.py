"""Background of a measured powder pattern: SNIP clipping and asymmetric least squares.

Two estimators, both with their length scale given in degrees 2theta so that one setting
works for scans of any step:

* :func:`snip_background` (default): Statistics-sensitive Non-linear Iterative
  Peak-clipping (C. G. Ryan et al., Nucl. Instrum. Methods B 34, 396 (1988); M. Morhac et al.,
  Nucl. Instrum. Methods A 401, 113 (1997)). The counts are compressed with the
  log-log-square-root operator v = ln(ln(sqrt(y + 1) + 1) + 1), then for half-widths p from
  ``m`` down to 1 every point is replaced by min(v_i, (v_{i-p} + v_{i+p}) / 2); the result
  is expanded back. Peaks narrower than about 2 m points are clipped away, a background
  that curves on a longer scale is kept.
* :func:`als_background`: asymmetric least squares (P. H. C. Eilers and H. F. M. Boelens,
  2005): z minimises sum_i w_i (y_i - z_i)^2 + lambda sum_i (z_{i-1} - 2 z_i + z_{i+1})^2
  with w_i = p where y_i > z_i and 1 - p elsewhere, re-weighted a few times.

A light moving average before clipping keeps SNIP from following the lower envelope of the
counting noise (which would put the background about one standard deviation too low).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from xrdsym.errors import PatternFileError

#: Default SNIP clipping half-width in degrees 2theta: wider than the base of a typical lab
#: peak (FWHM 0.05-0.5 degrees, base about 3 FWHM) yet narrower than the curvature of air
#: scattering and amorphous humps (several degrees).
SNIP_HALF_WIDTH_DEG = 1.5

#: Default half-width in degrees of the moving average applied before clipping: shorter than
#: the narrowest lab peaks, long enough to average a few points of noise.
SNIP_SMOOTHING_DEG = 0.1

#: Default ALS smoothness length in degrees: lambda = (length / step)^4 penalises curvature on
#: scales shorter than about this length (the second-difference penalty scales as step^-4).
ALS_LENGTH_DEG = 2.0

#: ALS asymmetry p: points above the baseline get weight p, points below 1 - p (Eilers and
#: Boelens recommend 0.001-0.1 for spectra with positive peaks).
ALS_ASYMMETRY = 0.01

#: ALS re-weighting rounds; the weights stop changing after about five to ten.
ALS_ITERATIONS = 10

#: Background estimators by name.
BACKGROUND_METHODS = ("snip", "als")


def median_step(two_theta: np.ndarray) -> float:
    """Median spacing of the 2theta points in degrees.

    Raises:
        PatternFileError: fewer than two points.
    """
    if two_theta.shape[0] < 2:
        raise PatternFileError("a background needs at least two points")
    return float(np.median(np.diff(two_theta)))


def _moving_average(values: np.ndarray, half_width: int) -> np.ndarray:
    """Mean over the 2 half_width + 1 points centred on each point (edges padded by reflection)."""
    if half_width < 1:
        return values.copy()
    padded = np.pad(values, half_width, mode="reflect")
    cumulative = np.concatenate(([0.0], np.cumsum(padded)))
    size = 2 * half_width + 1
    return (cumulative[size:] - cumulative[:-size]) / size


def snip_background(
    two_theta: np.ndarray,
    counts: np.ndarray,
    half_width_deg: float = SNIP_HALF_WIDTH_DEG,
    smoothing_deg: float = SNIP_SMOOTHING_DEG,
) -> np.ndarray:
    """SNIP background in counts on the points of ``two_theta`` (see the module docstring).

    Args:
        two_theta: increasing angles in degrees (roughly uniform steps).
        counts: intensities >= 0 in counts.
        half_width_deg: largest clipping half-width m in degrees (converted to points with the
            median step).
        smoothing_deg: half-width in degrees of the moving average applied first.

    Returns:
        float64 background, same shape as ``counts``, never above the smoothed counts.
    """
    y = np.asarray(counts, dtype=np.float64)
    step = median_step(np.asarray(two_theta, dtype=np.float64))
    smoothed = _moving_average(y, int(round(smoothing_deg / step)))
    v = np.log(np.log(np.sqrt(np.maximum(smoothed, 0.0) + 1.0) + 1.0) + 1.0)
    m = max(1, int(round(half_width_deg / step)))
    m = min(m, y.shape[0] - 1)
    for p in range(m, 0, -1):
        # Odd reflection continues the end slopes, so a straight background is not clipped.
        padded = np.pad(v, p, mode="reflect", reflect_type="odd")
        mean = 0.5 * (padded[: -2 * p] + padded[2 * p :])
        np.minimum(v, mean, out=v)
    return (np.exp(np.exp(v) - 1.0) - 1.0) ** 2 - 1.0


def als_background(
    two_theta: np.ndarray,
    counts: np.ndarray,
    length_deg: float = ALS_LENGTH_DEG,
    asymmetry: float = ALS_ASYMMETRY,
    iterations: int = ALS_ITERATIONS,
) -> np.ndarray:
    """Asymmetric least squares baseline in counts (see the module docstring).

    Args:
        two_theta: increasing angles in degrees (roughly uniform steps).
        counts: intensities in counts.
        length_deg: smoothness length L; lambda = (L / step)^4.
        asymmetry: weight p of points above the baseline.
        iterations: number of re-weighting rounds.

    Returns:
        float64 baseline, same shape as ``counts``.
    """
    y = np.asarray(counts, dtype=np.float64)
    n = y.shape[0]
    step = median_step(np.asarray(two_theta, dtype=np.float64))
    lam = (length_deg / step) ** 4
    second = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n), format="csc")
    penalty = lam * (second.T @ second)
    weights = np.ones(n)
    z = y
    for _ in range(iterations):
        system = sparse.diags(weights, 0, format="csc") + penalty
        z = np.asarray(spsolve(system.tocsc(), weights * y), dtype=np.float64)
        weights = np.where(y > z, asymmetry, 1.0 - asymmetry)
    return z


def estimate_background(
    two_theta: np.ndarray, counts: np.ndarray, method: str = "snip"
) -> np.ndarray:
    """Background in counts with the named estimator and its default length scale.

    Raises:
        ValueError: unknown method.
    """
    if method == "snip":
        return snip_background(two_theta, counts)
    if method == "als":
        return als_background(two_theta, counts)
    raise ValueError(f"unknown background method {method!r}: use one of {BACKGROUND_METHODS}")
