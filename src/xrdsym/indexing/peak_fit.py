"""Least-squares pseudo-Voigt fits of the lines of a background-subtracted profile.

Each line is a pseudo-Voigt of integrated area A (counts x degrees), position c and FWHM H
(degrees):

    f(x) = A / H * pv(((x - c) / H)^2, eta)

with ``pv`` the unit-area shape times H of :func:`xrdsym.patterns.profile.pseudo_voigt_shape`
(the renderer's own shape), so the height is A / H * pv(0, eta). Lines whose fit windows
overlap are fitted together (one cluster: shared eta and a linear local background b0 + b1 (x -
x_mid)) by Levenberg-Marquardt with the analytic Jacobian, every line's terms computed at once
(:func:`line_terms`); eta and the FWHM enter through unbounded parameters (:class:`ClusterModel`)
so that the fit rarely needs the slower bounded solver. Standard uncertainties come from the
covariance s^2 (J^T J)^-1 of the fit, s^2 the residual variance. The same model with a
:class:`Companion` fits a K-alpha1/K-alpha2 doublet (:mod:`xrdsym.indexing.kalpha2`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, leastsq

from xrdsym.indexing.results import ObservedPeak
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.patterns.profile import GAUSS_EXPONENT, GAUSS_NORM, LORENTZ_NORM, pseudo_voigt_shape

#: Half width of the fit window of a line, in units of its estimated FWHM.
WINDOW_FWHM = 1.5

#: Fewest points on each side of a line in its fit window.
MIN_WINDOW_POINTS = 4

#: Largest number of lines fitted together; longer runs of overlapping lines are cut into
#: clusters of this size (each fit then costs at most a few milliseconds).
MAX_CLUSTER = 6

#: A fitted position may move at most this many estimated FWHM from the detected maximum.
MAX_SHIFT_FWHM = 0.75

#: A fitted line whose position uncertainty exceeds this fraction of its FWHM is replaced by
#: its detected maximum (an undersampled or noisy line the fit cannot pin down).
MAX_SIGMA_FWHM = 0.5

#: Narrowest fitted FWHM, in steps: a narrower line is not sampled well enough to fit.
MIN_FWHM_STEPS = 1.0

#: A cluster of n lines is fitted on at most this many points times (n + 1): broad lines are
#: fitted on every k-th point of their window (their cost grows with the points).
MAX_POINTS_PER_LINE = 60

#: Starting Lorentzian fraction of the pseudo-Voigt.
START_ETA = 0.5

#: Relative tolerance of the Levenberg-Marquardt fits on the residual sum of squares and on
#: the parameters: stopping when the sum falls by less than 1e-5 leaves each position within
#: about sqrt(1e-5 x points) < 0.03 of its standard uncertainty of the optimum.
FIT_TOLERANCE = 1e-5

#: Function evaluations allowed per cluster fit (Levenberg-Marquardt) ...
MAX_EVALUATIONS = 100

#: ... and per bounded fit when the first leaves its bounds (each costs about ten times more).
MAX_BOUNDED_EVALUATIONS = 30


@dataclass(frozen=True)
class LineGuess:
    """A detected line before the fit: position, net height and FWHM (degrees, counts)."""

    two_theta: float
    height: float
    fwhm: float


def pseudo_voigt(x: np.ndarray, centre: float, area: float, fwhm: float, eta: float) -> np.ndarray:
    """A / H * pv(((x - c) / H)^2, eta): counts at ``x`` (degrees) of one line."""
    u = (x - centre) / fwhm
    return area / fwhm * pseudo_voigt_shape(u * u, eta)


def peak_height(area: float, fwhm: float, eta: float) -> float:
    """Height of a pseudo-Voigt line: A / H * pv(0, eta), counts."""
    return float(area / fwhm * pseudo_voigt_shape(np.zeros(1), eta)[0])


def height_to_area(height: float, fwhm: float, eta: float) -> float:
    """Area A (counts x degrees) of a pseudo-Voigt of the given height and FWHM."""
    return float(height * fwhm / pseudo_voigt_shape(np.zeros(1), eta)[0])


def clusters(guesses: list[LineGuess], step: float) -> list[list[int]]:
    """Indices of ``guesses`` (sorted by 2theta) grouped where their fit windows overlap."""
    groups: list[list[int]] = []
    end = -np.inf
    for i, guess in enumerate(guesses):
        half = max(WINDOW_FWHM * guess.fwhm, MIN_WINDOW_POINTS * step)
        if groups and guess.two_theta - half < end and len(groups[-1]) < MAX_CLUSTER:
            groups[-1].append(i)
            end = max(end, guess.two_theta + half)
        else:
            groups.append([i])
            end = guess.two_theta + half
    return groups


@dataclass(frozen=True)
class Companion:
    """A second line of every line (K-alpha2): at 2theta_2 = 2 asin(r sin(2theta_1 / 2)),
    r = ``wavelength_ratio`` (lambda_2 / lambda_1), with ``intensity_ratio`` times its area
    and the same FWHM and eta."""

    wavelength_ratio: float
    intensity_ratio: float


def line_terms(
    x: np.ndarray, centres: np.ndarray, areas: np.ndarray, fwhms: np.ndarray, eta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Values and partial derivatives of n pseudo-Voigt lines at ``x``, each (x.size, n).

    With u = (x - c) / H, L = LORENTZ_NORM / (1 + 4 u^2), G = GAUSS_NORM exp(-k u^2) (k =
    GAUSS_EXPONENT), S = eta L + (1 - eta) G and S' = dS/du, f = A S / H and
    df/dc = -A S' / H^2, df/dA = S / H, df/dH = -A (S + u S') / H^2, df/deta = A (L - G) / H.
    Returns (f, df/dc, df/dA, df/dH, df/deta).
    """
    u = (x[:, None] - centres) / fwhms
    u2 = u * u
    q = 1.0 + 4.0 * u2
    lorentz = LORENTZ_NORM / q
    gauss = GAUSS_NORM * np.exp(-GAUSS_EXPONENT * u2)
    shape = eta * lorentz + (1.0 - eta) * gauss
    slope = -u * (eta * 8.0 * lorentz / q + (1.0 - eta) * 2.0 * GAUSS_EXPONENT * gauss)
    height = areas / fwhms
    d_area = shape / fwhms
    return (
        height * shape,
        -height * slope / fwhms,
        d_area,
        -height * (shape + u * slope) / fwhms,
        height * (lorentz - gauss),
    )


