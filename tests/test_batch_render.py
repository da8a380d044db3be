"""Batch rendering in torch against the numpy renderers: same profiles on fixed parameters,
same statistics with noise, cell strain within the crystal family from stored hkl."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from synthetic import SyntheticPeaks

from xrdsym.patterns.batch_lab import BatchLabRenderer, counts_batch, normalize_batch
from xrdsym.patterns.batch_profile import BatchProfileParams, expected_counts, kernel_spectra
from xrdsym.patterns.batch_strain import (
    conventional_hkl,
    metric_coordinates,
    strained_cells,
    strained_two_theta,
)
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import LAB_RANGES, lab_renderer
from xrdsym.patterns.prepare import normalize_intensity
from xrdsym.patterns.profile import render_pattern
from xrdsym.patterns.profile_params import PAPER_RANGES, sample_profile_params
from xrdsym.structures.perturb import PerturbationConfig, lattice_from_parameters
from xrdsym.structures.symmetry import cell_parameters

GRID = Grid(10.0, 110.0, 5001, 1.540562)

#: Largest difference allowed between the two renderers' noise-free counts, as a fraction of
#: the highest point of the peaks (``counts``): full Lorentzian tails against windows of 3-10
#: FWHM (up to 0.6 %), the warped axis and the FFT read-back (measured: 0.8 % at most over
#: 64 stored mp_gen40 peak lists with lab parameters).
PROFILE_TOLERANCE = 0.015


def padded(lists: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak lists as padded (B, P) tensors, intensity 0 as padding."""
    width = max(len(t) for t, _ in lists)
    tt = np.zeros((len(lists), width), np.float32)
    inten = np.zeros((len(lists), width), np.float32)
    for i, (t, v) in enumerate(lists):
        tt[i, : len(t)], inten[i, : len(t)] = t, v
    return torch.from_numpy(tt), torch.from_numpy(inten)


def fixed_params() -> list:
    """Sharp and broad, with and without each effect of a cached peak list."""
    rng = np.random.default_rng(11)
    drawn = [sample_profile_params(rng, LAB_RANGES) for _ in range(8)]
    paper = [sample_profile_params(rng, PAPER_RANGES) for _ in range(3)]
    base = paper[0]
    special = [
        replace(base, ka2=True),
        replace(base, crystallite_size=200.0),
        replace(base, zero_shift=-0.2, displacement=0.15),
        replace(base, u=0.2, w=0.03, eta=0.8, ka2=True, crystallite_size=60.0),
    ]
    return drawn + paper + special


def test_noise_free_profiles_match_the_numpy_renderer() -> None:
    params = fixed_params()
    source = SyntheticPeaks(len(params), seed=4)
    lists = [source.peaks(i) for i in range(len(params))]
    tt, inten = padded(lists)
    batch = expected_counts(tt, inten, BatchProfileParams.stack(params), GRID).numpy()
    errors = []
    for row, (p, (t, v)) in enumerate(zip(params, lists, strict=True)):
        reference = render_pattern(t, v, GRID, p, None, noise=False)
        errors.append(float(np.abs(batch[row] - reference).max()) / p.counts)
    assert max(errors) <= PROFILE_TOLERANCE, errors
    assert float(np.median(errors)) <= PROFILE_TOLERANCE / 2, errors


def test_kernel_spectra_are_unit_area() -> None:
    lorentz, gauss = kernel_spectra(4096, 6.0, torch.device("cpu"), torch.complex64)
    # spectrum at frequency 0 = sum of the kernel = points per FWHM x area (Lorentzian: the
    # circular grid holds +/- 341 FWHM, so (2/pi) atan(682) of its area)
    assert float(gauss[0].real) == pytest.approx(6.0, rel=1e-5)
    assert float(lorentz[0].real) == pytest.approx(6.0 * 2 / np.pi * np.arctan(682.7), rel=1e-3)


@pytest.mark.parametrize("mean", [0.5, 3.0, 40.0, 2.0e4])
def test_counts_have_poisson_mean_and_variance(mean: float) -> None:
    g = torch.Generator().manual_seed(0)
    counts = counts_batch(torch.full((200, 1000), mean), g)
    assert torch.all(counts == counts.round()) and float(counts.min()) >= 0
    # 2e5 draws: the standard error of the mean is sqrt(mean / 2e5)
    assert float(counts.mean()) == pytest.approx(mean, abs=5 * np.sqrt(mean / 2e5))
    assert float(counts.var()) == pytest.approx(mean, rel=0.02)


