"""Augmentations of the laboratory renderer, each a pure function with its formula.

Peak-list augmentations need only the cached (2theta, intensity) arrays of a structure (cell
strain, overall displacement factor, texture-like scatter and trend, impurity phase); pattern
augmentations act on a rendered pattern (air-scatter decay, amorphous humps, coarse measured
step). :class:`xrdsym.patterns.lab.LabRenderer` draws their parameters and applies them;
``docs/augmentations.md`` gives each with its range and measured evidence.
"""

from __future__ import annotations

import numpy as np

from xrdsym.patterns.bragg import bragg_shift_kept
from xrdsym.patterns.effects import mix_impurity
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.prepare import resample_to_grid
from xrdsym.patterns.profile import GAUSS_EXPONENT

# --- peak-list augmentations -------------------------------------------------------------------


def strain_peaks(
    two_theta: np.ndarray, intensity: np.ndarray, strain: float, wavelength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic cell strain: every d-spacing d -> d (1 + e), positions by Bragg's law.

    sin(theta') = lambda / (2 d (1 + e)) = sin(theta) / (1 + e)
    (:func:`xrdsym.patterns.bragg.bragg_shift` with ratio 1 / (1 + e)). Peaks whose strained
    angle would pass 180 degrees (sin(theta') > 1) are dropped with their intensities.

    Args:
        two_theta: peak positions in degrees at ``wavelength``.
        intensity: peak intensities (any unit), kept unchanged.
        strain: e (dimensionless, e.g. 0.005 for +0.5 %); e > 0 moves peaks to lower angles.
        wavelength: lambda in Angstrom (the shift depends on the ratio only; kept for the
            signature of the other augmentations).

    Returns:
        (strained 2theta in degrees, intensities of the kept peaks).
    """
    shifted, keep = bragg_shift_kept(two_theta, 1.0 / (1.0 + strain))
    return shifted, np.asarray(intensity, dtype=np.float64)[keep]


def displacement_factor(two_theta: np.ndarray, b: float, wavelength: float) -> np.ndarray:
    """Overall (Debye-Waller) intensity factor exp(-2 B s^2), s = sin(theta) / lambda.

    Args:
        two_theta: peak positions in degrees.
        b: overall displacement parameter B in Angstrom^2 (B = 8 pi^2 <u^2>).
        wavelength: lambda in Angstrom.

    Returns:
        Dimensionless factors in (0, 1] for B >= 0, one per peak.
    """
    s = np.sin(np.radians(np.asarray(two_theta, dtype=np.float64)) / 2.0) / wavelength
    return np.exp(-2.0 * b * s * s)


def texture_scatter_factors(normal_draws: np.ndarray, log10_sigma: float) -> np.ndarray:
    """Per-peak log-normal intensity factors 10^(sigma z), z standard normal draws.

    The median factor is 1 and log10 of the factors has standard deviation ``log10_sigma``
    (0.1 gives a typical factor of 1.26). Positions are untouched.
    """
    return np.power(10.0, log10_sigma * np.asarray(normal_draws, dtype=np.float64))


def angular_trend_factors(two_theta: np.ndarray, grid: Grid, k: float) -> np.ndarray:
    """Smooth angular intensity trend exp(k x), x = (2theta - mid) / half_range of ``grid``.

    x runs from -1 at ``grid.start`` to +1 at ``grid.stop``; k > 0 strengthens high-angle
    peaks (as a needle-like March-Dollase r > 1 does for reflections far from the axis),
    k < 0 weakens them. Dimensionless, 1 at the grid centre.
    """
    mid = 0.5 * (grid.start + grid.stop)
    half = 0.5 * (grid.stop - grid.start)
    x = (np.asarray(two_theta, dtype=np.float64) - mid) / half
    return np.exp(k * x)


def add_impurity(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    impurity: tuple[np.ndarray, np.ndarray],
    fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Append an impurity phase whose strongest peak is ``fraction`` of the main strongest.

    I_imp -> I_imp * fraction * max(I_main) / max(I_imp) (``effects.mix_impurity``); the main
    peaks come first and are unchanged, so the label stays that of the main phase.
    """
    return mix_impurity(
        np.asarray(two_theta, dtype=np.float64),
        np.asarray(intensity, dtype=np.float64),
        np.asarray(impurity[0], dtype=np.float64),
        np.asarray(impurity[1], dtype=np.float64),
        fraction,
    )


# --- pattern augmentations ---------------------------------------------------------------------


def air_scatter(grid: Grid, level: float, decay: float) -> np.ndarray:
    """Low-angle air-scatter decay A exp(-(2theta - 2theta_start) / tau) on the grid.

    Args:
        grid: the output grid; 2theta_start = ``grid.start`` (10 degrees on the paper grid).
        level: A, the value at the grid start (same unit as the result, e.g. a fraction of the
            strongest peak).
        decay: tau in degrees 2theta.
    """
    return level * np.exp(-(grid.two_theta() - grid.start) / decay)


def amorphous_humps(
    grid: Grid, centres: np.ndarray, fwhms: np.ndarray, heights: np.ndarray
) -> np.ndarray:
    """Broad Gaussian humps sum_j h_j exp(-4 ln 2 (2theta - c_j)^2 / H_j^2) on the grid.

    Args:
        grid: the output grid.
        centres: c_j in degrees 2theta.
        fwhms: H_j in degrees 2theta.
        heights: h_j (unit of the result, e.g. a fraction of the strongest peak).
    """
    x = grid.two_theta()[:, None]
    u = (x - np.asarray(centres, dtype=np.float64)) / np.asarray(fwhms, dtype=np.float64)
    return np.exp(-GAUSS_EXPONENT * u * u) @ np.asarray(heights, dtype=np.float64)


def coarse_points(grid: Grid, step: float) -> np.ndarray:
    """Angles of a measurement with a step of about ``step`` degrees over the grid range.

    n = round((stop - start) / step) + 1 evenly spaced points from ``grid.start`` to
    ``grid.stop`` (the actual step is within half a point of ``step`` over the range).
    """
    n = max(int(round((grid.stop - grid.start) / step)) + 1, 2)
    return np.linspace(grid.start, grid.stop, n)


def average_to_step(grid: Grid, values: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """A pattern on ``grid`` as a coarse-step measurement would record it.

    Each coarse point gets the mean of the pattern over its cell [x - h/2, x + h/2]
    (``prepare.resample_to_grid``, each grid value standing for its grid cell), which is the
    count rate a detector integrates while the scan passes that point.

    Returns:
        (coarse angles in degrees, coarse values in the unit of ``values``).
    """
    x = coarse_points(grid, step)
    actual = float(x[1] - x[0])
    coarse, _ = resample_to_grid(grid.two_theta(), np.asarray(values, np.float64), x, actual)
    return x, coarse


def back_to_grid(coarse_x: np.ndarray, coarse_values: np.ndarray, grid: Grid) -> np.ndarray:
    """A coarse measurement on ``grid``, exactly as ``prepare_pattern`` resamples a scan.

    Linear interpolation of (coarse_x, coarse_values) at the grid points
    (``prepare.resample_to_grid`` of data coarser than the grid); the coarse points span the
    grid, so every point is set.
    """
    values, _ = resample_to_grid(coarse_x, coarse_values, grid.two_theta(), grid.step)
    return values


def coarse_measurement(grid: Grid, values: np.ndarray, step: float) -> np.ndarray:
    """Noise-free coarse-step round trip: :func:`average_to_step` then :func:`back_to_grid`.

    Detail narrower than ``step`` degrees is averaged away; a peak much broader than the step
    keeps its position and area.
    """
    x, coarse = average_to_step(grid, values, step)
    return back_to_grid(x, coarse, grid)
