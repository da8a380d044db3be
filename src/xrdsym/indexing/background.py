"""Background and noise of a measured profile, the scales of the peak search.

* :func:`rough_fwhm`: a first line width from the most prominent maxima;
* :func:`snip_background`: SNIP of pybaselines (Morhac et al. 1997) with a half window in
  degrees, on block means of very fine scans;
* :func:`envelope_offset`: how far SNIP's lower envelope lies below the middle of the noise;
* :func:`noise_profile`, :func:`noise_lag`, :func:`count_noise`: the local noise standard
  deviation, from robust spreads of differences, with the counting noise of the lines.

Angles in degrees 2theta, intensities in the profile's units.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import grey_opening
from scipy.signal import find_peaks, peak_widths

#: Rough FWHM used when the profile shows no clear maximum, degrees.
DEFAULT_FWHM = 0.1

#: Bounds of the rough FWHM, degrees (the lower one is raised to two steps).
FWHM_BOUNDS = (0.005, 5.0)

#: Width of the grey opening under the rough FWHM estimate, degrees (lines up to about 2.5
#: degrees wide stand above it).
OPENING_WIDTH = 3.0

#: Largest window (points) of the opening and of SNIP; finer scans are block-averaged first.
MAX_WINDOW_POINTS = 300

#: Largest SNIP half window (points): SNIP costs points x half window, so a longer window
#: runs on block means of the profile (the background varies on scales of the window, many
#: times a line width, and block means of a few points keep it).
SNIP_MAX_HALF_POINTS = 40

#: Points per noise block (the last block takes the remainder).
NOISE_BLOCK = 400


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the standard deviation of Gaussian values."""
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def noise_profile(net: np.ndarray, lag: int) -> np.ndarray:
    """Local noise standard deviation at every point (step 4 of the module docstring):
    robust_sigma(y[i+lag] - y[i]) / sqrt(2) per block of :data:`NOISE_BLOCK` points."""
    lag = max(1, min(lag, net.size // 4))
    differences = net[lag:] - net[:-lag]
    out = np.empty_like(net)
    n_blocks = max(1, net.size // NOISE_BLOCK)
    edges = np.linspace(0, net.size, n_blocks + 1).astype(int)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        out[a:b] = robust_sigma(differences[a : min(b, differences.size)]) / np.sqrt(2.0)
    floor = max(float(np.median(out)) * 0.25, 1e-9 * (float(np.max(np.abs(net))) + 1.0))
    return np.maximum(out, floor)


def noise_lag(net: np.ndarray, longest: int) -> int:
    """The lag (points) at which differences of the net profile show its full noise.

    Independent noise has the same robust_sigma(y[i+L] - y[i]) at every lag L; a profile
    interpolated from coarser measured steps (or smoothed by the instrument software) has
    correlated neighbours and smaller differences at short lags. The lag of the largest
    spread among L = 1, 2, 4, ... <= ``longest`` (half a rough FWHM: longer lags would measure
    the slopes of the lines) is taken.
    """
    lags = [1]
    while lags[-1] * 2 <= min(longest, net.size // 4):
        lags.append(lags[-1] * 2)
    spreads = [robust_sigma(net[lag:] - net[:-lag]) for lag in lags]
    return lags[int(np.argmax(spreads))]


def envelope_offset(net: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """How far SNIP's background lies below the middle of the noise, at every point.

    SNIP follows the lower envelope of a noisy profile, so the net profile off the lines is
    centred above zero. Per block of :data:`NOISE_BLOCK` points, the median of the net values
    within 3 noise deviations of the running median (three rounds, which drops the lines)
    estimates that offset; it is interpolated between block centres.
    """
    n_blocks = max(1, net.size // NOISE_BLOCK)
    edges = np.linspace(0, net.size, n_blocks + 1).astype(int)
    centres, offsets = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        values, sigma = net[a:b], float(np.median(noise[a:b]))
        middle = float(np.median(values))
        for _ in range(3):
            kept = values[np.abs(values - middle) < 3.0 * sigma]
            if kept.size == 0:
                break
            middle = float(np.median(kept))
        centres.append(0.5 * (a + b - 1))
        offsets.append(max(middle, 0.0))
    return np.interp(np.arange(net.size), centres, offsets)


def count_noise(net: np.ndarray, background: np.ndarray, block_noise: np.ndarray) -> np.ndarray:
    """Noise standard deviation at every point with the counting noise of the lines added.

    Counts y = background + net with Poisson-like variance g y: g = median over the noise
    blocks of sigma_block^2 / background (1 for raw counts, another value for scaled counts);
    sigma(x)^2 = sigma_block(x)^2 + g max(net(x), 0). Without a positive background (a file
    already background-subtracted) the block noise is used alone.
    """
    positive = background > 0.0
    if not positive.any():
        return block_noise
    gain = float(np.median(block_noise[positive] ** 2 / background[positive]))
    return np.sqrt(block_noise**2 + gain * np.clip(net, 0.0, None))


def block_means(y: np.ndarray, factor: int) -> np.ndarray:
    """Means of consecutive blocks of ``factor`` points (the last block may be shorter)."""
    if factor <= 1:
        return y
    n = y.size // factor
    head = y[: n * factor].reshape(n, factor).mean(axis=1)
    return head if n * factor == y.size else np.append(head, y[n * factor :].mean())


def rough_fwhm(y: np.ndarray, step: float) -> float:
    """Median FWHM (degrees) of the ten most prominent maxima above a grey opening
    :data:`OPENING_WIDTH` wide (step 2 of the module docstring); :data:`DEFAULT_FWHM` without
    a clear maximum. Fine scans are block-averaged first so that the opening spans at most
    :data:`MAX_WINDOW_POINTS` points (its cost is points x window)."""
    factor = max(1, int(np.ceil(OPENING_WIDTH / step / MAX_WINDOW_POINTS)))
    y, step = block_means(y, factor), step * factor
    size = max(3, min(int(OPENING_WIDTH / step), y.size // 2))
    net = y - grey_opening(y, size=size)
    noise = float(np.median(noise_profile(net, 1)))
    low, high = max(FWHM_BOUNDS[0], 2.0 * step), FWHM_BOUNDS[1]
    if float(net.max()) <= 8.0 * noise:
        return float(np.clip(DEFAULT_FWHM, low, high))
    index, props = find_peaks(
        net, prominence=max(8.0 * noise, 0.05 * float(net.max())), wlen=2 * size + 1
    )
    if index.size == 0:
        return float(np.clip(DEFAULT_FWHM, low, high))
    top = index[np.argsort(props["prominences"])[::-1][:10]]
    widths = peak_widths(net, top, rel_height=0.5)[0]
    return float(np.clip(np.median(widths) * step, low, high))


def snip_background(
    x: np.ndarray, y: np.ndarray, half_window_deg: float, step: float
) -> tuple[np.ndarray, str]:
    """SNIP background (pybaselines) with a half window in degrees, and its description.

    When the half window would span more than :data:`SNIP_MAX_HALF_POINTS` points, SNIP runs
    on block means of the profile and is interpolated back (its cost is points x window)."""
    # deferred until called: imports pybaselines
    from pybaselines import Baseline

    half_points = half_window_deg / step
    factor = max(1, int(np.ceil(half_points / SNIP_MAX_HALF_POINTS)))
    coarse_x, coarse_y = block_means(x, factor), block_means(y, factor)
    half = int(np.clip(round(half_points / factor), 2, max(2, (coarse_y.size - 1) // 2)))
    smooth = max(0, min(half // 8, 20))
    baseline, _ = Baseline(coarse_x).snip(coarse_y, max_half_window=half, smooth_half_window=smooth)
    if factor > 1:
        baseline = np.interp(x, coarse_x, baseline)
    width = half * factor * step
    return baseline, f"pybaselines snip, half window {width:.3g} deg ({half * factor} points)"
