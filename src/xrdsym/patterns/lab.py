"""Training patterns that look like laboratory measurements.

``docs/measured_vs_simulated.md`` fits 17 laboratory scans with known structures and lists how
they differ from the patterns of Park et al. (2017): broader peaks, a K-alpha2 doublet, zero
offsets, a cell that does not match the CIF, intensities that fall faster with angle, texture,
backgrounds with a low-angle decay or an amorphous hump, coarse steps and a wide range of
counts. This module turns those findings into a training distribution:

* :data:`LAB_RANGES`: profile parameter ranges (:class:`ProfileRanges`) set to the measured
  values;
* the peak-list and pattern augmentations of :mod:`xrdsym.patterns.augment`;
* :class:`LabRenderer`, a picklable :class:`xrdsym.patterns.protocols.PatternRenderer` that
  applies all of them with switches and probabilities from :class:`LabAugmentation`, drawing
  its peaks with the steps of :mod:`xrdsym.patterns.profile`.

``docs/augmentations.md`` gives each family with its formula, range and measured evidence.
Random range truncation is done by ``PatternPreparer`` and is not repeated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from xrdsym.patterns.augment import (
    add_impurity,
    air_scatter,
    amorphous_humps,
    angular_trend_factors,
    average_to_step,
    back_to_grid,
    displacement_factor,
    strain_peaks,
    texture_scatter_factors,
)
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.profile import (
    add_background,
    peak_fwhm,
    peak_profile,
    poisson_counts,
    scale_to_counts,
)
from xrdsym.patterns.profile_params import (
    PAPER_RANGES,
    ProfileParams,
    ProfileRanges,
    log_uniform,
    sample_profile_params,
)
from xrdsym.patterns.protocols import PeakSource
from xrdsym.wavelengths import KA2_RATIO, ka2_wavelength

#: Laboratory-like profile ranges. Every value comes from the "Summary of the measured ranges"
#: and the recommendation table of docs/measured_vs_simulated.md (14 trustworthy XRed fits):
#:
#: * u (0.004, 0.2), w (0.0015, 0.03) degrees^2, log-uniform (paper: 0.002-0.1, 0.001-0.02),
#:   with Scherrer broadening at p = 0.6 for sizes 50-3000 A (log-uniform). Measured FWHM:
#:   0.066-1.63 degrees at 30 degrees (median 0.25), 0.10-2.27 at 90 (median 0.59); half of
#:   the samples are 2-10 times broader than the paper's maximum. 4000 draws of these ranges
#:   give FWHM(30) 0.034-1.65 (5-95 %: 0.055-1.2) and FWHM(90) 0.059-2.28 degrees.
#: * eta (0.3, 0.8): measured 0.36-0.75.
#: * K-alpha2 with p = 0.9 (ratio 0.5 of ``wavelengths.KA2_RATIO``): the doublet ratio is
#:   0.39-0.62 in every one of the 7 scans that resolve it.
#: * zero shift uniform +/-0.25 degrees with p = 1: measured -0.21 to +0.08 (ZnS -0.43).
#: * displacement +/-0.2 mm with p = 0.5 (+/-0.09 degrees at 30 degrees on R = 240 mm): zero
#:   offset and displacement cannot be told apart in the fits (Sn: Z = +0.03 with s = 0 or
#:   Z = -0.44 with s = -0.92 mm at the same Rwp); this adds the cos(theta) shape of the shift.
#: * background level uniform 0.005-0.2 of the strongest peak: measured 0.005-0.20 (median
#:   0.034); the hump and decay families below add the higher levels (Ti hump 0.33).
#: * counts (strongest peak) log-uniform 150-2.5e5: Poisson-equivalent 170-230,000 measured
#:   (paper: 1e3-1e5).
#: * preferred orientation and impurity off here: March-Dollase needs the hkl of every peak
#:   and the impurity its peak list, neither of which a cached (2theta, intensity) pair holds;
#:   :class:`LabAugmentation` provides both from the arrays alone.
LAB_RANGES = replace(
    PAPER_RANGES,
    u=(0.004, 0.2),
    w=(0.0015, 0.03),
    eta=(0.3, 0.8),
    background_level=(0.005, 0.2),
    counts=(150.0, 2.5e5),
    ka2_probability=0.9,
    zero_shift_probability=1.0,
    zero_shift=(-0.25, 0.25),
    displacement_probability=0.5,
    displacement=(-0.2, 0.2),
    crystallite_size_probability=0.6,
    crystallite_size=(50.0, 3000.0),
    preferred_orientation_probability=0.0,
    impurity_probability=0.0,
)

#: Peaks are rendered on a grid with at least this many points per FWHM of the narrowest
#: peak, then interpolated linearly to the output grid. Linear interpolation of a unit-height
#: pseudo-Voigt sampled at H/10 errs by at most h^2 |f''| / 8 = 1 % of the peak top
#: (Lorentzian, 8/H^2) and 0.7 % (Gaussian, 8 ln 2 / H^2), below the Poisson noise at 1e4
#: counts; broad patterns then cost as much as sharp ones instead of up to 20 times more.
RENDER_POINTS_PER_FWHM = 10.0

#: The render grid is coarsened only when it saves at least this factor in points: below
#: that the interpolation back to the grid (about 0.03 ms for 10,001 points) costs about as
#: much as it saves (timed on 400 mp_gen40 peak lists: 1.0, 1.2 and 1.5 within 5 %).
MIN_COARSENING = 1.2

#: Points at which the narrowest FWHM over the grid is looked for; the Caglioti and Scherrer
#: widths vary slowly with angle, so 101 samples find the minimum to well under 1 %.
FWHM_PROBE_POINTS = 101

#: K-alpha2 is drawn as a shifted copy of the K-alpha1 pattern (:func:`ka2_companion`) when
#: the pattern has at least this many points per FWHM: the linear interpolation of the copy
#: then errs by at most 1/8^2 = 1.6 % of a companion peak (0.8 % of the strongest peak).
#: Sharper patterns get every companion drawn exactly by ``render_pattern``.
KA2_WARP_POINTS_PER_FWHM = 8.0


@dataclass(frozen=True)
class LabAugmentation:
    """Switches (probabilities) and ranges of the peak-list and pattern augmentations.

    All ranges are uniform unless noted; a family with probability 0 is never applied.
    Measured values quoted are from docs/measured_vs_simulated.md.

    Attributes:
        strain_probability: chance of an isotropic cell strain (p = 0.8: every fitted CIF
            differed from its sample; 20 % stay at the CIF cell).
        strain_max: |e| bound of the isotropic strain e (dimensionless): measured -0.74 % to
            +0.51 %, so +/-0.7 %.
        displacement_b_probability: chance of an overall displacement factor (p = 0.8).
        displacement_b: B range in Angstrom^2, [0, 2.5]: the measured intensities fall faster
            with angle than simulated, median extra dB = +1.6 A^2 (up to +3; Al2O3 +8), and
            the Materials Project structures carry no displacement parameters.
        texture_probability: chance of per-peak log-normal intensity scatter (p = 0.5).
        texture_log10_sigma: range of the std of log10 of the factors: the measured spread of
            log10(measured / simulated) is 0.06-0.21 (factors 1.15-1.6), which includes fit
            noise, so 0.02-0.2.
        trend_probability: chance of a smooth angular intensity trend (p = 0.3).
        trend_max: bound K of the trend exponent k (factor exp(k x) over the reduced angle x in
            [-1, 1]); K = ln 1.47 = 0.385 so that the end factors stay within the largest
            March-Dollase r = 1.47 fitted to the scans (needle direction) and its inverse.
        impurity_probability: chance of a minor impurity phase when an impurity pool is
            given (p = 0.2, as ``REALISTIC_RANGES``).
        impurity_fraction: strongest impurity peak over strongest main peak, 0.01-0.1.
        air_scatter_probability: chance of a low-angle decay (p = 0.5): 12 of 14 scans have a
            background falling from low to high angle; autoxrd scans rise steeply below 12
            degrees.
        air_scatter_level: amplitude A at the grid start, fraction of the strongest peak,
            log-uniform 0.01-0.3 (measured background maxima 0.005-0.20, Ti 0.33).
        air_scatter_decay: decay length tau in degrees 2theta, log-uniform 3-20.
        hump_probability: chance of an amorphous hump (p = 0.3, as recommended).
        second_hump_probability: chance of a second hump given a first (p = 0.3).
        hump_level: hump height, fraction of the strongest peak, log-uniform 0.02-0.5
            (autoxrd films: 10-70 %).
        hump_fwhm: hump FWHM in degrees, 5-15 (autoxrd: 5-15 degrees wide).
        hump_centre: hump centre in degrees 2theta, 15-35 (autoxrd: 20-35; glass near 22).
        coarse_step_probability: chance of a coarse measured step (p = 0.2, as recommended).
        coarse_step: measured step in degrees, log-uniform 0.01-0.12 (median 0.035): measured
            steps are 0.0066-0.12 (four XRed scans at 0.12, autoxrd 0.04-0.05).
    """

    strain_probability: float = 0.8
    strain_max: float = 0.007
    displacement_b_probability: float = 0.8
    displacement_b: tuple[float, float] = (0.0, 2.5)
    texture_probability: float = 0.5
    texture_log10_sigma: tuple[float, float] = (0.02, 0.2)
    trend_probability: float = 0.3
    trend_max: float = 0.385
    impurity_probability: float = 0.2
    impurity_fraction: tuple[float, float] = (0.01, 0.1)
    air_scatter_probability: float = 0.5
    air_scatter_level: tuple[float, float] = (0.01, 0.3)
    air_scatter_decay: tuple[float, float] = (3.0, 20.0)
    hump_probability: float = 0.3
    second_hump_probability: float = 0.3
    hump_level: tuple[float, float] = (0.02, 0.5)
    hump_fwhm: tuple[float, float] = (5.0, 15.0)
    hump_centre: tuple[float, float] = (15.0, 35.0)
    coarse_step_probability: float = 0.2
    coarse_step: tuple[float, float] = (0.01, 0.12)


#: Switchable augmentation families -> the ``LabAugmentation`` probability that switches them.
AUGMENTATION_FAMILIES: Mapping[str, str] = MappingProxyType(
    {
        "strain": "strain_probability",
        "displacement_b": "displacement_b_probability",
        "texture": "texture_probability",
        "trend": "trend_probability",
        "impurity": "impurity_probability",
        "air_scatter": "air_scatter_probability",
        "humps": "hump_probability",
        "coarse_step": "coarse_step_probability",
    }
)

#: Switchable families of ``LAB_RANGES`` -> the ``ProfileRanges`` probability that switches
#: them (for ablations of the profile part).
RANGE_FAMILIES: Mapping[str, str] = MappingProxyType(
    {
        "ka2": "ka2_probability",
        "zero_shift": "zero_shift_probability",
        "displacement": "displacement_probability",
        "size_broadening": "crystallite_size_probability",
    }
)

#: Order of the switch draws of one pattern (one uniform number each, always all drawn).
_SWITCH_ORDER = tuple(AUGMENTATION_FAMILIES)


# --- rendering ---------------------------------------------------------------------------------


def narrowest_fwhm(grid: Grid, params: ProfileParams) -> float:
    """Smallest peak FWHM (degrees) of ``params`` over the grid range.

    min of ``profile.peak_fwhm`` (Caglioti and Scherrer) over FWHM_PROBE_POINTS angles.
    """
    probe = np.linspace(grid.start, grid.stop, FWHM_PROBE_POINTS)
    return float(peak_fwhm(probe, params, grid.wavelength).min())


def render_grid(grid: Grid, narrowest: float) -> Grid:
    """The grid peaks are drawn on: ``grid`` itself, or a coarser grid over the same range.

    Step h = ``narrowest`` / RENDER_POINTS_PER_FWHM (``narrowest``: smallest FWHM in degrees),
    used only when it is at least MIN_COARSENING times the grid step.
    """
    step = narrowest / RENDER_POINTS_PER_FWHM
    if step < MIN_COARSENING * grid.step:
        return grid
    n = int(np.ceil((grid.stop - grid.start) / step)) + 1
    return Grid(grid.start, grid.stop, n, grid.wavelength)


def ka2_companion(values: np.ndarray, grid: Grid, ratio: float = KA2_RATIO) -> np.ndarray:
    """K-alpha2 pattern of a rendered K-alpha1 pattern: ratio * P(g(x)) on the grid.

    g maps a K-alpha2 angle x back to the K-alpha1 angle of the same d-spacing:
    sin(g / 2) = (lambda1 / lambda2) sin(x / 2) (:func:`xrdsym.patterns.bragg.bragg_shift`;
    ``wavelengths.ka2_wavelength`` gives lambda2).
    Each peak moves to its K-alpha2 position (0.25 degrees at 2theta = 60 for Cu) with its
    shape; the stretch dx/dg = (lambda2 cos theta1) / (lambda1 cos theta2) is below 1.01 up to
    110 degrees (Cu), so widths and areas stay within 1 % of a direct rendering of the doublet.
    g < x, so only the first points (g below the grid start by at most the K-alpha2 shift
    there, 0.025 degrees at 10 degrees for Cu) fall off the grid; they take the first value.
    """
    x = grid.two_theta()
    g = bragg_shift(x, grid.wavelength / ka2_wavelength(grid.wavelength))
    return ratio * np.interp(g, x, values)


def render_expected(
    two_theta: np.ndarray, intensity: np.ndarray, grid: Grid, params: ProfileParams
) -> np.ndarray:
    """Noise-free counts of ``render_pattern`` on ``grid``, drawn on :func:`render_grid`.

    The peaks are drawn by ``profile.peak_profile`` on the render grid and interpolated
    linearly to ``grid`` (error <= 1 % of the peak top, see RENDER_POINTS_PER_FWHM). When
    ``params.ka2`` is on and the render grid holds at least KA2_WARP_POINTS_PER_FWHM points per
    FWHM, the doublet is :func:`ka2_companion` of the K-alpha1 pattern (half the drawing cost);
    otherwise ``peak_profile`` draws every companion peak. The copy is taken after the zero
    shift and displacement, which moves a companion by (dx/dg - 1) times the shift, under
    0.01 x 0.25 = 0.0025 degrees for the LAB_RANGES shifts. As in ``render_pattern``, the
    highest point of the peaks is ``params.counts`` (``profile.scale_to_counts``) and the
    polynomial background ``background_level * counts * P / max P`` is added
    (``profile.add_background``).
    """
    narrowest = narrowest_fwhm(grid, params)
    drawn_on = render_grid(grid, narrowest)
    warp = params.ka2 and narrowest >= KA2_WARP_POINTS_PER_FWHM * drawn_on.step
    single = replace(params, ka2=False) if warp else params
    values = scale_to_counts(peak_profile(two_theta, intensity, drawn_on, single), params.counts)
    if warp:
        values += ka2_companion(values, drawn_on)
        values = scale_to_counts(values, params.counts)
    values = add_background(values, drawn_on, params)
    if drawn_on is grid:
        return values
    return np.interp(grid.two_theta(), drawn_on.two_theta(), values)


@dataclass(frozen=True)
class LabRenderer:
    """Laboratory-like training patterns (implements ``training.data.PatternRenderer``).

    One call: switch draws for every family (always all drawn), peak-list augmentations
    (strain, displacement factor, texture scatter, angular trend, impurity), profile
    parameters from ``ranges``, noise-free rendering, air-scatter decay and humps (in units
    of the strongest peak's counts), then Poisson counts, either on the grid or on a coarse
    measured step resampled back to the grid.

    Attributes:
        ranges: profile ranges; preferred orientation and impurity must be off there (they
            need data a cached peak list lacks; ``augmentation`` covers both).
        augmentation: switches and ranges of the augmentations.
        impurity_pool: structures an impurity phase is drawn from (uniformly, with the
            pattern's generator); None disables the impurity family.
    """

    ranges: ProfileRanges = LAB_RANGES
    augmentation: LabAugmentation = LabAugmentation()
    impurity_pool: PeakSource | None = None

    def __post_init__(self) -> None:
        if self.ranges.preferred_orientation_probability > 0.0:
            raise ValueError(
                "LabRenderer: preferred orientation needs the hkl of each peak; set "
                "preferred_orientation_probability=0 and use the texture augmentation"
            )
        if self.ranges.impurity_probability > 0.0:
            raise ValueError(
                "LabRenderer: set impurity_probability=0 in the ranges; impurities come from "
                "LabAugmentation.impurity_probability and the impurity pool"
            )

    def __call__(
        self, two_theta: np.ndarray, intensity: np.ndarray, grid: Grid, rng: np.random.Generator
    ) -> np.ndarray:
        """Counts (grid.n_points,) float64 of one laboratory-like pattern."""
        aug = self.augmentation
        tt, inten, params, on = self.draw_peaks(two_theta, intensity, grid, rng)
        expected = render_expected(tt, inten, grid, params)
        extra = self._extra_background(grid, rng, on)
        if extra is not None:
            expected += params.counts * extra
        if on["coarse_step"]:
            x, coarse = average_to_step(grid, expected, log_uniform(rng, aug.coarse_step))
            return back_to_grid(x, poisson_counts(coarse, rng), grid)
        return poisson_counts(expected, rng)

    def draw_peaks(
        self, two_theta: np.ndarray, intensity: np.ndarray, grid: Grid, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, ProfileParams, dict[str, bool]]:
        """The first draws of a pattern: augmentation switches, augmented peaks (2theta in
        degrees, intensities) and profile parameters, in the order :meth:`__call__` takes them.

        Returns:
            (2theta, intensity, profile parameters, which augmentation families are on).
        """
        draws = rng.random(len(_SWITCH_ORDER))
        on = {
            name: bool(draws[i] < getattr(self.augmentation, AUGMENTATION_FAMILIES[name]))
            for i, name in enumerate(_SWITCH_ORDER)
        }
        tt, inten = self._augment_peaks(two_theta, intensity, grid, rng, on)
        return tt, inten, sample_profile_params(rng, self.ranges), on

    def _augment_peaks(
        self,
        two_theta: np.ndarray,
        intensity: np.ndarray,
        grid: Grid,
        rng: np.random.Generator,
        on: dict[str, bool],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Strain, displacement factor, texture, trend and impurity, in that order."""
        aug = self.augmentation
        tt = np.asarray(two_theta, dtype=np.float64)
        inten = np.asarray(intensity, dtype=np.float64)
        if on["strain"]:
            strain = rng.uniform(-aug.strain_max, aug.strain_max)
            tt, inten = strain_peaks(tt, inten, strain, grid.wavelength)
        if on["displacement_b"]:
            inten = inten * displacement_factor(
                tt, rng.uniform(*aug.displacement_b), grid.wavelength
            )
        if on["texture"]:
            sigma = rng.uniform(*aug.texture_log10_sigma)
            inten = inten * texture_scatter_factors(
                rng.standard_normal(size=int(tt.shape[0])), sigma
            )
        if on["trend"]:
            inten = inten * angular_trend_factors(
                tt, grid, rng.uniform(-aug.trend_max, aug.trend_max)
            )
        pool = self.impurity_pool
        if on["impurity"] and pool is not None and len(pool) > 0:
            other = pool.peaks(int(rng.integers(len(pool))))
            tt, inten = add_impurity(tt, inten, other, rng.uniform(*aug.impurity_fraction))
        return tt, inten

    def _extra_background(
        self, grid: Grid, rng: np.random.Generator, on: dict[str, bool]
    ) -> np.ndarray | None:
        """Air-scatter decay and amorphous humps as fractions of the strongest peak, or None."""
        aug = self.augmentation
        total: np.ndarray | None = None
        if on["air_scatter"]:
            level = log_uniform(rng, aug.air_scatter_level)
            total = air_scatter(grid, level, log_uniform(rng, aug.air_scatter_decay))
        if on["humps"]:
            n = 2 if rng.random() < aug.second_hump_probability else 1
            humps = amorphous_humps(
                grid,
                rng.uniform(*aug.hump_centre, size=n),
                rng.uniform(*aug.hump_fwhm, size=n),
                log_uniform(rng, aug.hump_level, size=n),
            )
            total = humps if total is None else total + humps
        return total


def lab_renderer(impurity_pool: PeakSource | None = None, **switches: bool) -> LabRenderer:
    """A :class:`LabRenderer` with default ranges and some families switched off.

    Args:
        impurity_pool: structures impurity phases are drawn from (None: no impurities).
        switches: family name -> False to switch it off (probability 0) or True to keep its
            default; names are those of AUGMENTATION_FAMILIES and RANGE_FAMILIES.

    Raises:
        ValueError: an unknown family name.
    """
    unknown = sorted(set(switches) - set(AUGMENTATION_FAMILIES) - set(RANGE_FAMILIES))
    if unknown:
        known = ", ".join([*AUGMENTATION_FAMILIES, *RANGE_FAMILIES])
        raise ValueError(f"unknown augmentation families {unknown}; known: {known}")
    off_aug: dict[str, Any] = {
        AUGMENTATION_FAMILIES[k]: 0.0
        for k, v in switches.items()
        if not v and k in AUGMENTATION_FAMILIES
    }
    off_ranges: dict[str, Any] = {
        RANGE_FAMILIES[k]: 0.0 for k, v in switches.items() if not v and k in RANGE_FAMILIES
    }
    return LabRenderer(
        ranges=replace(LAB_RANGES, **off_ranges),
        augmentation=replace(LabAugmentation(), **off_aug),
        impurity_pool=impurity_pool,
    )
