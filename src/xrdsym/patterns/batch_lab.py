"""Laboratory-like training patterns of a whole batch at once, with torch (CPU or GPU).

The batch counterpart of :class:`xrdsym.patterns.lab.LabRenderer`: the same families with the
same switches, probabilities and ranges (``LAB_RANGES`` and :class:`LabAugmentation`), drawn
for B patterns with one ``torch.Generator`` instead of one numpy generator per pattern, so the
patterns follow the same distributions but are not the same draws:

* peak lists: isotropic strain, overall displacement factor, texture scatter, angular trend,
  an impurity phase taken from another row of the batch's peak table;
* profiles: :mod:`xrdsym.patterns.batch_profile` (Caglioti and Scherrer widths, K-alpha2,
  zero shift, displacement, background polynomial);
* air-scatter decay and amorphous humps in units of the strongest peak's counts;
* counts: Poisson below ``EXACT_POISSON_BELOW`` expected counts, the normal approximation
  round(lambda + sqrt(lambda) z) above (exact mean, variance lambda + 1/12; ``torch.poisson``
  costs about 1 ms per 5001-point pattern on one CPU core); a coarse measured step
  (probability 0.2) draws its counts on the coarse points and interpolates them back; steps
  finer than the grid draw on the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from xrdsym.patterns.batch_profile import (
    BatchProfileParams,
    bragg_shift_batch,
    expected_counts,
)
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import LAB_RANGES, LabAugmentation
from xrdsym.patterns.profile import GAUSS_EXPONENT
from xrdsym.patterns.profile_params import BACKGROUND_ORDER, ProfileRanges

#: Expected counts below which Poisson counts are drawn exactly (see the module docstring).
EXACT_POISSON_BELOW = 10.0


def uniform(g: torch.Generator, n: int, bounds: tuple[float, float], device: torch.device):
    """(n,) float32 draws uniform on [bounds[0], bounds[1])."""
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=g, device=device)


def log_uniform_batch(
    g: torch.Generator, n: int, bounds: tuple[float, float], device: torch.device
) -> torch.Tensor:
    """(n,) draws exp(t), t uniform on [ln b0, ln b1] (``profile_params.log_uniform``)."""
    low, high = torch.log(torch.tensor(bounds, dtype=torch.float64)).tolist()
    return torch.exp(uniform(g, n, (low, high), device))


def switched(g: torch.Generator, n: int, probability: float, device: torch.device):
    """(n,) bool: True with ``probability``."""
    return torch.rand(n, generator=g, device=device) < probability


def sample_batch_params(
    g: torch.Generator, n: int, ranges: ProfileRanges, device: torch.device
) -> BatchProfileParams:
    """Profile parameters of n patterns, drawn as ``profile_params.sample_profile_params`` draws
    them: U, W log-uniform, V = -2 r sqrt(UW), background c_k uniform in [-1, 1] / k and
    c0 = sum |c_k| + margin, counts log-uniform, each effect on with its probability."""
    u = log_uniform_batch(g, n, ranges.u, device)
    w = log_uniform_batch(g, n, ranges.w, device)
    v = -2.0 * uniform(g, n, ranges.v_ratio, device) * torch.sqrt(u * w)
    k = torch.arange(1, BACKGROUND_ORDER + 1, device=device, dtype=torch.float32)
    higher = (2.0 * torch.rand(n, BACKGROUND_ORDER, generator=g, device=device) - 1.0) / k
    c0 = higher.abs().sum(dim=1) + uniform(g, n, ranges.background_margin, device)
    zero = torch.zeros(n, device=device)
    size = log_uniform_batch(g, n, ranges.crystallite_size, device)
    return BatchProfileParams(
        u=u,
        v=v,
        w=w,
        eta=uniform(g, n, ranges.eta, device),
        background_coeffs=torch.cat([c0[:, None], higher], dim=1),
        background_level=uniform(g, n, ranges.background_level, device),
        counts=log_uniform_batch(g, n, ranges.counts, device),
        ka2=switched(g, n, ranges.ka2_probability, device),
        zero_shift=torch.where(
            switched(g, n, ranges.zero_shift_probability, device),
            uniform(g, n, ranges.zero_shift, device),
            zero,
        ),
        displacement=torch.where(
            switched(g, n, ranges.displacement_probability, device),
            uniform(g, n, ranges.displacement, device),
            zero,
        ),
        crystallite_size=torch.where(
            switched(g, n, ranges.crystallite_size_probability, device), size, zero
        ),
    )


def reduced_angle(two_theta: torch.Tensor, grid: Grid) -> torch.Tensor:
    """x = (2theta - mid) / half_range of the grid: -1 at its start, +1 at its stop."""
    mid = 0.5 * (grid.start + grid.stop)
    return (two_theta - mid) / (0.5 * (grid.stop - grid.start))


def augment_peaks(
    g: torch.Generator,
    two_theta: torch.Tensor,
    intensity: torch.Tensor,
    grid: Grid,
    aug: LabAugmentation,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Strain, displacement factor, texture scatter, trend and impurity (``LabRenderer``'s
    peak-list families, formulas of :mod:`xrdsym.patterns.augment`) on padded (B, P) peaks.

    The impurity phase of row i is the peak list of another row of the batch (rolled by a
    random shift), scaled so that its strongest peak is the drawn fraction of row i's.
    """
    n, device = two_theta.shape[0], two_theta.device
    strain = torch.where(
        switched(g, n, aug.strain_probability, device),
        uniform(g, n, (-aug.strain_max, aug.strain_max), device),
        torch.zeros(n, device=device),
    )
    tt, kept = bragg_shift_batch(two_theta, (1.0 / (1.0 + strain))[:, None])
    inten = torch.where(kept, intensity, 0.0)
    b = torch.where(
        switched(g, n, aug.displacement_b_probability, device),
        uniform(g, n, aug.displacement_b, device),
        torch.zeros(n, device=device),
    )
    s = torch.sin(torch.deg2rad(tt) / 2.0) / grid.wavelength
    inten = inten * torch.exp(-2.0 * b[:, None] * s * s)
    sigma = torch.where(
        switched(g, n, aug.texture_probability, device),
        uniform(g, n, aug.texture_log10_sigma, device),
        torch.zeros(n, device=device),
    )
    z = torch.randn(tt.shape, generator=g, device=device)
    inten = inten * torch.pow(10.0, sigma[:, None] * z)
    trend = torch.where(
        switched(g, n, aug.trend_probability, device),
        uniform(g, n, (-aug.trend_max, aug.trend_max), device),
        torch.zeros(n, device=device),
    )
    inten = inten * torch.exp(trend[:, None] * reduced_angle(tt, grid))
    return add_batch_impurity(g, tt, inten, aug)


