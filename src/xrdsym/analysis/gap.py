"""Measured versus simulated powder patterns: fit a scan with the peaks of its structure.

For a measured scan y_i at angles x_i and the simulated peak list of its structure (K-alpha1,
graphite-monochromator Lorentz-polarization), the model is

    m(x) = B(x) + sum_k b_k T_k(x) + sum_c a_c P_c(x; Z, e, U, V, W, eta, r2)

* B: the background estimated first (:mod:`xrdsym.analysis.background`, SNIP by default);
  T_k: a few Chebyshev polynomials with free coefficients b_k that correct it.
* P_c: the profile of peak group c (simulated peaks closer than about one FWHM merged),
  sum_j I_j [PV(x; 2theta_j) + r2 PV(x; 2theta_j,alpha2)] with I_j the simulated intensities
  (:mod:`xrdsym.analysis.model` for positions, shapes and normalisation).
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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import OptimizeResult, least_squares, lsq_linear, minimize_scalar

from xrdsym.analysis.background import BACKGROUND_METHODS, estimate_background, median_step
from xrdsym.analysis.model import (
    CellModel,
    ProfileState,
    chebyshev_basis,
    cluster_peaks,
    instrument_shift,
    invariant_metric_basis,
    observed_peaks,
    profile_columns,
    strained_two_theta,
)
from xrdsym.errors import PatternFileError, StructureError
from xrdsym.patterns import effects
from xrdsym.patterns.grid import CU_KA1
from xrdsym.patterns.peaks import PeakList, compute_peaks, symmetry_operations
from xrdsym.patterns.profile import PAPER_RANGES, ProfileRanges
from xrdsym.structures.crystal import Crystal

#: Names of the non-linear parameters in the order of the optimisation vector.
PARAM_NAMES = ("zero_shift", "cell_strain", "u", "v", "w", "eta", "ka2_ratio", "displacement")

#: Bounds of the non-linear parameters. Zero offsets of lab diffractometers stay well inside
#: +/- 1 degree; +/- 5 % cell strain covers DFT-relaxed cells and solid-solution shifts; U, W up
#: to 25 degrees^2 allow the 2-5 degree wide peaks of nanocrystalline samples; displacement up
#: to +/- 1 mm is ten times the usual sample-height error.
LOWER_BOUNDS = (-1.0, -0.05, 0.0, -25.0, 0.0, 0.0, 0.0, -1.0)
UPPER_BOUNDS = (1.0, 0.05, 25.0, 25.0, 25.0, 1.0, 1.0, 1.0)

#: Simulated peaks are computed this many degrees beyond the scan on both sides so that
#: peaks moved into the scan by the strain and tails of peaks just outside are modelled.
RANGE_MARGIN_DEG = 5.0

#: Bound of the anisotropic metric parameters p_k (relative to the norm of the metric):
#: +/- 0.1 changes a d spacing by at most about 5 %.
METRIC_BOUND = 0.1

#: Peaks whose centres are closer than this many FWHM share one free amplitude: their
#: individual intensities cannot be told apart in the fit.
CLUSTER_FWHM = 1.0

#: A peak group counts as strong (its intensity ratio enters the spread and the texture fit)
#: when its simulated intensity is at least this fraction of the strongest group in the scan.
STRONG_FRACTION = 0.05

#: Peak groups with at least this fraction of the strongest simulated intensity in the scan
#: get a free amplitude (at most MAX_FREE_GROUPS of them, the strongest); all weaker groups
#: share one amplitude. This keeps the linear problem small for structures with hundreds of
#: peaks while every peak that carries a usable intensity ratio is free.
FREE_FRACTION = 0.02
MAX_FREE_GROUPS = 60

#: Number of Chebyshev terms that correct the estimated background (constant to cubic): the
#: clipping estimators are biased low by about the noise and flatten broad humps.
BACKGROUND_TERMS = 4

#: Initial grid search of the zero offset (degrees) and cell strain; the grid steps are a
#: third of the initial FWHM in peak shift, and at most this many values per axis.
ZERO_SEARCH_DEG = 0.5
STRAIN_SEARCH = 0.03
MAX_SEARCH_STEPS = 241

#: Finite-difference step of least_squares: relative 1e-4 moves a zero offset by 1e-4 degrees
#: and a Caglioti parameter by 1e-4 of itself, far above the round-off of the model.
DIFF_STEP = 1e-4

#: Ratios below this count as this in logarithms: a strong simulated peak that is absent
#: from the scan is a factor 100 deviation, not an infinite one.
RATIO_FLOOR = 0.01

#: Ridge added to the normal matrix of unit-norm columns: keeps the Cholesky factorisation
#: defined when two peak groups have near-identical profiles (their split is then arbitrary
#: anyway) while changing well-determined amplitudes by ~1e-10 relative.
GRAM_RIDGE = 1e-10

#: Fewest peak-free points the noise estimate needs.
MIN_NOISE_POINTS = 30

#: Angles (degrees 2theta) at which the FWHM is reported.
REPORT_ANGLES = (30.0, 60.0, 90.0)

#: K-alpha2 counts as present when the fitted ratio exceeds this (0.5 for an unfiltered tube,
#: 0 behind a K-alpha1 monochromator) and the doublet is resolved at the strongest peaks.
KA2_PRESENT_RATIO = 0.25

#: The K-alpha2 ratio is determined only when the doublet separation at the highest-angle
#: strong peak exceeds this many FWHM; closer doublets just widen the peak.
KA2_RESOLVED_FWHM = 0.5

#: Parameters whose bound being active marks a doubtful fit (the others have physical
#: limits at their bounds: eta in [0, 1], K-alpha2 ratio 0 for a monochromated beam, U, W >= 0).
SUSPECT_AT_BOUND = ("zero_shift", "cell_strain", "displacement")

#: A parameter within this fraction of its bound range from a bound counts as stuck there.
BOUND_MARGIN = 1e-3

#: Relative weights of counts: w = 1 / max(y, COUNT_FLOOR) so that empty points do not
#: dominate (one count is the smallest non-zero measurement).
COUNT_FLOOR = 1.0


@dataclass(frozen=True)
class FitOptions:
    """Choices of the fit.

    Attributes:
        fit_ka2: fit the K-alpha2 ratio in [0, 1]; else fix it at ``ka2_ratio``.
        ka2_ratio: the fixed ratio (0.5, :data:`xrdsym.patterns.effects.KA2_RATIO`).
        fit_strain: fit an isotropic cell strain; else keep the cell of the structure.
        fit_displacement: fit a specimen displacement besides the zero offset.
        fit_cell: fit the anisotropic cell changes the point group allows (needs the
            rotations of the structure, see :func:`fit_pattern`).
        goniometer_radius: R in mm for the displacement.
        background_method: ``"snip"`` or ``"als"``.
        background_terms: Chebyshev correction terms.
        max_evaluations: cap on model evaluations of least_squares.
    """

    fit_ka2: bool = True
    ka2_ratio: float = effects.KA2_RATIO
    fit_strain: bool = True
    fit_displacement: bool = False
    fit_cell: bool = True
    goniometer_radius: float = 240.0
    background_method: str = "snip"
    background_terms: int = BACKGROUND_TERMS
    max_evaluations: int = 300


@dataclass(frozen=True)
class PeakGroupRatios:
    """Measured/simulated intensities of the peak groups inside the scan.

    Attributes:
        two_theta: observed position of the strongest peak of each group, degrees.
        hkl: (n, 3) Miller indices of that peak.
        simulated: summed simulated intensity (strongest peak of the list = 100).
        ratio: measured/simulated intensity, a_c / s_ref with a_c the fitted amplitude (in
            units of the simulated intensities) and s_ref its median over the strong groups
            weighted by simulated intensity, so that the typical strong group has ratio 1.
        strong: free-amplitude groups with simulated intensity >= STRONG_FRACTION of the
            strongest group inside the scan.
        reference: s_ref (integrated counts x degrees per unit simulated intensity).
        wavelength: K-alpha1 wavelength in Angstrom (for sin(theta) / lambda).
    """

    two_theta: np.ndarray
    hkl: np.ndarray
    simulated: np.ndarray
    ratio: np.ndarray
    strong: np.ndarray
    reference: float
    wavelength: float

    def log_ratios(self) -> np.ndarray:
        """log10 of the strong ratios, floored at log10(RATIO_FLOOR) (absent peaks)."""
        return np.log10(np.maximum(self.ratio[self.strong], RATIO_FLOOR))

    def log_spread(self) -> float:
        """Standard deviation of log10(ratio) over the strong groups (0 = no deviation)."""
        r = self.log_ratios()
        return float(np.std(r)) if r.shape[0] > 1 else float("nan")

    def b_trend(self) -> tuple[float, float]:
        """Angle trend of the ratios as an extra Debye-Waller factor.

        Fits ln(ratio) = c - 2 dB s^2 over the strong groups, s = sin(theta) / lambda
        (1/Angstrom). Returns (dB in Angstrom^2, std of log10(ratio) left after the trend);
        dB > 0: measured intensities fall off faster with angle than simulated.
        """
        r = self.log_ratios() * np.log(10.0)
        if r.shape[0] < 3:
            return float("nan"), float("nan")
        s2 = (np.sin(np.radians(self.two_theta[self.strong]) / 2.0) / self.wavelength) ** 2
        slope, intercept = np.polyfit(s2, r, 1)
        left = (r - (slope * s2 + intercept)) / np.log(10.0)
        return float(-slope / 2.0), float(np.std(left))


@dataclass(frozen=True)
class TextureFit:
    """The March-Dollase correction that best explains the intensity ratios.

    Attributes:
        direction: hkl of the preferred-orientation planes.
        ratio: March-Dollase r (1 = none; < 1 platelets, > 1 needles).
        spread_before, spread_after: std of log10(ratio) of the strong groups before and
            after dividing by the March-Dollase factors (and the best common scale).
    """

    direction: tuple[int, int, int]
    ratio: float
    spread_before: float
    spread_after: float


@dataclass(frozen=True, eq=False)
class GapFit:
    """How one measured scan differs from the simulation of its structure.

    Scan: ``source``, ``n_points``, ``two_theta_min``/``max`` and median ``step`` in degrees.
    Profile: ``state`` (zero offset, strain, U, V, W, eta, K-alpha2 ratio, displacement) and
    ``scale`` (integrated counts x degrees per unit simulated intensity).
    Background: ``background_level`` = maximum background / strongest peak height (the
    :class:`xrdsym.patterns.profile.ProfileParams` convention), ``background_start``/``end``
    = background at the first/last point / strongest peak height, ``background_poly_error``
    = largest deviation of a sixth-order polynomial (the renderer's family) from the
    background, relative to its maximum.
    Noise: ``peak_counts`` (height of the strongest fitted peak above background),
    ``noise_gain`` g (second-difference variance / 1.5 counts on peak-free points; 1 for raw
    counts) and ``residual_gain`` (mean (y - m)^2 / m of the free fit, misfit included).
    Agreement: ``rwp_free``, ``rwp_simulated``, ``r_expected``; ``groups``: per-group ratios;
    ``texture``: the best March-Dollase correction or None.
    Arrays for figures: ``two_theta``, ``counts``, ``background`` (final), ``model_free``,
    ``model_simulated``.
    """

    source: str
    structure: str
    wavelength: float
    n_points: int
    two_theta_min: float
    two_theta_max: float
    step: float
    state: ProfileState
    scale: float
    ka2_modelled: bool
    ka2_resolved: bool
    background_method: str
    background_level: float
    background_start: float
    background_end: float
    background_poly_error: float
    peak_counts: float
    noise_gain: float
    residual_gain: float
    rwp_free: float
    rwp_simulated: float
    r_expected: float
    n_peaks: int
    groups: PeakGroupRatios
    texture: TextureFit | None
    success: bool
    message: str
    n_evaluations: int
    warnings: tuple[str, ...]
    two_theta: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    background: np.ndarray = field(repr=False)
    model_free: np.ndarray = field(repr=False)
    model_simulated: np.ndarray = field(repr=False)
    peak_positions: np.ndarray = field(repr=False)

    def fwhm_at(self, two_theta: float) -> float:
        """Fitted Caglioti FWHM in degrees at ``two_theta`` (degrees)."""
        return float(self.state.fwhm(np.array([two_theta]))[0])

    @property
    def ka2_present(self) -> bool | None:
        """The fitted K-alpha2 ratio exceeds KA2_PRESENT_RATIO; None when the doublet is not
        resolved at the strong peaks (or no K-alpha2 line is known for the wavelength)."""
        if not (self.ka2_modelled and self.ka2_resolved):
            return None
        return self.state.ka2_ratio > KA2_PRESENT_RATIO

    @property
    def effective_counts(self) -> float:
        """Poisson-equivalent counts of the strongest peak, peak_counts / g: the value of
        :attr:`xrdsym.patterns.profile.ProfileParams.counts` that gives the same noise."""
        gain = self.noise_gain if np.isfinite(self.noise_gain) and self.noise_gain > 0 else 1.0
        return self.peak_counts / gain

    def summary(self) -> dict[str, Any]:
        """Scalars of the fit as a JSON-ready dict (FWHM at REPORT_ANGLES, texture, ratios)."""
        out: dict[str, Any] = {
            "source": self.source,
            "structure": self.structure,
            "wavelength": self.wavelength,
            "n_points": self.n_points,
            "two_theta_min": self.two_theta_min,
            "two_theta_max": self.two_theta_max,
            "step": self.step,
            **asdict(self.state),
            "scale": self.scale,
            "ka2_modelled": self.ka2_modelled,
            "ka2_resolved": self.ka2_resolved,
            "ka2_present": self.ka2_present,
        }
        for angle in REPORT_ANGLES:
            out[f"fwhm_{angle:g}"] = self.fwhm_at(angle)
        out["fwhm_extrapolated"] = [
            a for a in REPORT_ANGLES if not self.two_theta_min <= a <= self.two_theta_max
        ]
        out.update(
            background_method=self.background_method,
            background_level=self.background_level,
            background_start=self.background_start,
            background_end=self.background_end,
            background_poly_error=self.background_poly_error,
            peak_counts=self.peak_counts,
            noise_gain=self.noise_gain,
            effective_counts=self.effective_counts,
            residual_gain=self.residual_gain,
            rwp_free=self.rwp_free,
            rwp_simulated=self.rwp_simulated,
            r_expected=self.r_expected,
            n_peaks=self.n_peaks,
            n_strong_groups=int(self.groups.strong.sum()),
            ratio_log_spread=self.groups.log_spread(),
            delta_b=self.groups.b_trend()[0],
            ratio_log_spread_after_b=self.groups.b_trend()[1],
            success=self.success,
            message=self.message,
            n_evaluations=self.n_evaluations,
            warnings=list(self.warnings),
        )
        strong = self.groups.strong
        out["strong_groups"] = [
            {
                "two_theta": float(t),
                "hkl": [int(i) for i in h],
                "simulated": float(s),
                "ratio": float(r),
            }
            for t, h, s, r in zip(
                self.groups.two_theta[strong],
                self.groups.hkl[strong],
                self.groups.simulated[strong],
                self.groups.ratio[strong],
                strict=True,
            )
        ]
        out["texture"] = asdict(self.texture) if self.texture is not None else None
        return {k: _json_value(v) for k, v in out.items()}


def _json_value(value: Any) -> Any:
    """NaN and infinities become None, numpy scalars Python numbers (JSON has neither)."""
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True)
class _Problem:
    """Fixed inputs of one fit: the scan, its weights, background and simulated peaks."""

    x: np.ndarray
    y: np.ndarray
    sqrt_w: np.ndarray
    background: np.ndarray
    basis: np.ndarray
    peak_two_theta: np.ndarray
    cell: CellModel
    peak_intensity: np.ndarray
    wavelength_ratio: float | None
    radius: float


def _state_from(vector: np.ndarray, free: tuple[str, ...], base: ProfileState) -> ProfileState:
    """``base`` with the free scalar parameters replaced by the first entries of ``vector``
    and the anisotropic metric parameters by the rest."""
    n = len(free)
    changes: dict[str, Any] = {name: float(v) for name, v in zip(free, vector[:n], strict=True)}
    changes["metric"] = tuple(float(v) for v in vector[n:])
    return replace(base, **changes)


def _group_matrix(
    problem: _Problem, state: ProfileState, group: np.ndarray, n_groups: int
) -> np.ndarray:
    """(n_points, n_groups) profiles: column c = sum_{j in c} I_j (PV_alpha1 + r2 PV_alpha2)."""
    centres, source, weight = observed_peaks(
        problem.cell, state, problem.wavelength_ratio, problem.radius
    )
    return profile_columns(
        problem.x,
        centres,
        state.fwhm(centres),
        state.eta,
        weight * problem.peak_intensity[source],
        group[source],
        n_groups,
    )


def free_columns(
    group: np.ndarray, intensity: np.ndarray, visible: np.ndarray
) -> tuple[np.ndarray, int]:
    """Column of every peak group in the free-amplitude fit.

    The MAX_FREE_GROUPS strongest groups with a peak inside the scan (``visible``, per peak)
    and a summed simulated intensity >= FREE_FRACTION of the strongest such group get columns
    0 ... F - 1; every other group shares column F.

    Returns:
        column index per group (n_groups,) and the number of columns F + 1.
    """
    n_groups = int(group.max()) + 1
    simulated = np.bincount(group, intensity, minlength=n_groups)
    seen = np.bincount(group, visible.astype(np.float64), minlength=n_groups) > 0.0
    top = float(simulated[seen].max()) if np.any(seen) else 0.0
    eligible = np.flatnonzero(seen & (simulated >= FREE_FRACTION * top))
    chosen = eligible[np.argsort(-simulated[eligible], kind="stable")[:MAX_FREE_GROUPS]]
    column = np.full(n_groups, chosen.shape[0], dtype=np.int64)
    column[np.sort(chosen)] = np.arange(chosen.shape[0])
    return column, chosen.shape[0] + 1


def _alpha1_positions(problem: _Problem, state: ProfileState) -> np.ndarray:
    """Observed K-alpha1 2theta (degrees) of every simulated peak; NaN beyond 180 degrees."""
    tt = problem.cell.two_theta(state.cell_strain, state.metric)
    return instrument_shift(tt, state.zero_shift, state.displacement, problem.radius)


def _visible_peaks(problem: _Problem, state: ProfileState) -> np.ndarray:
    """Simulated peaks whose observed K-alpha1 position lies inside the scan."""
    tt = _alpha1_positions(problem, state)
    with np.errstate(invalid="ignore"):
        return (tt >= problem.x[0]) & (tt <= problem.x[-1])


def _cluster(positions: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Group index of every peak (any order, NaN positions last in a group of their own):
    :func:`cluster_peaks` with CLUSTER_FWHM on the sorted positions, groups numbered by angle."""
    finite = np.where(np.isfinite(positions), positions, np.inf)
    order = np.argsort(finite, kind="stable")
    sorted_tt = finite[order]
    width = np.where(np.isfinite(fwhm[order]), fwhm[order], 0.0)
    groups = cluster_peaks(np.where(np.isfinite(sorted_tt), sorted_tt, 1e9), width, CLUSTER_FWHM)
    out = np.empty_like(groups)
    out[order] = groups
    return out


def _solve_linear(problem: _Problem, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes >= 0 of the peak columns and free background coefficients.

    Minimises |A c - t|^2, A = sqrt(w) [columns | basis] with unit-norm columns and
    t = sqrt(w) (y - B), with peak amplitudes >= 0. The tall problem is reduced to its
    normal equations A^T A = L L^T (Cholesky, with a tiny ridge) and solved as the equivalent
    square problem |L^T c - L^-1 A^T t|^2 by ``lsq_linear`` (BVLS). The products with the
    tall matrix use ``np.einsum`` rather than BLAS: for these thin matrices a threaded BLAS
    can be a hundred times slower on a busy machine.

    Returns:
        coefficients (n_columns + n_basis,) and the model m_i (counts).
    """
    design = np.hstack([columns, problem.basis])
    weighted = design * problem.sqrt_w[:, None]
    norms = np.sqrt(np.einsum("ij,ij->j", weighted, weighted))
    norms[norms == 0.0] = 1.0
    weighted /= norms
    n_peaks = columns.shape[1]
    n = design.shape[1]
    lower = np.concatenate([np.zeros(n_peaks), np.full(problem.basis.shape[1], -np.inf)])
    upper = np.full(n, np.inf)
    target = problem.sqrt_w * (problem.y - problem.background)
    gram = np.einsum("ij,ik->jk", weighted, weighted) + GRAM_RIDGE * np.eye(n)
    chol = cholesky(gram, lower=True)
    projected = solve_triangular(chol, np.einsum("ij,i->j", weighted, target), lower=True)
    solution = lsq_linear(chol.T, projected, bounds=(lower, upper), method="bvls")
    coeffs = solution.x / norms
    return coeffs, problem.background + np.einsum("ij,j->i", design, coeffs)


def _rwp(problem: _Problem, model: np.ndarray) -> float:
    """Rwp = sqrt(sum w (y - m)^2 / sum w y^2)."""
    r = problem.sqrt_w * (problem.y - model)
    s = problem.sqrt_w * problem.y
    return float(np.sqrt((r @ r) / (s @ s)))


def initial_fwhm(x: np.ndarray, net: np.ndarray) -> float:
    """Full width at half maximum (degrees) of the highest point of a background-free scan,
    walking down both flanks to half height; at least two steps, at most 5 degrees."""
    top = int(np.argmax(net))
    half = 0.5 * net[top]
    below = net < half
    left_candidates = np.flatnonzero(below[:top])
    right_candidates = np.flatnonzero(below[top:])
    left = x[left_candidates[-1]] if left_candidates.size else x[0]
    right = x[top + right_candidates[0]] if right_candidates.size else x[-1]
    step = median_step(x)
    return float(np.clip(right - left, 2.0 * step, 5.0))


def search_shift(
    x: np.ndarray, net: np.ndarray, peaks_tt: np.ndarray, peaks_i: np.ndarray, fwhm: float
) -> tuple[float, float]:
    """Zero offset Z (degrees) and cell strain e that maximise sum_j I_j n(2theta_j(Z, e)).

    n is the background-free scan smoothed over one FWHM and interpolated at the shifted
    simulated positions; the grid steps move the highest-angle peak by fwhm / 3.
    """
    kernel = max(1, int(round(0.5 * fwhm / median_step(x))))
    padded = np.pad(np.maximum(net, 0.0), kernel, mode="edge")
    cumulative = np.concatenate(([0.0], np.cumsum(padded)))
    smooth = (cumulative[2 * kernel + 1 :] - cumulative[: -2 * kernel - 1]) / (2 * kernel + 1)
    n_zero = min(MAX_SEARCH_STEPS, 2 * int(np.ceil(ZERO_SEARCH_DEG / (fwhm / 3.0))) + 1)
    zeros = np.linspace(-ZERO_SEARCH_DEG, ZERO_SEARCH_DEG, n_zero)
    inside = (peaks_tt > x[0]) & (peaks_tt < x[-1])
    top_angle = float(peaks_tt[inside].max()) if np.any(inside) else float(x[-1])
    shift_per_strain = 2.0 * np.degrees(np.tan(np.radians(top_angle) / 2.0))
    n_strain = 2 * int(np.ceil(STRAIN_SEARCH * shift_per_strain / (fwhm / 3.0))) + 1
    strains = np.linspace(-STRAIN_SEARCH, STRAIN_SEARCH, min(MAX_SEARCH_STEPS, n_strain))
    best = (-np.inf, 0.0, 0.0)
    for strain in strains:
        tt = strained_two_theta(peaks_tt, float(strain))
        ok = np.isfinite(tt)
        moved = tt[ok][None, :] + zeros[:, None]
        values = np.einsum("zj,j->z", np.interp(moved, x, smooth, left=0.0, right=0.0), peaks_i[ok])
        k = int(np.argmax(values))
        if values[k] > best[0]:
            best = (float(values[k]), float(zeros[k]), float(strain))
    return best[1], best[2]


def _noise_gain(y: np.ndarray, peak_part: np.ndarray, background: np.ndarray) -> float:
    """g = mean(d^2) / (1.5 mean(y)) over interior points whose fitted peak part and that of
    both neighbours is below the Poisson standard deviation of the background; NaN if too few."""
    quiet = peak_part < np.sqrt(np.maximum(background, COUNT_FLOOR))
    inner = quiet[1:-1] & quiet[:-2] & quiet[2:]
    d = y[1:-1] - 0.5 * (y[:-2] + y[2:])
    if int(inner.sum()) < MIN_NOISE_POINTS:
        return float("nan")
    mean_y = float(np.mean(y[1:-1][inner]))
    return float(np.mean(d[inner] ** 2) / (1.5 * mean_y)) if mean_y > 0 else float("nan")


def _poly_error(x: np.ndarray, background: np.ndarray, order: int = 6) -> float:
    """Largest |P6 - b| / max b of a least-squares sixth-order polynomial in the reduced angle."""
    reduced = 2.0 * (x - x[0]) / (x[-1] - x[0]) - 1.0
    coeffs = np.polynomial.polynomial.polyfit(reduced, background, order)
    fitted = np.polynomial.polynomial.polyval(reduced, coeffs)
    top = float(np.max(np.abs(background)))
    return float(np.max(np.abs(fitted - background)) / top) if top > 0 else float("nan")


def _texture(
    peaks: PeakList, groups: PeakGroupRatios, member_group: np.ndarray, ranges: ProfileRanges
) -> TextureFit | None:
    """Best March-Dollase (direction from ``ranges.po_directions``, r in [0.2, 5]) for the
    strong-group ratios: minimise the variance of log10(ratio / W_c), W_c the intensity-weighted
    mean March-Dollase factor of group c."""
    strong = groups.strong
    if int(strong.sum()) < 3:
        return None
    log_ratio = groups.log_ratios()
    before = float(np.std(log_ratio))
    n_groups = groups.ratio.shape[0]
    inside = member_group >= 0
    weights = np.bincount(member_group[inside], peaks.intensity[inside], minlength=n_groups)
    best: TextureFit | None = None
    for direction in ranges.po_directions:

        def spread(r: float, direction: tuple[int, int, int] = direction) -> float:
            factors = effects.march_dollase_factors(peaks, direction, r)
            mean = np.bincount(
                member_group[inside], peaks.intensity[inside] * factors[inside], n_groups
            ) / np.maximum(weights, 1e-300)
            return float(np.std(log_ratio - np.log10(mean[strong])))

        result = minimize_scalar(
            lambda t, spread=spread: spread(float(np.exp(t))),
            bounds=(np.log(0.2), np.log(5.0)),
            method="bounded",
        )
        candidate = TextureFit(
            direction=tuple(int(i) for i in direction),  # type: ignore[arg-type]
            ratio=float(np.exp(result.x)),
            spread_before=before,
            spread_after=float(result.fun),
        )
        if best is None or candidate.spread_after < best.spread_after:
            best = candidate
    return best


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight of the sorted values reaches one half."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _group_ratios(
    problem: _Problem,
    state: ProfileState,
    peaks: PeakList,
    in_scan: np.ndarray,
    scale: float,
) -> tuple[PeakGroupRatios, np.ndarray, np.ndarray, np.ndarray, int]:
    """Regroup the peaks with the fitted widths, solve the free amplitudes and form ratios.

    Column c of the design is sum_{j in c} I_j PV_j, so its amplitude a_c is directly scale
    times the measured/simulated ratio: ratio_c = a_c / s (groups sharing the weak column get
    the shared ratio).

    Returns:
        the ratios, the free model (counts), its peak part (counts), the group index of every
        peak of ``peaks`` (-1 outside ``in_scan``) and the number of linear peak amplitudes.
    """
    positions = problem.cell.two_theta(state.cell_strain, state.metric)
    group = _cluster(positions, state.fwhm(positions))
    n_groups = int(group.max()) + 1
    visible_peak = _visible_peaks(problem, state)
    column, n_columns = free_columns(group, problem.peak_intensity, visible_peak)
    columns = _group_matrix(problem, state, column[group], n_columns)
    coeffs, model = _solve_linear(problem, columns)
    amplitude = coeffs[:n_columns]
    simulated = np.bincount(group, problem.peak_intensity, minlength=n_groups)
    order = np.lexsort((problem.peak_intensity, group))  # by group, then intensity
    sorted_group = group[order]
    strongest = order[np.flatnonzero(np.append(sorted_group[1:] != sorted_group[:-1], True))]
    observed = _alpha1_positions(problem, state)[strongest]
    visible = np.bincount(group, visible_peak.astype(np.float64), minlength=n_groups) > 0.0
    top = float(simulated[visible].max()) if np.any(visible) else 1.0
    member_group = np.full(len(peaks), -1, dtype=np.int64)
    member_group[np.flatnonzero(in_scan)] = group
    free = column < n_columns - 1
    strong = visible & free & (simulated >= STRONG_FRACTION * top)
    raw = amplitude[column]
    reference = _weighted_median(raw[strong], simulated[strong]) if np.any(strong) else scale
    if not reference > 0.0:
        reference = scale
    ratios = PeakGroupRatios(
        two_theta=observed,
        hkl=peaks.hkl[np.flatnonzero(in_scan)][strongest],
        simulated=simulated,
        ratio=raw / reference if reference > 0 else np.full(n_groups, np.nan),
        strong=strong,
        reference=float(reference),
        wavelength=problem.cell.wavelength,
    )
    return ratios, model, np.einsum("ij,j->i", columns, amplitude), member_group, n_columns


def fit_pattern(
    two_theta: np.ndarray,
    counts: np.ndarray,
    peaks: PeakList,
    *,
    source: str = "",
    structure: str = "",
    options: FitOptions = FitOptions(),
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
    ratio2: float | None
    try:
        ratio2 = effects.ka2_wavelength(peaks.wavelength) / peaks.wavelength
    except ValueError:
        ratio2 = None
    background = estimate_background(x, y, options.background_method)
    problem = _Problem(
        x=x,
        y=y,
        sqrt_w=1.0 / np.sqrt(np.maximum(y, COUNT_FLOOR)),
        background=background,
        basis=chebyshev_basis(x, options.background_terms),
        peak_two_theta=peaks.two_theta[in_scan],
        cell=_cell_model(peaks, in_scan, rotations if options.fit_cell else None),
        peak_intensity=peaks.intensity[in_scan],
        wavelength_ratio=ratio2,
        radius=options.goniometer_radius,
    )
    state, result, names, bounds = _fit_state(problem, options)
    coeffs_sim, model_sim = _solve_linear(
        problem,
        _group_matrix(problem, state, np.zeros(problem.peak_two_theta.shape[0], np.int64), 1),
    )
    scale = float(coeffs_sim[0])
    groups, model_free, peak_part, member_group, n_columns = _group_ratios(
        problem, state, peaks, in_scan, scale
    )
    final_background = model_free - peak_part
    peak_top = float(peak_part.max())
    gain = _noise_gain(y, peak_part, final_background)
    n_params = len(result.x) + n_columns + problem.basis.shape[1]
    weighted_total = float(np.sum(problem.sqrt_w**2 * y * y))
    gain_for_rexp = gain if np.isfinite(gain) else 1.0
    r_expected = float(np.sqrt(gain_for_rexp * max(x.shape[0] - n_params, 1) / weighted_total))
    rwp_free = _rwp(problem, model_free)
    resolved = _ka2_resolved(state, groups, ratio2)
    return GapFit(
        source=source,
        structure=structure,
        wavelength=float(peaks.wavelength),
        n_points=int(x.shape[0]),
        two_theta_min=lo,
        two_theta_max=hi,
        step=median_step(x),
        state=state,
        scale=scale,
        ka2_modelled=ratio2 is not None,
        ka2_resolved=resolved,
        background_method=options.background_method,
        background_level=float(final_background.max()) / peak_top,
        background_start=float(final_background[0]) / peak_top,
        background_end=float(final_background[-1]) / peak_top,
        background_poly_error=_poly_error(x, final_background),
        peak_counts=peak_top,
        noise_gain=gain,
        residual_gain=float(np.mean((y - model_free) ** 2 / np.maximum(model_free, COUNT_FLOOR))),
        rwp_free=rwp_free,
        rwp_simulated=_rwp(problem, model_sim),
        r_expected=r_expected,
        n_peaks=int(np.sum((peaks.two_theta >= lo) & (peaks.two_theta <= hi))),
        groups=groups,
        texture=_texture(peaks, groups, member_group, texture_ranges),
        success=bool(result.success),
        message=str(result.message),
        n_evaluations=int(result.nfev),
        warnings=_fit_warnings(
            result, names, bounds[0], bounds[1], state, x, rwp_free, r_expected, resolved
        ),
        two_theta=x,
        counts=y,
        background=final_background,
        model_free=model_free,
        model_simulated=model_sim,
        peak_positions=groups.two_theta[groups.strong],
    )


def _ka2_resolved(state: ProfileState, groups: PeakGroupRatios, ratio2: float | None) -> bool:
    """Whether the K-alpha2 doublet of the highest-angle strong group is separated from its
    K-alpha1 line by more than KA2_RESOLVED_FWHM FWHM."""
    if ratio2 is None or not np.any(groups.strong):
        return False
    top = float(groups.two_theta[groups.strong].max())
    sine = np.sin(np.radians(top) / 2.0) * ratio2
    if sine >= 1.0:
        return True
    separation = float(np.degrees(2.0 * np.arcsin(sine))) - top
    return separation > KA2_RESOLVED_FWHM * float(state.fwhm(np.array([top]))[0])


def _fit_warnings(
    result: OptimizeResult,
    names: tuple[str, ...],
    lower: np.ndarray,
    upper: np.ndarray,
    state: ProfileState,
    x: np.ndarray,
    rwp_free: float,
    r_expected: float,
    ka2_resolved: bool,
) -> tuple[str, ...]:
    """Reasons to doubt a fit: suspect parameters at a bound, unsampled or huge widths, a free
    fit far above the counting noise, an unresolved K-alpha2 doublet, no convergence."""
    out = []
    if not result.success:
        out.append(f"least_squares did not converge: {result.message}")
    for name, value, low, high in zip(names, result.x, lower, upper, strict=True):
        if not (name in SUSPECT_AT_BOUND or name.startswith("metric")):
            continue
        margin = BOUND_MARGIN * (high - low)
        if value <= low + margin or value >= high - margin:
            out.append(f"{name} = {value:+.4f} at a bound of [{low:g}, {high:g}]")
    fwhm = state.fwhm(x)
    step = median_step(x)
    if float(fwhm.min()) < step:
        out.append(f"FWHM {float(fwhm.min()):.3f} deg below the step {step:.3f} deg in the scan")
    if float(fwhm.max()) > 2.0:
        out.append(f"FWHM up to {float(fwhm.max()):.2f} deg: broad humps, widths doubtful")
    if rwp_free > max(2.0 * r_expected, r_expected + 0.1):
        out.append(f"poor profile fit: Rwp {rwp_free:.3f} vs expected {r_expected:.3f}")
    if not ka2_resolved:
        out.append("K-alpha2 ratio undetermined (doublet not resolved)")
    return tuple(out)


def _fit_state(
    problem: _Problem, options: FitOptions
) -> tuple[ProfileState, OptimizeResult, tuple[str, ...], tuple[np.ndarray, np.ndarray]]:
    """Start values from the strongest peak and the shift search, then variable projection.

    The peak groups of the free amplitudes are fixed from the start values (FWHM of the
    strongest measured peak everywhere).
    """
    net = problem.y - problem.background
    fwhm0 = initial_fwhm(problem.x, net)
    zero0, strain0 = search_shift(
        problem.x, net, problem.peak_two_theta, problem.peak_intensity, fwhm0
    )
    ka2 = options.ka2_ratio if problem.wavelength_ratio is not None else 0.0
    start = ProfileState(
        zero_shift=zero0,
        cell_strain=strain0 if options.fit_strain else 0.0,
        u=0.0,
        v=0.0,
        w=fwhm0 * fwhm0,
        eta=0.5,
        ka2_ratio=ka2,
    )
    free = tuple(
        name
        for name in PARAM_NAMES
        if not (name == "cell_strain" and not options.fit_strain)
        and not (name == "ka2_ratio" and not (options.fit_ka2 and problem.wavelength_ratio))
        and not (name == "displacement" and not options.fit_displacement)
    )
    group = _cluster(_alpha1_positions(problem, start), np.full(len(problem.peak_two_theta), fwhm0))
    column, n_columns = free_columns(group, problem.peak_intensity, _visible_peaks(problem, start))
    peak_column = column[group]
    index = [PARAM_NAMES.index(name) for name in free]
    n_metric = problem.cell.basis.shape[0]
    lower = np.array([LOWER_BOUNDS[i] for i in index] + [-METRIC_BOUND] * n_metric)
    upper = np.array([UPPER_BOUNDS[i] for i in index] + [METRIC_BOUND] * n_metric)
    x0 = np.array([getattr(start, name) for name in free] + [0.0] * n_metric)
    x0 = np.clip(x0, lower, upper)

    def residual(vector: np.ndarray) -> np.ndarray:
        state = _state_from(vector, free, start)
        _, model = _solve_linear(problem, _group_matrix(problem, state, peak_column, n_columns))
        return problem.sqrt_w * (problem.y - model)

    result = least_squares(
        residual,
        x0,
        bounds=(lower, upper),
        x_scale="jac",
        diff_step=DIFF_STEP,
        max_nfev=options.max_evaluations,
    )
    names = free + tuple(f"metric_{k}" for k in range(n_metric))
    return _state_from(result.x, free, start), result, names, (lower, upper)


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


def compare(
    structure_path: str | Path,
    pattern_path: str | Path,
    wavelength: float | None = None,
    *,
    plot: str | Path | None = None,
    options: FitOptions = FitOptions(),
) -> GapFit:
    """Read a CIF and a measured pattern, fit the pattern with the structure's simulated peaks
    and optionally save a figure (measured, fits, background, residuals) as PNG.

    Args:
        structure_path: CIF file.
        pattern_path: measured pattern in any format :func:`xrdsym.io.read_pattern` reads.
        wavelength: K-alpha1 wavelength in Angstrom; None takes the file's, else Cu K-alpha1.
        plot: PNG path of the figure, or None.
        options: fit choices.

    Raises:
        StructureError: unreadable CIF or no atoms.
        PatternFileError: unreadable pattern, or no simulated peak inside the scan.
    """
    from xrdsym.io import read_pattern
    from xrdsym.structures.reader import read_cif_file

    crystal = read_cif_file(structure_path)
    pattern = read_pattern(pattern_path)
    lam = wavelength if wavelength is not None else (pattern.wavelength or CU_KA1)
    x = pattern.two_theta
    try:
        operations = symmetry_operations(crystal)
        peaks = simulate_peaks(crystal, lam, (float(x[0]), float(x[-1])), operations)
    except StructureError as exc:
        raise StructureError(f"{structure_path}: {exc}") from None
    fit = fit_pattern(
        x,
        pattern.intensity,
        peaks,
        source=str(pattern_path),
        structure=crystal.name or Path(structure_path).stem,
        options=options,
        rotations=operations[0],
    )
    if plot is not None:
        from xrdsym.analysis.figures import plot_gap

        plot_gap(fit, Path(plot))
    return fit
