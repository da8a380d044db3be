"""Line fits and K-alpha2 stripping of the peak search (xrdsym.indexing.peak_fit, kalpha2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize._numdiff import approx_derivative

from xrdsym.indexing.blends import width_trend
from xrdsym.indexing.kalpha2 import anode_doublet, rachinger_strip
from xrdsym.indexing.peak_fit import (
    ClusterModel,
    Companion,
    LineGuess,
    fit_cluster,
    height_to_area,
    pseudo_voigt,
)
from xrdsym.indexing.peaks import PeakSearchOptions, lines_to_fit, search_peaks
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.wavelengths import CU_KA1, KA2_RATIO

STEP = 0.01


def _cu_ratio() -> float:
    lines = anode_doublet(CU_KA1)
    assert lines is not None
    return lines[1] / lines[0]


@pytest.mark.parametrize("companion", [None, Companion(1.0025, 0.5)])
def test_cluster_jacobian_is_the_derivative_of_the_model(companion: Companion | None) -> None:
    x = np.arange(40.0, 42.0, STEP)
    model = ClusterModel(x, 2, 41.0, STEP, companion)
    p = np.array([40.8, 3.0, 0.4, 41.3, 1.0, 0.5, 0.7, 0.1, 0.2])
    numeric = approx_derivative(model.values, p, method="3-point")
    assert np.allclose(model.jacobian(p), numeric, atol=1e-5 * np.abs(numeric).max())


@pytest.mark.parametrize("eta", [0.0, 0.4, 1.0])
def test_fit_recovers_two_overlapping_lines_with_eta_at_its_limits(eta: float) -> None:
    """Pure Gaussian and pure Lorentzian lines: eta = sin^2 t stays inside [0, 1]."""
    x = np.arange(30.0, 32.0, STEP)
    truth = [(30.9, 1000.0, 0.12), (31.05, 400.0, 0.12)]
    y = np.sum([pseudo_voigt(x, c, height_to_area(h, w, eta), w, eta) for c, h, w in truth], 0)
    y = y + np.random.default_rng(0).normal(0.0, 2.0, x.size)
    guesses = [LineGuess(c + 0.02, 0.8 * h, 1.3 * w) for c, h, w in truth]
    fitted = fit_cluster(x, y, guesses, STEP)
    for peak, (c, h, w) in zip(fitted, truth, strict=True):
        assert abs(peak.two_theta - c) < 0.003
        assert abs(peak.fwhm - w) < 0.01
        assert abs(peak.height - h) < 0.05 * h
        assert 0.0 < peak.sigma < 0.003


def test_a_line_narrower_than_a_step_keeps_a_width_of_a_step() -> None:
    x = np.arange(30.0, 31.0, STEP)
    y = np.where(np.abs(x - 30.5) < STEP / 2, 500.0, 0.0)
    (peak,) = fit_cluster(x, y, [LineGuess(30.5, 500.0, STEP)], STEP)
    assert abs(peak.two_theta - 30.5) < STEP
    assert peak.fwhm >= STEP


@pytest.mark.parametrize(("step", "tolerance"), [(0.01, 0.005), (0.04, 0.03)])
def test_rachinger_strip_leaves_the_kalpha1_lines(step: float, tolerance: float) -> None:
    """Lines 0.15 degrees wide: what is left of K-alpha2 is the error of interpolating
    between points (0.2 % of the top at 0.01-degree steps, 2.3 % at 0.04)."""
    ratio = _cu_ratio()
    x = np.arange(10.0, 110.0, step)
    centres, fwhm = np.array([25.0, 60.0, 95.0]), 0.15
    kalpha1 = np.sum([pseudo_voigt(x, c, 1.0, fwhm, 0.5) for c in centres], axis=0)
    companions = bragg_shift(centres, ratio)
    kalpha2 = np.sum([pseudo_voigt(x, c, 1.0, fwhm, 0.5) for c in companions], axis=0)
    stripped = rachinger_strip(x, kalpha1 + KA2_RATIO * kalpha2, ratio)
    top = float(kalpha1.max())
    assert np.abs(stripped - kalpha1).max() < tolerance * top


def test_width_trend_follows_caglioti_and_ignores_a_blend() -> None:
    two_theta = np.linspace(15.0, 100.0, 12)
    t = np.tan(np.radians(two_theta) / 2.0)
    fwhm = np.sqrt(0.02 * t * t - 0.01 * t + 0.005)
    widened = fwhm.copy()
    widened[5] *= 2.5  # one blend
    trend = width_trend(two_theta, widened)
    assert trend is not None
    assert np.allclose(trend, fwhm, rtol=1e-6)
    assert width_trend(two_theta[:4], fwhm[:4]) is None


def _blend_profile() -> tuple[np.ndarray, np.ndarray]:
    """Eight lines 0.1 degrees wide and, at 45 degrees, two lines 0.08 degrees apart
    (3000 and 1800 counts high) on a background of 50 counts, Poisson noise."""
    x = np.arange(10.0, 90.0, STEP)
    lines = [(c, 1000.0) for c in (15.0, 22.0, 30.0, 38.0, 52.0, 60.0, 70.0, 80.0)]
    lines += [(45.0, 3000.0), (45.08, 1800.0)]
    y = 50.0 + np.sum(
        [pseudo_voigt(x, c, height_to_area(h, 0.1, 0.5), 0.1, 0.5) for c, h in lines], axis=0
    )
    return x, np.random.default_rng(3).poisson(y).astype(np.float64)


def test_a_blend_is_split_into_its_two_lines() -> None:
    x, y = _blend_profile()
    split = search_peaks(x, y, CU_KA1, options=PeakSearchOptions(kalpha2="off"))
    near = sorted(p.two_theta for p in split.peaks if 44.8 < p.two_theta < 45.3)
    assert len(near) == 2
    assert abs(near[0] - 45.0) < 0.015 and abs(near[1] - 45.08) < 0.015
    assert any("1 split in two" in e for e in split.events)


def test_an_unsplit_blend_keeps_its_detected_maximum() -> None:
    x, y = _blend_profile()
    options = PeakSearchOptions(kalpha2="off", split_f=0.0, blends=False)
    centroid = [p.two_theta for p in search_peaks(x, y, CU_KA1, options=options).peaks]
    options = PeakSearchOptions(kalpha2="off", split_f=0.0)
    result = search_peaks(x, y, CU_KA1, options=options)
    maximum = [p.two_theta for p in result.peaks]
    (blend,) = [p for p in centroid if 44.8 < p < 45.3]
    (kept,) = [p for p in maximum if 44.8 < p < 45.3]
    assert abs(kept - 45.0) < abs(blend - 45.0)  # nearer the stronger part
    assert any("1 kept at their maxima" in e for e in result.events)


def test_only_the_first_and_the_strong_lines_are_fitted() -> None:
    guesses = [LineGuess(10.0 + k, 100.0 if k == 8 else 5.0, 0.1) for k in range(10)]
    selected = lines_to_fit(guesses, PeakSearchOptions(fit_first=3, fit_strong=0.5))
    assert list(np.flatnonzero(selected)) == [0, 1, 2, 8]
