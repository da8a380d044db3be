"""Optional sample and instrument effects applied to a peak list before profiles are drawn.

Each function is pure (arrays in, arrays out). All are off in the protocol of Park et al.
(2017); :class:`xrdsym.patterns.profile_params.ProfileParams` switches them on one by one.
"""

from __future__ import annotations

import numpy as np

from xrdsym.patterns.bragg import bragg_shift_kept
from xrdsym.patterns.peaks import PeakList
from xrdsym.wavelengths import KA2_RATIO, ka2_wavelength

#: Scherrer shape constant K for roughly spherical crystallites.
SCHERRER_K = 0.9


def ka2_doublet(
    two_theta: np.ndarray, intensity: np.ndarray, wavelength: float, ratio: float = KA2_RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """Add the K-alpha2 companion of every peak.

    sin(theta_2) = (lambda_2 / lambda_1) sin(theta_1) (:func:`xrdsym.patterns.bragg.bragg_shift`);
    companions beyond 2theta = 180 degrees are dropped. Intensities of the companions are
    ``ratio`` times their K-alpha1 peak.

    Returns:
        (2theta in degrees, intensity) of the K-alpha1 peaks followed by their companions.
    """
    tt2, ok = bragg_shift_kept(two_theta, ka2_wavelength(wavelength) / wavelength)
    return np.concatenate([two_theta, tt2]), np.concatenate([intensity, ratio * intensity[ok]])


def displacement_shift(two_theta: np.ndarray, displacement: float, radius: float) -> np.ndarray:
    """Peak shift (degrees) of a specimen displaced by ``displacement`` from the focusing circle.

    delta 2theta = -2 s cos(theta) / R radians (s: displacement, R: goniometer radius, same
    length unit, e.g. mm). Positive s shifts peaks to lower angles, most at low angles.
    """
    theta = np.radians(two_theta) / 2.0
    return np.degrees(-2.0 * displacement * np.cos(theta) / radius)


def scherrer_fwhm(
    two_theta: np.ndarray, wavelength: float, size: float, k: float = SCHERRER_K
) -> np.ndarray:
    """Size broadening FWHM in degrees 2theta: K lambda / (L cos theta) radians.

    Args:
        two_theta: peak positions in degrees.
        wavelength: lambda in Angstrom.
        size: crystallite size L in Angstrom.
        k: Scherrer constant (0.9 for spheres).
    """
    theta = np.radians(two_theta) / 2.0
    return np.degrees(k * wavelength / (size * np.cos(theta)))


def march_dollase_factors(
    peaks: PeakList, direction: tuple[int, int, int], ratio: float
) -> np.ndarray:
    """March-Dollase preferred-orientation factor of every peak (dimensionless).

    W(alpha) = (r^2 cos^2 alpha + sin^2 alpha / r)^(-3/2), alpha the angle between the
    scattering vector of a reflection and the reciprocal-lattice vector of ``direction``
    (the normal of the preferred planes); a peak's factor is the mean of W over its
    reflections. r = 1 is a random powder; r < 1 platelets lying on (direction), r > 1 needles.
    """
    recip = np.asarray(peaks.reciprocal_lattice, dtype=np.float64)
    axis = np.asarray(direction, dtype=np.float64) @ recip
    vectors = peaks.reflection_hkl.astype(np.float64) @ recip
    cos2 = (vectors @ axis) ** 2 / ((vectors * vectors).sum(axis=1) * float(axis @ axis))
    weight = (ratio * ratio * cos2 + (1.0 - cos2) / ratio) ** -1.5
    n = len(peaks)
    summed = np.bincount(peaks.reflection_peak, weights=weight, minlength=n)
    count = np.bincount(peaks.reflection_peak, minlength=n)
    return summed / np.maximum(count, 1)


def mix_impurity(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    impurity_two_theta: np.ndarray,
    impurity_intensity: np.ndarray,
    fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Append a second phase whose strongest peak is ``fraction`` of the main phase's strongest.

    Returns:
        (2theta, intensity) of the main peaks followed by the scaled impurity peaks.
    """
    if impurity_intensity.size == 0 or intensity.size == 0:
        return two_theta, intensity
    scale = fraction * float(intensity.max()) / float(impurity_intensity.max())
    return (
        np.concatenate([two_theta, impurity_two_theta]),
        np.concatenate([intensity, scale * impurity_intensity]),
    )
