"""Render peak lists into laboratory-like powder patterns on a 2theta grid.

Every peak is a pseudo-Voigt eta L + (1 - eta) G whose Lorentzian L and Gaussian G share the
Caglioti width FWHM^2 = U tan^2(theta) + V tan(theta) + W (degrees^2), so the pseudo-Voigt has
exactly that FWHM. A peak is evaluated on a window of +/- ``WINDOW_HALF_WIDTH_FWHM`` FWHM
around its centre and the windowed profile is normalised so that its sum times the grid step
equals the peak's integrated intensity; a weak peak is drawn on a narrower window, cut no higher
above the grid than the strongest peak is, and keeps the same shape inside it
(:func:`window_half_widths`). A random sixth-order polynomial background and Poisson
counting noise complete the pattern, as in Park et al. (2017). Optional effects (K-alpha2,
zero shift, specimen displacement, preferred orientation, crystallite size, impurity phase)
are off by default.

All peaks of a pattern are drawn at once: window offsets are laid out in one flat array
(np.repeat) and accumulated on the grid with np.bincount, without a Python loop over peaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.special import erf

from xrdsym.patterns import effects
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.peaks import PeakList
from xrdsym.patterns.profile_params import (
    PAPER_RANGES,
    ProfileParams,
    sample_profile_params,
)

#: The strongest peaks are drawn on +/- this many FWHM. The pseudo-Voigt keeps all of its
#: Gaussian part there and (2/pi) atan(2 k) = 97 % of its Lorentzian part; the window is
#: renormalised to the full integrated intensity, so intensities are conserved exactly and only
#: far tails are cut.
WINDOW_HALF_WIDTH_FWHM = 10.0

#: Narrowest window of a weak peak, in FWHM (see :func:`window_half_widths`). The Gaussian part
#: is exp(-4 ln 2 k^2) = 1e-11 of its top there, and (2/pi) atan(2 k) = 89 % of the Lorentzian
#: part lies inside.
MIN_WINDOW_HALF_WIDTH_FWHM = 3.0

#: A weak peak's window ends where its Lorentzian tail falls to this fraction of the level at
#: which the strongest peak is cut (see :func:`window_half_widths`). At 1/4, drawings of stored
#: mp_gen40 and synthetic peak lists stay within 0.31 and 0.63 % of the highest point of the
#: pseudo-Voigt sum without any window (0.29 and 0.47 % with every peak on the full window), on
#: 40 and 34 % of the window points (``python benchmarks/bench_render.py``).
WEAK_PEAK_CUT_FRACTION = 0.25

#: Smallest FWHM in degrees 2theta a profile may have: below one tenth of a typical grid step
#: a pseudo-Voigt is no longer sampled meaningfully.
MIN_FWHM = 1e-3

#: Unit-area shape constants of a peak of FWHM H (degrees), u = (2theta - 2theta_0) / H:
#: Lorentzian L = LORENTZ_NORM / (H (1 + 4 u^2)) with LORENTZ_NORM = 2 / pi, Gaussian
#: G = GAUSS_NORM / H exp(-GAUSS_EXPONENT u^2) with GAUSS_NORM = 2 sqrt(ln 2 / pi) and
#: GAUSS_EXPONENT = 4 ln 2 (so that G falls to half its top at u = 1/2). L and G are in
#: 1 / degrees and integrate to 1 over 2theta.
LORENTZ_NORM = 2.0 / np.pi
GAUSS_NORM = 2.0 * np.sqrt(np.log(2.0) / np.pi)
GAUSS_EXPONENT = 4.0 * np.log(2.0)


def pseudo_voigt_shape(u2: np.ndarray, eta: float) -> np.ndarray:
    """H times the unit-area pseudo-Voigt, eta H L + (1 - eta) H G, at u^2 (dimensionless).

    eta LORENTZ_NORM / (1 + 4 u^2) + (1 - eta) GAUSS_NORM exp(-GAUSS_EXPONENT u^2) with
    u = (2theta - 2theta_0) / H; divide by H (degrees) for the profile in 1 / degrees.
    Float64; :func:`render_peaks` evaluates the same expression in float32, in place.
    """
    return eta * LORENTZ_NORM / (1.0 + 4.0 * u2) + (1.0 - eta) * GAUSS_NORM * np.exp(
        -GAUSS_EXPONENT * u2
    )


def caglioti_fwhm(two_theta: np.ndarray, u: float, v: float, w: float) -> np.ndarray:
    """FWHM in degrees: sqrt(U tan^2 theta + V tan theta + W), U, V, W in degrees^2.

    Raises:
        ValueError: FWHM^2 is not positive at some angle.
    """
    t = np.tan(np.radians(np.asarray(two_theta, dtype=np.float64)) / 2.0)
    fwhm2 = (u * t + v) * t + w
    if fwhm2.size and float(fwhm2.min()) <= 0.0:
        raise ValueError(f"Caglioti FWHM^2 is not positive for U={u}, V={v}, W={w}")
    return np.sqrt(fwhm2)


def peak_fwhm(two_theta: np.ndarray, params: ProfileParams, wavelength: float) -> np.ndarray:
    """FWHM of each peak in degrees: Caglioti, combined in quadrature with Scherrer broadening
    sqrt(H_inst^2 + H_size^2) when ``params.crystallite_size`` > 0, floored at ``MIN_FWHM``."""
    fwhm = caglioti_fwhm(two_theta, params.u, params.v, params.w)
    if params.crystallite_size > 0.0:
        size = effects.scherrer_fwhm(two_theta, wavelength, params.crystallite_size)
        fwhm = np.sqrt(fwhm * fwhm + size * size)
    return np.maximum(fwhm, MIN_FWHM)


def window_area(eta: float, half_width_fwhm: float | np.ndarray = WINDOW_HALF_WIDTH_FWHM) -> Any:
    """Area of a unit-area pseudo-Voigt inside +/- k FWHM (dimensionless; an array for an
    array of k).

    eta (2/pi) atan(2k) + (1 - eta) erf(2 sqrt(ln 2) k).
    """
    k = np.asarray(half_width_fwhm, dtype=np.float64)
    lorentz = LORENTZ_NORM * np.arctan(2.0 * k)
    gauss = erf(np.sqrt(GAUSS_EXPONENT) * k)
    area = eta * lorentz + (1.0 - eta) * gauss
    return float(area) if area.ndim == 0 else area


def window_half_widths(intensity: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Half-width of each peak's window in FWHM, k_i, between MIN_WINDOW_HALF_WIDTH_FWHM and
    WINDOW_HALF_WIDTH_FWHM.

    Far from its centre a peak of integrated intensity I and FWHM H is its Lorentzian tail,
    eta I / (2 pi H k^2) at k FWHM (intensity / degree). The peak of largest height scale
    I / H is cut at WINDOW_HALF_WIDTH_FWHM = K; a weaker peak i is cut where its tail falls to
    f = WEAK_PEAK_CUT_FRACTION of that level, k_i = K sqrt((I_i / H_i) / (f max_j I_j / H_j)),
    so no peak is cut higher above the grid than the strongest one is, and most weak peaks
    take a fraction of the points of a full window.

    Args:
        intensity: (n,) integrated intensities, >= 0.
        fwhm: (n,) FWHM in degrees, > 0.
    """
    height = np.asarray(intensity, dtype=np.float64) / np.asarray(fwhm, dtype=np.float64)
    top = float(height.max(initial=0.0))
    if top <= 0.0:
        return np.full(height.shape, MIN_WINDOW_HALF_WIDTH_FWHM)
    k = WINDOW_HALF_WIDTH_FWHM * np.sqrt(np.maximum(height, 0.0) / (WEAK_PEAK_CUT_FRACTION * top))
    return np.clip(k, MIN_WINDOW_HALF_WIDTH_FWHM, WINDOW_HALF_WIDTH_FWHM)