def add_batch_impurity(
    g: torch.Generator, two_theta: torch.Tensor, intensity: torch.Tensor, aug: LabAugmentation
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append, with ``aug.impurity_probability``, another row's peaks scaled to a fraction
    (``aug.impurity_fraction``) of this row's strongest peak (``effects.mix_impurity``)."""
    n, device = two_theta.shape[0], two_theta.device
    on = switched(g, n, aug.impurity_probability, device) & (n > 1)
    if not bool(on.any()):
        return two_theta, intensity
    shift = int(torch.randint(1, max(n, 2), (1,), generator=g, device=device))
    other_tt = torch.roll(two_theta, shift, dims=0)
    other = torch.roll(intensity, shift, dims=0)
    fraction = uniform(g, n, aug.impurity_fraction, device)
    top = intensity.amax(dim=1)
    scale = torch.where(on, fraction * top / other.amax(dim=1).clamp_min(1e-30), 0.0)
    return torch.cat([two_theta, other_tt], 1), torch.cat([intensity, other * scale[:, None]], 1)


def extra_background(
    g: torch.Generator, n: int, grid: Grid, aug: LabAugmentation, device: torch.device
) -> torch.Tensor:
    """Air-scatter decay A exp(-(2theta - start) / tau) and one or two Gaussian humps
    h exp(-4 ln 2 (2theta - c)^2 / H^2), in units of the strongest peak (B, n_points);
    computed only on the rows that have them."""
    x = torch.linspace(grid.start, grid.stop, grid.n_points, device=device)
    air = switched(g, n, aug.air_scatter_probability, device)
    level = log_uniform_batch(g, n, aug.air_scatter_level, device)
    decay = log_uniform_batch(g, n, aug.air_scatter_decay, device)
    hump = switched(g, n, aug.hump_probability, device)
    second = hump & switched(g, n, aug.second_hump_probability, device)
    humps = [
        (on, uniform(g, n, aug.hump_centre, device), uniform(g, n, aug.hump_fwhm, device),
         log_uniform_batch(g, n, aug.hump_level, device))
        for on in (hump, second)
    ]  # fmt: skip
    total = torch.zeros(n, grid.n_points, device=device)
    rows = torch.nonzero(air).flatten()
    if rows.numel():
        decays = torch.exp(-(x - grid.start) / decay[rows, None])
        total[rows] += level[rows, None] * decays
    for on, centre, width, height in humps:
        rows = torch.nonzero(on).flatten()
        if rows.numel():
            u = (x - centre[rows, None]) / width[rows, None]
            total[rows] += height[rows, None] * torch.exp(-GAUSS_EXPONENT * u * u)
    return total


def counts_batch(expected: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Poisson counts of mean ``expected``: exact below EXACT_POISSON_BELOW, else
    round(lambda + sqrt(lambda) z), z standard normal, clamped at 0."""
    mean = expected.clamp_min(0.0)
    z = torch.randn(mean.shape, generator=g, device=mean.device)
    counts = torch.addcmul(mean, mean.sqrt(), z).round_().clamp_min_(0.0)
    small = mean < EXACT_POISSON_BELOW
    counts[small] = torch.poisson(mean[small], generator=g)
    return counts


def coarse_counts(
    expected: torch.Tensor, steps: torch.Tensor, grid: Grid, g: torch.Generator
) -> torch.Tensor:
    """Counts measured with coarse steps (one per row, degrees) and put back on the grid.

    Each coarse point x_j (n_j = round(range / step) + 1 points over the grid range) gets the
    mean of the expected counts over its cell [x_j - h/2, x_j + h/2] (each grid value standing
    for its grid cell, as ``augment.average_to_step``), Poisson counts are drawn there
    (:func:`counts_batch`) and interpolated linearly back to the grid points
    (``augment.back_to_grid``).
    """
    device, n_grid = expected.device, grid.n_points
    span = grid.stop - grid.start
    n_coarse = torch.round(span / steps).long().clamp_min(1) + 1
    actual = span / (n_coarse - 1).float()
    # cumulative integral at grid cell edges (in grid steps): edges at -0.5, 0.5, ..., n - 0.5
    cumulative = torch.cat(
        [torch.zeros_like(expected[:, :1]), torch.cumsum(expected.double(), dim=1)], dim=1
    )
    width = int(n_coarse.max())
    j = torch.arange(width, device=device, dtype=torch.float64)
    centre = j[None, :] * (actual / grid.step).double()[:, None]
    half = 0.5 * (actual / grid.step).double()[:, None]
    low = (centre - half).clamp(-0.5, n_grid - 0.5)
    high = (centre + half).clamp(-0.5, n_grid - 0.5)

    def integral(at: torch.Tensor) -> torch.Tensor:
        position = at + 0.5  # index into the edges
        i = position.floor().clamp(0, n_grid - 1).long()
        frac = position - i
        left = torch.gather(cumulative, 1, i)
        return left + frac * (torch.gather(cumulative, 1, i + 1) - left)

    mean = (integral(high) - integral(low)) / (high - low).clamp_min(1e-9)
    valid = j[None, :] < n_coarse[:, None]
    counts = counts_batch(torch.where(valid, mean, 0.0).float(), g)
    f = (
        torch.arange(n_grid, device=device, dtype=torch.float32)[None, :]
        * (grid.step / actual)[:, None]
    )
    i = f.floor().long().clamp(max=(n_coarse - 2)[:, None].clamp_min(0))
    frac = (f - i).clamp(0.0, 1.0)
    left = torch.gather(counts, 1, i)
    return left + frac * (torch.gather(counts, 1, (i + 1).clamp(max=width - 1)) - left)


def normalize_batch(values: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """(v - min) / (max - min) per row over the points of ``keep`` (all when None), 0
    elsewhere and for flat rows (``prepare.normalize_intensity`` / ``truncate_range``)."""
    if keep is None:
        low = values.amin(dim=1, keepdim=True)
        top = values.amax(dim=1, keepdim=True) - low
        return torch.where(top > 0, (values - low) / top.clamp_min(1e-30), 0.0)
    low = torch.where(keep, values, torch.inf).amin(dim=1, keepdim=True)
    high = torch.where(keep, values, -torch.inf).amax(dim=1, keepdim=True)
    top = high - low
    out = torch.where(top > 0, (values - low) / top.clamp_min(1e-30), 0.0)
    return torch.where(keep, out, 0.0)


def truncation_mask(
    g: torch.Generator, n: int, grid: Grid, probability: float, min_span: float, device
) -> torch.Tensor | None:
    """Points kept by the random range truncation of ``training.data.PatternPreparer``: with
    ``probability`` a span uniform in [min_span, full] at a uniform start; None when off."""
    if probability <= 0.0:
        return None
    full = grid.stop - grid.start
    on = switched(g, n, probability, device)
    span = uniform(g, n, (min(min_span, full), full), device)
    low = grid.start + torch.rand(n, generator=g, device=device) * (full - span)
    x = torch.linspace(grid.start, grid.stop, grid.n_points, device=device)
    inside = (x >= low[:, None]) & (x <= (low + span)[:, None])
    return inside | ~on[:, None]


@dataclass(frozen=True)
class BatchLabRenderer:
    """Laboratory-like counts of a batch of padded peak lists (see the module docstring).

    Attributes:
        ranges: profile ranges (``LAB_RANGES``; preferred orientation and impurity off).
        augmentation: switches and ranges of the augmentation families.
        impurities: draw impurity phases from other rows of the batch.
    """

    ranges: ProfileRanges = LAB_RANGES
    augmentation: LabAugmentation = field(default_factory=LabAugmentation)
    impurities: bool = True

    def __call__(
        self, two_theta: torch.Tensor, intensity: torch.Tensor, grid: Grid, g: torch.Generator
    ) -> torch.Tensor:
        """Counts (B, n_points) float32 of padded peaks (B, P) (padding: intensity 0)."""
        aug = self.augmentation
        if not self.impurities:
            aug = replace(aug, impurity_probability=0.0)
        n, device = two_theta.shape[0], two_theta.device
        tt, inten = augment_peaks(g, two_theta.float(), intensity.float(), grid, aug)
        params = sample_batch_params(g, n, self.ranges, device)
        expected = expected_counts(tt, inten, params, grid)
        expected = expected + params.counts[:, None] * extra_background(g, n, grid, aug, device)
        coarse = switched(g, n, aug.coarse_step_probability, device)
        steps = log_uniform_batch(g, n, aug.coarse_step, device)
        coarse = coarse & (steps > grid.step)
        counts = counts_batch(expected, g)
        rows = torch.nonzero(coarse).flatten()
        if rows.numel():
            counts[rows] = coarse_counts(expected[rows], steps[rows], grid, g)
        return counts
