"""Peak search on a measured profile: background, K-alpha2, lines with positions and errors.

>>> from xrdsym.indexing.peaks import search_peaks
>>> result = search_peaks(two_theta, counts, 1.540562)          # doctest: +SKIP
>>> [(p.two_theta, p.sigma) for p in result.peaks]              # doctest: +SKIP

Steps of :func:`search_peaks` (angles in degrees 2theta, intensities in the file's counts):

1. Checks: finite values, strictly increasing 2theta inside (0, 180), at most
   ``max_points`` points, a wavelength inside ``wavelengths.WAVELENGTH_LIMITS``; anything
   else raises :class:`~xrdsym.errors.PatternFileError` naming the profile and the problem.
   A profile interpolated linearly from coarser steps is searched on its measured points
   only; uneven steps are resampled (linearly) to the median step.
2. A rough line width H0 (median FWHM of the most prominent maxima above a morphological
   opening), which sets the scales below.
3. Background: SNIP of pybaselines (Morhac et al. 1997), half window ``background_fwhm`` x H0
   (bounded to [0.5, 5] degrees), so that broad humps (5-15 degrees) stay in the background;
   raised by the offset of the noise above SNIP's lower envelope.
4. Noise: the robust standard deviation 1.4826 MAD(y[i+k] - y[i]) / sqrt(2) of differences at
   the lag k (at most H0 / 2) where they are largest (neighbours of an interpolated scan are
   correlated), in blocks along the scan, with the counting noise of each line added.
   Steps 2-4 are the functions of :mod:`xrdsym.indexing.background`.
5. Lines: ``scipy.signal.find_peaks`` on the (Savitzky-Golay smoothed) net profile with a
   height and prominence of at least ``min_snr`` standard deviations of the smoothed noise
   and ``min_relative_height`` of the strongest line.
6. K-alpha2 (a known anode's K-alpha1 line or K-alpha average only): detected by the doublet
   vote of :mod:`xrdsym.indexing.kalpha2`; when present the net profile is stripped
   (Rachinger), the lines are found again and their positions refer to K-alpha1 (the
   result's wavelength is then the K-alpha1 line, also when the K-alpha average was given).
7. Of the strongest ``max_peaks`` lines, the first ``fit_first`` and those of at least
   ``fit_strong`` of the strongest are fitted (:mod:`xrdsym.indexing.peak_fit`): position,
   its standard uncertainty, height, area and FWHM; the others keep their detected maxima.
8. Blends, fitted lines much wider than the width trend of the lines, are split in two or
   keep their detected maxima (:mod:`xrdsym.indexing.blends`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.signal import find_peaks, peak_widths, savgol_coeffs, savgol_filter

from xrdsym.errors import PatternFileError
from xrdsym.indexing.background import (
    count_noise,
    envelope_offset,
    noise_lag,
    noise_profile,
    rough_fwhm,
    snip_background,
)
from xrdsym.indexing.blends import BlendContext, resolve_blends
from xrdsym.indexing.kalpha2 import anode_doublet, doublet_votes, rachinger_strip
from xrdsym.indexing.peak_fit import Companion, LineGuess, fit_lines
from xrdsym.indexing.results import ObservedPeak, PeakSearchResult
from xrdsym.wavelengths import KA2_RATIO, check_wavelength

#: Fewest points a profile needs (as the file readers, ``io.pattern.MIN_POINTS``).
MIN_POINTS = 20

#: Steps differing from the median step by more than this factor are uneven ...
UNEVEN_STEPS = 1.5

#: ... and a profile with more than this share of uneven steps is resampled to even steps.
UNEVEN_SHARE = 0.01

#: Fewest points between the measured points of an interpolated profile for it to count as
#: interpolated (finer interpolation changes little).
MIN_KNOT_SPACING = 4

#: Bounds of the SNIP half window, degrees.
BACKGROUND_WINDOW_BOUNDS = (0.5, 5.0)

#: A maximum narrower than this fraction of the rough FWHM is a noise spike, not a line.
MIN_WIDTH_FRACTION = 0.35

#: Savitzky-Golay smoothing of the net profile before the lines are looked for: window in
#: rough FWHM and polynomial order.
SMOOTH_WINDOW_FWHM = 0.75
SMOOTH_ORDER = 2

#: Prominence window of find_peaks, in rough FWHM (bounds the cost on noise to O(n wlen)).
PROMINENCE_WINDOW_FWHM = 12.0


@dataclass(frozen=True)
class PeakSearchOptions:
    """The knobs of :func:`search_peaks`.

    Attributes:
        min_snr: least prominence of a line in local noise standard deviations (default 4).
        min_relative_height: least net height of a line as a fraction of the strongest line
            (default 0.005).
        max_peaks: most lines kept, the strongest (default 150); bounds the fit time.
        background_fwhm: SNIP half window in units of the rough FWHM (default 8).
        background_half_window: SNIP half window in degrees; overrides ``background_fwhm``.
        kalpha2: ``"auto"`` detects K-alpha2 and strips it when present; ``"strip"`` strips
            without testing; ``"off"`` leaves the profile as it is (default ``"auto"``).
        kalpha2_ratio: I(K-alpha2) / I(K-alpha1) (default 0.5).
        kalpha2_vote: least median log(RSS_single / RSS_doublet) of the strong lines for
            K-alpha2 to count as present (default 0.05, a 5 % better doublet fit).
        max_points: most points accepted (default 2,000,000; measured scans hold <= 100k).
        fit_seconds: time for the line fits, strongest first (default 3 s); lines left when
            it is spent keep their detected maxima, with an event.
        fit_first, fit_strong: the first ``fit_first`` lines in 2theta and every line of at
            least ``fit_strong`` times the strongest height are fitted; the others keep their
            detected maxima (defaults 40, 0.1; the lattice search reads the first 25 lines of
            at least 1 %).
        blends: a fitted line much wider than the lines around it (a blend) is split in two
            or keeps its detected maximum (:mod:`xrdsym.indexing.blends`; default True).
        split_f: least F statistic of a split blend (default 50; 0: blends are not split).
    """

    min_snr: float = 4.0
    min_relative_height: float = 0.005
    max_peaks: int = 150
    background_fwhm: float = 8.0
    background_half_window: float | None = None
    kalpha2: Literal["auto", "strip", "off"] = "auto"
    kalpha2_ratio: float = KA2_RATIO
    kalpha2_vote: float = 0.05
    max_points: int = 2_000_000
    fit_seconds: float = 3.0
    blends: bool = True
    split_f: float = 50.0
    fit_first: int = 40
    fit_strong: float = 0.1


DEFAULT_OPTIONS = PeakSearchOptions()


def checked_profile(
    two_theta: np.ndarray, counts: np.ndarray, wavelength: float, source: str, max_points: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """(2theta, counts, wavelength) as float64 after the checks of step 1.

    Raises:
        PatternFileError: the message names ``source`` and the first offending value.
    """
    x = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(counts, dtype=np.float64)
    if x.ndim != 1 or y.shape != x.shape:
        raise PatternFileError(
            f"{source}: 2theta and counts must be 1-D of one length (got {x.shape}, {y.shape})"
        )
    if x.size < MIN_POINTS:
        raise PatternFileError(f"{source}: {x.size} points; a peak search needs {MIN_POINTS}")
    if x.size > max_points:
        raise PatternFileError(f"{source}: {x.size} points; at most {max_points} are accepted")
    for name, values in (("2theta", x), ("counts", y)):
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PatternFileError(
                f"{source}: {name} at point {i + 1} is {values[i]} "
                f"({int(bad.sum())} non-finite values in all)"
            )
    steps = np.diff(x)
    if not np.all(steps > 0.0):
        i = int(np.flatnonzero(steps <= 0.0)[0])
        raise PatternFileError(
            f"{source}: 2theta does not increase at point {i + 2} ({x[i]:g} then {x[i + 1]:g} "
            "deg); sort the scan or split concatenated scans"
        )
    if x[0] <= 0.0 or x[-1] >= 180.0:
        raise PatternFileError(f"{source}: 2theta {x[0]:g}-{x[-1]:g} deg is outside (0, 180)")
    try:
        lam = check_wavelength(float(wavelength))
    except (TypeError, ValueError) as exc:
        raise PatternFileError(f"{source}: {exc}") from None
    return x, y, lam


def even_steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """The profile on even steps of its median step (linear interpolation), with an event
    when it had to be resampled: when more than :data:`UNEVEN_SHARE` of the steps differ from
    the median step by more than a factor :data:`UNEVEN_STEPS`."""
    steps = np.diff(x)
    step = float(np.median(steps))
    uneven = (steps > UNEVEN_STEPS * step) | (steps < step / UNEVEN_STEPS)
    if np.mean(uneven) <= UNEVEN_SHARE:
        return x, y, None
    n = min(int(np.floor((x[-1] - x[0]) / step)) + 1, 4 * x.size)
    grid = np.linspace(x[0], x[0] + (n - 1) * step, n)
    event = f"uneven steps ({steps.min():.4g}-{steps.max():.4g} deg) resampled to {step:.4g} deg"
    return grid, np.interp(grid, x, y), event


def interpolated_knots(y: np.ndarray) -> np.ndarray | None:
    """Indices of the measured points of a profile interpolated linearly from coarser steps,
    or None for a profile whose every point is measured.

    Between two measured points an interpolated profile is straight: its second differences
    y[i+1] - 2 y[i] + y[i-1] vanish (to float rounding, 1e-9 of the largest value) except at
    the kinks next to each measured point. When most of them vanish and the kinks lie at
    least :data:`MIN_KNOT_SPACING` points apart, the point of largest kink of each run is
    taken as measured (with the first and last points).
    """
    if y.size < 3 * MIN_KNOT_SPACING:
        return None
    curvature = np.abs(np.diff(y, 2))
    kinks = np.flatnonzero(curvature > 1e-9 * float(np.max(np.abs(y)))) + 1
    if kinks.size == 0 or kinks.size > 0.5 * y.size:
        return None
    runs = np.split(kinks, np.flatnonzero(np.diff(kinks) > 1) + 1)
    knots = np.array([run[np.argmax(curvature[run - 1])] for run in runs])
    if np.median(np.diff(knots)) < MIN_KNOT_SPACING if knots.size > 1 else True:
        return None
    return np.unique(np.concatenate([[0], knots, [y.size - 1]]))


def measured_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The measured points of the profile (:func:`interpolated_knots`) on even steps
    (:func:`even_steps`), with the events of what was done."""
    events = []
    knots = interpolated_knots(y)
    if knots is not None:
        events.append(
            f"profile interpolated from coarser steps (about {np.median(np.diff(x[knots])):.3g} "
            f"deg): searched on its {knots.size} measured points"
        )
        x, y = x[knots], y[knots]
    x, y, resampled = even_steps(x, y)
    return x, y, events + ([resampled] if resampled else [])


