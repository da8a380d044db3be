"""Figures of merit and doubts of a profile fit: noise gain, background shape, K-alpha2
resolution, the March-Dollase texture that best explains the intensity ratios, and the
warnings that mark a doubtful fit."""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult, minimize_scalar

from research.gap.background import median_step
from research.gap.model import ProfileState
from research.gap.projection import COUNT_FLOOR
from research.gap.result import PeakGroupRatios, TextureFit
from xrdsym.patterns import effects
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.patterns.peaks import PeakList
from xrdsym.patterns.profile_params import ProfileRanges

#: Fewest peak-free points the noise estimate needs.
MIN_NOISE_POINTS = 30

#: The K-alpha2 ratio is determined only when the doublet separation at the highest-angle
#: strong peak exceeds this many FWHM; closer doublets just widen the peak.
KA2_RESOLVED_FWHM = 0.5

#: Parameters whose bound being active marks a doubtful fit (the others have physical
#: limits at their bounds: eta in [0, 1], K-alpha2 ratio 0 for a monochromated beam, U, W >= 0).
SUSPECT_AT_BOUND = ("zero_shift", "cell_strain", "displacement")

#: A parameter within this fraction of its bound range from a bound counts as stuck there.
BOUND_MARGIN = 1e-3


def noise_gain(y: np.ndarray, peak_part: np.ndarray, background: np.ndarray) -> float:
    """g = mean(d^2) / (1.5 mean(y)) over interior points whose fitted peak part and that of
    both neighbours is below the Poisson standard deviation of the background; NaN if too few."""
    quiet = peak_part < np.sqrt(np.maximum(background, COUNT_FLOOR))
    inner = quiet[1:-1] & quiet[:-2] & quiet[2:]
    d = y[1:-1] - 0.5 * (y[:-2] + y[2:])
    if int(inner.sum()) < MIN_NOISE_POINTS:
        return float("nan")
    mean_y = float(np.mean(y[1:-1][inner]))
    return float(np.mean(d[inner] ** 2) / (1.5 * mean_y)) if mean_y > 0 else float("nan")


def poly_error(x: np.ndarray, background: np.ndarray, order: int = 6) -> float:
    """Largest |P6 - b| / max b of a least-squares sixth-order polynomial in the reduced angle."""
    reduced = 2.0 * (x - x[0]) / (x[-1] - x[0]) - 1.0
    coeffs = np.polynomial.polynomial.polyfit(reduced, background, order)
    fitted = np.polynomial.polynomial.polyval(reduced, coeffs)
    top = float(np.max(np.abs(background)))
    return float(np.max(np.abs(fitted - background)) / top) if top > 0 else float("nan")


def texture_fit(
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


def ka2_resolved(state: ProfileState, groups: PeakGroupRatios, ratio2: float | None) -> bool:
    """Whether the K-alpha2 doublet of the highest-angle strong group is separated from its
    K-alpha1 line by more than KA2_RESOLVED_FWHM FWHM (positions by
    :func:`xrdsym.patterns.bragg.bragg_shift` with ratio2 = lambda2 / lambda1)."""
    if ratio2 is None or not np.any(groups.strong):
        return False
    top = float(groups.two_theta[groups.strong].max())
    alpha2 = float(bragg_shift(np.array([top]), ratio2)[0])
    if not np.isfinite(alpha2):
        return True  # the companion lies beyond 180 degrees: as far apart as can be
    return alpha2 - top > KA2_RESOLVED_FWHM * float(state.fwhm(np.array([top]))[0])


def fit_warnings(
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
