"""Preparation of measured patterns for the model: wavelength conversion, resampling, ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import PatternFileError
from xrdsym.io import Pattern, read_pattern
from xrdsym.patterns.grid import PAPER_GRID, Grid
from xrdsym.patterns.prepare import (
    MIN_COVERAGE,
    convert_two_theta,
    normalize_intensity,
    prepare_pattern,
    resample_to_grid,
    truncate_range,
)
from xrdsym.wavelengths import CU_KA1, K_ALPHA1

MO_KA1 = K_ALPHA1["Mo"]
PATTERNS = Path(__file__).resolve().parent / "data" / "patterns"

#: Synthetic d-spacings (Angstrom) of a made-up phase; all reflect below 110 deg with Cu.
D_SPACINGS = np.array([4.2, 3.5, 2.8, 2.1, 1.6, 1.3, 1.1])


def bragg_two_theta(d: np.ndarray, wavelength: float) -> np.ndarray:
    """2theta (degrees) of spacings d (Angstrom): 2 asin(lambda / 2d)."""
    return 2.0 * np.degrees(np.arcsin(wavelength / (2.0 * d)))


def gaussian_pattern(
    two_theta: np.ndarray, centres: np.ndarray, fwhm: float, background: float = 10.0
) -> np.ndarray:
    """Sum of unit-height Gaussians of the given FWHM (degrees) on a flat background."""
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    peaks = np.exp(-0.5 * ((two_theta[:, None] - centres[None, :]) / sigma) ** 2)
    return background + 1000.0 * peaks.sum(axis=1)


def make_pattern(
    two_theta: np.ndarray, intensity: np.ndarray, wavelength: float | None = None
) -> Pattern:
    return Pattern(two_theta, intensity, wavelength, source="synthetic", metadata={})


# --- wavelength conversion -----------------------------------------------------------------


def test_mo_peak_list_converts_to_cu_positions() -> None:
    mo = bragg_two_theta(D_SPACINGS, MO_KA1)
    np.testing.assert_allclose(
        convert_two_theta(mo, MO_KA1, CU_KA1), bragg_two_theta(D_SPACINGS, CU_KA1), atol=1e-9
    )


def test_conversion_round_trip_and_identity() -> None:
    cu = np.linspace(10.0, 110.0, 51)
    np.testing.assert_allclose(convert_two_theta(cu, CU_KA1, CU_KA1), cu, atol=1e-10)
    back = convert_two_theta(convert_two_theta(cu, CU_KA1, MO_KA1), MO_KA1, CU_KA1)
    np.testing.assert_allclose(back, cu, atol=1e-9)


def test_conversion_drops_reflections_beyond_180_degrees() -> None:
    # d = 0.75 A reflects at 2theta = 56.4 deg with Mo but cannot with Cu (lambda / 2d > 1)
    d = np.array([2.0, 1.0, 0.78, 0.75, 0.5])
    converted = convert_two_theta(bragg_two_theta(d, MO_KA1), MO_KA1, CU_KA1)
    assert converted.size == 3
    assert not np.any(np.isnan(converted))
    np.testing.assert_allclose(converted, bragg_two_theta(d[:3], CU_KA1), atol=1e-9)
    assert converted[-1] == pytest.approx(161.8, abs=0.1)


def test_conversion_rejects_non_positive_wavelength() -> None:
    with pytest.raises(ValueError, match="positive"):
        convert_two_theta(np.array([20.0]), 0.0, CU_KA1)


# --- normalisation and resampling ----------------------------------------------------------


def test_normalize_intensity_known_values_and_batches() -> None:
    np.testing.assert_array_equal(normalize_intensity(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1])
    batch = normalize_intensity(np.array([[2.0, 4.0, 6.0], [10.0, 0.0, 5.0], [3.0, 3.0, 3.0]]))
    assert batch.dtype == np.float32 and batch.shape == (3, 3)
    np.testing.assert_array_equal(batch, [[0, 0.5, 1], [1, 0, 0.5], [0, 0, 0]])


def test_resampling_reproduces_a_linear_profile() -> None:
    x = np.arange(5.0, 80.0, 0.05)  # coarser than the 0.01 deg grid: linear interpolation
    grid_x = PAPER_GRID.two_theta()
    values, mask = resample_to_grid(x, 3.0 * x + 1.0, grid_x, PAPER_GRID.step)
    inner = mask & (grid_x > 10.0) & (grid_x < x[-1] - 0.01)
    np.testing.assert_allclose(values[inner], 3.0 * grid_x[inner] + 1.0, rtol=0, atol=1e-8)
    assert not mask[grid_x > x[-1] + 1e-6].any() and np.all(values[~mask] == 0.0)


def test_resampling_averages_data_finer_than_the_grid() -> None:
    # alternating 4, 6 every 0.001 deg: point sampling would return 4 or 6, the cell mean 5
    x = np.arange(20.0, 60.0, 0.001)
    y = 5.0 + np.where(np.arange(x.size) % 2 == 0, -1.0, 1.0)
    grid_x = PAPER_GRID.two_theta()
    values, mask = resample_to_grid(x, y, grid_x, PAPER_GRID.step)
    inner = mask & (grid_x > 20.1) & (grid_x < 59.9)
    np.testing.assert_allclose(values[inner], 5.0, atol=0.01)


# --- preparation ---------------------------------------------------------------------------


def test_mo_pattern_maxima_land_on_cu_positions() -> None:
    mo_x = np.arange(4.0, 50.0, 0.005)
    mo_peaks = bragg_two_theta(D_SPACINGS, MO_KA1)
    pattern = make_pattern(mo_x, gaussian_pattern(mo_x, mo_peaks, fwhm=0.05), MO_KA1)
    prepared = prepare_pattern(pattern, PAPER_GRID)
    grid_x = PAPER_GRID.two_theta()
    for expected in bragg_two_theta(D_SPACINGS, CU_KA1):
        window = np.abs(grid_x - expected) < 0.5
        found = grid_x[window][np.argmax(prepared.values[window])]
        assert abs(found - expected) <= PAPER_GRID.step, (expected, found)
        assert prepared.values[window].max() > 0.5


def test_range_5_to_80_degrees_masks_and_zero_fills() -> None:
    x = np.arange(5.0, 80.0 + 1e-9, 0.02)
    peaks = bragg_two_theta(D_SPACINGS[:5], CU_KA1)
    prepared = prepare_pattern(make_pattern(x, gaussian_pattern(x, peaks, 0.1)), PAPER_GRID, CU_KA1)
    grid_x = PAPER_GRID.two_theta()
    assert prepared.values.dtype == np.float32 and prepared.values.shape == (10001,)
    assert prepared.mask.dtype == bool
    np.testing.assert_array_equal(prepared.mask, grid_x <= 80.0 + 1e-9)
    assert np.count_nonzero(prepared.mask) == 7001
    assert np.all(prepared.values[~prepared.mask] == 0.0)
    covered = prepared.values[prepared.mask]
    assert covered.max() == 1.0 and covered.min() == 0.0


def test_too_short_range_is_rejected() -> None:
    x = np.arange(20.0, 45.0, 0.02)
    pattern = make_pattern(x, gaussian_pattern(x, np.array([30.0]), 0.1), CU_KA1)
    with pytest.raises(PatternFileError, match=r"covers 25\.0 degrees.*at least 30"):
        prepare_pattern(pattern, PAPER_GRID)
    assert MIN_COVERAGE == 30.0
    shorter = prepare_pattern(pattern, PAPER_GRID, min_coverage_degrees=20.0)
    assert np.count_nonzero(shorter.mask) == 2499


def test_converted_range_counts_for_coverage() -> None:
    # 4-18 deg with Mo spans 14 deg, but 8.7-39.7 deg with Cu: 29.7 deg of the grid (10-39.7)
    x = np.arange(4.0, 18.0, 0.01)
    pattern = make_pattern(x, gaussian_pattern(x, np.array([10.0]), 0.05), MO_KA1)
    with pytest.raises(PatternFileError, match="covers 29.7 degrees"):
        prepare_pattern(pattern, PAPER_GRID)


def test_wavelength_is_required() -> None:
    x = np.arange(10.0, 80.0, 0.02)
    pattern = make_pattern(x, gaussian_pattern(x, np.array([30.0]), 0.1))
    with pytest.raises(PatternFileError, match="states no wavelength"):
        prepare_pattern(pattern, PAPER_GRID)


def test_explicit_wavelength_overrides_the_file() -> None:
    x = np.arange(10.0, 80.0, 0.02)
    pattern = make_pattern(x, gaussian_pattern(x, np.array([30.0]), 0.1), MO_KA1)
    grid_x = PAPER_GRID.two_theta()
    as_cu = prepare_pattern(pattern, PAPER_GRID, wavelength=CU_KA1)
    assert grid_x[np.argmax(as_cu.values)] == pytest.approx(30.0, abs=PAPER_GRID.step)
    as_mo = prepare_pattern(pattern, PAPER_GRID)
    expected = convert_two_theta(np.array([30.0]), MO_KA1, CU_KA1)[0]
    assert grid_x[np.argmax(as_mo.values)] == pytest.approx(expected, abs=PAPER_GRID.step)


def test_flat_pattern_is_rejected() -> None:
    x = np.arange(10.0, 80.0, 0.02)
    with pytest.raises(PatternFileError, match="flat"):
        prepare_pattern(make_pattern(x, np.full(x.size, 7.0)), PAPER_GRID, CU_KA1)


def test_inconsistent_hand_built_pattern_is_rejected() -> None:
    x = np.arange(10.0, 80.0, 0.02)[::-1]
    with pytest.raises(PatternFileError, match="strictly increasing"):
        prepare_pattern(make_pattern(x, np.ones(x.size)), PAPER_GRID, CU_KA1)


def test_prepared_fixture_peak_at_silicon_111() -> None:
    prepared = prepare_pattern(read_pattern(PATTERNS / "si_v15.xrdml"), PAPER_GRID)
    grid_x = PAPER_GRID.two_theta()
    si_111 = 2.0 * np.degrees(np.arcsin(CU_KA1 / (2.0 * 5.4309 / np.sqrt(3.0))))
    assert abs(grid_x[np.argmax(prepared.values)] - si_111) < 0.1
    # 20-80 deg at 1.540598 A is 19.9995-79.9978 deg at the grid's 1.540562 A
    low, high = convert_two_theta(np.array([20.0, 80.0]), 1.540598, CU_KA1)
    assert high == pytest.approx(79.9978, abs=1e-4)
    np.testing.assert_array_equal(prepared.mask, (grid_x >= low) & (grid_x <= high))


# --- range truncation used in training -----------------------------------------------------


def test_truncate_range_zero_fills_and_renormalises() -> None:
    grid = Grid(start=10.0, stop=20.0, n_points=11)
    values = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    out = truncate_range(values, grid, 12.0, 16.0)
    np.testing.assert_allclose(out, [0, 0, 0.0, 0.25, 0.5, 0.75, 1, 0, 0, 0, 0], atol=1e-6)
    raw = truncate_range(values, grid, 12.0, 16.0, renormalize=False)
    np.testing.assert_allclose(raw[2:7], values[2:7])
    batch = truncate_range(np.stack([values, values[::-1]]), grid, 12.0, 16.0)
    assert batch.shape == (2, 11) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], out)
    np.testing.assert_allclose(batch[1, 2:7], [1, 0.75, 0.5, 0.25, 0], atol=1e-6)


def test_truncation_matches_preparing_a_partial_measurement() -> None:
    x = np.arange(10.0, 110.0 + 1e-9, 0.01)
    y = gaussian_pattern(x, bragg_two_theta(D_SPACINGS, CU_KA1), 0.15, background=50.0)
    full = prepare_pattern(make_pattern(x, y), PAPER_GRID, CU_KA1)
    inside = (x >= 30.0 - 1e-9) & (x <= 70.0 + 1e-9)
    partial = prepare_pattern(make_pattern(x[inside], y[inside]), PAPER_GRID, CU_KA1)
    truncated = truncate_range(full.values, PAPER_GRID, 30.0 - 1e-9, 70.0 + 1e-9)
    grid_x = PAPER_GRID.two_theta()
    np.testing.assert_array_equal(partial.mask, (grid_x >= 30.0 - 1e-6) & (grid_x <= 70.0 + 1e-6))
    np.testing.assert_allclose(truncated, partial.values, atol=2e-3)


# --- real measured files -------------------------------------------------------------------


def test_real_patterns_prepare(shared_dir: Path) -> None:
    folder = shared_dir / "data/experimental"
    files = sorted(f for f in (folder / "xred").glob("*.csv") if f.name != "labels.csv")
    files += sorted((folder / "autoxrd").glob("0[0-4]*.xy"))
    prepared_count = 0
    for file in files:
        pattern = read_pattern(file)
        if pattern.two_theta[-1] - max(pattern.two_theta[0], 10.0) < MIN_COVERAGE:
            with pytest.raises(PatternFileError, match="covers"):
                prepare_pattern(pattern, PAPER_GRID, CU_KA1)
            continue
        prepared = prepare_pattern(pattern, PAPER_GRID, CU_KA1)
        covered = prepared.values[prepared.mask]
        assert covered.min() == 0.0 and covered.max() == 1.0, file
        assert np.all(prepared.values[~prepared.mask] == 0.0), file
        prepared_count += 1
    assert prepared_count == 17 + 47


def test_training_inputs_are_what_classification_makes_of_the_same_counts(
    tmp_path: Path,
) -> None:
    """A rendered training pattern, written as a scan and classified, gives the same input.

    Training normalises rendered counts with ``PatternPreparer``; classification reads a file
    and runs ``prepare_pattern`` (``xrdsym.classify.read_sample``). Both end in
    ``normalize_intensity`` on the grid, so a scan on the grid points prepares to the
    training input exactly (up to the file's printed precision).
    """
    from xrdsym.classify import Classifier, read_sample
    from xrdsym.model_config import model_spec
    from xrdsym.models import create_model
    from xrdsym.patterns.lab import lab_renderer
    from xrdsym.training.data import PatternPreparer

    grid = Grid(n_points=2001)
    rng = np.random.default_rng(4)
    counts = lab_renderer()(bragg_two_theta(D_SPACINGS, CU_KA1), np.ones(7) * 100, grid, rng)
    training_input = PatternPreparer()(counts, grid, rng)
    scan = tmp_path / "scan.xy"
    np.savetxt(scan, np.column_stack([grid.two_theta(), counts]), fmt="%.6f %.3f")
    grid_record = {"start": grid.start, "stop": grid.stop, "n_points": grid.n_points}
    spec = model_spec({"architecture": "xrdnet_tiny", "grid": grid_record})
    classifier = Classifier(create_model("xrdnet_tiny", input_length=grid.n_points), spec)
    prepared = read_sample(scan, classifier.grid, "CuKa1").prepared
    assert prepared.mask.all()
    np.testing.assert_allclose(prepared.values, training_input, atol=1e-5)
