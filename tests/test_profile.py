"""Rendering: conserved intensities, Caglioti widths, background, noise, seeds and effects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from xrdsym.patterns.effects import displacement_shift, march_dollase_factors, scherrer_fwhm
from xrdsym.patterns.grid import PAPER_GRID, Grid
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.patterns.profile import (
    MIN_WINDOW_HALF_WIDTH_FWHM,
    WEAK_PEAK_CUT_FRACTION,
    WINDOW_HALF_WIDTH_FWHM,
    background,
    caglioti_fwhm,
    peak_fwhm,
    pseudo_voigt_shape,
    render_pattern,
    render_peaks,
    window_area,
    window_half_widths,
)
from xrdsym.patterns.profile_params import (
    PAPER_RANGES,
    REALISTIC_RANGES,
    ProfileParams,
    sample_profile_params,
)
from xrdsym.structures.crystal import Crystal
from xrdsym.wavelengths import CU_KA1, K_ALPHA2, KA2_RATIO, ka2_wavelength

GRID = PAPER_GRID
X = GRID.two_theta()
STEP = GRID.step

#: A flat background, no noise: isolates the peaks.
FLAT = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
BASE = ProfileParams(
    u=0.01, v=-0.005, w=0.004, eta=0.5, background_coeffs=FLAT, background_level=0.0, counts=1e4
)


def measured_fwhm(x: np.ndarray, y: np.ndarray) -> float:
    """Full width at half maximum of the single peak in ``y``, half-maximum crossings
    interpolated linearly between grid points."""
    top = int(np.argmax(y))
    half = y[top] / 2.0
    left = top
    while y[left] > half:
        left -= 1
    right = top
    while y[right] > half:
        right += 1
    x_left = np.interp(half, [y[left], y[left + 1]], [x[left], x[left + 1]])
    x_right = np.interp(half, [y[right], y[right - 1]], [x[right], x[right - 1]])
    return float(x_right - x_left)


def kept_share(two_theta: np.ndarray, intensity: np.ndarray, params: ProfileParams) -> np.ndarray:
    """Share A(k) / A(K) of each peak's integrated intensity that the renderer draws (a weak
    peak lacks its tail beyond its window; see ``window_half_widths``)."""
    k = window_half_widths(intensity, peak_fwhm(two_theta, params, GRID.wavelength))
    return np.asarray(window_area(params.eta, k) / window_area(params.eta))


def window(center: float, half_width: float) -> np.ndarray:
    """Grid mask of center +/- half_width degrees."""
    return np.abs(X - center) <= half_width


def centroid(y: np.ndarray, mask: np.ndarray) -> float:
    """Intensity-weighted mean 2theta over ``mask``."""
    return float((X[mask] * y[mask]).sum() / y[mask].sum())


def test_integrated_intensity_is_conserved_per_peak() -> None:
    two_theta = np.array([15.003, 42.4567, 77.77, 104.2])
    intensity = np.array([3.0, 100.0, 20.0, 55.5])
    fwhm = caglioti_fwhm(two_theta, 0.05, -0.01, 0.01)
    k = window_half_widths(intensity, fwhm)
    assert k[1] == WINDOW_HALF_WIDTH_FWHM
    assert MIN_WINDOW_HALF_WIDTH_FWHM <= k[0] < WINDOW_HALF_WIDTH_FWHM  # 3 % of the strongest
    for eta in (0.0, 0.4, 1.0):
        y = render_peaks(two_theta, intensity, fwhm, eta, GRID)
        kept = window_area(eta, k) / window_area(eta)
        for center, area, width, share in zip(two_theta, intensity, fwhm, kept, strict=True):
            mask = window(center, 10.0 * width + STEP)
            assert y[mask].sum() * STEP == pytest.approx(area * share, rel=1e-5)
        # Peaks on the full window keep their whole intensity; a weak peak lacks only its
        # Lorentzian tail beyond at least 3 FWHM, (2/pi) (atan 20 - atan 6) = 8 % at most.
        assert kept[1] == pytest.approx(1.0)
        assert kept[0] >= 1.0 - eta * 0.08 - 1e-9
        assert y.sum() * STEP == pytest.approx((intensity * kept).sum(), rel=1e-5)


def test_weak_peaks_are_cut_no_higher_than_the_strongest() -> None:
    rng = np.random.default_rng(3)
    intensity = 100.0 * rng.random(200) ** 4
    fwhm = rng.uniform(0.03, 0.3, 200)
    k = window_half_widths(intensity, fwhm)
    height = intensity / fwhm
    strongest = int(np.argmax(height))
    assert k[strongest] == WINDOW_HALF_WIDTH_FWHM
    assert np.all((k >= MIN_WINDOW_HALF_WIDTH_FWHM) & (k <= WINDOW_HALF_WIDTH_FWHM))
    # Lorentzian tail I / (H k^2) at the cut, up to the common factor eta / (2 pi).
    tail = height / k**2
    cut_of_strongest = height[strongest] / WINDOW_HALF_WIDTH_FWHM**2
    narrowed = (k > MIN_WINDOW_HALF_WIDTH_FWHM) & (k < WINDOW_HALF_WIDTH_FWHM)
    assert narrowed.sum() > 50
    assert np.allclose(tail[narrowed], WEAK_PEAK_CUT_FRACTION * cut_of_strongest)
    assert np.all(tail <= cut_of_strongest * (1.0 + 1e-12))
    assert np.all(window_half_widths(np.zeros(3), np.ones(3)) == MIN_WINDOW_HALF_WIDTH_FWHM)


def test_narrow_windows_stay_close_to_the_exact_profile() -> None:
    """Many peaks of a wide range of strengths: the rendering differs from the pseudo-Voigt
    sum without any window by less than 1 % of the highest point."""
    rng = np.random.default_rng(4)
    two_theta = np.sort(rng.uniform(15.0, 105.0, 300))
    intensity = 100.0 * rng.random(300) ** 6
    fwhm = caglioti_fwhm(two_theta, 0.02, -0.01, 0.01)
    eta = 0.7
    y = render_peaks(two_theta, intensity, fwhm, eta, GRID)
    u2 = ((X[:, None] - two_theta[None, :]) / fwhm[None, :]) ** 2
    exact = (pseudo_voigt_shape(u2, eta) * (intensity / fwhm)[None, :]).sum(axis=1)
    # Both scaled to a highest point of 1, as a pattern is (scale_to_counts).
    assert np.abs(y / y.max() - exact / exact.max()).max() < 0.01


def test_a_weak_peak_keeps_its_shape_inside_its_window() -> None:
    two_theta = np.array([30.0, 70.0])
    intensity = np.array([100.0, 2.0])
    fwhm = caglioti_fwhm(two_theta, 0.02, -0.01, 0.01)
    eta = 0.7
    y = render_peaks(two_theta, intensity, fwhm, eta, GRID)
    k = window_half_widths(intensity, fwhm)[1]
    assert k == MIN_WINDOW_HALF_WIDTH_FWHM
    distance = np.abs(X - two_theta[1])
    inside = distance <= k * fwhm[1] - STEP
    assert np.all(y[(distance > k * fwhm[1] + STEP) & (X > 50.0)] == 0.0)
    exact = pseudo_voigt_shape((distance[inside] / fwhm[1]) ** 2, eta) * intensity[1] / fwhm[1]
    # Scaled as the strongest peak is (1 / A(K)), up to the sampling of the window sum
    # (the window ends at the grid point past k H).
    assert np.allclose(y[inside] / exact, 1.0 / window_area(eta), rtol=5e-3)


def test_rendered_fwhm_is_the_caglioti_value() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        params = sample_profile_params(rng)
        for center in (12.345, 50.0, 108.21):
            y = render_peaks(
                np.array([center]),
                np.array([1.0]),
                caglioti_fwhm(np.array([center]), params.u, params.v, params.w),
                params.eta,
                GRID,
            )
            expected = caglioti_fwhm(np.array([center]), params.u, params.v, params.w)[0]
            assert abs(measured_fwhm(X, y) - expected) < STEP


def test_caglioti_formula() -> None:
    # theta = 45 degrees: tan = 1, FWHM^2 = U + V + W.
    assert caglioti_fwhm(np.array([90.0]), 0.04, -0.01, 0.02)[0] == pytest.approx(np.sqrt(0.05))
    with pytest.raises(ValueError, match="not positive"):
        caglioti_fwhm(np.array([90.0]), 0.0, -0.1, 0.01)


def test_sampled_widths_are_realistic_and_positive() -> None:
    rng = np.random.default_rng(1)
    grid_angles = np.linspace(10.0, 110.0, 101)
    low, high = np.inf, 0.0
    for _ in range(2000):
        params = sample_profile_params(rng)
        fwhm = caglioti_fwhm(grid_angles, params.u, params.v, params.w)  # raises if FWHM^2 <= 0
        low, high = min(low, fwhm.min()), max(high, fwhm.max())
        assert 0.0 <= params.eta <= 1.0
    assert 0.02 < low < 0.04
    assert 0.3 < high < 0.6


def test_background_is_positive_and_scaled() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        params = sample_profile_params(rng)
        shape = background(GRID, params)
        assert shape.min() > 0.0
        assert shape.max() == pytest.approx(1.0)
        clean = render_pattern(np.zeros(0), np.zeros(0), GRID, params, None, noise=False)
        assert clean.max() == pytest.approx(params.background_level * params.counts)
    negative = dataclasses.replace(BASE, background_coeffs=(0.0, 1.0, 0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="not positive"):
        background(GRID, negative)


def test_pattern_scale_and_relative_intensities() -> None:
    two_theta = np.array([30.0, 60.0])
    intensity = np.array([100.0, 10.0])
    y = render_pattern(two_theta, intensity, GRID, BASE, None, noise=False)
    assert y.max() == pytest.approx(BASE.counts)
    areas = [y[window(t, 2.0)].sum() for t in two_theta]
    # The weaker peak lacks the Lorentzian tail beyond its narrower window (1 % here).
    kept = kept_share(two_theta, intensity, BASE)
    assert kept[0] == 1.0 and 0.98 < kept[1] < 1.0
    assert areas[1] / areas[0] == pytest.approx(0.1 * kept[1], rel=1e-5)


def test_seed_reproduces_a_pattern_bit_for_bit() -> None:
    two_theta = np.array([20.0, 35.5, 61.2])
    intensity = np.array([100.0, 30.0, 60.0])

    def draw(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        params = sample_profile_params(rng, REALISTIC_RANGES)
        return render_pattern(
            two_theta,
            intensity,
            GRID,
            dataclasses.replace(params, march_dollase_r=1.0, impurity_fraction=0.0),
            rng,
        )

    first, again, other = draw(11), draw(11), draw(12)
    assert first.dtype == np.float64 and first.shape == (GRID.n_points,)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_poisson_noise_statistics() -> None:
    params = dataclasses.replace(BASE, background_level=0.5, counts=2000.0)
    expected = render_pattern(np.zeros(0), np.zeros(0), GRID, params, None, noise=False)
    noisy = render_pattern(np.zeros(0), np.zeros(0), GRID, params, np.random.default_rng(3))
    assert np.all(noisy == np.rint(noisy))  # counts are integers
    # Poisson: mean = variance = expected count (1000 here); 10,001 points.
    residual = noisy - expected
    assert abs(residual.mean()) < 4.0 * np.sqrt(1000.0 / GRID.n_points)
    assert (residual**2 / expected).mean() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="Generator"):
        render_pattern(np.zeros(0), np.zeros(0), GRID, params, None)


def test_paper_ranges_keep_every_effect_off() -> None:
    rng = np.random.default_rng(4)
    draws = [sample_profile_params(rng, PAPER_RANGES) for _ in range(200)]
    assert not any(p.ka2 for p in draws)
    assert all(p.zero_shift == 0.0 and p.displacement == 0.0 for p in draws)
    assert all(p.march_dollase_r == 1.0 and p.crystallite_size == 0.0 for p in draws)
    assert all(p.impurity_fraction == 0.0 for p in draws)
    realistic = [sample_profile_params(rng, REALISTIC_RANGES) for _ in range(200)]
    assert 60 < sum(p.ka2 for p in realistic) < 140
    assert 10 < sum(p.impurity_fraction > 0.0 for p in realistic) < 70


def test_zero_shift_moves_peaks_by_the_shift() -> None:
    peak = (np.array([50.0]), np.array([100.0]))
    plain = render_pattern(*peak, GRID, BASE, None, noise=False)
    shifted = render_pattern(
        *peak, GRID, dataclasses.replace(BASE, zero_shift=0.137), None, noise=False
    )
    mask = window(50.0, 3.0)
    assert centroid(shifted, mask) - centroid(plain, mask) == pytest.approx(0.137, abs=2e-3)


def test_specimen_displacement_shift() -> None:
    # delta 2theta = -2 s cos(theta) / R: s = 0.2 mm, R = 240 mm, 2theta = 30 degrees.
    expected = np.degrees(-2.0 * 0.2 * np.cos(np.radians(15.0)) / 240.0)
    assert displacement_shift(np.array([30.0]), 0.2, 240.0)[0] == pytest.approx(expected)
    peak = (np.array([30.0]), np.array([100.0]))
    plain = render_pattern(*peak, GRID, BASE, None, noise=False)
    moved = render_pattern(
        *peak, GRID, dataclasses.replace(BASE, displacement=0.2), None, noise=False
    )
    mask = window(30.0, 3.0)
    assert centroid(moved, mask) - centroid(plain, mask) == pytest.approx(expected, abs=2e-3)


def test_ka2_doublet_position_and_ratio() -> None:
    sharp = dataclasses.replace(BASE, u=0.0, v=0.0, w=0.0004, ka2=True)  # FWHM 0.02 degrees
    y = render_pattern(np.array([100.0]), np.array([100.0]), GRID, sharp, None, noise=False)
    lam2 = K_ALPHA2["Cu"]
    tt2 = np.degrees(2.0 * np.arcsin(lam2 / CU_KA1 * np.sin(np.radians(50.0))))
    assert tt2 - 100.0 == pytest.approx(0.3, abs=0.05)  # the familiar Cu doublet splitting
    second = window(tt2, 0.1)
    assert X[second][np.argmax(y[second])] == pytest.approx(tt2, abs=STEP)
    split = (100.0 + tt2) / 2.0
    area_1 = y[(X > 99.0) & (split > X)].sum()
    area_2 = y[(split <= X) & (X < 101.5)].sum()
    assert area_2 / area_1 == pytest.approx(KA2_RATIO, rel=0.05)
    assert ka2_wavelength(CU_KA1) == lam2
    with pytest.raises(ValueError, match="K-alpha2"):
        render_pattern(np.array([50.0]), np.array([1.0]), Grid(wavelength=1.0), sharp, None)


def test_scherrer_broadening_combines_with_the_instrument() -> None:
    size = 1000.0
    expected_size = np.degrees(0.9 * CU_KA1 / (size * np.cos(np.radians(20.0))))
    assert scherrer_fwhm(np.array([40.0]), CU_KA1, size)[0] == pytest.approx(expected_size)
    params = dataclasses.replace(BASE, crystallite_size=size)
    y = render_pattern(np.array([40.0]), np.array([100.0]), GRID, params, None, noise=False)
    instrument = caglioti_fwhm(np.array([40.0]), BASE.u, BASE.v, BASE.w)[0]
    combined = np.sqrt(instrument**2 + expected_size**2)
    assert peak_fwhm(np.array([40.0]), params, CU_KA1)[0] == pytest.approx(combined)
    assert abs(measured_fwhm(X, y) - combined) < STEP


def tetragonal() -> Crystal:
    """One atom in a 4 x 4 x 6 Angstrom tetragonal cell (P4/mmm)."""
    return Crystal(
        lattice=np.diag([4.0, 4.0, 6.0]),
        frac_coords=np.zeros((1, 3)),
        elements=("Cu",),
        occupancies=np.ones(1),
        b_iso=np.zeros(1),
        name="tP1",
    )


def test_march_dollase_factors() -> None:
    peaks = compute_peaks(tetragonal())
    r = 0.8
    factors = march_dollase_factors(peaks, (0, 0, 1), r)
    hkl = [tuple(h) for h in peaks.hkl]
    assert factors[hkl.index((0, 0, 2))] == pytest.approx(r**-3)  # along the axis
    assert factors[hkl.index((1, 0, 0))] == pytest.approx(r**1.5)  # perpendicular
    # (1 0 1): every reflection of the peak has cos^2 alpha = (1/36) / (1/16 + 1/36).
    cos2 = (1 / 36) / (1 / 16 + 1 / 36)
    assert factors[hkl.index((1, 0, 1))] == pytest.approx((r * r * cos2 + (1 - cos2) / r) ** -1.5)
    np.testing.assert_allclose(march_dollase_factors(peaks, (0, 0, 1), 1.0), 1.0)
    # Rendered: the 002 / 100 area ratio grows by r^-3 / r^1.5.
    params = dataclasses.replace(BASE, march_dollase_r=r)
    plain = render_pattern(peaks.two_theta, peaks.intensity, GRID, BASE, None, noise=False)
    oriented = render_pattern(
        peaks.two_theta, peaks.intensity, GRID, params, None, noise=False, peak_list=peaks
    )
    t002, t100 = peaks.two_theta[hkl.index((0, 0, 2))], peaks.two_theta[hkl.index((1, 0, 0))]

    def ratio(y: np.ndarray, intensity: np.ndarray, params: ProfileParams) -> float:
        """002 / 100 area ratio, each area divided by the share the renderer draws."""
        kept = kept_share(peaks.two_theta, intensity, params)
        area_002 = y[window(t002, 0.5)].sum() / kept[hkl.index((0, 0, 2))]
        return float(area_002 / (y[window(t100, 0.5)].sum() / kept[hkl.index((1, 0, 0))]))

    assert ratio(oriented, peaks.intensity * factors, params) / ratio(
        plain, peaks.intensity, BASE
    ) == pytest.approx(r**-4.5, rel=1e-3)
    with pytest.raises(ValueError, match="PeakList"):
        render_pattern(peaks.two_theta, peaks.intensity, GRID, params, None, noise=False)


def test_impurity_phase_at_its_fraction() -> None:
    params = dataclasses.replace(BASE, impurity_fraction=0.05)
    main = (np.array([30.0, 50.0]), np.array([100.0, 50.0]))
    impurity = (np.array([40.0, 70.0]), np.array([10.0, 4.0]))
    y = render_pattern(*main, GRID, params, None, noise=False, impurity=impurity)
    # Integrated intensities of the drawn peaks: 100, 50 (main), 5, 2 (impurity).
    angles = np.array([30.0, 50.0, 40.0, 70.0])
    kept = kept_share(angles, np.array([100.0, 50.0, 5.0, 2.0]), params)
    strongest = y[window(30.0, 1.0)].sum() / kept[0]
    assert y[window(40.0, 1.0)].sum() / kept[2] / strongest == pytest.approx(0.05, rel=1e-4)
    assert y[window(70.0, 1.0)].sum() / kept[3] / strongest == pytest.approx(0.02, rel=1e-4)
    with pytest.raises(ValueError, match="impurity"):
        render_pattern(*main, GRID, params, None, noise=False)
