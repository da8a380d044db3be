"""K-alpha2: is the doublet in a measured profile, and the profile with it stripped.

A laboratory tube emits K-alpha1 and K-alpha2 (lambda_2 > lambda_1, intensity ratio R about
0.5). Each reflection then has a companion at 2theta_2 = 2 asin((lambda_2 / lambda_1)
sin(2theta_1 / 2)) (:func:`xrdsym.patterns.bragg.bragg_shift`), 0.1 degrees after it at 25
degrees and 0.5 degrees at 100 degrees for Cu.

Detection compares two fits of each strong line with the same number of parameters: a single
pseudo-Voigt, and a doublet (the same shape at 2theta_1 plus R times it at 2theta_2). A line
votes for K-alpha2 by log(RSS_single / RSS_doublet); the median vote over the strong lines
whose separation is at least :data:`MIN_SEPARATION_FWHM` FWHM decides.

Stripping is Rachinger's (1948) recursion on the background-subtracted profile, taken point by
point in increasing 2theta: I_1(x) = I(x) - R I_1(g(x)), with g(x) the K-alpha1 angle whose
companion falls at x (g < x, so I_1(g) is already known; linear interpolation between points).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from xrdsym.indexing.peak_fit import START_ETA, LineGuess, height_to_area, pseudo_voigt
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.wavelengths import (
    ANODE_MATCH_TOL,
    K_ALPHA1,
    K_ALPHA2,
    KA2_RATIO,
    k_alpha_average,
)

#: A line takes part in the vote only when its companion lies at least this many FWHM away
#: (closer doublets fit a single broadened line as well as a doublet).
MIN_SEPARATION_FWHM = 0.35

#: ... and when its net height is at least this many noise standard deviations.
MIN_VOTE_SNR = 15.0

#: Strongest lines that vote.
MAX_VOTERS = 6

#: Function evaluations allowed per vote fit.
VOTE_EVALUATIONS = 60

#: Half width of the fit window beyond the line (and beyond its companion), in FWHM.
VOTE_WINDOW_FWHM = 2.5


def anode_doublet(wavelength: float) -> tuple[float, float] | None:
    """(lambda_1, lambda_2) in Angstrom when ``wavelength`` is the K-alpha1 line or the K-alpha
    average of a known anode (``wavelengths.K_ALPHA1``, ``k_alpha_average``, to
    ``ANODE_MATCH_TOL``), else None (synchrotron, K-beta, filtered beams, ...)."""
    for anode, lam1 in K_ALPHA1.items():
        for line in (lam1, k_alpha_average(anode)):
            if abs(line - wavelength) <= ANODE_MATCH_TOL:
                return lam1, K_ALPHA2[anode]
    return None


def companion_angle(two_theta: np.ndarray | float, ratio: float) -> np.ndarray:
    """2theta_2 (degrees) of the K-alpha2 companion of lines at ``two_theta`` (K-alpha1);
    ``ratio`` = lambda_2 / lambda_1. NaN where the companion would be beyond 180 degrees."""
    return bragg_shift(np.asarray(two_theta, dtype=np.float64), ratio)


def _fit_rss(
    x: np.ndarray, y: np.ndarray, guess: LineGuess, ratio: float | None, intensity_ratio: float
) -> float:
    """Residual sum of squares of a single line (``ratio`` None) or of a doublet, each with
    position, area, FWHM, eta and a linear background (6 parameters)."""
    area = height_to_area(max(guess.height, 1e-12), guess.fwhm, START_ETA)

    def model(p: np.ndarray) -> np.ndarray:
        c, a, h, eta, b0, b1 = p
        values = b0 + b1 * (x - guess.two_theta) + pseudo_voigt(x, c, a, h, eta)
        if ratio is not None:
            c2 = float(companion_angle(c, ratio))
            values = values + intensity_ratio * pseudo_voigt(x, c2, a, h, eta)
        return values - y

    scale = float(np.max(np.abs(y))) or 1.0
    shift = guess.fwhm
    lower = [guess.two_theta - shift, 0.0, 0.2 * guess.fwhm, 0.0, -scale, -np.inf]
    upper = [guess.two_theta + shift, 10.0 * area + 1e-9, 3.0 * guess.fwhm, 1.0, scale, np.inf]
    p0 = np.clip([guess.two_theta, area, guess.fwhm, START_ETA, 0.0, 0.0], lower, upper)
    try:
        fit = least_squares(model, p0, bounds=(lower, upper), max_nfev=VOTE_EVALUATIONS)
    except (ValueError, np.linalg.LinAlgError):
        return float("nan")
    return float(fit.fun @ fit.fun)


def doublet_votes(
    x: np.ndarray,
    net: np.ndarray,
    guesses: list[LineGuess],
    noise: float,
    ratio: float,
    intensity_ratio: float = KA2_RATIO,
) -> list[float]:
    """log(RSS_single / RSS_doublet) of each voting line (see the module docstring).

    Args:
        x: 2theta in degrees; net: background-subtracted counts.
        guesses: detected lines; the strongest usable ones vote.
        noise: noise standard deviation of ``net``, counts.
        ratio: lambda_2 / lambda_1.
        intensity_ratio: I(K-alpha2) / I(K-alpha1).
    """
    usable = []
    for g in guesses:
        separation = float(companion_angle(g.two_theta, ratio)) - g.two_theta
        resolvable = np.isfinite(separation) and separation >= MIN_SEPARATION_FWHM * g.fwhm
        if resolvable and g.height >= MIN_VOTE_SNR * noise:
            usable.append((g, separation))
    usable.sort(key=lambda item: -item[0].height)
    votes = []
    for g, separation in usable[:MAX_VOTERS]:
        low = g.two_theta - VOTE_WINDOW_FWHM * g.fwhm
        high = g.two_theta + separation + VOTE_WINDOW_FWHM * g.fwhm
        i0, i1 = np.searchsorted(x, [low, high])
        if i1 - i0 < 12:
            continue
        xs, ys = x[i0:i1], net[i0:i1]
        single = _fit_rss(xs, ys, g, None, intensity_ratio)
        double = _fit_rss(xs, ys, g, ratio, intensity_ratio)
        if np.isfinite(single) and np.isfinite(double) and single > 0.0 and double > 0.0:
            votes.append(float(np.log(single / double)))
    return votes


def rachinger_strip(
    x: np.ndarray, net: np.ndarray, ratio: float, intensity_ratio: float = KA2_RATIO
) -> np.ndarray:
    """The K-alpha1 part of a background-subtracted profile (Rachinger's recursion).

    I_1(x_i) = I(x_i) - R I_1(g_i), g_i = bragg_shift(x_i, lambda_1 / lambda_2) < x_i, I_1(g_i)
    interpolated linearly between the points around g_i. When g_i lies between x_{i-1} and x_i
    (companion closer than one step) the equation is solved for I_1(x_i):
    I_1(x_i) (1 + R (1 - w)) = I(x_i) - R w I_1(x_{i-1}), w the weight of x_{i-1}.
    Points whose g_i is before the first point are kept as they are.
    """
    g = bragg_shift(x, 1.0 / ratio)
    j = np.searchsorted(x, g, side="right") - 1  # x[j] <= g < x[j + 1]
    xs = x.tolist()
    js = j.tolist()
    gs = g.tolist()
    values = net.tolist()
    out = [0.0] * len(values)
    r = float(intensity_ratio)
    for i, value in enumerate(values):
        k = js[i]
        if k < 0 or not np.isfinite(gs[i]):
            out[i] = value
            continue
        if k + 1 >= i:  # g between x[i-1] and x[i]: implicit in I_1(x_i)
            w = (xs[i] - gs[i]) / (xs[i] - xs[i - 1]) if i > 0 else 0.0
            previous = out[i - 1] if i > 0 else 0.0
            out[i] = (value - r * w * previous) / (1.0 + r * (1.0 - w))
            continue
        w = (xs[k + 1] - gs[i]) / (xs[k + 1] - xs[k])
        out[i] = value - r * (w * out[k] + (1.0 - w) * out[k + 1])
    return np.asarray(out, dtype=np.float64)
