"""The shared rendering helpers: Bragg shift, wavelength limits, log-uniform draws, the
pseudo-Voigt shape, the renderer factory, and the lab renderer built on the profile steps.

Where a helper replaced a formula written out in several modules, the test writes that formula
out once more and checks the helper against it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from xrdsym.patterns.augment import strain_peaks
from xrdsym.patterns.bragg import bragg_shift, bragg_shift_kept
from xrdsym.patterns.effects import ka2_doublet
from xrdsym.patterns.grid import PAPER_GRID, Grid
from xrdsym.patterns.lab import LabRenderer, ka2_companion, lab_renderer, render_expected
from xrdsym.patterns.prepare import convert_two_theta
from xrdsym.patterns.profile import (
    GAUSS_EXPONENT,
    GAUSS_NORM,
    LORENTZ_NORM,
    ProfileRenderer,
    background,
    pseudo_voigt_shape,
    render_pattern,
)
from xrdsym.patterns.profile_params import (
    PAPER_RANGES,
    REALISTIC_RANGES,
    ProfileParams,
    log_uniform,
    sample_profile_params,
)
from xrdsym.patterns.renderers import RENDERER_NAMES, make_renderer
from xrdsym.wavelengths import (
    CU_KA1,
    WAVELENGTH_LIMITS,
    check_wavelength,
    ka2_wavelength,
    wavelength_from_name,
)

ANGLES = np.linspace(5.0, 175.0, 341)
PEAKS_TT = np.array([21.3, 28.7, 33.1, 40.2, 47.9, 56.4, 69.0, 88.2, 104.5])
PEAKS_I = np.array([100.0, 35.0, 60.0, 12.0, 48.0, 20.0, 9.0, 15.0, 4.0])


def test_bragg_shift_keeps_the_d_spacing() -> None:
    # d = lambda1 / (2 sin theta1) must equal lambda2 / (2 sin theta2).
    lam1, lam2 = CU_KA1, 0.7093
    shifted = bragg_shift(ANGLES, lam2 / lam1)
    d1 = lam1 / (2.0 * np.sin(np.radians(ANGLES) / 2.0))
    d2 = lam2 / (2.0 * np.sin(np.radians(shifted) / 2.0))
    np.testing.assert_allclose(d2, d1, rtol=1e-12)


def test_bragg_shift_marks_angles_without_reflection() -> None:
    shifted = bragg_shift(np.array([30.0, 120.0, 170.0]), 1.5)
    assert np.isfinite(shifted[0]) and np.isnan(shifted[1:]).all()
    kept, keep = bragg_shift_kept(np.array([30.0, 120.0, 170.0]), 1.5)
    assert keep.tolist() == [True, False, False] and kept.shape == (1,)
    same = np.array([10.0, 50.0])
    assert bragg_shift(same, 1.0) is not same and bragg_shift(same, 1.0).tolist() == [10.0, 50.0]


def test_strain_peaks_is_the_d_spacing_formula() -> None:
    # d -> d (1 + e), sin(theta') = lambda / (2 d (1 + e)), written out with d.
    for strain in (-0.006, 0.004):
        d = CU_KA1 / (2.0 * np.sin(np.radians(ANGLES) / 2.0))
        sine = CU_KA1 / (2.0 * d * (1.0 + strain))
        keep = sine < 1.0
        expected = 2.0 * np.degrees(np.arcsin(sine[keep]))
        tt, inten = strain_peaks(ANGLES, np.ones_like(ANGLES), strain, CU_KA1)
        np.testing.assert_allclose(tt, expected, rtol=0, atol=1e-12)
        assert inten.shape == expected.shape


def test_ka2_doublet_and_companion_use_the_same_shift() -> None:
    lam2 = ka2_wavelength(CU_KA1)
    tt, inten = ka2_doublet(PEAKS_TT, PEAKS_I, CU_KA1)
    sine = np.sin(np.radians(PEAKS_TT) / 2.0) * (lam2 / CU_KA1)
    np.testing.assert_array_equal(tt[len(PEAKS_TT) :], np.degrees(2.0 * np.arcsin(sine)))
    np.testing.assert_array_equal(inten[len(PEAKS_I) :], 0.5 * PEAKS_I)
    # The companion of a pattern maps each K-alpha2 angle back to its K-alpha1 angle.
    grid = PAPER_GRID
    x = grid.two_theta()
    step_pattern = (x >= 60.0).astype(np.float64)
    edge = float(x[np.argmax(ka2_companion(step_pattern, grid) > 0.25)])
    assert edge == pytest.approx(float(bragg_shift(np.array([60.0]), lam2 / CU_KA1)[0]), abs=0.01)


def test_convert_two_theta_is_the_bragg_shift() -> None:
    kept, _ = bragg_shift_kept(ANGLES, 0.7093 / CU_KA1)
    np.testing.assert_array_equal(convert_two_theta(ANGLES, CU_KA1, 0.7093), kept)


def test_wavelength_limits_are_one_rule() -> None:
    low, high = WAVELENGTH_LIMITS
    assert check_wavelength(low) == low and check_wavelength(high) == high
    for bad in (0.05, 5.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="outside"):
            check_wavelength(bad)
        with pytest.raises(ValueError, match="outside"):
            wavelength_from_name(str(bad))
    assert wavelength_from_name("MoKa1") == pytest.approx(0.7093)


def test_log_uniform_scalar_and_array_draws() -> None:
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    one = log_uniform(a, (1e3, 1e5))
    assert isinstance(one, float) and one == float(np.exp(b.uniform(np.log(1e3), np.log(1e5))))
    many = log_uniform(np.random.default_rng(5), (0.01, 1.0), size=20000)
    logs = np.log10(many)
    assert many.shape == (20000,) and logs.min() >= -2.0 and logs.max() <= 0.0
    assert np.mean(logs < -1.0) == pytest.approx(0.5, abs=0.02)  # each decade equally likely


def test_pseudo_voigt_shape_has_unit_area_and_the_fwhm() -> None:
    u = np.linspace(-2000.0, 2000.0, 4_000_001)
    for eta in (0.0, 0.4, 1.0):
        shape = pseudo_voigt_shape(u * u, eta)
        assert float(shape.sum() * (u[1] - u[0])) == pytest.approx(1.0, abs=5e-4)
        top = float(pseudo_voigt_shape(np.array([0.0]), eta)[0])
        half = float(pseudo_voigt_shape(np.array([0.25]), eta)[0])
        assert half == pytest.approx(top / 2.0, rel=1e-12)
        assert top == pytest.approx(eta * LORENTZ_NORM + (1 - eta) * GAUSS_NORM)
    assert np.log(2.0) * 4.0 == pytest.approx(GAUSS_EXPONENT)


def _render_expected_written_out(
    tt: np.ndarray, ii: np.ndarray, grid: Grid, params: ProfileParams
) -> np.ndarray:
    """The K-alpha2 copy branch of ``render_expected`` with every step written out."""
    from xrdsym.patterns.lab import narrowest_fwhm, render_grid

    drawn_on = render_grid(grid, narrowest_fwhm(grid, params))
    single = dataclasses.replace(params, ka2=False, background_level=0.0)
    values = render_pattern(tt, ii, drawn_on, single, None, noise=False)
    values += ka2_companion(values, drawn_on)
    values *= params.counts / float(values.max())
    values += params.background_level * params.counts * background(drawn_on, params)
    return np.interp(grid.two_theta(), drawn_on.two_theta(), values)


def test_lab_rendering_is_the_profile_rendering_plus_its_copy() -> None:
    # Without K-alpha2 on the full grid the lab expectation is render_pattern's, bit for bit.
    rng = np.random.default_rng(2)
    params = dataclasses.replace(sample_profile_params(rng, PAPER_RANGES), ka2=False)
    sharp = dataclasses.replace(params, u=1e-4, v=0.0, w=1e-4)
    np.testing.assert_array_equal(
        render_expected(PEAKS_TT, PEAKS_I, PAPER_GRID, sharp),
        render_pattern(PEAKS_TT, PEAKS_I, PAPER_GRID, sharp, None, noise=False),
    )
    broad = dataclasses.replace(params, ka2=True, u=0.05, w=0.02)
    got = render_expected(PEAKS_TT, PEAKS_I, PAPER_GRID, broad)
    want = _render_expected_written_out(PEAKS_TT, PEAKS_I, PAPER_GRID, broad)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * float(want.max()))


def test_factory_builds_each_renderer_and_refuses_foreign_options() -> None:
    assert RENDERER_NAMES == ("paper", "lab")
    assert make_renderer("paper") == ProfileRenderer()
    assert make_renderer("paper", profile={"eta": (0.5, 0.5)}) == ProfileRenderer(
        {"eta": (0.5, 0.5)}
    )
    assert make_renderer("lab") == lab_renderer()
    assert make_renderer("lab", lab_off=["humps", "ka2"]) == lab_renderer(humps=False, ka2=False)
    with pytest.raises(ValueError, match="unknown renderer 'nope'"):
        make_renderer("nope")
    with pytest.raises(ValueError, match="paper renderer"):
        make_renderer("paper", lab_off=["ka2"])
    with pytest.raises(ValueError, match="lab renderer"):
        make_renderer("lab", profile={"eta": (0.5, 0.5)})
    with pytest.raises(ValueError, match="unknown augmentation families"):
        make_renderer("lab", lab_off=["sharpening"])


def test_profile_renderer_is_sample_then_render() -> None:
    overrides = {"ka2_probability": 1.0}
    got = ProfileRenderer(overrides)(PEAKS_TT, PEAKS_I, PAPER_GRID, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    params = sample_profile_params(rng, dataclasses.replace(PAPER_RANGES, **overrides))
    np.testing.assert_array_equal(got, render_pattern(PEAKS_TT, PEAKS_I, PAPER_GRID, params, rng))
    assert REALISTIC_RANGES.ka2_probability > 0.0
    assert isinstance(make_renderer("lab"), LabRenderer)
