"""Peak search on rendered and hostile profiles (xrdsym.indexing.peaks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import PatternFileError, XrdsymError
from xrdsym.indexing.peaks import PeakSearchOptions, search_peaks
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.peaks import PeakList
from xrdsym.patterns.profile import render_pattern
from xrdsym.patterns.profile_params import ProfileParams
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
    from xrdsym.indexing.kalpha2 import anode_doublet, companion_angle

    lines = anode_doublet(CU_KA1)
    assert lines is not None
    ratio = lines[1] / lines[0]
    strong = peaks.two_theta[(peaks.intensity >= 10.0) & (peaks.two_theta > 40.0)]
    companions = companion_angle(strong, ratio)
    near = np.abs(companions[:, None] - found[None, :]).min(axis=1)
    assert np.mean(near < 0.02) < 0.2


def test_kalpha_average_given_strips_to_kalpha1() -> None:
    from xrdsym.wavelengths import WAVELENGTHS

    x, y = _render(_peaks("NaCl.cif"), ka2=True)
    result = search_peaks(x, y, WAVELENGTHS["CuKa"])
    assert result.kalpha2 == "stripped"
    assert result.wavelength == CU_KA1
    assert any("refer to K-alpha1" in e for e in result.events)


def test_interpolated_profile_is_searched_on_its_measured_points() -> None:
    from xrdsym.patterns.augment import coarse_measurement

    peaks = _peaks("rutile.cif")
    grid = Grid()
    x, y = _render(peaks)
    coarse = coarse_measurement(grid, y, 0.06)  # measured every 0.06 deg, interpolated back
    result = search_peaks(x, coarse, CU_KA1)
    assert any("interpolated from coarser steps (about 0.06 deg)" in e for e in result.events)
    found = np.array([p.two_theta for p in result.peaks])
    truth = _isolated(peaks)
    error = np.abs(truth[:, None] - found[None, :]).min(axis=1)
    assert np.mean(error < POSITION_TOLERANCE) >= MIN_RECALL
    assert found.size <= 2 * np.sum(peaks.intensity >= 0.5)  # no flood of noise lines


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


# --- powder-quality gate -------------------------------------------------------------------


def _noisy(expected: np.ndarray, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(expected).astype(np.float64)


def _lines(centres: list[float], heights: list[float], fwhm: float) -> np.ndarray:
    """Gaussian-Lorentzian lines on the paper grid, counts."""
    from xrdsym.indexing.peak_fit import height_to_area, pseudo_voigt

    x = Grid().two_theta()
    out = np.zeros_like(x)
    for c, h in zip(centres, heights, strict=True):
        out += pseudo_voigt(x, c, height_to_area(h, fwhm, 0.5), fwhm, 0.5)
    return out


def _verdict(counts: np.ndarray) -> str | None:
    from xrdsym.indexing.quality import check_powder

    _, verdict = check_powder(Grid().two_theta(), counts, CU_KA1)
    return None if verdict is None else verdict.code


def test_rendered_powders_pass_the_gate() -> None:
    for name in ("NaCl.cif", "rutile.cif", "CsCl.cif"):
        x, y = _render(_peaks(name))
        assert _verdict(y) is None, name


def test_amorphous_hump_is_refused() -> None:
    from xrdsym.patterns.augment import amorphous_humps

    grid = Grid()
    hump = amorphous_humps(
        grid, np.array([24.0, 42.0]), np.array([9.0, 12.0]), np.array([1.0, 0.4])
    )
    assert _verdict(_noisy(200.0 + 3000.0 * hump)) == "amorphous"


def test_nanocrystalline_lines_are_refused() -> None:
    from dataclasses import replace

    peaks = _peaks("NaCl.cif")
    grid = Grid()
    params = replace(LAB_PARAMS, crystallite_size=18.0)
    counts = render_pattern(
        peaks.two_theta, peaks.intensity, grid, params, np.random.default_rng(0)
    )
    assert _verdict(counts) == "amorphous"


def test_wafer_scan_is_refused() -> None:
    counts = _noisy(40.0 + _lines([69.13], [50_000.0], 0.06))
    assert _verdict(counts) == "single_crystal"


def test_textured_film_is_refused() -> None:
    from xrdsym.patterns.bragg import bragg_two_theta

    orders = np.arange(1, 8)
    centres = bragg_two_theta(orders / 9.3, CU_KA1)
    centres = centres[np.isfinite(centres) & (centres > 10.5) & (centres < 109.5)]
    heights = 5000.0 * 0.6 ** np.arange(centres.size)
    counts = _noisy(60.0 + _lines(list(centres), list(heights), 0.12))
    assert _verdict(counts) == "textured"


def _background_noise(seed: int) -> np.ndarray:
    """Counting noise on a smooth lab background: no line at all."""
    x = Grid().two_theta()
    return _noisy(200.0 + 50.0 * np.exp(-(x - 10.0) / 30.0), seed)


def test_noise_maxima_are_nothing_but_noise() -> None:
    from xrdsym.indexing.quality import NOISE_SNR, check_powder

    # seed 1 leaves one maximum of the noise above the search's 4 deviations
    result, verdict = check_powder(Grid().two_theta(), _background_noise(1), CU_KA1)
    assert len(result.peaks) >= 1
    assert max(p.height for p in result.peaks) < NOISE_SNR * result.noise
    assert verdict is not None and verdict.code == "noise"
    assert "noise standard deviations" in verdict.reason


def test_a_scan_without_maxima_is_nothing_but_noise() -> None:
    from xrdsym.indexing.quality import check_powder

    result, verdict = check_powder(Grid().two_theta(), _background_noise(0), CU_KA1)
    assert result.peaks == ()
    assert verdict is not None and verdict.code == "noise"
    assert "no maximum" in verdict.reason


def test_a_weak_powder_stands_out_of_the_noise() -> None:
    """Lines 15 noise deviations high pass the noise rule (and the gate)."""
    from xrdsym.indexing.quality import NOISE_SNR

    background = 200.0
    height = 1.25 * NOISE_SNR * np.sqrt(background)
    centres = [28.4, 32.9, 47.2, 56.0, 58.7]
    counts = _noisy(background + _lines(centres, [height] * len(centres), 0.1))
    assert _verdict(counts) is None


def test_two_broad_lines_are_too_few() -> None:
    counts = _noisy(50.0 + _lines([31.0, 45.0], [3000.0, 2000.0], 0.9))
    assert _verdict(counts) == "too_few_lines"


# --- hostile input -------------------------------------------------------------------------

#: CPU seconds (of this process: the machine is shared, wall time is not) a hostile profile of
#: 100,000 points may take: the per-file bound of the indexer.
HOSTILE_SECONDS = 20.0


@pytest.mark.parametrize("kind", ["noise", "flat", "spike", "forest"])
def test_hostile_profiles_finish_quickly(kind: str) -> None:
    import time

    rng = np.random.default_rng(1)
    x = np.linspace(5.0, 120.0, 100_000)
    if kind == "noise":
        y = rng.poisson(100.0, x.size).astype(np.float64)
    elif kind == "flat":
        y = np.full(x.size, 7.0)
    elif kind == "spike":
        y = np.where(np.arange(x.size) == 50_000, 1e6, 10.0)
    else:  # 5,000 sharp lines
        y = np.full(x.size, 50.0)
        for c in rng.uniform(6.0, 119.0, 5000):
            lo, hi = np.searchsorted(x, [c - 0.1, c + 0.1])
            y[lo:hi] += 1000.0 * np.exp(-(((x[lo:hi] - c) / 0.02) ** 2))
        y = rng.poisson(y).astype(np.float64)
    start = time.process_time()
    result = search_peaks(x, y, CU_KA1, options=PeakSearchOptions(max_peaks=100))
    assert time.process_time() - start < HOSTILE_SECONDS
    assert len(result.peaks) <= 100
    if kind in ("noise", "flat"):
        assert len(result.peaks) <= 2


def test_huge_counts_keep_their_scale() -> None:
    x, y = _render(_peaks("NaCl.cif"))
    small = search_peaks(x, y, CU_KA1)
    huge = search_peaks(x, y * 1e200, CU_KA1)
    assert len(small.peaks) == len(huge.peaks)
    assert np.allclose([p.height for p in huge.peaks], [p.height * 1e200 for p in small.peaks])


# --- command line --------------------------------------------------------------------------


def test_cli_text_json_csv_on_a_measured_scan(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import json

    from xrdsym.cli import main

    scan = str(shared_dir / "data/experimental/xred/PbSe.csv")
    assert main(["peaks", scan, "--wavelength", "CuKa", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "K-alpha2 stripped" in text and "powder pattern of a crystalline phase" in text
    assert "2theta" in text and "d (A)" in text

    assert main(["peaks", scan, "--wavelength", "CuKa", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["wavelength_source"] == "--wavelength" and record["powder"] is True
    assert record["wavelength"] == CU_KA1  # CuKa (the average) given; K-alpha2 stripped
    # PbSe (rock salt, a = 6.12 A): 111, 200 and 220 at d = 3.53, 3.06 and 2.164 A
    spacings = np.array([p["d"] for p in record["peaks"]])
    for d in (3.533, 3.060, 2.164):
        assert np.abs(spacings - d).min() < 0.01

    out = tmp_path / "lines.csv"
    assert main(["peaks", scan, "--wavelength", "CuKa", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(record["peaks"]) and rows[0]["kalpha2"] == "stripped"


def test_cli_batch_goes_on_past_a_bad_file(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from xrdsym.cli import main

    bad = tmp_path / "bad.xy"
    bad.write_text("10 1\n11 nan\n" * 30)
    good = str(shared_dir / "data/experimental/xred/Zr.csv")
    code = main(["peaks", str(bad), good, "--wavelength", "CuKa", "--json", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "bad.xy" in captured.err and "1 of 2 files failed" in captured.err
    assert json.loads(captured.out)["source"] == good


def test_cli_needs_a_wavelength(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xrdsym.cli import main

    scan = str(shared_dir / "data/experimental/xred/Zr.csv")
    assert main(["peaks", scan]) == 1
    assert "states no wavelength; give --wavelength" in capsys.readouterr().err


def test_index_pattern_refuses_a_wafer_with_the_gate_reason() -> None:
    from xrdsym.indexing.pattern import index_pattern

    counts = _noisy(40.0 + _lines([69.13], [50_000.0], 0.06))
    result = index_pattern(Grid().two_theta(), counts, CU_KA1)
    assert result.status == "not indexable"
    assert result.reason.startswith("single-crystal, wafer or oriented-film scan")
    assert result.candidates == () and len(result.peaks.peaks) >= 1


def test_index_command_gives_the_gate_reason(tmp_path, capsys) -> None:
    """``xrdsym index`` runs the pipeline ``classify`` runs: an amorphous scan is not indexable,
    with the powder-quality gate's reason, and the batch does not count it as a failure."""
    import json

    from xrdsym.cli import main
    from xrdsym.patterns.augment import amorphous_humps

    grid = Grid()
    hump = amorphous_humps(
        grid, np.array([24.0, 42.0]), np.array([9.0, 12.0]), np.array([1.0, 0.4])
    )
    scan = tmp_path / "glass.xy"
    counts = _noisy(200.0 + 3000.0 * hump)
    np.savetxt(scan, np.column_stack([grid.two_theta(), counts]), fmt="%.4f")
    assert main(["index", str(scan), "--wavelength", "1.540562", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["status"] == "not indexable" and answer["candidates"] == []
    assert "amorphous" in answer["reason"]