def smoothed(net: np.ndarray, fwhm_points: float) -> tuple[np.ndarray, float]:
    """Savitzky-Golay (order SMOOTH_ORDER) over about SMOOTH_WINDOW_FWHM of a FWHM when that
    spans more than SMOOTH_ORDER + 2 points, and the factor sqrt(sum c_k^2) (c_k its
    coefficients) by which it scales the standard deviation of independent noise (1 when not
    smoothed)."""
    window = int(round(SMOOTH_WINDOW_FWHM * fwhm_points)) | 1
    if window < SMOOTH_ORDER + 3 or window >= net.size:
        return net, 1.0
    factor = float(np.sqrt(np.sum(savgol_coeffs(window, SMOOTH_ORDER) ** 2)))
    return savgol_filter(net, window, SMOOTH_ORDER), factor


def detect_lines(
    x: np.ndarray,
    net: np.ndarray,
    background: np.ndarray,
    noise: np.ndarray,
    fwhm: float,
    step: float,
    options: PeakSearchOptions,
) -> list[LineGuess]:
    """Lines of the net profile (step 5 of the module docstring), increasing 2theta.

    A line needs a net height and a prominence of ``min_snr`` x sigma, sigma the
    :func:`count_noise` at its top (block noise plus the counting noise of the line) times the
    noise factor of the smoothing, a net
    height of ``min_relative_height`` of the strongest line, and a FWHM of at least
    :data:`MIN_WIDTH_FRACTION` of the rough FWHM (narrower maxima are noise spikes).
    """
    fwhm_points = fwhm / step
    smooth, factor = smoothed(net, fwhm_points)
    top = float(smooth.max())
    if top <= options.min_snr * factor * float(noise.min()):
        return []
    floor = options.min_relative_height * top
    wlen = max(3, int(PROMINENCE_WINDOW_FWHM * fwhm_points) | 1)
    index, props = find_peaks(smooth, height=floor, prominence=floor, wlen=wlen)
    sigma = factor * count_noise(smooth[index], background[index], noise[index])
    keep = (props["prominences"] >= options.min_snr * sigma) & (
        smooth[index] >= options.min_snr * sigma
    )
    index = index[keep]
    if index.size == 0:
        return []
    widths = peak_widths(smooth, index, rel_height=0.5, wlen=wlen)[0] * step
    wide = widths >= MIN_WIDTH_FRACTION * fwhm
    index, widths = index[wide], widths[wide]
    positions = x[index] + _vertex_offsets(smooth, index) * step
    return [
        LineGuess(float(c), float(smooth[i]), float(max(w, step)))
        for c, i, w in zip(positions, index, widths, strict=True)
    ]


