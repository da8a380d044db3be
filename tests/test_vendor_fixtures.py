"""Real instrument files read to the values an independent reader gives (see data/vendor)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import PatternFileError
from xrdsym.io import read_pattern

VENDOR = Path(__file__).parent / "data" / "vendor"

#: file -> (format, points, first 2theta, last 2theta, K-alpha1 wavelength or None)
REFERENCE = {
    "TwoTheta_scan_powder.rasx": ("rasx", 2726, 10.0, 119.0, 1.540593),
    "rasx_sample.rasx": ("rasx", 2334, 10.0, 79.99, 1.540593),
    "Omega-2Theta_scan_high_temperature.rasx": ("rasx", 1042, 44.0, 48.9968, 1.540593),
    "XRD-918-16_10.xrdml": ("xrdml", 5027, 4.00656514, 69.99936587, 1.540598),
    "m54313_om2th_10.xrdml": ("xrdml", 1800, 26.025, 79.995, 1.540598),
    "m82762_rc1mm_1_16dg_src_slit_phi-101_3dg_-420_mesh_long.xrdml": (
        "xrdml",
        255,
        67.45053915,
        69.95146085,
        1.540598,
    ),
    "bruker_raw_bruker4_v5converter.raw": ("bruker_raw", 4059, 37.0001, 120.0046435, 1.5406),
    "gsas_raw_gsas.raw": ("gsas", 4941, 16.0, 99.98, None),
}


def _rasx_reference(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """numpy on Data0/Profile0.txt: 2theta, counts x attenuator factor."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read("Data0/Profile0.txt").decode("utf-8-sig")
    table = np.loadtxt(text.splitlines())
    return table[:, 0], table[:, 1] * table[:, 2]


def _xrdml_reference(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """First scan of an XRDML with the standard library: evenly spaced 2theta, counts x
    beam attenuation factors."""
    root = ET.parse(path).getroot()
    ns = {"x": root.tag[1:].split("}")[0]}
    points = root.find(".//x:scan/x:dataPoints", ns)
    assert points is not None
    counts_el = points.find("x:counts", ns)
    if counts_el is None:
        counts_el = points.find("x:intensities", ns)
    assert counts_el is not None and counts_el.text
    counts = np.array(counts_el.text.split(), dtype=float)
    factors = points.findtext("x:beamAttenuationFactors", namespaces=ns)
    if factors:
        counts = counts * np.array(factors.split(), dtype=float)
    for positions in points.findall("x:positions", ns):
        if positions.get("axis") == "2Theta":
            start = float(positions.findtext("x:startPosition", namespaces=ns) or "nan")
            end = float(positions.findtext("x:endPosition", namespaces=ns) or "nan")
            return np.linspace(start, end, counts.size), counts
    raise AssertionError("no 2Theta axis")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_vendor_file_reads_to_reference_values(name: str) -> None:
    fmt, points, first, last, wavelength = REFERENCE[name]
    pattern = read_pattern(VENDOR / name)
    assert pattern.metadata["format"] == fmt
    assert len(pattern) == points
    assert pattern.two_theta[0] == pytest.approx(first, abs=1e-4)
    assert pattern.two_theta[-1] == pytest.approx(last, abs=1e-4)
    if wavelength is None:
        assert pattern.wavelength is None
    else:
        assert pattern.wavelength == pytest.approx(wavelength, abs=1e-6)
    assert np.all(np.diff(pattern.two_theta) > 0) and np.all(pattern.intensity >= 0)


@pytest.mark.parametrize("name", [n for n in REFERENCE if n.endswith(".rasx")])
def test_rasx_columns_equal_numpy_read_of_the_profile(name: str) -> None:
    two_theta, intensity = _rasx_reference(VENDOR / name)
    pattern = read_pattern(VENDOR / name)
    assert np.allclose(pattern.two_theta, two_theta) and np.allclose(pattern.intensity, intensity)


@pytest.mark.parametrize("name", ["XRD-918-16_10.xrdml", "m54313_om2th_10.xrdml"])
def test_xrdml_columns_equal_standard_library_read(name: str) -> None:
    two_theta, counts = _xrdml_reference(VENDOR / name)
    pattern = read_pattern(VENDOR / name)
    assert np.allclose(pattern.two_theta, two_theta)
    assert np.allclose(pattern.intensity, counts)


def test_gsas_header_states_the_points_read() -> None:
    head = (VENDOR / "gsas_raw_gsas.raw").read_text().splitlines()[1]
    match = re.match(r"BANK\s+1\s+(\d+)\s+\d+\s+CONST\s+([\d.]+)\s+([\d.]+)", head)
    assert match is not None
    n, start, step = int(match.group(1)), float(match.group(2)) / 100, float(match.group(3)) / 100
    pattern = read_pattern(VENDOR / "gsas_raw_gsas.raw")
    assert len(pattern) == n
    assert np.allclose(pattern.two_theta, start + step * np.arange(n))


def test_mesh_xrdml_reports_the_scan_used() -> None:
    pattern = read_pattern(VENDOR / "m82762_rc1mm_1_16dg_src_slit_phi-101_3dg_-420_mesh_long.xrdml")
    assert pattern.metadata["scans"] == "101" and pattern.metadata["scan"] == "1"


def test_background_subtracted_raw_is_refused_with_the_reason() -> None:
    with pytest.raises(PatternFileError, match="below -1% of the maximum"):
        read_pattern(VENDOR / "bruker_raw_bruker4_diffrac_eva.raw")


def test_zip_archive_of_neither_kind_names_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "scan.rasx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    message = "neither a Bruker .brml.*nor a Rigaku .rasx.*readme"
    with pytest.raises(PatternFileError, match=message):
        read_pattern(path)


def test_uxd_counts_and_two_column_ranges(tmp_path: Path) -> None:
    counts = "\n".join(" ".join(str(100 + (i * 7 + j) % 50) for j in range(5)) for i in range(60))
    text = (
        '; synthetic UXD\n_FILEVERSION=1\n_WL1=1.540600\n_ANODE="Cu"\n'
        f"_START=10.000000\n_STEPSIZE=0.020000\n_STEPCNT=300\n_COUNTS\n{counts}\n"
        "_START=20.0\n_STEPSIZE=0.5\n_2THETACOUNTS\n20.0 5\n20.5 6\n"
    )
    path = tmp_path / "scan.uxd"
    path.write_text(text)
    pattern = read_pattern(path)
    assert pattern.metadata["format"] == "uxd" and pattern.metadata["ranges"] == "2"
    assert len(pattern) == 300 and pattern.wavelength == pytest.approx(1.5406)
    assert pattern.two_theta[0] == pytest.approx(10.0)
    assert pattern.two_theta[-1] == pytest.approx(10.0 + 0.02 * 299)
    assert pattern.intensity[:5].tolist() == [100, 101, 102, 103, 104]
    pairs = "\n".join(f"{10 + 0.05 * i:.2f} {50 + i % 9}" for i in range(100))
    path.write_text(f"_WL1=1.5406\n_2THETACOUNTS\n{pairs}\n")
    pattern = read_pattern(path)
    assert len(pattern) == 100 and pattern.two_theta[1] == pytest.approx(10.05)