def line_values(
    x: np.ndarray, centres: np.ndarray, areas: np.ndarray, fwhms: np.ndarray, eta: float
) -> np.ndarray:
    """Summed counts at ``x`` of n pseudo-Voigt lines, A / H S(u) (:func:`line_terms`
    without the derivatives)."""
    u2 = ((x[:, None] - centres) / fwhms) ** 2
    shape = eta * LORENTZ_NORM / (1.0 + 4.0 * u2) + (1.0 - eta) * GAUSS_NORM * np.exp(
        -GAUSS_EXPONENT * u2
    )
    return shape @ (areas / fwhms)


class ClusterModel:
    """n lines (c, A, H each), a shared eta and a linear background b0 + b1 (x - x_mid),
    optionally each with its :class:`Companion`; counts at the points ``x``.

    Parameters p = (c_1, A_1, s_1, ..., c_n, A_n, s_n, t, b0, b1) with H = min_fwhm + s^2
    and eta = sin^2 t, so that the unbounded Levenberg-Marquardt fit keeps every width at
    least ``min_fwhm`` and eta inside [0, 1].
    """

    def __init__(
        self,
        x: np.ndarray,
        n: int,
        x_mid: float,
        min_fwhm: float,
        companion: Companion | None = None,
    ) -> None:
        self.x, self.n, self.x_mid, self.min_fwhm = x, n, x_mid, min_fwhm
        self.companion = companion

    def lines(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(positions, areas, FWHMs, eta) of the parameters ``p``."""
        lines = p[: 3 * self.n].reshape(self.n, 3)
        fwhms = self.min_fwhm + lines[:, 2] ** 2
        return lines[:, 0], lines[:, 1], fwhms, float(np.sin(p[3 * self.n]) ** 2)

    def width_parameter(self, fwhm: float) -> float:
        """s = sqrt(H - min_fwhm) of a FWHM, at least sqrt(H / 4) (d/ds vanishes at s = 0)."""
        return float(np.sqrt(max(fwhm - self.min_fwhm, 0.25 * fwhm)))

    def _companion_angles(self, c: np.ndarray) -> np.ndarray:
        """2theta_2 of the companions of lines at ``c`` (180 where there is none)."""
        assert self.companion is not None
        return np.nan_to_num(bragg_shift(c, self.companion.wavelength_ratio), nan=180.0)

    def values(self, p: np.ndarray) -> np.ndarray:
        """Model counts at ``x`` (:func:`line_values` of the lines and their companions)."""
        c, a, h, eta = self.lines(p)
        total = line_values(self.x, c, a, h, eta)
        if self.companion is not None:
            second = line_values(self.x, self._companion_angles(c), a, h, eta)
            total = total + self.companion.intensity_ratio * second
        b0, b1 = p[3 * self.n + 1 : 3 * self.n + 3]
        return total + b0 + b1 * (self.x - self.x_mid)

    def _terms(
        self, p: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`line_terms` of the lines, their companions added (d 2theta_2 / d 2theta_1
        = r cos(theta_1) / cos(theta_2) on the position derivative)."""
        c, a, h, eta = self.lines(p)
        terms = line_terms(self.x, c, a, h, eta)
        if self.companion is None:
            return terms
        c2 = self._companion_angles(c)
        r, weight = self.companion.wavelength_ratio, self.companion.intensity_ratio
        slope = r * np.cos(np.radians(c) / 2.0) / np.cos(np.radians(c2) / 2.0)
        f2, d_c2, d_a2, d_h2, d_eta2 = line_terms(self.x, c2, a, h, eta)
        f, d_c, d_a, d_h, d_eta = terms
        return (
            f + weight * f2,
            d_c + weight * slope * d_c2,
            d_a + weight * d_a2,
            d_h + weight * d_h2,
            d_eta + weight * d_eta2,
        )

    def jacobian(self, p: np.ndarray) -> np.ndarray:
        """d values / d p, shape (x.size, 3 n + 3); d/ds = 2 s d/dH, d/dt = sin(2t) d/deta."""
        _, d_c, d_a, d_h, d_eta = self._terms(p)
        jac = np.empty((self.x.size, 3 * self.n + 3))
        jac[:, 0 : 3 * self.n : 3] = d_c
        jac[:, 1 : 3 * self.n : 3] = d_a
        jac[:, 2 : 3 * self.n : 3] = d_h * (2.0 * p[2 : 3 * self.n : 3])
        jac[:, 3 * self.n] = d_eta.sum(axis=1) * np.sin(2.0 * p[3 * self.n])
        jac[:, 3 * self.n + 1] = 1.0
        jac[:, 3 * self.n + 2] = self.x - self.x_mid
        return jac


def _fallback(guess: LineGuess, step: float) -> ObservedPeak:
    """The detected line as it is, when its fit fails: sigma = step / sqrt(12) (a uniform
    error within one point) and the area of a Gaussian-Lorentzian mix of eta = 0.5."""
    return ObservedPeak(
        two_theta=guess.two_theta,
        sigma=step / np.sqrt(12.0),
        height=guess.height,
        area=height_to_area(guess.height, guess.fwhm, START_ETA),
        fwhm=guess.fwhm,
    )


def fit_cluster(
    x: np.ndarray, y: np.ndarray, group: list[LineGuess], step: float
) -> list[ObservedPeak]:
    """Fit the lines of one cluster on the points of their windows.

    Args:
        x: 2theta in degrees (increasing); y: net counts (background subtracted).
        group: the cluster's detected lines, increasing 2theta.
        step: typical 2theta step, degrees.
    """
    halves = [max(WINDOW_FWHM * g.fwhm, MIN_WINDOW_POINTS * step) for g in group]
    low = group[0].two_theta - halves[0]
    high = group[-1].two_theta + halves[-1]
    i0, i1 = np.searchsorted(x, [low, high])
    n = len(group)
    stride = max(1, int(np.ceil((i1 - i0) / (MAX_POINTS_PER_LINE * (n + 1)))))
    xs, ys = x[i0:i1:stride], y[i0:i1:stride]
    if xs.size < 3 * n + 3 + 2:
        return [_fallback(g, step) for g in group]
    model = ClusterModel(xs, n, float(0.5 * (xs[0] + xs[-1])), MIN_FWHM_STEPS * step)
    fit = fit_model(model, ys, group, step)
    if fit is None:
        return [_fallback(g, step) for g in group]
    return peaks_from_fit(fit, model, group, step)


def start_and_bounds(
    model: ClusterModel, group: list[LineGuess], step: float, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, lower and upper bounds of the parameters of ``model`` for the detected lines
    ``group`` (net counts up to ``scale``): each position within MAX_SHIFT_FWHM FWHM (at
    least a step), area in [0, 10 x start], FWHM at most 5 FWHM + a step; eta = START_ETA,
    no background."""
    start, lower, upper = [], [], []
    for g in group:
        shift = max(MAX_SHIFT_FWHM * g.fwhm, step)
        area = height_to_area(max(g.height, 1e-12), g.fwhm, START_ETA)
        widest = model.width_parameter(5.0 * g.fwhm + step)
        start += [g.two_theta, area, model.width_parameter(g.fwhm)]
        lower += [g.two_theta - shift, 0.0, -widest]
        upper += [g.two_theta + shift, 10.0 * area + 1e-9, widest]
    start += [float(np.arcsin(np.sqrt(START_ETA))), 0.0, 0.0]
    lower += [-np.inf, -scale, -np.inf]
    upper += [np.inf, scale, np.inf]
    p0 = np.clip(np.array(start), lower, upper)
    return p0, np.array(lower), np.array(upper)


@dataclass(frozen=True)
class Fit:
    """A least-squares answer: parameters, residuals (model - counts) and (J^T J)^-1 there
    (J the Jacobian; the covariance of the parameters is s^2 times it)."""

    x: np.ndarray
    fun: np.ndarray
    normal_inverse: np.ndarray


def fit_model(
    model: ClusterModel,
    ys: np.ndarray,
    group: list[LineGuess],
    step: float,
    max_evaluations: int = MAX_EVALUATIONS,
    bounded: bool = True,
) -> Fit | None:
    """Least-squares fit of ``model`` to the counts ``ys`` from the detected lines ``group``
    (:func:`start_and_bounds`), or None when it fails.

    Levenberg-Marquardt (MINPACK's lmder through ``scipy.optimize.leastsq``, relative
    tolerances FIT_TOLERANCE) first; when its answer leaves the bounds (a negative width, a
    line that wandered off), the bounded trust-region fit instead (None when not ``bounded``).
    An answer inside the bounds after ``max_evaluations`` is kept (a nearly converged
    position)."""
    p0, lower, upper = start_and_bounds(model, group, step, float(np.max(np.abs(ys))) or 1.0)

    def residual(p: np.ndarray) -> np.ndarray:
        return model.values(p) - ys

    try:
        p, normal_inverse, info, _, status = leastsq(
            residual,
            p0,
            Dfun=model.jacobian,
            full_output=True,
            maxfev=max_evaluations,
            ftol=FIT_TOLERANCE,
            xtol=FIT_TOLERANCE,
        )
        if status in (1, 2, 3, 4, 5) and np.all(p >= lower) and np.all(p <= upper):
            if normal_inverse is None:  # J^T J singular: its pseudo-inverse
                normal_inverse = np.linalg.pinv(_normal(model.jacobian(p)))
            return Fit(p, info["fvec"], normal_inverse)
        if not bounded:
            return None
        fit = least_squares(
            residual,
            p0,
            jac=model.jacobian,
            bounds=(lower, upper),
            max_nfev=MAX_BOUNDED_EVALUATIONS,
            x_scale="jac",
        )
        return Fit(fit.x, fit.fun, np.linalg.pinv(_normal(fit.jac)))
    except (ValueError, np.linalg.LinAlgError):
        return None


def _normal(jac: np.ndarray) -> np.ndarray:
    """J^T J of a Jacobian."""
    return jac.T @ jac


def peaks_from_fit(
    fit: Fit, model: ClusterModel, group: list[LineGuess], step: float
) -> list[ObservedPeak]:
    """ObservedPeaks from a :class:`Fit` of ``model``: positions, covariance sigmas, heights;
    lines with sigma > MAX_SIGMA_FWHM x FWHM keep their detected position (``_fallback``)."""
    p, residual = fit.x, fit.fun
    dof = max(model.x.size - p.size, 1)
    s2 = float(residual @ residual) / dof
    variances = np.clip(np.diag(fit.normal_inverse) * s2, 0.0, None)
    centres, areas, fwhms, eta = model.lines(p)
    peaks = []
    for k, guess in enumerate(group):
        c, a, h = float(centres[k]), float(areas[k]), float(fwhms[k])
        sigma = float(np.sqrt(variances[3 * k]))
        if not (np.isfinite(c) and np.isfinite(sigma) and a > 0.0):
            peaks.append(_fallback(guess, step))
            continue
        if sigma > MAX_SIGMA_FWHM * h:
            peaks.append(_fallback(guess, step))  # the fit does not fix the position
            continue
        peaks.append(
            ObservedPeak(
                two_theta=c,
                sigma=max(sigma, 1e-6),
                height=peak_height(a, h, eta),
                area=a,
                fwhm=h,
            )
        )
    return peaks


def fit_lines(
    x: np.ndarray,
    y: np.ndarray,
    guesses: list[LineGuess],
    step: float,
    seconds: float,
    selected: np.ndarray | None = None,
) -> tuple[list[ObservedPeak], int]:
    """Fitted lines of every cluster of ``guesses`` (sorted by 2theta), in the same order,
    strongest clusters first until ``seconds`` have passed; the lines of the clusters left then
    keep their detected maxima (``_fallback``), as do the clusters without a line of
    ``selected`` (a boolean per guess; default all). Returns (lines, number not fitted for
    want of time)."""
    groups = clusters(guesses, step)
    order = sorted(range(len(groups)), key=lambda k: -max(guesses[i].height for i in groups[k]))
    deadline = time.perf_counter() + seconds
    fitted: dict[int, list[ObservedPeak]] = {}
    unfitted = 0
    for k in order:
        group = [guesses[i] for i in groups[k]]
        if selected is not None and not any(selected[i] for i in groups[k]):
            fitted[k] = [_fallback(g, step) for g in group]
        elif time.perf_counter() < deadline:
            fitted[k] = fit_cluster(x, y, group, step)
        else:
            fitted[k] = [_fallback(g, step) for g in group]
            unfitted += len(group)
    return [p for k in range(len(groups)) for p in fitted[k]], unfitted
