"""Is a profile a powder pattern of a crystalline phase? The gate before indexing.

:func:`assess_powder` returns None for a usable powder pattern, else a :class:`PowderVerdict`
whose ``reason`` says in plain words what the scan looks like instead. The checks, in order:

1. ``amorphous``: broad scattering dominates. hump = the search's background (SNIP, half
   window up to 5 degrees) minus a floor under it (SNIP with a :data:`HUMP_FLOOR_WINDOW` half
   window, which keeps smooth convex decays and removes humps 5-20 degrees wide); the verdict
   when max(hump) exceeds :data:`HUMP_RATIO` x the strongest sharp line, or when the strongest
   lines are wider than :data:`BROAD_FWHM` degrees (nanocrystalline).
2. ``noise``: no line stands :data:`NOISE_SNR` noise standard deviations above the background
   (no maximum at all, or maxima of the noise): nothing to index (an empty holder, a closed
   shutter, a scan of the wrong range).
3. ``single_crystal``: at most :data:`WAFER_LINES` lines carry :data:`WAFER_SHARE` of the
   summed line height, none of the others reaches :data:`WAFER_OTHERS` of the strongest and
   the strongest is at most :data:`WAFER_FWHM` wide: one or two reflections of an oriented
   crystal (a wafer, a substrate, an epitaxial film), not a powder.
4. ``textured``: every line above :data:`TEXTURE_FLOOR` of the strongest is an order n of one
   spacing d0 (1/d_i = n_i / d0, 2theta within :data:`ORDER_TOLERANCE` degrees after fitting
   d0 and a zero shift), with at least
   :data:`TEXTURE_MIN_ORDERS` orders: a strongly textured film shows one family of planes,
   which no three-dimensional cell can be refined from.
5. ``too_few_lines``: fewer than :data:`MIN_REFLECTIONS` lines above :data:`LINE_FLOOR` of
   the strongest.

The thresholds are fitted on simulated laboratory patterns (``benchmarks/fit_quality_gate.py``,
see docs/indexing.md): each is set so that powders of the validation part pass and the
simulated scans of each kind are caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from xrdsym.indexing.peaks import PeakSearchOptions, SearchedProfile, search_profile
from xrdsym.indexing.results import ObservedPeak, PeakSearchResult

#: Half window (degrees) of the SNIP floor under the background: humps up to about twice as
#: wide (FWHM) are removed from it, smooth decays stay.
HUMP_FLOOR_WINDOW = 20.0

#: Points of the coarse copy of the background on which the floor is taken (bounds its cost).
HUMP_POINTS = 800

#: A hump must stand this many noise standard deviations above its floor.
HUMP_MIN_SNR = 10.0

#: Hump height over the strongest sharp line above which the scan counts as amorphous.
HUMP_RATIO = 2.0

#: Median FWHM (degrees) of the strongest lines above which the scan is nanocrystalline.
BROAD_FWHM = 3.0

#: Strongest lines whose median FWHM is compared with BROAD_FWHM.
BROAD_LINES = 3

#: The strongest line of a powder stands at least this many noise standard deviations above the
#: background; maxima of pure noise stay below it.
NOISE_SNR = 12.0

#: At most this many lines may make a single-crystal or wafer scan ...
WAFER_LINES = 2

#: ... holding at least this share of the summed line heights ...
WAFER_SHARE = 0.85

#: ... while no other line reaches this fraction of the strongest ...
WAFER_OTHERS = 0.1

#: ... and the strongest line is at most this wide, degrees (an oriented crystal gives lines
#: as sharp as the instrument; one or two broad lines are too few lines, not a crystal).
WAFER_FWHM = 0.5

#: Lines above this fraction of the strongest must all be orders of one spacing ...
TEXTURE_FLOOR = 0.03

#: ... within this many degrees 2theta (after a least-squares d0 and zero shift; a tolerance
#: that grew with the line width would let any three broad lines pass as orders) ...
ORDER_TOLERANCE = 0.1

#: Rounds of the alternating fit of the spacing and the zero shift.
ORDER_ITERATIONS = 5

#: ... with at least this many distinct orders, the first at most :data:`MAX_FIRST_ORDER`.
TEXTURE_MIN_ORDERS = 3
MAX_FIRST_ORDER = 4

#: A line counts as a reflection above this fraction of the strongest.
LINE_FLOOR = 0.02

#: Fewest reflections of a powder pattern.
MIN_REFLECTIONS = 3

Reason = Literal["amorphous", "noise", "single_crystal", "textured", "too_few_lines"]


@dataclass(frozen=True)
class PowderVerdict:
    """Why a profile is not a powder pattern of a crystalline phase.

    Attributes:
        code: ``amorphous``, ``noise``, ``single_crystal``, ``textured`` or ``too_few_lines``.
        reason: the plain-language reason, with the figures it rests on.
    """

    code: Reason
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class GateStatistics:
    """The figures the verdicts compare with their thresholds.

    Attributes:
        hump_ratio: max hump height / strongest line height (inf without lines).
        broad_fwhm: median FWHM of the BROAD_LINES strongest lines, degrees (0 without lines).
        top_snr: strongest line height / noise standard deviation of the search (0 without
            lines, inf for a noise of 0).
        top_share: share of the summed line heights in the WAFER_LINES strongest lines.
        others: strongest other line / strongest line.
        top_fwhm: FWHM of the strongest line, degrees (0 without lines).
        orders: orders of one spacing found among the lines above TEXTURE_FLOOR (0: not all
            lines are orders of one spacing).
        reflections: lines above LINE_FLOOR of the strongest.
    """

    hump_ratio: float
    broad_fwhm: float
    top_snr: float
    top_share: float
    others: float
    top_fwhm: float
    orders: int
    reflections: int


def hump_height(two_theta: np.ndarray, background: np.ndarray) -> float:
    """Largest height (counts) of the background above its SNIP floor of half window
    :data:`HUMP_FLOOR_WINDOW` degrees, taken on a copy of at most :data:`HUMP_POINTS` points."""
    # deferred until called: imports pybaselines
    from pybaselines import Baseline

    n = min(HUMP_POINTS, two_theta.size)
    coarse_x = np.linspace(two_theta[0], two_theta[-1], n)
    coarse = np.interp(coarse_x, two_theta, background)
    step = (coarse_x[-1] - coarse_x[0]) / max(n - 1, 1)
    half = int(np.clip(HUMP_FLOOR_WINDOW / step, 1, max(1, (n - 1) // 2)))
    floor, _ = Baseline(coarse_x).snip(coarse, max_half_window=half)
    return float(np.max(coarse - floor))


def _orders(peaks: list[ObservedPeak], wavelength: float) -> int:
    """Number of distinct orders when every line is an order of one spacing, else 0.

    The first line is taken as order m = 1 ... MAX_FIRST_ORDER; orders n_i = round(m q_i /
    q_1) with q = 1/d; then q0 = 1/d0 and a zero shift z are fitted (2theta_i = 2 asin(lambda
    n_i q0 / 2) + z, alternating least squares) and every line must lie within
    ORDER_TOLERANCE degrees of its fitted angle.
    """
    tt = np.array([p.two_theta for p in peaks])
    q = 2.0 * np.sin(np.radians(tt / 2.0)) / wavelength
    for first in range(1, MAX_FIRST_ORDER + 1):
        n = np.rint(first * q / q[0])
        if np.any(n < 1) or len(set(n.tolist())) < len(n):
            continue
        residual = _order_residual(tt, n, wavelength)
        if np.all(np.abs(residual) <= ORDER_TOLERANCE):
            return len(n)
    return 0


def _order_residual(tt: np.ndarray, n: np.ndarray, wavelength: float) -> np.ndarray:
    """2theta_i - (2 asin(lambda n_i q0 / 2) + z) after fitting q0 and z (degrees)."""
    zero = 0.0
    predicted = tt
    for _ in range(ORDER_ITERATIONS):
        q = 2.0 * np.sin(np.radians((tt - zero) / 2.0)) / wavelength
        q0 = float(n @ q / (n @ n))
        sine = np.clip(wavelength * n * q0 / 2.0, 0.0, 1.0)
        predicted = 2.0 * np.degrees(np.arcsin(sine))
        zero = float(np.mean(tt - predicted))
    return tt - predicted - zero


def gate_statistics(
    two_theta: np.ndarray, background: np.ndarray, result: PeakSearchResult
) -> GateStatistics:
    """The figures of :class:`GateStatistics` for one searched profile.

    Args:
        two_theta: the profile's angles, degrees.
        background: the search's background at those angles (counts).
        result: the peak search of that profile.
    """
    peaks = list(result.peaks)
    hump = hump_height(two_theta, background)
    if hump < HUMP_MIN_SNR * result.noise:
        hump = 0.0  # a background bend within the noise is no hump
    if not peaks:
        return GateStatistics(float("inf") if hump > 0 else 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    heights = np.array([p.height for p in peaks])
    order = np.argsort(heights)[::-1]
    top = float(heights[order[0]])
    widths = np.array([p.fwhm for p in peaks])[order[:BROAD_LINES]]
    share = float(heights[order[:WAFER_LINES]].sum() / heights.sum())
    others = float(heights[order[WAFER_LINES]] / top) if len(peaks) > WAFER_LINES else 0.0
    strong = [p for p in peaks if p.height >= TEXTURE_FLOOR * top]
    return GateStatistics(
        hump_ratio=hump / top,
        broad_fwhm=float(np.median(widths)),
        top_snr=top / result.noise if result.noise > 0.0 else float("inf"),
        top_share=share,
        others=others,
        top_fwhm=float(peaks[int(order[0])].fwhm),
        orders=_orders(strong, result.wavelength) if len(strong) >= 2 else 0,
        reflections=int(np.sum(heights >= LINE_FLOOR * top)),
    )


def verdict_of(stats: GateStatistics) -> PowderVerdict | None:
    """The first verdict whose test the statistics meet (module docstring order), or None."""
    if stats.hump_ratio > HUMP_RATIO:
        return PowderVerdict(
            "amorphous",
            f"amorphous or nanocrystalline: a broad hump {stats.hump_ratio:.1f} times the "
            "strongest sharp line; not a powder pattern of a crystalline phase",
        )
    if stats.broad_fwhm > BROAD_FWHM:
        return PowderVerdict(
            "amorphous",
            f"nanocrystalline: the strongest lines are {stats.broad_fwhm:.1f} degrees wide "
            f"(above {BROAD_FWHM:g}); too broad to index",
        )
    if stats.top_snr < NOISE_SNR:
        found = (
            f"the strongest maximum is {stats.top_snr:.1f} noise standard deviations above the "
            f"background (a powder line stands at least {NOISE_SNR:g})"
            if stats.top_snr > 0.0
            else "no maximum stands out of the background"
        )
        return PowderVerdict("noise", f"nothing but noise: {found}; no line to index")
    dominant = stats.top_share >= WAFER_SHARE and stats.others < WAFER_OTHERS
    if stats.reflections > 0 and dominant and stats.top_fwhm <= WAFER_FWHM:
        count = min(stats.reflections, WAFER_LINES)
        return PowderVerdict(
            "single_crystal",
            f"single-crystal, wafer or oriented-film scan: {count} "
            f"{'reflections carry' if count > 1 else 'reflection carries'} "
            f"{stats.top_share:.0%} of the intensity; not a powder pattern",
        )
    if stats.orders >= TEXTURE_MIN_ORDERS:
        return PowderVerdict(
            "textured",
            f"strongly textured film: all {stats.orders} strong lines are orders of one "
            "spacing; one family of planes cannot give a three-dimensional cell",
        )
    if stats.reflections < MIN_REFLECTIONS:
        return PowderVerdict(
            "too_few_lines",
            f"too few reflections: {stats.reflections} found, a powder pattern needs at least "
            f"{MIN_REFLECTIONS} to be indexed",
        )
    return None


def assess_powder(searched: SearchedProfile) -> PowderVerdict | None:
    """None for a powder pattern of a crystalline phase, else the verdict with its reason."""
    return verdict_of(gate_statistics(searched.two_theta, searched.background, searched.result))


def check_powder(
    two_theta: np.ndarray,
    counts: np.ndarray,
    wavelength: float,
    *,
    options: PeakSearchOptions | None = None,
    source: str = "profile",
) -> tuple[PeakSearchResult, PowderVerdict | None]:
    """Search a profile's lines and judge it: (the search, None or the verdict).

    Raises:
        PatternFileError: as :func:`xrdsym.indexing.peaks.search_peaks`.
    """
    searched = search_profile(two_theta, counts, wavelength, options=options, source=source)
    return searched.result, assess_powder(searched)
