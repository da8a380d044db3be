"""K-alpha2: is the doublet in a measured profile, and the profile with it stripped.

A laboratory tube emits K-alpha1 and K-alpha2 (lambda_2 > lambda_1, intensity ratio R about
0.5). Each reflection then has a companion at 2theta_2 = 2 asin((lambda_2 / lambda_1)
sin(2theta_1 / 2)) (:func:`xrdsym.patterns.bragg.bragg_shift`), 0.1 degrees after it at 25
degrees and 0.5 degrees at 100 degrees for Cu.

Detection compares two fits of each strong line with the same number of parameters: a single
pseudo-Voigt, and a doublet (the same shape at 2theta_1 plus R times it at 2theta_2). A line
votes for K-alpha2 by log(RSS_single / RSS_doublet); the median vote over the strong lines
whose separation is at least :data:`MIN_SEPARATION_FWHM` FWHM decides.

Stripping is Rachinger's (1948) recursion on the background-subtracted profile,
I_1(x) = I(x) - R I_1(g(x)), with g(x) < x the K-alpha1 angle whose companion falls at x,
unrolled into the series sum_m (-R)^m I(g^m(x)) (linear interpolation between points).
"""

from __future__ import annotations

import numpy as np

from xrdsym.indexing.peak_fit import (
    MIN_FWHM_STEPS,
    ClusterModel,
    Companion,
    LineGuess,
    fit_model,
)
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

#: The unrolled Rachinger recursion stops at the term of weight R^m below this.
STRIP_TOLERANCE = 1e-6

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
    x: np.ndarray, y: np.ndarray, guess: LineGuess, step: float, companion: Companion | None
) -> float:
    """Residual sum of squares of a single line (``companion`` None) or of a doublet, each
    with position, area, FWHM, eta and a linear background (6 parameters,
    :class:`~xrdsym.indexing.peak_fit.ClusterModel`)."""
    model = ClusterModel(x, 1, guess.two_theta, MIN_FWHM_STEPS * step, companion)
    fit = fit_model(model, y, [guess], step, VOTE_EVALUATIONS)
    return float("nan") if fit is None else float(fit.fun @ fit.fun)


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
        step = float(xs[1] - xs[0])
        single = _fit_rss(xs, ys, g, step, None)
        double = _fit_rss(xs, ys, g, step, Companion(ratio, intensity_ratio))
        if np.isfinite(single) and np.isfinite(double) and single > 0.0 and double > 0.0:
            votes.append(float(np.log(single / double)))
    return votes


def rachinger_strip(
    x: np.ndarray, net: np.ndarray, ratio: float, intensity_ratio: float = KA2_RATIO
) -> np.ndarray:
    """The K-alpha1 part of a background-subtracted profile (Rachinger's recursion).

    The recursion I_1(x) = I(x) - R I_1(g(x)), g(x) = bragg_shift(x, lambda_1 / lambda_2) < x,
    unrolled: I_1(x) = sum_m (-R)^m I(g^m(x)) with g^m(x) = bragg_shift(x, (lambda_1 /
    lambda_2)^m), I interpolated linearly between the points and 0 before the first point,
    summed until R^m < STRIP_TOLERANCE (20 terms for R = 0.5); every term is one vectorised
    interpolation, so the cost is linear in the points.
    """
    r = float(intensity_ratio)
    terms = 1 if r <= 0.0 else int(np.ceil(np.log(STRIP_TOLERANCE) / np.log(r))) if r < 1.0 else 1
    out = np.array(net, dtype=np.float64)
    for m in range(1, terms + 1):
        g = bragg_shift(x, ratio ** (-m))
        out += (-r) ** m * np.interp(g, x, net, left=0.0)
    return out
