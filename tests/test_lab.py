"""Laboratory-like training patterns: each augmentation, the renderer, switches, seeds, pickling."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from xrdsym.patterns.augment import (
    add_impurity,
    air_scatter,
    amorphous_humps,
    angular_trend_factors,
    coarse_measurement,
    displacement_factor,
    strain_peaks,
    texture_scatter_factors,
)
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.patterns.lab import (
    AUGMENTATION_FAMILIES,
    LAB_RANGES,
    RANGE_FAMILIES,
    LabAugmentation,
    LabRenderer,
    ka2_companion,
    lab_renderer,
    render_expected,
)
from xrdsym.patterns.profile import peak_fwhm, render_pattern
from xrdsym.patterns.profile_params import PAPER_RANGES, ProfileParams, sample_profile_params
from xrdsym.wavelengths import CU_KA1, KA2_RATIO, ka2_wavelength

GRID = PAPER_GRID
X = GRID.two_theta()
STEP = GRID.step
FLAT = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

#: Profile ranges without randomness or effects: FWHM = sqrt(W) = 0.05 degrees at every
#: angle, no background, 1e8 counts (Poisson noise 1e-4 of the top), so that each
#: augmentation can be seen alone.
QUIET = dataclasses.replace(
    LAB_RANGES,
    u=(1e-12, 1e-12),
    v_ratio=(0.0, 0.0),
    w=(0.0025, 0.0025),
    eta=(0.5, 0.5),
    background_level=(0.0, 0.0),
    counts=(1e8, 1e8),
    ka2_probability=0.0,
    zero_shift_probability=0.0,
    displacement_probability=0.0,
    crystallite_size_probability=0.0,
)

#: Every augmentation off.
NONE = LabAugmentation(**{name: 0.0 for name in AUGMENTATION_FAMILIES.values()})

#: Two main peaks of equal intensity.
MAIN_TT = np.array([20.0, 100.0])
MAIN_I = np.array([100.0, 100.0])


class TinyPool:
    """A two-structure PeakSource (module level, so it pickles)."""

    def __init__(self) -> None:
        self._peaks = [
            (np.array([33.3, 47.1], dtype=np.float32), np.array([100.0, 40.0], dtype=np.float32)),
            (np.array([33.3, 47.1], dtype=np.float32), np.array([100.0, 40.0], dtype=np.float32)),
        ]

    def __len__(self) -> int:
        return len(self._peaks)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self._peaks[index]

    def space_group(self, index: int) -> int:
        return 225


def only(family: str, **ranges: object) -> LabRenderer:
    """A quiet renderer with one augmentation family always on."""
    aug = dataclasses.replace(NONE, **{AUGMENTATION_FAMILIES[family]: 1.0}, **ranges)
    pool = TinyPool() if family == "impurity" else None
    return LabRenderer(ranges=QUIET, augmentation=aug, impurity_pool=pool)


def local_maxima(y: np.ndarray, floor: float) -> np.ndarray:
    """Grid angles of the local maxima of y above ``floor``."""
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > floor)
    return X[1:-1][inner]


def height_near(y: np.ndarray, centre: float, half_width: float = 0.3) -> float:
    """Largest value of y within centre +/- half_width degrees."""
    return float(y[np.abs(X - centre) <= half_width].max())


# --- peak-list augmentations -------------------------------------------------------------------


def test_strain_moves_peak_to_bragg_position() -> None:
    # Cu K-alpha1, 2theta = 50 degrees: d = 1.82264 A; d (1.005) -> 2theta = 49.73430 degrees.
    tt, inten = strain_peaks(np.array([50.0]), np.array([7.0]), 0.005, CU_KA1)
    assert tt[0] == pytest.approx(49.734298, abs=1e-5)
    assert inten[0] == 7.0
    # A compressed cell pushes a back-reflection beyond 180 degrees: that peak is dropped.
    tt, inten = strain_peaks(np.array([40.0, 179.5]), np.array([1.0, 2.0]), -0.005, CU_KA1)
    assert tt.shape == (1,) and inten.tolist() == [1.0]


def test_strain_in_renderer_stays_on_bragg_positions() -> None:
    renderer = only("strain")
    one = (np.array([50.0]), np.array([100.0]))
    implied = []
    for seed in range(6):
        counts = renderer(*one, GRID, np.random.default_rng(seed))
        top = X[int(np.argmax(counts))]
        # sin(theta0) / sin(theta) = 1 + e; the grid step bounds |e| resolution to 2e-4 here.
        implied.append(np.sin(np.radians(25.0)) / np.sin(np.radians(top / 2.0)) - 1.0)
    implied_e = np.array(implied)
    assert np.all(np.abs(implied_e) <= 0.007 + 2e-4)
    assert np.ptp(implied_e) > 1e-3  # a different strain per pattern


def test_displacement_factor_formula() -> None:
    # 2theta = 90: s = sin 45 / 1.540562 = 0.458993 1/A; B = 2 -> exp(-4 s^2) = 0.430548.
    factor = displacement_factor(np.array([0.0, 90.0]), 2.0, CU_KA1)
    np.testing.assert_allclose(factor, [1.0, 0.430548], atol=1e-6)


def test_displacement_b_lowers_high_angle_peak_by_the_formula() -> None:
    base = LabRenderer(ranges=QUIET, augmentation=NONE)(
        MAIN_TT, MAIN_I, GRID, np.random.default_rng(0)
    )
    assert height_near(base, 100.0) / height_near(base, 20.0) == pytest.approx(1.0, abs=1e-3)
    renderer = only("displacement_b")
    s2 = (np.sin(np.radians(MAIN_TT / 2.0)) / CU_KA1) ** 2
    for seed in range(4):
        counts = renderer(MAIN_TT, MAIN_I, GRID, np.random.default_rng(seed))
        ratio = height_near(counts, 100.0) / height_near(counts, 20.0)
        # Equal widths, so heights scale as intensities: ratio = exp(-2 B (s2^2 - s1^2)).
        b = -np.log(ratio) / (2.0 * (s2[1] - s2[0]))
        assert -0.01 <= b <= 2.5 + 0.01
        assert ratio < 1.0 or b < 0.01


def test_texture_scatter_factors_and_positions() -> None:
    np.testing.assert_allclose(
        texture_scatter_factors(np.array([0.0, 1.0, -2.0]), 0.1), [1.0, 10**0.1, 10**-0.2]
    )
    draws = np.random.default_rng(0).standard_normal(20000)
    spread = np.std(np.log10(texture_scatter_factors(draws, 0.15)))
    assert spread == pytest.approx(0.15, rel=0.02)
    tt = np.array([20.0, 35.0, 61.0, 88.0])
    base = LabRenderer(ranges=QUIET, augmentation=NONE)(
        tt, np.full(4, 50.0), GRID, np.random.default_rng(1)
    )
    counts = only("texture")(tt, np.full(4, 50.0), GRID, np.random.default_rng(1))
    np.testing.assert_allclose(local_maxima(counts, 1e6), local_maxima(base, 1e6))
    heights = [height_near(counts, t) for t in tt]
    assert np.ptp(np.log10(heights)) > 0.01  # the peaks no longer share one height


def test_angular_trend_is_smooth_and_centred() -> None:
    factors = angular_trend_factors(np.array([10.0, 60.0, 110.0]), GRID, 0.385)
    np.testing.assert_allclose(factors, [np.exp(-0.385), 1.0, np.exp(0.385)])


def test_impurity_adds_peaks_at_impurity_positions() -> None:
    tt, inten = add_impurity(MAIN_TT, MAIN_I, (np.array([33.3]), np.array([50.0])), 0.05)
    np.testing.assert_allclose(tt, [20.0, 100.0, 33.3])
    np.testing.assert_allclose(inten, [100.0, 100.0, 5.0])
    renderer = only("impurity", impurity_fraction=(0.05, 0.05))
    counts = renderer(MAIN_TT, MAIN_I, GRID, np.random.default_rng(2))
    top = height_near(counts, 20.0)
    maxima = local_maxima(counts, 0.005 * top)
    assert [round(float(m), 2) for m in maxima] == [20.0, 33.3, 47.1, 100.0]
    # Equal widths: heights scale as intensities, 5 % and 2 % of the main strongest peak.
    assert height_near(counts, 33.3) / top == pytest.approx(0.05, rel=0.01)
    assert height_near(counts, 47.1) / top == pytest.approx(0.02, rel=0.02)


# --- pattern augmentations ---------------------------------------------------------------------


def test_air_scatter_decays_from_grid_start() -> None:
    values = air_scatter(GRID, 0.2, 5.0)
    assert values[0] == pytest.approx(0.2)
    assert values[np.searchsorted(X, 15.0)] == pytest.approx(0.2 / np.e, rel=1e-6)
    assert np.all(np.diff(values) < 0.0)


def test_humps_have_documented_height_and_width() -> None:
    values = amorphous_humps(GRID, np.array([25.0]), np.array([10.0]), np.array([0.3]))
    assert values[np.searchsorted(X, 25.0)] == pytest.approx(0.3)
    assert values[np.searchsorted(X, 30.0)] == pytest.approx(0.15, rel=1e-6)
    two = amorphous_humps(GRID, np.array([20.0, 60.0]), np.array([5.0, 5.0]), np.array([1.0, 2.0]))
    assert two[np.searchsorted(X, 60.0)] == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("family", ["air_scatter", "humps"])
def test_background_families_raise_the_background(family: str) -> None:
    base = LabRenderer(ranges=QUIET, augmentation=NONE)(
        MAIN_TT, MAIN_I, GRID, np.random.default_rng(3)
    )
    counts = only(family)(MAIN_TT, MAIN_I, GRID, np.random.default_rng(3))
    extra = (counts - base) / 1e8  # fraction of the strongest peak
    off_peak = np.abs(X - 20.0) > 1.0
    if family == "air_scatter":
        # A in 0.01-0.3 at 10 degrees, tau <= 20 degrees: below A exp(-4) at 90 degrees.
        assert 0.01 - 1e-3 <= extra[0] <= 0.3 + 1e-3
        assert extra[np.searchsorted(X, 90.0)] < extra[0] * np.exp(-4.0) + 1e-3
    else:
        # Hump heights 0.02-0.5 centred at 15-35 degrees, FWHM <= 15: gone by 80 degrees.
        peak = float(extra[off_peak & (X > 12.0) & (X < 40.0)].max())
        assert 0.02 - 1e-3 <= peak <= 1.0 + 1e-3
        assert abs(extra[np.searchsorted(X, 80.0)]) < 1e-3


def test_coarse_step_removes_finer_detail() -> None:
    fast = np.sin(2.0 * np.pi * X / 0.04)  # period 0.04 degrees, two periods per 0.08 step
    slow = np.sin(2.0 * np.pi * X / 10.0)
    assert np.abs(coarse_measurement(GRID, fast, 0.08)[10:-10]).max() < 0.05
    # The end cells are half cells (clipped to the grid), whose mean sits off their point.
    np.testing.assert_allclose(
        coarse_measurement(GRID, slow, 0.08)[10:-10], slow[10:-10], atol=0.003
    )
    # A sharp peak (FWHM 0.02) loses height, a broad one (FWHM 1) keeps height and area.
    params = ProfileParams(
        u=0.0, v=0.0, w=0.02**2, eta=0.5, background_coeffs=FLAT, background_level=0.0, counts=1.0
    )
    sharp = render_pattern(np.array([40.0]), np.array([1.0]), GRID, params, None, noise=False)
    broad = render_pattern(
        np.array([40.0]),
        np.array([1.0]),
        GRID,
        dataclasses.replace(params, w=1.0),
        None,
        noise=False,
    )
    assert coarse_measurement(GRID, sharp, 0.1).max() < 0.4
    assert coarse_measurement(GRID, broad, 0.1).max() == pytest.approx(1.0, rel=0.01)
    assert coarse_measurement(GRID, broad, 0.1).sum() == pytest.approx(broad.sum(), rel=1e-3)


# --- rendering ---------------------------------------------------------------------------------


def test_ka2_companion_at_bragg_position() -> None:
    params = ProfileParams(
        u=0.0, v=0.0, w=0.3**2, eta=0.5, background_coeffs=FLAT, background_level=0.0, counts=1.0
    )
    ka1 = render_pattern(np.array([80.0]), np.array([1.0]), GRID, params, None, noise=False)
    companion = ka2_companion(ka1, GRID)
    sine = np.sin(np.radians(40.0)) * ka2_wavelength(CU_KA1) / CU_KA1
    expected = 2.0 * np.degrees(np.arcsin(sine))  # 80.2286 degrees
    assert abs(X[int(np.argmax(companion))] - expected) <= STEP
    assert companion.max() == pytest.approx(KA2_RATIO, rel=0.01)


def test_render_expected_matches_render_pattern() -> None:
    rng = np.random.default_rng(4)
    tt = np.sort(rng.uniform(12.0, 108.0, 60))
    inten = rng.uniform(1.0, 100.0, 60)
    sharp = ProfileParams(
        u=0.003,
        v=-0.001,
        w=0.001,
        eta=0.6,
        background_coeffs=FLAT,
        background_level=0.05,
        counts=1e4,
    )
    np.testing.assert_allclose(
        render_expected(tt, inten, GRID, sharp),
        render_pattern(tt, inten, GRID, sharp, None, noise=False),
        rtol=1e-9,
        atol=1e-9,
    )
    for _ in range(10):  # broad, K-alpha2: drawn on a coarser grid, doublet as a shifted copy
        params = dataclasses.replace(sample_profile_params(rng, LAB_RANGES), ka2=True)
        exact = render_pattern(tt, inten, GRID, params, None, noise=False)
        fast = render_expected(tt, inten, GRID, params)
        assert np.abs(fast - exact)[5:].max() <= 0.015 * params.counts


def test_lab_ranges_cover_measured_widths() -> None:
    rng = np.random.default_rng(5)
    angles = np.array([30.0, 90.0])
    fwhm = np.array(
        [peak_fwhm(angles, sample_profile_params(rng, LAB_RANGES), CU_KA1) for _ in range(1000)]
    )
    # Measured FWHM(30) 0.066-1.63 degrees, FWHM(90) 0.10-2.27 (docs/measured_vs_simulated.md).
    assert fwhm[:, 0].min() < 0.066 and fwhm[:, 0].max() > 1.5
    assert fwhm[:, 1].min() < 0.10 and fwhm[:, 1].max() > 2.0
    paper = np.array(
        [peak_fwhm(angles, sample_profile_params(rng, PAPER_RANGES), CU_KA1) for _ in range(300)]
    )
    assert paper[:, 0].max() < 0.2  # the paper's widths never reach the broad lab scans


# --- switches, seeds, pickling -----------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(AUGMENTATION_FAMILIES))
def test_switched_off_family_is_left_out(family: str) -> None:
    one = (np.array([20.0, 40.0, 100.0]), np.array([100.0, 50.0, 80.0]))
    base = LabRenderer(ranges=QUIET, augmentation=NONE)(*one, GRID, np.random.default_rng(6))
    on = only(family)
    off = dataclasses.replace(
        on,
        augmentation=dataclasses.replace(on.augmentation, **{AUGMENTATION_FAMILIES[family]: 0.0}),
    )
    np.testing.assert_array_equal(off(*one, GRID, np.random.default_rng(6)), base)
    changed = on(*one, GRID, np.random.default_rng(6))
    assert np.abs(changed - base).max() > 1e-3 * 1e8


def test_lab_renderer_switches() -> None:
    renderer = lab_renderer(humps=False, ka2=False)
    default = LabAugmentation()
    assert renderer.augmentation == dataclasses.replace(default, hump_probability=0.0)
    assert renderer.ranges == dataclasses.replace(LAB_RANGES, ka2_probability=0.0)
    assert lab_renderer(strain=True) == LabRenderer()
    assert set(RANGE_FAMILIES) == {"ka2", "zero_shift", "displacement", "size_broadening"}
    with pytest.raises(ValueError, match="unknown augmentation families"):
        lab_renderer(sharpening=False)


def test_renderer_rejects_ranges_it_cannot_serve() -> None:
    with pytest.raises(ValueError, match="preferred orientation"):
        LabRenderer(ranges=dataclasses.replace(LAB_RANGES, preferred_orientation_probability=0.5))
    with pytest.raises(ValueError, match="impurity"):
        LabRenderer(ranges=dataclasses.replace(LAB_RANGES, impurity_probability=0.2))


def test_same_seed_same_pattern_and_pickles() -> None:
    renderer = lab_renderer(impurity_pool=TinyPool())
    one = (np.array([18.0, 31.5, 44.2, 75.0]), np.array([100.0, 20.0, 60.0, 10.0]))
    first = renderer(*one, GRID, np.random.default_rng(7))
    assert first.shape == (GRID.n_points,) and first.dtype == np.float64
    np.testing.assert_array_equal(renderer(*one, GRID, np.random.default_rng(7)), first)
    assert not np.array_equal(renderer(*one, GRID, np.random.default_rng(8)), first)
    copy = pickle.loads(pickle.dumps(renderer))
    np.testing.assert_array_equal(copy(*one, GRID, np.random.default_rng(7)), first)


@pytest.mark.parametrize("family", sorted(AUGMENTATION_FAMILIES))
def test_every_family_keeps_the_label(family: str) -> None:
    """The training item's label is the main phase's, whatever an augmentation does."""
    from xrdsym.training.data import RenderedPatterns

    class Labelled(TinyPool):
        def space_group(self, index: int) -> int:
            return (62, 14)[index]

    renderer = dataclasses.replace(only(family), impurity_pool=TinyPool())  # impurity: Fm-3m
    data = RenderedPatterns(Labelled(), GRID, seed=1, renderer=renderer)
    for index, group in enumerate((62, 14)):
        pattern, label = data[(0, index)]
        assert label == group - 1 and pattern.shape == (1, GRID.n_points)
