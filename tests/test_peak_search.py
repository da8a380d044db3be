"""Peak search on rendered and hostile profiles (xrdsym.indexing.peaks)."""

from __future__ import annotations

import numpy as np
import pytest

from xrdsym.errors import PatternFileError, XrdsymError
from xrdsym.indexing.peaks import PeakSearchOptions, search_peaks
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.peaks import PeakList
from xrdsym.patterns.profile import ProfileParams, render_pattern
from xrdsym.simulate import simulate
from xrdsym.wavelengths import CU_KA1

STRUCTURES = "tests/data/structures/good"

#: A laboratory-like profile: FWHM 0.08 degrees at 30 and 0.14 degrees at 100 degrees,
#: background 5 % of the strongest line, 20,000 counts at the top, Poisson noise.
LAB_PARAMS = ProfileParams(
    u=0.02,
    v=-0.01,
    w=0.005,
    eta=0.5,
    background_coeffs=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    background_level=0.05,
    counts=2e4,
)

#: Lines at least this strong (strongest = 100) must be found ...
RECALL_INTENSITY = 2.0
#: ... within this many degrees of their true position ...
POSITION_TOLERANCE = 0.03
#: ... for at least this fraction of them.
MIN_RECALL = 0.9


def _peaks(name: str) -> PeakList:
    return simulate(f"{STRUCTURES}/{name}").peaks


def _render(peaks: PeakList, ka2: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from dataclasses import replace

    grid = Grid()
    params = replace(LAB_PARAMS, ka2=ka2)
    counts = render_pattern(
        peaks.two_theta, peaks.intensity, grid, params, np.random.default_rng(seed)
    )
    return grid.two_theta(), counts


def _isolated(peaks: PeakList, min_gap: float = 0.25) -> np.ndarray:
    """True positions of lines >= RECALL_INTENSITY with no other line within ``min_gap``."""
    tt = peaks.two_theta
    gaps = np.abs(tt[:, None] - tt[None, :]) + np.eye(tt.size) * 1e9
    keep = (peaks.intensity >= RECALL_INTENSITY) & (gaps.min(axis=1) > min_gap)
    return tt[keep]


@pytest.mark.parametrize("name", ["NaCl.cif", "rutile.cif"])
def test_rendered_lines_are_found_at_their_positions(name: str) -> None:
    peaks = _peaks(name)
    x, y = _render(peaks)
    result = search_peaks(x, y, CU_KA1)
    found = np.array([p.two_theta for p in result.peaks])
    truth = _isolated(peaks)
    assert truth.size >= 5
    error = np.abs(truth[:, None] - found[None, :]).min(axis=1)
    assert np.mean(error < POSITION_TOLERANCE) >= MIN_RECALL
    assert np.median(error) < 0.01
    assert result.kalpha2 == "absent"
    assert list(found) == sorted(found)
    for p in result.peaks:
        assert p.sigma > 0 and p.height > 0 and p.area > 0 and p.fwhm > 0


def test_kalpha2_is_detected_and_stripped() -> None:
    peaks = _peaks("NaCl.cif")
    x, y = _render(peaks, ka2=True)
    result = search_peaks(x, y, CU_KA1)
    assert result.kalpha2 == "stripped"
    found = np.array([p.two_theta for p in result.peaks])
    truth = _isolated(peaks)
    error = np.abs(truth[:, None] - found[None, :]).min(axis=1)
    assert np.mean(error < POSITION_TOLERANCE) >= MIN_RECALL
    # no K-alpha2 companion survives as a line of its own
    from xrdsym.indexing.kalpha2 import companion_angle, wavelength_ratio

    ratio = wavelength_ratio(CU_KA1)
    assert ratio is not None
    strong = peaks.two_theta[(peaks.intensity >= 10.0) & (peaks.two_theta > 40.0)]
    companions = companion_angle(strong, ratio)
    near = np.abs(companions[:, None] - found[None, :]).min(axis=1)
    assert np.mean(near < 0.02) < 0.2


def test_nan_counts_raise_a_clear_error() -> None:
    x = np.linspace(10, 80, 1000)
    y = np.ones_like(x)
    y[500] = np.nan
    with pytest.raises(PatternFileError, match=r"scan.xy: counts at point 501 is nan"):
        search_peaks(x, y, CU_KA1, source="scan.xy")


def test_decreasing_two_theta_raises() -> None:
    x = np.linspace(10, 80, 1000)
    x[300] = x[299]
    with pytest.raises(XrdsymError, match="does not increase at point 301"):
        search_peaks(x, np.ones_like(x), CU_KA1)


def test_flat_line_has_no_peaks() -> None:
    x = np.linspace(10, 80, 5000)
    result = search_peaks(x, np.full_like(x, 100.0), CU_KA1)
    assert result.peaks == ()


def test_peak_cap_keeps_the_strongest() -> None:
    peaks = _peaks("rutile.cif")
    x, y = _render(peaks)
    result = search_peaks(x, y, CU_KA1, options=PeakSearchOptions(max_peaks=5))
    assert len(result.peaks) == 5
    strongest = sorted(peaks.two_theta[np.argsort(peaks.intensity)[::-1][:5]])
    found = [p.two_theta for p in result.peaks]
    assert np.allclose(found, strongest, atol=0.03)
    assert any("kept the 5 strongest" in e for e in result.events)
