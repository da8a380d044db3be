"""The pattern model fitted to measured scans: peak positions, widths and profile columns.

Peak positions: a simulated peak with Miller indices h is observed at

    1/d^2 = h G* h^T,  G* = G*_0 / (1 + e)^2 + sum_k p_k B_k   (reciprocal metric, 1/Angstrom^2)
    sin(theta_1) = lambda_1 / (2 d)                           (K-alpha1)
    sin(theta_2) = sin(theta_1) lambda_2 / lambda_1           (its K-alpha2 companion)
    2theta_obs = 2theta_i + Z - (180 / pi) 2 s cos(theta_i) / R

with G*_0 the metric of the structure's cell, e an isotropic strain (every d scaled by
1 + e), and B_k a basis of the symmetric matrices left invariant by the point group
(W G* W^T = G* for every rotation W of the space group), orthogonal to G*_0 and of the same
Frobenius norm: the p_k are the anisotropic cell changes the symmetry allows (none for cubic,
one for tetragonal and hexagonal, two for orthorhombic, ...). The basis is found numerically
as the null space of the invariance conditions, from the spglib rotations of the structure.

with Z the zero offset (degrees), s the specimen displacement and R the goniometer radius
(same length unit), in the order of :func:`xrdsym.patterns.profile.apply_effects`.

Peak shape: the pseudo-Voigt of :mod:`xrdsym.patterns.profile` (its constants and
:func:`~xrdsym.patterns.profile.pseudo_voigt_shape`), eta L + (1 - eta) G with the
Caglioti width H^2 = U tan^2 theta + V tan theta + W (degrees^2) at the peak's own angle,
evaluated on +/- ``WINDOW_HALF_WIDTH_FWHM`` H and normalised to unit area over that window
(as the renderer does for its strongest peaks), so an amplitude is an integrated intensity in
counts x degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space

from xrdsym.patterns.bragg import bragg_shift, bragg_shift_kept, bragg_two_theta
from xrdsym.patterns.profile import (
    MIN_FWHM,
    WINDOW_HALF_WIDTH_FWHM,
    pseudo_voigt_shape,
    window_area,
)


@dataclass(frozen=True)
class ProfileState:
    """The non-linear parameters of the fit.

    Attributes:
        zero_shift: Z in degrees 2theta, added to every peak.
        cell_strain: e, relative change of every d spacing (d_obs = d_calc (1 + e)).
        u, v, w: Caglioti parameters in degrees^2.
        eta: pseudo-Voigt Lorentzian fraction in [0, 1].
        ka2_ratio: I(K-alpha2) / I(K-alpha1); 0 is a K-alpha1-only beam.
        displacement: specimen displacement s in mm (positive moves peaks to lower angles).
        metric: anisotropic metric parameters p_k (empty: isotropic strain only).
    """

    zero_shift: float
    cell_strain: float
    u: float
    v: float
    w: float
    eta: float
    ka2_ratio: float
    displacement: float = 0.0
    metric: tuple[float, ...] = ()

    def fwhm(self, two_theta: np.ndarray) -> np.ndarray:
        """Caglioti FWHM in degrees, sqrt(max(U t^2 + V t + W, MIN_FWHM^2)), t = tan(theta)."""
        t = np.tan(np.radians(np.asarray(two_theta, dtype=np.float64)) / 2.0)
        return np.sqrt(np.maximum((self.u * t + self.v) * t + self.w, MIN_FWHM * MIN_FWHM))


def strained_two_theta(two_theta: np.ndarray, cell_strain: float) -> np.ndarray:
    """2theta in degrees after scaling every d by (1 + e): sin(theta') = sin(theta) / (1 + e)
    (:func:`xrdsym.patterns.bragg.bragg_shift` with ratio 1 / (1 + e)).

    Angles whose sine would exceed 1 come back as NaN.
    """
    return bragg_shift(two_theta, 1.0 / (1.0 + cell_strain))


def instrument_shift(
    two_theta: np.ndarray, zero_shift: float, displacement: float, radius: float
) -> np.ndarray:
    """Observed 2theta in degrees: 2theta + Z - (180 / pi) 2 s cos(theta) / R."""
    theta = np.radians(two_theta) / 2.0
    return two_theta + zero_shift - np.degrees(2.0 * displacement * np.cos(theta) / radius)


#: Tolerance of the invariance conditions W M W^T = M when extracting the null space: the
#: rotations are integer matrices, so exact invariants have singular value 0 and all others
#: at least ~0.1.
INVARIANT_TOL = 1e-8


def _symmetric_basis() -> np.ndarray:
    """The six symmetric 3x3 unit matrices: E_11, E_22, E_33 and E_ij + E_ji for 23, 13, 12."""
    pairs = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    basis = np.zeros((6, 3, 3))
    for k, (i, j) in enumerate(pairs):
        basis[k, i, j] = basis[k, j, i] = 1.0
    return basis


def invariant_metric_basis(metric: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Anisotropic directions B_k (k, 3, 3) of a reciprocal metric allowed by the rotations.

    Solves W M W^T = M for symmetric M (null space of the stacked linear conditions), removes
    the component along ``metric`` and scales every B_k to the Frobenius norm of ``metric``.
    """
    unit = _symmetric_basis()
    conditions = [
        np.stack([(w @ e @ w.T - e).ravel() for e in unit], axis=1)
        for w in np.asarray(rotations, dtype=np.float64)
    ]
    space = null_space(np.concatenate(conditions, axis=0), rcond=INVARIANT_TOL)  # (6, n)
    matrices = np.einsum("kn,kij->nij", space, unit)
    g0 = np.asarray(metric, dtype=np.float64)
    norm0 = float(np.sqrt((g0 * g0).sum()))
    direction = g0 / norm0
    out: list[np.ndarray] = []
    for m in matrices:
        m = m - (m * direction).sum() * direction
        for b in out:
            m = m - (m * b).sum() * b / (b * b).sum()
        size = float(np.sqrt((m * m).sum()))
        if size > 1e-6:
            out.append(m / size)
    return np.array([b * norm0 for b in out]).reshape(-1, 3, 3)


@dataclass(frozen=True, eq=False)
class CellModel:
    """Peak positions from Miller indices and a refinable reciprocal metric.

    Attributes:
        hkl: (n, 3) Miller indices, one per simulated peak.
        metric: 3x3 reciprocal metric G*_0 of the structure (1/Angstrom^2).
        basis: (k, 3, 3) anisotropic directions (see :func:`invariant_metric_basis`).
        wavelength: K-alpha1 wavelength in Angstrom.
    """

    hkl: np.ndarray
    metric: np.ndarray
    basis: np.ndarray
    wavelength: float

    def two_theta(self, cell_strain: float, metric: tuple[float, ...] = ()) -> np.ndarray:
        """K-alpha1 2theta in degrees: 2 asin(lambda sqrt(h G* h^T) / 2); NaN beyond 180."""
        g = self.metric / (1.0 + cell_strain) ** 2
        for p, b in zip(metric, self.basis, strict=False):
            g = g + p * b
        h = self.hkl.astype(np.float64)
        inv_d2 = np.einsum("ni,ij,nj->n", h, g, h)
        return bragg_two_theta(np.sqrt(np.maximum(inv_d2, 0.0)), self.wavelength)


def observed_peaks(
    cell: CellModel,
    state: ProfileState,
    wavelength_ratio: float | None,
    radius: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed K-alpha1 and K-alpha2 positions of the simulated peaks.

    Args:
        cell: Miller indices and metric of the peaks.
        state: the shift parameters (zero, strain, metric, displacement) and K-alpha2 ratio.
        wavelength_ratio: lambda_2 / lambda_1, or None when no K-alpha2 line is modelled.
        radius: goniometer radius R (mm).

    Returns:
        positions (n + m,) degrees, source peak index (n + m,) and relative weight (n + m,):
        the n K-alpha1 lines (weight 1) followed by the m K-alpha2 lines that exist (weight
        ``state.ka2_ratio``). Peaks pushed beyond 180 degrees are dropped.
    """
    tt1 = cell.two_theta(state.cell_strain, state.metric)
    index = np.arange(tt1.shape[0])
    ok1 = np.isfinite(tt1)
    positions = [tt1[ok1]]
    sources = [index[ok1]]
    weights = [np.ones(int(ok1.sum()))]
    if wavelength_ratio is not None and state.ka2_ratio > 0.0:
        tt2, ok2 = bragg_shift_kept(tt1[ok1], wavelength_ratio)
        positions.append(tt2)
        sources.append(index[ok1][ok2])
        weights.append(np.full(int(ok2.sum()), state.ka2_ratio))
    tt = np.concatenate(positions)
    shifted = instrument_shift(tt, state.zero_shift, state.displacement, radius)
    return shifted, np.concatenate(sources), np.concatenate(weights)


def profile_columns(
    x: np.ndarray,
    centres: np.ndarray,
    fwhm: np.ndarray,
    eta: float,
    weights: np.ndarray,
    column: np.ndarray,
    n_columns: int,
) -> np.ndarray:
    """Dense (len(x), n_columns) matrix: column c is sum over peaks j with column[j] = c of
    weights[j] PV_j(x), PV_j the windowed unit-area pseudo-Voigt (1/degrees) of centre
    ``centres[j]`` and FWHM ``fwhm[j]`` (degrees).

    Args:
        x: increasing sample angles in degrees.
        centres, fwhm, weights, column: one entry per peak.
        eta: Lorentzian fraction.
        n_columns: number of columns.
    """
    n = x.shape[0]
    lo = np.searchsorted(x, centres - WINDOW_HALF_WIDTH_FWHM * fwhm, side="left")
    hi = np.searchsorted(x, centres + WINDOW_HALF_WIDTH_FWHM * fwhm, side="right")
    sizes = hi - lo
    keep = sizes > 0
    lo, sizes = lo[keep], sizes[keep]
    out = np.zeros(n * n_columns)
    if lo.shape[0] == 0:
        return out.reshape(n, n_columns)
    starts = np.cumsum(sizes) - sizes
    index = np.arange(int(sizes.sum())) - np.repeat(starts - lo, sizes)
    width = np.repeat(fwhm[keep], sizes)
    u2 = ((x[index] - np.repeat(centres[keep], sizes)) / width) ** 2
    shape = pseudo_voigt_shape(u2, eta)
    values = shape * np.repeat(weights[keep] / (fwhm[keep] * window_area(eta)), sizes)
    flat = index * n_columns + np.repeat(column[keep], sizes)
    out += np.bincount(flat, weights=values, minlength=n * n_columns)
    return out.reshape(n, n_columns)


def chebyshev_basis(x: np.ndarray, n_terms: int) -> np.ndarray:
    """(len(x), n_terms) Chebyshev polynomials T_0 ... T_{n-1} of the reduced angle in [-1, 1]."""
    if n_terms == 0:
        return np.zeros((x.shape[0], 0))
    reduced = 2.0 * (x - x[0]) / max(float(x[-1] - x[0]), 1e-12) - 1.0
    return np.polynomial.chebyshev.chebvander(reduced, n_terms - 1)


def cluster_peaks(two_theta: np.ndarray, fwhm: np.ndarray, factor: float) -> np.ndarray:
    """Group sorted peaks: a new group starts where the gap to the previous peak exceeds
    ``factor`` times the mean FWHM of the two. Returns the group index (n,) of every peak."""
    if two_theta.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    gap = np.diff(two_theta)
    limit = factor * 0.5 * (fwhm[1:] + fwhm[:-1])
    return np.concatenate(([0], np.cumsum(gap > limit))).astype(np.int64)
