"""Profiles of a whole batch of peak lists at once, with torch, on the CPU or on a GPU.

The batch counterpart of :func:`xrdsym.patterns.profile.render_pattern` (and of the noise-free
part of :class:`xrdsym.patterns.lab.LabRenderer`): pseudo-Voigt peaks with the Caglioti width
combined with Scherrer size broadening, K-alpha2 companions, zero shift and specimen
displacement, the sixth-order background polynomial and Poisson counts.

How the peaks are drawn (no loop over peaks or patterns): every pattern's angle axis x
(degrees 2theta) is warped to s(x) = integral of dx' / H(x'), H the FWHM at x'. In s every peak
has a FWHM of 1 (up to the change of H across the peak itself), so all peaks of a pattern are
one fixed kernel: sticks of weight I_j / H(x_j) are spread onto a uniform s-grid of
``points_per_fwhm`` points per unit (cubic Keys weights), convolved by FFT with
eta L + (1 - eta) G (L, G: unit-area Lorentzian and Gaussian of FWHM 1, spectra computed once
per grid length) and read back at s(x_k) of the output grid points (FFT interpolation to twice
the points, then linear).
The cost is O(N log N) in the s-grid length N, whatever the number of peaks. Patterns are
grouped by the power-of-two length their s-range needs, so sharp and broad patterns each pay
for their own length.

Differences from ``profile.render_peaks`` (measured in ``tests/test_batch_profile.py``): the
peaks keep their full Lorentzian tails instead of windows of 3-10 FWHM (about 0.3-0.6 % of the
highest point, as ``profile.WEAK_PEAK_CUT_FRACTION`` records); a peak is symmetric in s
rather than in x, which skews the broadest peaks by the slope of H; spreading and reading back
err by under 1 % of the highest point at 6 points per FWHM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from xrdsym.patterns.effects import SCHERRER_K
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.profile import GAUSS_EXPONENT, GAUSS_NORM, LORENTZ_NORM, MIN_FWHM
from xrdsym.wavelengths import KA2_RATIO, ka2_wavelength

#: Points of the warped axis per FWHM (see the module docstring).
POINTS_PER_FWHM = 6.0

#: Degrees added to each side of the output grid for peaks whose tails reach into it (the
#: dataset stores peaks over 5-115 degrees for the 10-110 degree grid).
RANGE_MARGIN = 5.0

#: Points of the fine uniform x axis on which s(x) is integrated (trapezoids, then linear
#: interpolation); 1/H varies slowly, so 513 points over 110 degrees (0.21 degree apart) put
#: every angle within 0.01 FWHM of its exact place on the warped axis.
WARP_POINTS = 513

#: Empty FWHM added before and after the s-range so that circular convolution does not fold
#: one end's tails onto the other (a Lorentzian 24 FWHM away is 1e-4 of its top).
PAD_FWHM = 24.0

#: Shortest s-grid (points): shorter FFTs cost no less.
MIN_LENGTH = 1024

#: The convolved profile is read back at READ_UPSAMPLING x POINTS_PER_FWHM points per FWHM
#: (FFT interpolation), where linear interpolation errs by at most (1/16)^2 / 8 x 8 = 0.4 % of
#: a Lorentzian's top.
READ_UPSAMPLING = 2


@dataclass(frozen=True)
class BatchProfileParams:
    """Profile parameters of B patterns, one tensor (B,) each (float32 unless noted).

    The fields of :class:`xrdsym.patterns.profile_params.ProfileParams` that a cached peak list can
    use: Caglioti u, v, w (degrees^2), eta, background_coeffs (B, 7) c0 ... c6,
    background_level, counts, ka2 (bool), zero_shift (degrees), displacement (mm, on a
    goniometer of ``goniometer_radius`` mm) and crystallite_size (Angstrom, 0 = none).
    """

    u: torch.Tensor
    v: torch.Tensor
    w: torch.Tensor
    eta: torch.Tensor
    background_coeffs: torch.Tensor
    background_level: torch.Tensor
    counts: torch.Tensor
    ka2: torch.Tensor
    zero_shift: torch.Tensor
    displacement: torch.Tensor
    crystallite_size: torch.Tensor
    goniometer_radius: float = 240.0

    @classmethod
    def stack(cls, params: list, device: torch.device | str = "cpu") -> BatchProfileParams:
        """The batch of a list of :class:`~xrdsym.patterns.profile_params.ProfileParams` (effects
        that need more than a peak list, preferred orientation and impurity, must be off)."""

        def column(name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.tensor([getattr(p, name) for p in params], dtype=dtype, device=device)

        return cls(
            u=column("u"),
            v=column("v"),
            w=column("w"),
            eta=column("eta"),
            background_coeffs=column("background_coeffs"),
            background_level=column("background_level"),
            counts=column("counts"),
            ka2=column("ka2", torch.bool),
            zero_shift=column("zero_shift"),
            displacement=column("displacement"),
            crystallite_size=column("crystallite_size"),
        )


def bragg_shift_batch(
    two_theta: torch.Tensor, ratio: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """2theta' with sin(theta') = ratio sin(theta) (degrees; ``patterns.bragg.bragg_shift``),
    and the mask of angles kept (ratio sin(theta) <= 1); dropped angles are set to 0.
    ``ratio`` is a number or a tensor broadcast against ``two_theta`` (e.g. (B, 1))."""
    sine = ratio * torch.sin(torch.deg2rad(two_theta) / 2.0)
    kept = sine.abs() <= 1.0
    angle = 2.0 * torch.rad2deg(torch.asin(sine.clamp(-1.0, 1.0)))
    return torch.where(kept, angle, torch.zeros_like(angle)), kept


def fwhm_batch(x: torch.Tensor, params: BatchProfileParams, wavelength: float) -> torch.Tensor:
    """FWHM in degrees at angles x (B, n): sqrt(U t^2 + V t + W + H_size^2), t = tan(theta),
    H_size = K lambda / (L cos theta) radians (0 when L = 0), floored at ``MIN_FWHM``.

    The same widths as ``profile.peak_fwhm``; a non-positive Caglioti part counts as 0.
    """
    theta = torch.deg2rad(x) / 2.0
    cos = torch.cos(theta)
    t = torch.sin(theta) / cos
    u, v, w = params.u[:, None], params.v[:, None], params.w[:, None]
    caglioti = ((u * t + v) * t + w).clamp_min(0.0)
    size = params.crystallite_size[:, None]
    safe = torch.where(size > 0, size, torch.ones_like(size))
    scherrer = torch.rad2deg(SCHERRER_K * wavelength / (safe * cos))
    scherrer = torch.where(size > 0, scherrer, torch.zeros_like(scherrer))
    return torch.sqrt(caglioti + scherrer * scherrer).clamp_min(MIN_FWHM)


def shifted_peaks(
    two_theta: torch.Tensor, intensity: torch.Tensor, params: BatchProfileParams, wavelength: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """K-alpha2 companions (ratio ``KA2_RATIO``, where ``params.ka2``), then the specimen
    displacement shift -2 s cos(theta) / R (radians) and the zero shift, as
    ``profile.apply_effects`` orders them. Returns (2theta (B, 2P), intensity (B, 2P))."""
    companion, kept = bragg_shift_batch(two_theta, ka2_wavelength(wavelength) / wavelength)
    on = (params.ka2[:, None] & kept).to(intensity.dtype)
    tt = torch.cat([two_theta, companion], dim=1)
    inten = torch.cat([intensity, KA2_RATIO * intensity * on], dim=1)
    theta = torch.deg2rad(tt) / 2.0
    shift = torch.rad2deg(-2.0 * params.displacement[:, None] * torch.cos(theta))
    shift = shift / params.goniometer_radius + params.zero_shift[:, None]
    return tt + shift, inten


@dataclass(frozen=True)
class Warp:
    """The warped axis s(x) of B patterns, sampled at ``x0 + i * dx`` (i < WARP_POINTS).

    ``s`` (B, WARP_POINTS) is in FWHM units, 0 at x0; :meth:`at` interpolates it linearly.
    """

    x0: float
    dx: float
    s: torch.Tensor

    def at(self, x: torch.Tensor) -> torch.Tensor:
        """s at angles x (B, n), degrees; angles beyond the axis take the end values."""
        f = ((x - self.x0) / self.dx).clamp(0.0, self.s.shape[1] - 1.0)
        i = f.floor().clamp_max(self.s.shape[1] - 2).long()
        frac = f - i
        left = torch.gather(self.s, 1, i)
        right = torch.gather(self.s, 1, i + 1)
        return left + frac * (right - left)

    def on_grid(self, grid: Grid) -> torch.Tensor:
        """s at the points of ``grid`` (B, n_points), float32: the same node indices serve
        every pattern, so only two column selections per pattern remain."""
        x = torch.linspace(grid.start, grid.stop, grid.n_points, dtype=torch.float64)
        f = ((x - self.x0) / self.dx).clamp(0.0, self.s.shape[1] - 1.0)
        i = f.floor().clamp_max(self.s.shape[1] - 2).long()
        frac = (f - i).float().to(self.s.device)
        i = i.to(self.s.device)
        nodes = self.s.float()
        left = torch.index_select(nodes, 1, i)
        return left + frac * (torch.index_select(nodes, 1, i + 1) - left)


def make_warp(params: BatchProfileParams, grid: Grid, device: torch.device) -> Warp:
    """s(x) = integral of 1 / H(x') dx' from the grid start minus ``RANGE_MARGIN`` (trapezoids
    on WARP_POINTS angles up to the grid stop plus the margin)."""
    x0 = max(grid.start - RANGE_MARGIN, 0.0)
    x1 = min(grid.stop + RANGE_MARGIN, 179.0)
    x = torch.linspace(x0, x1, WARP_POINTS, dtype=params.u.dtype, device=device)
    inverse = 1.0 / fwhm_batch(x.expand(params.u.shape[0], -1), params, grid.wavelength)
    dx = (x1 - x0) / (WARP_POINTS - 1)
    steps = 0.5 * dx * (inverse[:, 1:] + inverse[:, :-1])
    s = torch.cat([torch.zeros_like(steps[:, :1]), torch.cumsum(steps, dim=1)], dim=1)
    return Warp(x0, dx, s)


def keys_weights(frac: torch.Tensor) -> list[torch.Tensor]:
    """Cubic convolution (Keys, a = -0.5) weights of the points -1, 0, 1, 2 around a position
    ``frac`` in [0, 1) past point 0; they sum to 1 and reproduce quadratics exactly."""
    f2, f3 = frac * frac, frac * frac * frac
    return [
        -0.5 * f3 + f2 - 0.5 * frac,
        1.5 * f3 - 2.5 * f2 + 1.0,
        -1.5 * f3 + 2.0 * f2 + 0.5 * frac,
        0.5 * f3 - 0.5 * f2,
    ]


_SPECTRA: dict[tuple[int, float, str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def kernel_spectra(
    length: int, points_per_fwhm: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """rfft of the unit-area Lorentzian and Gaussian of FWHM 1 on a circular grid of ``length``
    points spaced 1 / points_per_fwhm: L(d) = (2/pi) / (1 + 4 d^2), G(d) = 2 sqrt(ln 2 / pi)
    exp(-4 ln 2 d^2), d the circular distance in FWHM.

    Kept per (length, points, device, dtype): a handful of power-of-two lengths, so the store
    does not grow with training steps.
    """
    key = (length, points_per_fwhm, str(device), dtype)
    if key not in _SPECTRA:
        i = torch.arange(length, dtype=torch.float64, device=device)
        d = torch.minimum(i, length - i) / points_per_fwhm
        lorentz = LORENTZ_NORM / (1.0 + 4.0 * d * d)
        gauss = GAUSS_NORM * torch.exp(-GAUSS_EXPONENT * d * d)
        _SPECTRA[key] = (torch.fft.rfft(lorentz).to(dtype), torch.fft.rfft(gauss).to(dtype))
    return _SPECTRA[key]


def fft_length(span: float, points_per_fwhm: float) -> int:
    """The power of two >= MIN_LENGTH holding ``span`` FWHM plus 2 PAD_FWHM of padding."""
    needed = (span + 2.0 * PAD_FWHM) * points_per_fwhm + 4
    return max(MIN_LENGTH, 1 << math.ceil(math.log2(needed)))


def spread_weights(
    s_peaks: torch.Tensor, points_per_fwhm: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first of the 4 s-grid points each peak is spread onto (B, P) and their
    Keys weights (4, B, P): the grid starts PAD_FWHM before s = 0."""
    pos = (s_peaks + PAD_FWHM) * points_per_fwhm
    base = pos.floor()
    return base.long() - 1, torch.stack(keys_weights(pos - base))


def draw_group(
    first: torch.Tensor,
    spread: torch.Tensor,
    s_grid: torch.Tensor,
    eta: torch.Tensor,
    length: int,
    points_per_fwhm: float,
) -> torch.Tensor:
    """Sum over peaks of (eta L + (1 - eta) G)(s - s_peak), weighted, at ``s_grid`` (b, L).

    ``first`` (b, P) and ``spread`` (4, b, P) come from :func:`spread_weights` times the
    peak weights. Sticks are spread onto ``length`` points, convolved by FFT, interpolated
    onto READ_UPSAMPLING times as many points by the FFT and read back linearly (float32).
    """
    buffer = torch.zeros(first.shape[0], length, dtype=torch.float32, device=first.device)
    for offset in range(4):
        buffer.scatter_add_(1, (first + offset).clamp(0, length - 1), spread[offset])
    lorentz, gauss = kernel_spectra(length, points_per_fwhm, first.device, torch.complex64)
    mix = eta.float()[:, None]
    spectrum = torch.fft.rfft(buffer) * (gauss + mix * (lorentz - gauss))
    # Zero-padding the spectrum interpolates the band-limited profile onto READ_UPSAMPLING
    # times as many points (irfft divides by its length, hence the factor).
    fine = READ_UPSAMPLING * length
    drawn = torch.fft.irfft(spectrum, n=fine) * READ_UPSAMPLING
    pos = (s_grid + PAD_FWHM) * (points_per_fwhm * READ_UPSAMPLING)
    base = pos.floor()
    frac = pos - base
    index = base.long().clamp_(0, fine - 2)
    left = torch.gather(drawn, 1, index)
    return torch.lerp(left, torch.gather(drawn, 1, index + 1), frac)


def peak_profiles(
    two_theta: torch.Tensor,
    intensity: torch.Tensor,
    params: BatchProfileParams,
    grid: Grid,
    points_per_fwhm: float = POINTS_PER_FWHM,
) -> torch.Tensor:
    """Peak part of B patterns on ``grid`` (B, n_points) float32, in intensity per degree.

    Args:
        two_theta: (B, P) peak positions, degrees (padding: intensity 0).
        intensity: (B, P) integrated intensities (>= 0).
        params: the batch's profile parameters.
        grid: the output grid (its wavelength is that of the peaks).
        points_per_fwhm: resolution of the warped axis.
    """
    device = two_theta.device
    tt, inten = shifted_peaks(two_theta.float(), intensity.float(), params, grid.wavelength)
    warp = make_warp(params, grid, device)
    x_end = warp.x0 + warp.dx * (WARP_POINTS - 1)
    inside = (tt >= warp.x0) & (tt <= x_end)
    weights = torch.where(inside, inten / fwhm_batch(tt, params, grid.wavelength), 0.0)
    first, spread = spread_weights(warp.at(tt), points_per_fwhm)
    spread = spread * weights
    s_grid = warp.on_grid(grid)
    lengths = torch.tensor(
        [fft_length(float(span), points_per_fwhm) for span in warp.s[:, -1].cpu()]
    )
    out = torch.empty(tt.shape[0], grid.n_points, dtype=torch.float32, device=device)
    for length in torch.unique(lengths).tolist():
        rows = torch.nonzero(lengths == length).flatten().to(device)
        out[rows] = draw_group(
            first[rows],
            spread[:, rows],
            s_grid[rows],
            params.eta[rows],
            int(length),
            points_per_fwhm,
        )
    return out


def background_batch(params: BatchProfileParams, grid: Grid) -> torch.Tensor:
    """P(x) / max P on the grid (B, n_points), P(x) = sum c_k x^k over x in [-1, 1]
    (``profile.background``; P must be positive, as the sampled coefficients make it)."""
    coeffs = params.background_coeffs.double()
    x = torch.linspace(-1.0, 1.0, grid.n_points, dtype=torch.float64, device=coeffs.device)
    powers = x[None, :] ** torch.arange(coeffs.shape[1], device=x.device, dtype=x.dtype)[:, None]
    values = (coeffs @ powers).float()  # (B, 7) @ (7, n): every pattern in one product
    return values / values.amax(dim=1, keepdim=True)


def expected_counts(
    two_theta: torch.Tensor,
    intensity: torch.Tensor,
    params: BatchProfileParams,
    grid: Grid,
    points_per_fwhm: float = POINTS_PER_FWHM,
) -> torch.Tensor:
    """Noise-free counts (B, n_points) float32, as ``profile.render_pattern(noise=False)``:
    peaks scaled so that their highest point is ``counts``, plus
    background_level * counts * P(x) / max P."""
    peaks = peak_profiles(two_theta, intensity, params, grid, points_per_fwhm)
    top = peaks.amax(dim=1, keepdim=True)
    counts = params.counts[:, None].float()
    scaled = torch.where(top > 0, peaks * (counts / top.clamp_min(1e-30)), peaks)
    level = (params.background_level[:, None] * params.counts[:, None]).float()
    return scaled + level * background_batch(params, grid)


def poisson_batch(expected: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Poisson counts with mean ``expected`` (float32, same shape), from ``generator``."""
    return torch.poisson(expected.clamp_min(0.0), generator=generator)
