"""From a measured pattern to the model input: the one code path of training and classification.

Steps of :func:`prepare_pattern`:

1. Wavelength (:func:`measurement_wavelength`, the one rule, which the classifier's samples
   apply once): the ``wavelength`` argument if given, else the one the file states, else an
   error (a 2theta scale without its wavelength cannot be put on the model grid).
2. 2theta is converted to the grid wavelength with Bragg's law
   (:func:`xrdsym.patterns.bragg.bragg_shift`, as :func:`convert_two_theta`); angles that
   have no counterpart below 180 degrees at the grid wavelength are dropped.
3. Resampling onto the grid (:func:`resample_to_grid`): linear interpolation where the
   measurement is as coarse as the grid or coarser (a scan on the grid points is kept as it
   is, like a training pattern sampled there); where it is finer, each grid point gets the
   mean of the measured counts over its grid cell, so noise and narrow spikes are not
   aliased.
4. Grid points outside the measured range are set to 0 and ``mask`` is False there; the
   covered part is normalised with :func:`normalize_intensity` (minimum 0, maximum 1).

Training applies the same zero-fill and normalisation to simulated patterns through
:func:`truncate_range`, so the model sees partial ranges exactly as measured ones arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.pattern import Pattern
from xrdsym.patterns.bragg import bragg_shift_kept
from xrdsym.patterns.grid import Grid
from xrdsym.wavelengths import WAVELENGTH_LIMITS, check_wavelength

#: Shortest covered part of the grid (degrees 2theta) a pattern must have. Fewer than about
#: 30 degrees hold too few reflections of most structures to tell the symmetry apart
#: (a cubic cell shows 4-6 peaks in 10-40 degrees with Cu K-alpha).
MIN_COVERAGE = 30.0

#: Grid points this close (degrees) beyond the first/last measured angle still count as covered:
#: float rounding of the Bragg conversion must not drop the grid point a scan ends on.
EDGE_TOLERANCE = 1e-6

#: A pattern whose covered range varies by less than this fraction of its largest value is
#: flat (float rounding of the resampling leaves ~1e-15 relative ripple on a constant).
FLAT_TOLERANCE = 1e-9


def convert_two_theta(
    two_theta: np.ndarray, from_wavelength: float, to_wavelength: float
) -> np.ndarray:
    """Convert 2theta angles between wavelengths at fixed d-spacing (Bragg's law).

    d = lambda1 / (2 sin theta1), theta2 = arcsin(lambda2 / (2 d)). Angles whose reflection
    would lie beyond 180 degrees at ``to_wavelength`` (lambda2 / (2 d) > 1) are dropped, so the
    result is NaN-free and may be shorter than the input.

    Args:
        two_theta: angles in degrees (0-180).
        from_wavelength: wavelength of the input angles, Angstrom.
        to_wavelength: wavelength of the output angles, Angstrom.
    """
    if from_wavelength <= 0.0 or to_wavelength <= 0.0:
        raise ValueError(
            f"wavelengths must be positive, got {from_wavelength!r} and {to_wavelength!r}"
        )
    values, _ = bragg_shift_kept(two_theta, to_wavelength / from_wavelength)
    return values


def normalize_intensity(values: np.ndarray) -> np.ndarray:
    """The model's intensity normalisation: (v - min) / max(v - min) along the last axis.

    Works on one pattern (n,) or a batch (..., n); returns float32 in [0, 1]. A constant
    pattern (max == min) becomes all zeros.
    """
    array = np.asarray(values, dtype=np.float64)
    shifted = array - array.min(axis=-1, keepdims=True)
    top = shifted.max(axis=-1, keepdims=True)
    safe = np.where(top > 0.0, top, 1.0)
    return (shifted / safe).astype(np.float32)


def _cell_edges(x: np.ndarray) -> np.ndarray:
    """Edges of the measuring cells of samples x: x[0], the midpoints, x[-1] (n + 1 values)."""
    return np.concatenate([[x[0]], 0.5 * (x[1:] + x[:-1]), [x[-1]]])


def resample_to_grid(
    x: np.ndarray, y: np.ndarray, grid_x: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Values of a measurement (x, y) on grid points ``grid_x`` of spacing ``step``.

    A training pattern is the profile sampled at the grid points, so a measurement is made to
    look like one:

    * measured step h >= ``step`` (h: median spacing of x): linear interpolation at the grid
      points. A scan on the grid points is returned unchanged.
    * h < ``step``: each measured count stands for its cell (between the midpoints to its
      neighbours, as a detector integrates over the step) and a grid point gets the mean of
      that piecewise-constant profile over its grid cell [g - step/2, g + step/2] (clipped to
      [x[0], x[-1]]): all measured points in the cell are averaged, so noise and narrow
      spikes are not aliased. The box of one grid step widens a Gaussian peak of FWHM H by
      a factor sqrt(1 + (2 ln 2 / 3) step^2 / H^2) at most (+10 % for H = 1.5 steps).

    Grid points outside [x[0], x[-1]] (by more than ``EDGE_TOLERANCE``) get 0.

    Args:
        x: increasing positions (degrees), at least two.
        y: values at x.
        grid_x: grid positions (degrees).
        step: grid step (degrees).

    Returns:
        (values on the grid, float64; mask of grid points inside [x[0], x[-1]]).
    """
    covered = (grid_x >= x[0] - EDGE_TOLERANCE) & (grid_x <= x[-1] + EDGE_TOLERANCE)
    values = np.zeros(grid_x.shape, dtype=np.float64)
    if not np.any(covered):
        return values, covered
    g = grid_x[covered]
    if float(np.median(np.diff(x))) >= step:
        values[covered] = np.interp(g, x, y)
        return values, covered
    # The running integral is taken of y / max|y|: finite for any finite y (a sum of huge
    # counts overflows to inf, and inf - inf is NaN); the means are scaled back at the end.
    scale = float(np.max(np.abs(y))) or 1.0
    edges = _cell_edges(x)
    integral = np.concatenate([[0.0], np.cumsum((y / scale) * np.diff(edges))])
    low = np.maximum(g - 0.5 * step, x[0])
    high = np.minimum(g + 0.5 * step, x[-1])
    width = high - low
    area = np.interp(high, edges, integral) - np.interp(low, edges, integral)
    at_point = np.interp(g, x, y)
    mean = scale * (area / np.where(width > 0.0, width, 1.0))
    values[covered] = np.where(width > 0.0, mean, at_point)
    return values, covered


@dataclass(frozen=True, eq=False)
class PreparedPattern:
    """A pattern on the model grid.

    Attributes:
        values: float32, shape (grid.n_points,), in [0, 1]; 0 outside the measured range.
        mask: bool, shape (grid.n_points,): grid points covered by the measurement.
        source: where the pattern came from.
    """

    values: np.ndarray
    mask: np.ndarray
    source: str


def measurement_wavelength(
    pattern: Pattern, override: float | None = None, fallback: float | None = None
) -> tuple[float, bool]:
    """The one rule for the wavelength of a measured pattern (Angstrom): ``override`` if given,
    else the one the file states, else ``fallback``, else PatternFileError; checked against
    ``WAVELENGTH_LIMITS``.

    Returns:
        (wavelength, True when it is the one the file states).
    """
    stated = override is None and pattern.wavelength is not None
    chosen = override if override is not None else pattern.wavelength
    if chosen is None:
        chosen = fallback
    if chosen is None:
        raise PatternFileError(
            f"{pattern.source}: the file states no wavelength; give --wavelength (a line name "
            "such as CuKa1, or a value in Angstrom)"
        )
    try:
        return check_wavelength(chosen), stated
    except ValueError:
        raise PatternFileError(
            f"{pattern.source}: wavelength {chosen!r} A is outside {WAVELENGTH_LIMITS} A"
        ) from None


def _check_columns(pattern: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """The pattern's columns as float64 after a consistency check (for patterns built by hand).

    Raises:
        PatternFileError: different lengths, fewer than 2 points, non-finite values or
            angles that do not increase.
    """
    x = np.asarray(pattern.two_theta, dtype=np.float64)
    y = np.asarray(pattern.intensity, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise PatternFileError(
            f"{pattern.source}: 2theta {x.shape} and intensity {y.shape} must be 1-D, of equal "
            "length and hold at least 2 points"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise PatternFileError(f"{pattern.source}: non-finite 2theta or intensity values")
    if np.any(np.diff(x) <= 0.0):
        raise PatternFileError(f"{pattern.source}: 2theta must be strictly increasing")
    return x, y


def prepare_pattern(
    pattern: Pattern,
    grid: Grid,
    wavelength: float | None = None,
    min_coverage_degrees: float = MIN_COVERAGE,
) -> PreparedPattern:
    """Put a measured pattern on the model grid (see the module docstring for the steps).

    Args:
        pattern: the measured pattern.
        grid: the model grid (its wavelength is the target wavelength).
        wavelength: wavelength of the measurement in Angstrom; overrides the file's.
        min_coverage_degrees: shortest accepted covered part of the grid, degrees.

    Raises:
        PatternFileError: no wavelength, a covered range shorter than ``min_coverage_degrees``
            after conversion, or a pattern without contrast in that range.
    """
    x, y = _check_columns(pattern)
    lam, _ = measurement_wavelength(pattern, wavelength)
    converted, keep = bragg_shift_kept(x, grid.wavelength / lam)
    y = y[keep]
    grid_x = grid.two_theta()
    if converted.size < 2:
        raise PatternFileError(
            f"{pattern.source}: no measured angle maps below 180 degrees at {grid.wavelength:g} A"
        )
    values, mask = resample_to_grid(converted, y, grid_x, grid.step)
    coverage = float(grid_x[mask][-1] - grid_x[mask][0]) if np.count_nonzero(mask) > 1 else 0.0
    if coverage < min_coverage_degrees:
        raise PatternFileError(
            f"{pattern.source}: the measurement covers {coverage:.1f} degrees of the "
            f"{grid.start:g}-{grid.stop:g} degree grid (measured {x[0]:g}-{x[-1]:g} degrees at "
            f"{lam:g} A, {converted[0]:.2f}-{converted[-1]:.2f} at {grid.wavelength:g} A); "
            f"at least {min_coverage_degrees:g} degrees are needed"
        )
    covered = values[mask]
    if float(covered.max() - covered.min()) <= FLAT_TOLERANCE * float(np.abs(covered).max()):
        raise PatternFileError(f"{pattern.source}: the pattern is flat over the grid range")
    out = np.zeros(grid.n_points, dtype=np.float32)
    out[mask] = normalize_intensity(covered)
    if not np.all(np.isfinite(out)):
        raise PatternFileError(
            f"{pattern.source}: the intensities give non-finite values on the grid "
            f"(largest {float(np.max(np.abs(y))):g}); rescale the counts"
        )
    return PreparedPattern(values=out, mask=mask, source=pattern.source)


def truncate_range(
    values: np.ndarray, grid: Grid, low: float, high: float, renormalize: bool = True
) -> np.ndarray:
    """Zero a pattern (or a batch (..., n)) outside [low, high] degrees 2theta.

    Used in training as the random range truncation that shows the model what a partial
    measured range looks like. With ``renormalize`` (the default) the kept part is normalised
    again with :func:`normalize_intensity`, which makes the result what
    :func:`prepare_pattern` produces for a measurement covering [low, high].

    Returns:
        float32 array of the shape of ``values``.
    """
    array = np.asarray(values)
    if array.shape[-1] != grid.n_points:
        raise ValueError(f"values have {array.shape[-1]} points, the grid {grid.n_points}")
    grid_x = grid.two_theta()
    inside = (grid_x >= low) & (grid_x <= high)
    out = np.zeros(array.shape, dtype=np.float32)
    if not np.any(inside):
        return out
    kept = array[..., inside]
    out[..., inside] = normalize_intensity(kept) if renormalize else kept
    return out