def _vertex_offsets(y: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Parabola vertex through the three points around each maximum, in steps (|.| <= 0.5)."""
    inner = (index > 0) & (index < y.size - 1)
    out = np.zeros(index.size)
    i = index[inner]
    left, mid, right = y[i - 1], y[i], y[i + 1]
    denominator = left - 2.0 * mid + right
    safe = np.where(denominator < 0.0, denominator, -1.0)
    out[inner] = np.clip(0.5 * (left - right) / safe, -0.5, 0.5)
    return out


def lines_to_fit(guesses: list[LineGuess], options: PeakSearchOptions) -> np.ndarray:
    """Which lines (sorted by 2theta) are fitted: the first ``fit_first`` and every line of at
    least ``fit_strong`` times the strongest height (the lines the lattice search reads); the
    others keep their detected maxima."""
    heights = np.array([g.height for g in guesses])
    selected = np.arange(heights.size) < options.fit_first
    if heights.size:
        selected |= heights >= options.fit_strong * heights.max()
    return selected


def strongest(guesses: list[LineGuess], n: int) -> tuple[list[LineGuess], str | None]:
    """The ``n`` highest lines, back in 2theta order, with an event when some were dropped."""
    if len(guesses) <= n:
        return guesses, None
    kept = sorted(sorted(guesses, key=lambda g: -g.height)[:n], key=lambda g: g.two_theta)
    return kept, f"kept the {n} strongest of {len(guesses)} lines"


@dataclass(frozen=True, eq=False)
class SearchedProfile:
    """A peak search with the profile it ran on (what the powder-quality gate reads).

    Attributes:
        result: the lines and what the search did.
        two_theta: the angles searched (evenly stepped), degrees.
        background: the SNIP background at those angles, counts.
        net: counts above the background, K-alpha2 stripped when ``result.kalpha2`` says so.
    """

    result: PeakSearchResult
    two_theta: np.ndarray
    background: np.ndarray
    net: np.ndarray


def search_peaks(
    two_theta: np.ndarray,
    counts: np.ndarray,
    wavelength: float,
    *,
    options: PeakSearchOptions | None = None,
    source: str = "profile",
) -> PeakSearchResult:
    """The lines of a measured profile (see the module docstring for the steps).

    Args:
        two_theta: angles in degrees, strictly increasing.
        counts: intensities (counts or arbitrary units), finite.
        wavelength: the wavelength the angles refer to, Angstrom (K-alpha1 of the anode for a
            laboratory tube: only then is K-alpha2 looked for).
        options: the knobs; default :data:`DEFAULT_OPTIONS`.
        source: name of the profile in error messages (a file name).

    Raises:
        PatternFileError: non-finite values, 2theta not increasing, too few or too many
            points, a wavelength outside the accepted limits.
    """
    return search_profile(two_theta, counts, wavelength, options=options, source=source).result


def search_profile(
    two_theta: np.ndarray,
    counts: np.ndarray,
    wavelength: float,
    *,
    options: PeakSearchOptions | None = None,
    source: str = "profile",
) -> SearchedProfile:
    """:func:`search_peaks` with the background and net profile it ran on."""
    opts = options or DEFAULT_OPTIONS
    x, y, lam = checked_profile(two_theta, counts, wavelength, source, opts.max_points)
    scale = float(np.max(np.abs(y))) or 1.0  # counts of any size (1e300) work in units of 1
    x, y, events = measured_points(x, y / scale)
    step = float(np.median(np.diff(x)))
    fwhm = rough_fwhm(y, step)
    half_window = opts.background_half_window or float(
        np.clip(opts.background_fwhm * fwhm, *BACKGROUND_WINDOW_BOUNDS)
    )
    background, method = snip_background(x, y, half_window, step)
    net = y - background
    noise = noise_profile(net, noise_lag(net, int(fwhm / step / 2.0)))
    background = background + envelope_offset(net, noise)
    net = y - background
    guesses = detect_lines(x, net, background, noise, fwhm, step, opts)
    kalpha2: Literal["absent", "stripped"] = "absent"
    doublet = anode_doublet(lam)
    if doublet is not None and opts.kalpha2 != "off":
        ratio = doublet[1] / doublet[0]
        strip = opts.kalpha2 == "strip"
        if not strip:
            votes = doublet_votes(x, net, guesses, float(np.median(noise)), ratio)
            strip = bool(votes) and float(np.median(votes)) >= opts.kalpha2_vote
            events.append(_vote_event(votes))
        if strip:
            net = rachinger_strip(x, net, ratio, opts.kalpha2_ratio)
            guesses = detect_lines(x, net, background, noise, fwhm, step, opts)
            kalpha2 = "stripped"
            if lam != doublet[0]:
                events.append(
                    f"positions refer to K-alpha1 ({doublet[0]:g} A) once K-alpha2 is stripped, "
                    f"not to the {lam:g} A given"
                )
                lam = doublet[0]
    guesses, dropped = strongest(guesses, opts.max_peaks)
    if dropped:
        events.append(dropped)
    selected = lines_to_fit(guesses, opts)
    fitted, unfitted = fit_lines(x, net, guesses, step, opts.fit_seconds, selected)
    if unfitted:
        events.append(
            f"fit time ({opts.fit_seconds:g} s) spent: {unfitted} weaker lines kept at their "
            "detected maxima"
        )
    if opts.blends:
        unstripped = doublet if kalpha2 == "absent" and opts.kalpha2 != "off" else None
        context = BlendContext(
            x,
            net,
            step,
            float(np.median(noise)),
            opts.min_snr,
            opts.split_f,
            None
            if unstripped is None
            else Companion(unstripped[1] / unstripped[0], opts.kalpha2_ratio),
            max(0, opts.max_peaks - len(fitted)),
        )
        fitted, split, moved = resolve_blends(fitted, guesses, selected, context)
        if split or moved:
            events.append(f"blends: {split} split in two, {moved} kept at their maxima")
    peaks = sorted(fitted, key=lambda p: p.two_theta)
    result = PeakSearchResult(
        peaks=tuple(_in_counts(p, scale) for p in _inside(peaks, x)),
        wavelength=lam,
        kalpha2=kalpha2,
        background=method,
        noise=float(np.median(noise)) * scale,
        events=tuple(events),
    )
    return SearchedProfile(result, x, background * scale, net * scale)


def _in_counts(peak: ObservedPeak, scale: float) -> ObservedPeak:
    """A line fitted on counts / scale, with its height and area back in counts."""
    return replace(peak, height=peak.height * scale, area=peak.area * scale)


def _vote_event(votes: list[float]) -> str:
    """What the K-alpha2 vote found, for the result's events."""
    if not votes:
        return "K-alpha2 not testable (no strong line with a resolvable companion)"
    return (
        f"K-alpha2 vote: median log(RSS single / doublet) {np.median(votes):.3f} "
        f"over {len(votes)} lines"
    )


def _inside(peaks: list[ObservedPeak], x: np.ndarray) -> list[ObservedPeak]:
    """Fitted lines whose position lies inside the scanned range."""
    return [p for p in peaks if x[0] <= p.two_theta <= x[-1]]
