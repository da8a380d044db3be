"""The linear part of the profile fit (variable projection): the peak-group design matrix, the
bounded linear least-squares amplitudes and the measured/simulated ratios of the groups.

For given non-linear parameters the model m = B + sum_k b_k T_k + sum_c a_c P_c is linear in
the peak amplitudes a_c >= 0 and the background coefficients b_k; :func:`solve_linear` finds
them for the weighted residual sqrt(w) (y - m), w = 1 / max(y, COUNT_FLOOR).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import lsq_linear

from research.gap.model import (
    CellModel,
    ProfileState,
    cluster_peaks,
    instrument_shift,
    observed_peaks,
    profile_columns,
)
from research.gap.result import PeakGroupRatios
from xrdsym.patterns.peaks import PeakList

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

#: Ridge added to the normal matrix of unit-norm columns: keeps the Cholesky factorisation
#: defined when two peak groups have near-identical profiles (their split is then arbitrary
#: anyway) while changing well-determined amplitudes by ~1e-10 relative.
GRAM_RIDGE = 1e-10

#: Relative weights of counts: w = 1 / max(y, COUNT_FLOOR) so that empty points do not
#: dominate (one count is the smallest non-zero measurement).
COUNT_FLOOR = 1.0


@dataclass(frozen=True)
class FitProblem:
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


def state_from(vector: np.ndarray, free: tuple[str, ...], base: ProfileState) -> ProfileState:
    """``base`` with the free scalar parameters replaced by the first entries of ``vector``
    and the anisotropic metric parameters by the rest."""
    n = len(free)
    changes: dict[str, Any] = {name: float(v) for name, v in zip(free, vector[:n], strict=True)}
    changes["metric"] = tuple(float(v) for v in vector[n:])
    return replace(base, **changes)


def group_matrix(
    problem: FitProblem, state: ProfileState, group: np.ndarray, n_groups: int
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


def alpha1_positions(problem: FitProblem, state: ProfileState) -> np.ndarray:
    """Observed K-alpha1 2theta (degrees) of every simulated peak; NaN beyond 180 degrees."""
    tt = problem.cell.two_theta(state.cell_strain, state.metric)
    return instrument_shift(tt, state.zero_shift, state.displacement, problem.radius)


def visible_peaks(problem: FitProblem, state: ProfileState) -> np.ndarray:
    """Simulated peaks whose observed K-alpha1 position lies inside the scan."""
    tt = alpha1_positions(problem, state)
    with np.errstate(invalid="ignore"):
        return (tt >= problem.x[0]) & (tt <= problem.x[-1])


def cluster(positions: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
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


def solve_linear(problem: FitProblem, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def rwp(problem: FitProblem, model: np.ndarray) -> float:
    """Rwp = sqrt(sum w (y - m)^2 / sum w y^2)."""
    r = problem.sqrt_w * (problem.y - model)
    s = problem.sqrt_w * problem.y
    return float(np.sqrt((r @ r) / (s @ s)))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight of the sorted values reaches one half."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def group_ratios(
    problem: FitProblem,
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
    group = cluster(positions, state.fwhm(positions))
    n_groups = int(group.max()) + 1
    visible_peak = visible_peaks(problem, state)
    column, n_columns = free_columns(group, problem.peak_intensity, visible_peak)
    columns = group_matrix(problem, state, column[group], n_columns)
    coeffs, model = solve_linear(problem, columns)
    amplitude = coeffs[:n_columns]
    simulated = np.bincount(group, problem.peak_intensity, minlength=n_groups)
    order = np.lexsort((problem.peak_intensity, group))  # by group, then intensity
    sorted_group = group[order]
    strongest = order[np.flatnonzero(np.append(sorted_group[1:] != sorted_group[:-1], True))]
    observed = alpha1_positions(problem, state)[strongest]
    visible = np.bincount(group, visible_peak.astype(np.float64), minlength=n_groups) > 0.0
    top = float(simulated[visible].max()) if np.any(visible) else 1.0
    member_group = np.full(len(peaks), -1, dtype=np.int64)
    member_group[np.flatnonzero(in_scan)] = group
    free = column < n_columns - 1
    strong = visible & free & (simulated >= STRONG_FRACTION * top)
    raw = amplitude[column]
    reference = weighted_median(raw[strong], simulated[strong]) if np.any(strong) else scale
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
