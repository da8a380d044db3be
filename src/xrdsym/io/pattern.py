"""The measured pattern every reader returns, and the checks every reader applies.

Rules shared by all formats (``validated_pattern``):

* 2theta must be finite and strictly increasing. A file whose 2theta runs strictly *downwards*
  from its first row to its last (a scan recorded high to low) is reversed as a whole and
  ``metadata["reversed"] = "true"`` records it. Anything else that is not increasing (a
  duplicated angle, a step backwards inside the scan) is rejected with the row it happens at:
  the file is not sorted here, because a backwards step usually means two scans were
  concatenated and sorting would interleave them silently.
* Intensities must be finite. Small negative values are what background subtraction leaves
  behind in the noise; values down to ``-NEGATIVE_TOLERANCE`` times the largest intensity are
  clipped to zero (``metadata["clipped_negative"]`` counts them). More negative values mean the
  column is not an intensity (or the subtraction failed) and are rejected.
* At least ``MIN_POINTS`` points and at most ``MAX_POINTS`` (``io/numeric.py``, where the
  readers count points before they parse them), and at least one positive intensity.
* A stated wavelength within ``xrdsym.wavelengths.WAVELENGTH_LIMITS`` ([0.1, 5] Angstrom,
  the one rule of every wavelength the package accepts).
* 2theta within [0, 180) degrees: a scan starting at a negative angle (an uncorrected zero
  offset, or a column that is not 2theta) is rejected rather than cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.numeric import check_point_count
from xrdsym.wavelengths import check_wavelength

#: Fewest points accepted: a pattern sampled more coarsely cannot show a single peak profile.
MIN_POINTS = 20

#: Negative intensities down to this fraction of the maximum are clipped to zero (noise left
#: by background subtraction); more negative values are rejected.
NEGATIVE_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class Pattern:
    """A measured powder pattern as read from a file.

    Attributes:
        two_theta: scattering angles 2theta in degrees, float64, strictly increasing.
        intensity: counts (or arbitrary units), float64, finite and >= 0, same length.
        wavelength: X-ray wavelength in Angstrom (K-alpha1 of the anode) when the file states
            it, else None.
        source: the file path or a name.
        metadata: further facts the file states (format, sample, anode, ...), as text.
    """

    two_theta: np.ndarray
    intensity: np.ndarray
    wavelength: float | None
    source: str
    metadata: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of measured points."""
        return int(self.two_theta.shape[0])


def _first_bad_index(mask: np.ndarray) -> int:
    """Index of the first True entry of a boolean array (which must contain one)."""
    return int(np.flatnonzero(mask)[0])


def _ordered_two_theta(
    two_theta: np.ndarray, intensity: np.ndarray, source: str, metadata: dict[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (2theta, intensity) in increasing order, reversing a wholly descending scan.

    Raises:
        PatternFileError: duplicated angles or a scan that changes direction.
    """
    steps = np.diff(two_theta)
    if np.all(steps > 0.0):
        return two_theta, intensity
    if np.all(steps < 0.0):
        metadata["reversed"] = "true"
        return two_theta[::-1].copy(), intensity[::-1].copy()
    zero = steps == 0.0
    if np.any(zero):
        i = _first_bad_index(zero)
        raise PatternFileError(
            f"{source}: 2theta = {two_theta[i]:g} deg occurs twice (points {i + 1} and "
            f"{i + 2}); a pattern needs strictly increasing angles"
        )
    direction = np.sign(steps[0])
    i = _first_bad_index(np.sign(steps) != direction)
    raise PatternFileError(
        f"{source}: 2theta is not monotonic: it goes from {two_theta[i]:g} to "
        f"{two_theta[i + 1]:g} deg at point {i + 2} (after running "
        f"{'up' if direction > 0 else 'down'}); two scans concatenated? The file is not sorted "
        "automatically"
    )


def _checked_intensity(
    two_theta: np.ndarray, intensity: np.ndarray, source: str, metadata: dict[str, str]
) -> np.ndarray:
    """Return the intensities with small negative values clipped to zero.

    Raises:
        PatternFileError: NaN/inf values, strongly negative values, or no positive value.
    """
    bad = ~np.isfinite(intensity)
    if np.any(bad):
        i = _first_bad_index(bad)
        raise PatternFileError(
            f"{source}: intensity at 2theta = {two_theta[i]:g} deg is {float(intensity[i])} "
            f"({int(bad.sum())} non-finite values in all)"
        )
    peak = float(intensity.max())
    if peak <= 0.0:
        raise PatternFileError(f"{source}: no positive intensity (maximum {peak:g})")
    negative = intensity < 0.0
    if not np.any(negative):
        return intensity
    lowest = int(np.argmin(intensity))
    if intensity[lowest] < -NEGATIVE_TOLERANCE * peak:
        raise PatternFileError(
            f"{source}: intensity {intensity[lowest]:g} at 2theta = {two_theta[lowest]:g} deg "
            f"is below -{NEGATIVE_TOLERANCE:.0%} of the maximum {peak:g}; negative counts this "
            "large are not a measured intensity"
        )
    metadata["clipped_negative"] = str(int(negative.sum()))
    return np.clip(intensity, 0.0, None)


def scan_metadata(file_format: str, n_scans: int, index: int) -> dict[str, str]:
    """The metadata of scan ``index`` (1-based) read from a file that holds ``n_scans``:
    ``format``, ``scans`` and ``scan``, as text (the readers of multi-scan files add theirs)."""
    return {"format": file_format, "scans": str(n_scans), "scan": str(index)}


def validated_pattern(
    two_theta: np.ndarray | list[float],
    intensity: np.ndarray | list[float],
    source: str | Path,
    wavelength: float | None = None,
    metadata: dict[str, str] | None = None,
) -> Pattern:
    """Check measured columns against the rules of this module and build a :class:`Pattern`.

    Args:
        two_theta: angles in degrees.
        intensity: counts or arbitrary units, same length.
        source: the file the values came from (named in every error).
        wavelength: K-alpha1 wavelength in Angstrom stated by the file, or None.
        metadata: further facts from the file; ``reversed``/``clipped_negative`` may be added.

    Raises:
        PatternFileError: the columns break one of the rules (the message says which).
    """
    name = str(source)
    meta = dict(metadata or {})
    x = np.array(two_theta, dtype=np.float64).ravel()
    y = np.array(intensity, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise PatternFileError(f"{name}: {x.size} angles but {y.size} intensities")
    if x.size < MIN_POINTS:
        raise PatternFileError(
            f"{name}: only {x.size} data points; at least {MIN_POINTS} are needed"
        )
    check_point_count(int(x.size), name)
    bad = ~np.isfinite(x)
    if np.any(bad):
        i = _first_bad_index(bad)
        raise PatternFileError(f"{name}: 2theta of point {i + 1} is {float(x[i])}")
    x, y = _ordered_two_theta(x, y, name, meta)
    if x[0] < 0.0 or x[-1] >= 180.0:
        raise PatternFileError(
            f"{name}: 2theta runs from {x[0]:g} to {x[-1]:g} deg; a powder scan lies within "
            "0-180 deg (a negative start is an uncorrected zero offset or not a 2theta column)"
        )
    y = _checked_intensity(x, y, name, meta)
    if wavelength is not None:
        try:
            check_wavelength(wavelength)
        except ValueError as exc:
            raise PatternFileError(f"{name}: stated {exc}") from None
    x.setflags(write=False)
    y.setflags(write=False)
    return Pattern(two_theta=x, intensity=y, wavelength=wavelength, source=name, metadata=meta)
