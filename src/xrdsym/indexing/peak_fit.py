"""Least-squares pseudo-Voigt fits of the lines of a background-subtracted profile.

Each line is a pseudo-Voigt of integrated area A (counts x degrees), position c and FWHM H
(degrees):

    f(x) = A / H * pv(((x - c) / H)^2, eta)

with ``pv`` the unit-area shape times H of :func:`xrdsym.patterns.profile.pseudo_voigt_shape`
(the renderer's own shape), so the height is A / H * pv(0, eta). Lines whose fit windows
overlap are fitted together (one cluster: shared eta and a linear local background b0 + b1 (x -
x_mid)). Standard uncertainties come from the covariance s^2 (J^T J)^-1 of the fit, s^2 the
residual variance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from xrdsym.indexing.results import ObservedPeak
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


def _cluster_model(params: np.ndarray, x: np.ndarray, n: int, x_mid: float) -> np.ndarray:
    """Sum of n lines (c, A, H each), shared eta, linear background: counts at ``x``."""
    eta, b0, b1 = params[3 * n : 3 * n + 3]
    values = b0 + b1 * (x - x_mid)
    for k in range(n):
        c, a, h = params[3 * k : 3 * k + 3]
        values = values + pseudo_voigt(x, c, a, h, eta)
    return values


def _cluster_jacobian(params: np.ndarray, x: np.ndarray, n: int, x_mid: float) -> np.ndarray:
    """d model / d params of :func:`_cluster_model`, shape (x.size, 3 n + 3).

    With u = (x - c) / H, L = LORENTZ_NORM / (1 + 4 u^2), G = GAUSS_NORM exp(-k u^2) (k =
    GAUSS_EXPONENT), S = eta L + (1 - eta) G and S' = dS/du:
    df/dA = S / H, df/dc = -A S' / H^2, df/dH = -A (S + u S') / H^2, df/deta = A (L - G) / H.
    """
    eta = params[3 * n]
    jac = np.empty((x.size, 3 * n + 3))
    jac[:, 3 * n] = 0.0
    for k in range(n):
        c, a, h = params[3 * k : 3 * k + 3]
        u = (x - c) / h
        q = 1.0 + 4.0 * u * u
        lorentz = LORENTZ_NORM / q
        gauss = GAUSS_NORM * np.exp(-GAUSS_EXPONENT * u * u)
        shape = eta * lorentz + (1.0 - eta) * gauss
        slope = eta * (-8.0 * u * lorentz / q) + (1.0 - eta) * (-2.0 * GAUSS_EXPONENT * u * gauss)
        jac[:, 3 * k] = -a * slope / (h * h)
        jac[:, 3 * k + 1] = shape / h
        jac[:, 3 * k + 2] = -a * (shape + u * slope) / (h * h)
        jac[:, 3 * n] += a * (lorentz - gauss) / h
    jac[:, 3 * n + 1] = 1.0
    jac[:, 3 * n + 2] = x - x_mid
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
    start, lower, upper = [], [], []
    for g in group:
        shift = max(MAX_SHIFT_FWHM * g.fwhm, step)
        area = height_to_area(max(g.height, 1e-12), g.fwhm, START_ETA)
        start += [g.two_theta, area, g.fwhm]
        lower += [g.two_theta - shift, 0.0, MIN_FWHM_STEPS * step]
        upper += [g.two_theta + shift, 10.0 * area + 1e-9, 5.0 * g.fwhm + step]
    scale = float(np.max(np.abs(ys))) or 1.0
    start += [START_ETA, 0.0, 0.0]
    lower += [0.0, -scale, -np.inf]
    upper += [1.0, scale, np.inf]
    x_mid = float(0.5 * (xs[0] + xs[-1]))
    p0 = np.clip(np.array(start), lower, upper)
    bounds = (np.array(lower), np.array(upper))
    try:
        fit = _least_squares(xs, ys, n, x_mid, p0, bounds)
    except (ValueError, np.linalg.LinAlgError):
        return [_fallback(g, step) for g in group]
    return _peaks_from_fit(fit, xs.size, group, step)


def _least_squares(
    xs: np.ndarray,
    ys: np.ndarray,
    n: int,
    x_mid: float,
    p0: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
) -> Any:
    """Levenberg-Marquardt (MINPACK, fast) from ``p0``; when its answer leaves ``bounds``
    (a negative width, eta outside [0, 1], a line that wandered off), the bounded
    trust-region fit instead."""

    def residual(p: np.ndarray) -> np.ndarray:
        return _cluster_model(p, xs, n, x_mid) - ys

    def jacobian(p: np.ndarray) -> np.ndarray:
        return _cluster_jacobian(p, xs, n, x_mid)

    fit = least_squares(residual, p0, jac=jacobian, method="lm", max_nfev=MAX_EVALUATIONS)
    inside = np.all(fit.x >= bounds[0]) and np.all(fit.x <= bounds[1])
    if fit.success and inside:
        return fit
    return least_squares(
        residual, p0, jac=jacobian, bounds=bounds, max_nfev=MAX_BOUNDED_EVALUATIONS, x_scale="jac"
    )


def _peaks_from_fit(
    fit: object, n_points: int, group: list[LineGuess], step: float
) -> list[ObservedPeak]:
    """ObservedPeaks from a ``least_squares`` result: positions, covariance sigmas, heights;
    lines with sigma > MAX_SIGMA_FWHM x FWHM keep their detected position (``_fallback``)."""
    p = fit.x  # type: ignore[attr-defined]
    jac = fit.jac  # type: ignore[attr-defined]
    residual = fit.fun  # type: ignore[attr-defined]
    dof = max(n_points - p.size, 1)
    s2 = float(residual @ residual) / dof
    try:
        covariance = np.linalg.pinv(jac.T @ jac) * s2
        variances = np.clip(np.diag(covariance), 0.0, None)
    except np.linalg.LinAlgError:
        variances = np.full(p.size, np.nan)
    eta = float(p[3 * len(group)])
    peaks = []
    for k, guess in enumerate(group):
        c, a, h = (float(v) for v in p[3 * k : 3 * k + 3])
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
    x: np.ndarray, y: np.ndarray, guesses: list[LineGuess], step: float, seconds: float
) -> tuple[list[ObservedPeak], int]:
    """Fitted lines of every cluster of ``guesses`` (sorted by 2theta), in the same order,
    strongest clusters first until ``seconds`` have passed; the lines of the clusters left then
    keep their detected maxima (``_fallback``). Returns (lines, number not fitted)."""
    groups = clusters(guesses, step)
    order = sorted(range(len(groups)), key=lambda k: -max(guesses[i].height for i in groups[k]))
    deadline = time.perf_counter() + seconds
    fitted: dict[int, list[ObservedPeak]] = {}
    unfitted = 0
    for k in order:
        group = [guesses[i] for i in groups[k]]
        if time.perf_counter() < deadline:
            fitted[k] = fit_cluster(x, y, group, step)
        else:
            fitted[k] = [_fallback(g, step) for g in group]
            unfitted += len(group)
    return [p for k in range(len(groups)) for p in fitted[k]], unfitted
