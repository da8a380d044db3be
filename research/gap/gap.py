"""Measured versus simulated powder patterns: fit a scan with the peaks of its structure.

For a measured scan y_i at angles x_i and the simulated peak list of its structure (K-alpha1,
graphite-monochromator Lorentz-polarization), the model is

    m(x) = B(x) + sum_k b_k T_k(x) + sum_c a_c P_c(x; Z, e, U, V, W, eta, r2)

* B: the background estimated first (:mod:`research.gap.background`, SNIP by default);
  T_k: a few Chebyshev polynomials with free coefficients b_k that correct it.
* P_c: the profile of peak group c (simulated peaks closer than about one FWHM merged),
  sum_j I_j [PV(x; 2theta_j) + r2 PV(x; 2theta_j,alpha2)] with I_j the simulated intensities
  (:mod:`research.gap.model` for positions, shapes and normalisation).
* a_c >= 0: the measured amplitude of group c (the strongest groups are free, the weak ones
  share one amplitude). Divided by its median over the strong groups it is the
  measured/simulated intensity ratio of the group (1 for a perfect random powder; preferred
  orientation, absorption, extinction and a wrong structure all move it).

Fit, by variable projection: for given non-linear parameters (zero offset Z, isotropic cell
strain e, the anisotropic cell changes allowed by the point group, Caglioti U, V, W, eta,
K-alpha2 ratio r2 and optionally the specimen displacement)
the linear ones (a_c >= 0, b_k) are the bounded linear least-squares solution
(``scipy.optimize.lsq_linear``), and ``scipy.optimize.least_squares`` minimises the weighted
residual sqrt(w_i) (y_i - m_i), w_i = 1 / max(y_i, 1) (counting statistics), over the
non-linear ones within bounds. The start comes from a grid search of Z and e that maximises
the overlap of the simulated sticks with the background-subtracted scan, and from the width
of the strongest measured peak.

Figures of merit: Rwp = sqrt(sum w (y - m)^2 / sum w y^2), for the free-amplitude model (the
profile alone, as in a Le Bail fit) and for the model with the simulated intensities and one
scale (how well the simulator would reproduce the scan). Noise: the second difference
d_i = y_i - (y_{i-1} + y_{i+1}) / 2 on peak-free points has variance 1.5 g y for counts
scaled by g from Poisson counts (g = 1: raw counts); g is reported as ``noise_gain``.

Modules: :mod:`research.gap.result` (options and result types),
:mod:`research.gap.projection` (the linear part), :mod:`research.gap.refine` (start
values and the non-linear search), :mod:`research.gap.diagnostics` (figures of merit,
texture, warnings); this module puts them together. :func:`research.gap.compare.compare`
reads the files, fits and plots.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from research.gap.background import BACKGROUND_METHODS, estimate_background, median_step
from research.gap.diagnostics import (
    MIN_NOISE_POINTS,
    fit_warnings,
    ka2_resolved,
    noise_gain,
    poly_error,
    texture_fit,
)
from research.gap.model import CellModel, ProfileState, chebyshev_basis, invariant_metric_basis
from research.gap.projection import (
    COUNT_FLOOR,
    FitProblem,
    group_matrix,
    group_ratios,
    rwp,
    solve_linear,
)
from research.gap.refine import fit_state
from research.gap.result import DEFAULT_OPTIONS, FitOptions, GapFit, PeakGroupRatios, TextureFit
from xrdsym import wavelengths
from xrdsym.errors import PatternFileError
from xrdsym.patterns.peaks import PeakList, compute_peaks
from xrdsym.patterns.profile_params import PAPER_RANGES, ProfileRanges
from xrdsym.structures.crystal import Crystal

__all__ = [
    "RANGE_MARGIN_DEG",
    "FitOptions",
    "GapFit",
    "PeakGroupRatios",
    "TextureFit",
    "build_problem",
    "fit_pattern",
    "simulate_peaks",
]

#: Simulated peaks are computed this many degrees beyond the scan on both sides so that
#: peaks moved into the scan by the strain and tails of peaks just outside are modelled.
RANGE_MARGIN_DEG = 5.0


def fit_pattern(
    two_theta: np.ndarray,
    counts: np.ndarray,
    peaks: PeakList,
    *,
    source: str = "",
    structure: str = "",
    options: FitOptions = DEFAULT_OPTIONS,
    rotations: np.ndarray | None = None,
    texture_ranges: ProfileRanges = PAPER_RANGES,
) -> GapFit:
    """Fit a measured scan with a simulated peak list (see the module docstring).

    Args:
        two_theta: increasing angles in degrees.
        counts: measured intensities (counts, or counts times a constant).
        peaks: simulated K-alpha1 peak list at the scan's wavelength covering the scan.
        source, structure: names for the report.
        options: fit choices.
        rotations: (n, 3, 3) rotations W of the structure's space group (fractional
            coordinates), e.g. from :func:`xrdsym.patterns.peaks.symmetry_operations`; they
            define the anisotropic cell changes. None fits the isotropic strain only.
        texture_ranges: preferred-orientation directions tried for the March-Dollase fit.

    Raises:
        PatternFileError: the scan has too few points or no simulated peak inside it.
        ValueError: unknown background method.
    """
    x, y, in_scan = _checked_scan(two_theta, counts, peaks, source, structure, options)
    problem = build_problem(x, y, peaks, in_scan, options, rotations)
    state, result, names, bounds = fit_state(problem, options)
    scale, model_sim = _simulated_model(problem, state)
    groups, model_free, peak_part, member_group, n_columns = group_ratios(
        problem, state, peaks, in_scan, scale
    )
    final_background = model_free - peak_part
    gain = noise_gain(y, peak_part, final_background)
    r_expected = _expected_rwp(problem, gain, len(result.x) + n_columns + problem.basis.shape[1])
    rwp_free = rwp(problem, model_free)
    resolved = ka2_resolved(state, groups, problem.wavelength_ratio)
    return GapFit(
        **_scan_fields(x, peaks, source, structure),
        **_background_fields(x, final_background, float(peak_part.max()), options),
        state=state,
        scale=scale,
        ka2_modelled=problem.wavelength_ratio is not None,
        ka2_resolved=resolved,
        noise_gain=gain,
        residual_gain=float(np.mean((y - model_free) ** 2 / np.maximum(model_free, COUNT_FLOOR))),
        rwp_free=rwp_free,
        rwp_simulated=rwp(problem, model_sim),
        r_expected=r_expected,
        groups=groups,
        texture=texture_fit(peaks, groups, member_group, texture_ranges),
        success=bool(result.success),
        message=str(result.message),
        n_evaluations=int(result.nfev),
        warnings=fit_warnings(
            result, names, bounds[0], bounds[1], state, x, rwp_free, r_expected, resolved
        ),
        two_theta=x,
        counts=y,
        background=final_background,
        model_free=model_free,
        model_simulated=model_sim,
        peak_positions=groups.two_theta[groups.strong],
    )


def _checked_scan(
    two_theta: np.ndarray,
    counts: np.ndarray,
    peaks: PeakList,
    source: str,
    structure: str,
    options: FitOptions,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scan as float64 (x, y) and the peaks within RANGE_MARGIN_DEG of it (mask).

    Raises:
        ValueError: unknown background method.
        PatternFileError: fewer than MIN_NOISE_POINTS points, or no peak inside the scan.
    """
    if options.background_method not in BACKGROUND_METHODS:
        raise ValueError(f"unknown background method {options.background_method!r}")
    x = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(counts, dtype=np.float64)
    if x.shape[0] < MIN_NOISE_POINTS:
        raise PatternFileError(f"{source}: {x.shape[0]} points are too few to fit")
    lo, hi = float(x[0]), float(x[-1])
    in_scan = (peaks.two_theta > lo - RANGE_MARGIN_DEG) & (peaks.two_theta < hi + RANGE_MARGIN_DEG)
    if not np.any((peaks.two_theta > lo) & (peaks.two_theta < hi)):
        raise PatternFileError(
            f"{source}: no simulated peak of {structure or 'the structure'} lies in "
            f"{lo:g}-{hi:g} degrees"
        )
    return x, y, in_scan


