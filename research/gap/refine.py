"""The non-linear part of the profile fit: start values and the bounded least-squares search.

Start: the FWHM of the strongest measured peak (:func:`initial_fwhm`) and a grid search of the
zero offset Z and cell strain e that maximises the overlap of the simulated sticks with the
background-subtracted scan (:func:`search_shift`). Then ``scipy.optimize.least_squares``
minimises the weighted residual over Z, e, U, V, W, eta, the K-alpha2 ratio, optionally the
displacement and the anisotropic metric parameters, with the linear amplitudes projected out
(:func:`research.gap.projection.solve_linear`) at every evaluation.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult, least_squares

from research.gap.background import median_step
from research.gap.model import ProfileState, strained_two_theta
from research.gap.projection import (
    FitProblem,
    alpha1_positions,
    cluster,
    free_columns,
    group_matrix,
    solve_linear,
    state_from,
    visible_peaks,
)
from research.gap.result import FitOptions

#: Names of the non-linear parameters in the order of the optimisation vector.
PARAM_NAMES = ("zero_shift", "cell_strain", "u", "v", "w", "eta", "ka2_ratio", "displacement")

#: Bounds of the non-linear parameters. Zero offsets of lab diffractometers stay well inside
#: +/- 1 degree; +/- 5 % cell strain covers DFT-relaxed cells and solid-solution shifts; U, W up
#: to 25 degrees^2 allow the 2-5 degree wide peaks of nanocrystalline samples; displacement up
#: to +/- 1 mm is ten times the usual sample-height error.
LOWER_BOUNDS = (-1.0, -0.05, 0.0, -25.0, 0.0, 0.0, 0.0, -1.0)
UPPER_BOUNDS = (1.0, 0.05, 25.0, 25.0, 25.0, 1.0, 1.0, 1.0)

#: Bound of the anisotropic metric parameters p_k (relative to the norm of the metric):
#: +/- 0.1 changes a d spacing by at most about 5 %.
METRIC_BOUND = 0.1

#: Initial grid search of the zero offset (degrees) and cell strain; the grid steps are a
#: third of the initial FWHM in peak shift, and at most this many values per axis.
ZERO_SEARCH_DEG = 0.5
STRAIN_SEARCH = 0.03
MAX_SEARCH_STEPS = 241

#: Finite-difference step of least_squares: relative 1e-4 moves a zero offset by 1e-4 degrees
#: and a Caglioti parameter by 1e-4 of itself, far above the round-off of the model.
DIFF_STEP = 1e-4


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


def fit_state(
    problem: FitProblem, options: FitOptions
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
    group = cluster(alpha1_positions(problem, start), np.full(len(problem.peak_two_theta), fwhm0))
    column, n_columns = free_columns(group, problem.peak_intensity, visible_peaks(problem, start))
    peak_column = column[group]
    index = [PARAM_NAMES.index(name) for name in free]
    n_metric = problem.cell.basis.shape[0]
    lower = np.array([LOWER_BOUNDS[i] for i in index] + [-METRIC_BOUND] * n_metric)
    upper = np.array([UPPER_BOUNDS[i] for i in index] + [METRIC_BOUND] * n_metric)
    x0 = np.array([getattr(start, name) for name in free] + [0.0] * n_metric)
    x0 = np.clip(x0, lower, upper)

    def residual(vector: np.ndarray) -> np.ndarray:
        state = state_from(vector, free, start)
        _, model = solve_linear(problem, group_matrix(problem, state, peak_column, n_columns))
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
    return state_from(result.x, free, start), result, names, (lower, upper)