def render_peaks(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    fwhm: np.ndarray,
    eta: float,
    grid: Grid,
    half_widths: np.ndarray | None = None,
) -> np.ndarray:
    """Sum of unit-shape pseudo-Voigt peaks on ``grid.two_theta()``, float64.

    Peak i is eta L_i + (1 - eta) G_i with FWHM H_i (degrees) (:func:`pseudo_voigt_shape` in
    float32, window-local coordinates, in place), evaluated at the grid points within
    +/- k_i H_i of its centre (k_i from :func:`window_half_widths`: K = WINDOW_HALF_WIDTH_FWHM
    for the strongest peaks, down to 3 for weak ones) and scaled so that
    sum(profile_i) * grid.step = intensity_i A(k_i) / A(K), A = :func:`window_area`: a peak
    on the full window keeps its integrated intensity (intensity x degrees) exactly, and a
    weak peak has the same shape inside its window and lacks only its tail beyond it. Window
    points outside the grid are dropped after normalisation, so a peak cut by the grid edge
    loses the part outside. ``half_widths`` (n,) sets every k_i instead, in FWHM (at most
    K; ``np.full(n, WINDOW_HALF_WIDTH_FWHM)`` draws every peak on the full window).
    """
    out_size = grid.n_points
    step = grid.step
    centre = (np.asarray(two_theta, dtype=np.float64) - grid.start) / step  # fractional index
    nearest = np.rint(centre).astype(np.int64)
    half_fwhm = (
        window_half_widths(intensity, fwhm)
        if half_widths is None
        else np.minimum(np.asarray(half_widths, dtype=np.float64), WINDOW_HALF_WIDTH_FWHM)
    )
    half = np.ceil(half_fwhm * np.asarray(fwhm) / step).astype(np.int64)
    overlaps = (nearest + half >= 0) & (nearest - half < out_size)
    if not np.all(overlaps):
        centre, nearest, half = centre[overlaps], nearest[overlaps], half[overlaps]
        half_fwhm = half_fwhm[overlaps]
        intensity, fwhm = np.asarray(intensity)[overlaps], np.asarray(fwhm)[overlaps]
    n_peaks = int(centre.shape[0])
    if n_peaks == 0:
        return np.zeros(out_size)
    sizes = 2 * half + 1
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    first = nearest - half
    offset = max(0, -int(first.min()))
    # j: index inside each window; np.repeat spreads per-peak values (faster than a gather).
    local = np.arange(total) - np.repeat(starts, sizes)
    index = local + np.repeat(first + offset, sizes)
    # Window-local coordinates keep float32 precise: u = (j - c_local) step / H.
    c_local = (centre - first).astype(np.float32)
    inv_width = (step / np.asarray(fwhm, dtype=np.float64)).astype(np.float32)
    u2 = local.astype(np.float32)
    u2 -= np.repeat(c_local, sizes)
    u2 *= np.repeat(inv_width, sizes)
    u2 *= u2
    lorentz = np.multiply(u2, np.float32(4.0))
    lorentz += np.float32(1.0)
    np.divide(np.float32(eta * LORENTZ_NORM), lorentz, out=lorentz)
    u2 *= np.float32(-GAUSS_EXPONENT)
    gauss = np.exp(u2, out=u2)
    gauss *= np.float32((1.0 - eta) * GAUSS_NORM)
    shape = np.add(lorentz, gauss, out=lorentz)
    window_sum = np.add.reduceat(shape, starts).astype(np.float64)
    kept_area = window_area(eta, half_fwhm) / window_area(eta)
    scale = np.asarray(intensity, dtype=np.float64) * kept_area / (window_sum * step)
    shape *= np.repeat(scale.astype(np.float32), sizes)
    pattern = np.bincount(index, weights=shape, minlength=offset + out_size)
    return pattern[offset : offset + out_size]