def build_problem(
    x: np.ndarray,
    y: np.ndarray,
    peaks: PeakList,
    in_scan: np.ndarray,
    options: FitOptions,
    rotations: np.ndarray | None,
) -> FitProblem:
    """The fixed inputs of a fit: weights 1 / max(y, COUNT_FLOOR), the estimated background,
    the Chebyshev correction basis, the peaks in the scan with their cell model and the
    K-alpha2 wavelength ratio lambda2 / lambda1 (None when the wavelength is no anode line)."""
    ratio2: float | None
    try:
        ratio2 = wavelengths.ka2_wavelength(peaks.wavelength) / peaks.wavelength
    except ValueError:
        ratio2 = None
    return FitProblem(
        x=x,
        y=y,
        sqrt_w=1.0 / np.sqrt(np.maximum(y, COUNT_FLOOR)),
        background=estimate_background(x, y, options.background_method),
        basis=chebyshev_basis(x, options.background_terms),
        peak_two_theta=peaks.two_theta[in_scan],
        cell=_cell_model(peaks, in_scan, rotations if options.fit_cell else None),
        peak_intensity=peaks.intensity[in_scan],
        wavelength_ratio=ratio2,
        radius=options.goniometer_radius,
    )


def _simulated_model(problem: FitProblem, state: ProfileState) -> tuple[float, np.ndarray]:
    """One scale for all simulated intensities (a single design column): (scale in counts x
    degrees per unit simulated intensity, the model in counts)."""
    single = np.zeros(problem.peak_two_theta.shape[0], np.int64)
    coeffs, model = solve_linear(problem, group_matrix(problem, state, single, 1))
    return float(coeffs[0]), model


