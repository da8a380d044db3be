"""Bragg's law between wavelengths and cell scales: the one place for the 2theta shift and
for the angle of a d-spacing.

lambda = 2 d sin(theta) at fixed d gives sin(theta_2) = (lambda_2 / lambda_1) sin(theta_1); a
d-spacing scaled by (1 + e) at fixed lambda gives sin(theta_2) = sin(theta_1) / (1 + e). Both
are :func:`bragg_shift` with the ratio r = lambda_2 / lambda_1 or r = 1 / (1 + e). Users: the
conversion of measured scans to the model wavelength (``prepare``), the K-alpha2 doublet
(``effects``, ``lab``), the cell strain of the laboratory augmentations and the profile fit
(``analysis``).
"""

from __future__ import annotations

import numpy as np


def bragg_shift(two_theta: np.ndarray, ratio: float) -> np.ndarray:
    """2theta of the same reflection with sin(theta) scaled by ``ratio``, degrees, float64.

    2theta_2 = 2 asin(r sin(2theta_1 / 2)), angles in degrees, r dimensionless
    (lambda_2 / lambda_1 for another wavelength, 1 / (1 + e) for a strain e of every d).
    Where r sin(theta_1) lies outside [0, 1] the reflection has no angle below 180 degrees
    and the result is NaN. r = 1 returns a copy of the input, without the sin/asin round trip.

    Args:
        two_theta: angles 2theta_1 in degrees.
        ratio: r > 0.
    """
    angles = np.asarray(two_theta, dtype=np.float64)
    if ratio == 1.0:
        return angles.copy()
    sine = np.sin(np.radians(angles) / 2.0) * ratio
    valid = (sine >= 0.0) & (sine <= 1.0)
    return np.degrees(2.0 * np.arcsin(np.where(valid, sine, np.nan)))


def bragg_shift_kept(two_theta: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bragg_shift` without the reflections that have no angle.

    Returns:
        (2theta_2 in degrees of the kept angles, boolean mask of the kept input angles).
    """
    shifted = bragg_shift(two_theta, ratio)
    keep = np.isfinite(shifted)
    return shifted[keep], keep


#: sin(theta) this far above 1 is float rounding of a reflection at 180 degrees, kept there.
SINE_ROUNDING = 1e-12


def bragg_two_theta(inverse_d: np.ndarray, wavelength: float) -> np.ndarray:
    """2theta in degrees of reflections with 1/d = ``inverse_d`` (1/Angstrom) at ``wavelength``
    (Angstrom): 2theta = 2 asin(lambda / (2 d)), float64.

    A reflection with lambda / (2 d) > 1 (beyond float rounding) has no angle: NaN.
    """
    sine = 0.5 * wavelength * np.asarray(inverse_d, dtype=np.float64)
    valid = (sine >= 0.0) & (sine <= 1.0 + SINE_ROUNDING)
    return np.degrees(2.0 * np.arcsin(np.where(valid, np.minimum(sine, 1.0), np.nan)))