def background(grid: Grid, params: ProfileParams) -> np.ndarray:
    """Background shape P(x) / max P on the grid (dimensionless, in (0, 1]).

    P(x) = sum_k c_k x^k with x = (2theta - mid) / half_range in [-1, 1].

    Raises:
        ValueError: P is not positive on the grid.
    """
    x = np.linspace(-1.0, 1.0, grid.n_points)
    values = np.zeros(grid.n_points)
    for c in reversed(params.background_coeffs):  # Horner over the 7 coefficients
        values *= x
        values += c
    low = float(values.min())
    if low <= 0.0:
        raise ValueError(f"background polynomial is not positive on the grid (min {low})")
    return values / float(values.max())


def apply_effects(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    params: ProfileParams,
    wavelength: float,
    peak_list: PeakList | None = None,
    impurity: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the optional effects of ``params`` to the peak positions and intensities.

    Order: preferred orientation (needs ``peak_list``, the list ``two_theta`` came from),
    impurity phase (needs ``impurity``), K-alpha2 doublet, zero shift, specimen displacement.

    Raises:
        ValueError: an effect is on but the data it needs is missing.
    """
    tt = np.asarray(two_theta, dtype=np.float64)
    inten = np.asarray(intensity, dtype=np.float64)
    if params.march_dollase_r != 1.0:
        if peak_list is None or len(peak_list) != tt.shape[0]:
            raise ValueError("preferred orientation needs the PeakList the peaks came from")
        inten = inten * effects.march_dollase_factors(
            peak_list, params.po_direction, params.march_dollase_r
        )
    if params.impurity_fraction > 0.0:
        if impurity is None:
            raise ValueError("an impurity fraction needs the impurity peak list")
        tt, inten = effects.mix_impurity(
            tt,
            inten,
            np.asarray(impurity[0], dtype=np.float64),
            np.asarray(impurity[1], dtype=np.float64),
            params.impurity_fraction,
        )
    if params.ka2:
        tt, inten = effects.ka2_doublet(tt, inten, wavelength)
    shift = params.zero_shift
    if params.displacement != 0.0:
        tt = tt + effects.displacement_shift(tt, params.displacement, params.goniometer_radius)
    return (tt + shift if shift else tt), inten


def peak_profile(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    grid: Grid,
    params: ProfileParams,
    peak_list: PeakList | None = None,
    impurity: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The peak part of a pattern on ``grid``: :func:`apply_effects`, then :func:`render_peaks`
    with the FWHM of :func:`peak_fwhm`. Integrated intensities are conserved: the sum times
    the grid step is the summed intensity (intensity x degrees), up to peaks cut by the grid."""
    tt, inten = apply_effects(two_theta, intensity, params, grid.wavelength, peak_list, impurity)
    return render_peaks(tt, inten, peak_fwhm(tt, params, grid.wavelength), params.eta, grid)


def scale_to_counts(peaks: np.ndarray, counts: float) -> np.ndarray:
    """``peaks`` * counts / max(peaks): the highest point becomes ``counts`` (a new array);
    an all-zero or empty pattern is returned as it is."""
    top = float(peaks.max()) if peaks.size else 0.0
    return peaks * (counts / top) if top > 0.0 else peaks


def add_background(values: np.ndarray, grid: Grid, params: ProfileParams) -> np.ndarray:
    """``values`` (counts, modified in place and returned) plus the polynomial background
    background_level * counts * P(x) / max P (:func:`background`)."""
    values += (params.background_level * params.counts) * background(grid, params)
    return values


def poisson_counts(expected: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """A Poisson draw of counts with mean ``expected`` at every point, float64.

    Raises:
        ValueError: ``rng`` is None (noise needs an explicit generator).
    """
    if rng is None:
        raise ValueError("a noisy pattern needs an explicit numpy Generator")
    return rng.poisson(expected).astype(np.float64)


def render_pattern(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    grid: Grid,
    params: ProfileParams,
    rng: np.random.Generator | None,
    *,
    noise: bool = True,
    peak_list: PeakList | None = None,
    impurity: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A simulated pattern in counts on ``grid.two_theta()`` (float64, shape (n_points,)).

    Steps: :func:`peak_profile` (optional effects, pseudo-Voigt peaks with the Caglioti FWHM,
    integrated intensities conserved); :func:`scale_to_counts` (highest point of the peak
    pattern = ``params.counts``); :func:`add_background`
    (``background_level * counts * P(x) / max P``); then, if ``noise``,
    :func:`poisson_counts` (``rng`` required), else the expected counts.

    Args:
        two_theta: peak positions in degrees (at ``grid.wavelength``).
        intensity: relative integrated intensities.
        grid: the output grid.
        params: profile, background, noise and effect parameters.
        rng: the only source of randomness (Poisson noise); None only with ``noise=False``.
        noise: draw Poisson counts (True) or return the noise-free expectation (False).
        peak_list: the PeakList of the peaks, needed for preferred orientation only.
        impurity: (2theta, intensity) of an impurity phase, needed when impurity_fraction > 0.
    """
    peaks = peak_profile(two_theta, intensity, grid, params, peak_list, impurity)
    expected = add_background(scale_to_counts(peaks, params.counts), grid, params)
    return poisson_counts(expected, rng) if noise else expected


@dataclass(frozen=True)
class ProfileRenderer:
    """Random profile parameters (:func:`sample_profile_params`) then :func:`render_pattern`
    with Poisson noise; a :class:`xrdsym.patterns.protocols.PatternRenderer`.

    Attributes:
        overrides: fields of :class:`ProfileRanges` replacing those of ``PAPER_RANGES``.
    """

    overrides: dict[str, Any] = field(default_factory=dict)

    def __call__(
        self, two_theta: np.ndarray, intensity: np.ndarray, grid: Grid, rng: np.random.Generator
    ) -> np.ndarray:
        """Counts (grid.n_points,) of one randomly profiled pattern."""
        ranges = replace(PAPER_RANGES, **self.overrides) if self.overrides else PAPER_RANGES
        params = sample_profile_params(rng, ranges)
        return render_pattern(two_theta, intensity, grid, params, rng)