def _expected_rwp(problem: FitProblem, gain: float, n_params: int) -> float:
    """R_exp = sqrt(g (N - P) / sum w y^2), g the noise gain (1 when unknown), N points and
    P fitted parameters."""
    weighted_total = float(np.sum(problem.sqrt_w**2 * problem.y * problem.y))
    g = gain if np.isfinite(gain) else 1.0
    return float(np.sqrt(g * max(problem.x.shape[0] - n_params, 1) / weighted_total))


def _scan_fields(x: np.ndarray, peaks: PeakList, source: str, structure: str) -> dict[str, Any]:
    """The scan part of a :class:`GapFit`: names, wavelength, range (degrees), median step and
    the number of simulated peaks inside the range."""
    lo, hi = float(x[0]), float(x[-1])
    return {
        "source": source,
        "structure": structure,
        "wavelength": float(peaks.wavelength),
        "n_points": int(x.shape[0]),
        "two_theta_min": lo,
        "two_theta_max": hi,
        "step": median_step(x),
        "n_peaks": int(np.sum((peaks.two_theta >= lo) & (peaks.two_theta <= hi))),
    }


def _background_fields(
    x: np.ndarray, background: np.ndarray, peak_top: float, options: FitOptions
) -> dict[str, Any]:
    """The background part of a :class:`GapFit`, relative to the strongest fitted peak height
    ``peak_top`` (counts): level (maximum), start, end and the sixth-order polynomial error."""
    return {
        "background_method": options.background_method,
        "background_level": float(background.max()) / peak_top,
        "background_start": float(background[0]) / peak_top,
        "background_end": float(background[-1]) / peak_top,
        "background_poly_error": poly_error(x, background),
        "peak_counts": peak_top,
    }


def _cell_model(peaks: PeakList, in_scan: np.ndarray, rotations: np.ndarray | None) -> CellModel:
    """Positions of the peaks in the scan from their hkl and the metric of ``peaks``."""
    recip = np.asarray(peaks.reciprocal_lattice, dtype=np.float64)
    metric = recip @ recip.T
    basis = (
        invariant_metric_basis(metric, rotations) if rotations is not None else np.zeros((0, 3, 3))
    )
    return CellModel(
        hkl=peaks.hkl[in_scan], metric=metric, basis=basis, wavelength=float(peaks.wavelength)
    )


def simulate_peaks(
    crystal: Crystal,
    wavelength: float,
    two_theta_range: tuple[float, float],
    operations: tuple[np.ndarray, np.ndarray] | None = None,
) -> PeakList:
    """Simulated K-alpha1 peaks with the graphite-monochromator Lorentz-polarization over the
    scan range widened by RANGE_MARGIN_DEG (clipped to 1-179 degrees)."""
    lo = max(1.0, two_theta_range[0] - RANGE_MARGIN_DEG)
    hi = min(179.0, two_theta_range[1] + RANGE_MARGIN_DEG)
    return compute_peaks(
        crystal,
        wavelength=wavelength,
        two_theta_range=(lo, hi),
        polarization="graphite_monochromator",
        operations=operations,
    )