def test_lab_batches_follow_the_lab_renderer_statistics() -> None:
    """Same peak list, 256 patterns from each renderer: per-pattern summaries (mean of the
    normalised pattern = background share, fraction of points above half = peak breadth,
    point-to-point noise) come from the same distributions (two-sample KS, p > 1e-3)."""
    t, v = SyntheticPeaks(1, seed=2).peaks(0)
    n = 256
    lab = lab_renderer()
    numpy_patterns = np.stack(
        [normalize_intensity(lab(t, v, GRID, np.random.default_rng(i))) for i in range(n)]
    )
    tt, inten = padded([(t, v)] * n)
    renderer = BatchLabRenderer(impurities=False)
    batch = normalize_batch(renderer(tt, inten, GRID, torch.Generator().manual_seed(1))).numpy()

    def summaries(patterns: np.ndarray) -> list[np.ndarray]:
        return [
            patterns.mean(axis=1),
            (patterns > 0.5).mean(axis=1),
            np.median(np.abs(np.diff(patterns, axis=1)), axis=1),
        ]

    for ours, theirs in zip(summaries(batch), summaries(numpy_patterns), strict=True):
        assert ks_2samp(ours, theirs).pvalue > 1e-3


def body_centred_tetragonal() -> tuple[np.ndarray, np.ndarray]:
    """(conventional cell rows, primitive cell rows) of a body-centred tetragonal lattice."""
    conventional = np.diag([3.9, 3.9, 11.37])
    to_primitive = np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]])
    return conventional, to_primitive @ conventional


def two_theta_of(hkl: np.ndarray, lattice: np.ndarray, wavelength: float) -> np.ndarray:
    """2theta (degrees) of reflections hkl of cell rows ``lattice``; NaN beyond 180."""
    gstar = np.linalg.inv(lattice @ lattice.T)
    q = np.sqrt(np.einsum("ij,jk,ik->i", hkl, gstar, hkl))
    with np.errstate(invalid="ignore"):
        return 2.0 * np.degrees(np.arcsin(wavelength * q / 2.0))


def test_strain_from_primitive_hkl_follows_the_strained_conventional_cell() -> None:
    """Peaks indexed in a primitive cell move as the strained conventional cell says."""
    wavelength = GRID.wavelength
    conventional, primitive = body_centred_tetragonal()
    grid = np.arange(-3, 4)
    hkl = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    hkl = hkl[np.any(hkl != 0, axis=1)]
    tt = two_theta_of(hkl.astype(float), primitive, wavelength)
    keep = np.isfinite(tt) & (tt < 115.0)
    hkl, tt = hkl[keep], tt[keep]
    found, matched = conventional_hkl(tt, conventional, wavelength)
    assert matched.all()
    before = torch.from_numpy(cell_parameters(conventional))[None]
    g = torch.Generator().manual_seed(5)
    after = strained_cells(g, before, torch.tensor([139]), PerturbationConfig(strain=0.03))
    a, b, c = after[0, :3].tolist()
    assert a == pytest.approx(b) and c / a != pytest.approx(11.37 / 3.9)
    assert after[0, 3:].tolist() == [90.0, 90.0, 90.0]
    metric = torch.from_numpy(metric_coordinates(found))[None]
    moved, kept = strained_two_theta(
        torch.from_numpy(tt)[None], metric, torch.ones(1, len(tt), dtype=torch.bool), before,
        after, wavelength,
    )  # fmt: skip
    strained_primitive = np.array(
        [[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]
    ) @ lattice_from_parameters(after[0].numpy())
    expected = two_theta_of(hkl.astype(float), strained_primitive, wavelength)
    ok = kept[0].numpy()
    np.testing.assert_allclose(moved[0].numpy()[ok], expected[ok], atol=1e-4)
    np.testing.assert_array_equal(ok, np.isfinite(expected))


def test_cubic_strain_is_isotropic_and_monoclinic_keeps_its_right_angles() -> None:
    cells = torch.tensor([[5.0, 5.0, 5.0, 90.0, 90.0, 90.0], [5.0, 6.0, 7.0, 90.0, 100.0, 90.0]])
    g = torch.Generator().manual_seed(0)
    config = PerturbationConfig(strain=0.05, angle=2.0)
    after = strained_cells(g, cells, torch.tensor([225, 14]), config)
    assert after[0, 0] == after[0, 1] == after[0, 2] and after[0, 0] != 5.0
    assert after[1, 3] == 90.0 and after[1, 5] == 90.0 and after[1, 4] != 100.0
