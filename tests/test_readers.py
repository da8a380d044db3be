"""Pattern file readers: every format against a reference copy, real measured files, bad input."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import PatternFileError
from xrdsym.io import MIN_POINTS, Pattern, list_formats, read_pattern

PATTERNS = Path(__file__).resolve().parent / "data" / "patterns"

#: Si (111) with Cu K-alpha1: 2 asin(lambda / (2 d)), d = 5.4309 / sqrt(3) A.
SI_111_CU = 2.0 * np.degrees(np.arcsin(1.540598 / (2.0 * 5.4309 / np.sqrt(3.0))))

#: (fixture, format, stated wavelength in Angstrom or None)
FIXTURES = [
    ("si_reference.xy", "text", 1.540598),
    ("si_tabs.xye", "text", None),
    ("si_comma.csv", "text", None),
    ("si_semicolon.txt", "text", None),
    ("si_descending.dat", "text", None),
    ("si_v15.xrdml", "xrdml", 1.540598),
    ("si_v21_counts.xrdml", "xrdml", 1.540598),
    ("si.ras", "ras", 1.540598),
    ("si.brml", "brml", 1.5406),
    ("si_v4.raw", "bruker_raw", 1.540598),
    ("si_v1.raw", "bruker_raw", 1.540562),
    ("si_std.gsa", "gsas", None),
    ("si_esd.gsa", "gsas", None),
    ("si.fxye", "gsas", 1.540598),
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The reference columns read independently with numpy: shape (601, 2)."""
    return np.loadtxt(PATTERNS / "si_reference.xy", comments="#")


def test_list_formats_names_every_reader() -> None:
    assert list_formats() == ["bruker_raw", "brml", "rasx", "xrdml", "ras", "uxd", "gsas", "text"]


def test_reference_fixture_known_values(reference: np.ndarray) -> None:
    assert reference.shape == (601, 2)
    assert reference[0, 0] == 20.0 and reference[-1, 0] == 80.0
    strongest = reference[np.argmax(reference[:, 1])]
    assert strongest[1] == 2088.0
    assert abs(strongest[0] - SI_111_CU) < 0.1


@pytest.mark.parametrize(("name", "fmt", "wavelength"), FIXTURES)
def test_every_format_reads_the_reference_measurement(
    name: str, fmt: str, wavelength: float | None, reference: np.ndarray
) -> None:
    pattern = read_pattern(PATTERNS / name)
    assert isinstance(pattern, Pattern)
    assert pattern.metadata["format"] == fmt
    assert pattern.source == str(PATTERNS / name)
    assert pattern.two_theta.dtype == np.float64 and pattern.intensity.dtype == np.float64
    assert len(pattern) == 601
    np.testing.assert_allclose(pattern.two_theta, reference[:, 0], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(pattern.intensity, reference[:, 1])
    if wavelength is None:
        assert pattern.wavelength is None
    else:
        assert pattern.wavelength == pytest.approx(wavelength, abs=1e-6)


@pytest.mark.parametrize(("name", "fmt", "wavelength"), FIXTURES)
def test_explicit_format_matches_detection(name: str, fmt: str, wavelength: float | None) -> None:
    detected = read_pattern(PATTERNS / name)
    explicit = read_pattern(PATTERNS / name, format=fmt)
    np.testing.assert_array_equal(detected.intensity, explicit.intensity)


def test_format_specific_metadata() -> None:
    assert read_pattern(PATTERNS / "si_descending.dat").metadata["reversed"] == "true"
    assert read_pattern(PATTERNS / "si_tabs.xye").metadata["columns"] == "3"
    assert read_pattern(PATTERNS / "si_v1.raw").metadata["ranges"] == "2"
    assert read_pattern(PATTERNS / "si_v4.raw").metadata["version"] == "4"
    xrdml = read_pattern(PATTERNS / "si_v15.xrdml")
    assert xrdml.metadata["anode"] == "Cu" and xrdml.metadata["sample"] == "Si-640"
    assert read_pattern(PATTERNS / "si.ras").metadata["anode"] == "Cu"
    assert read_pattern(PATTERNS / "si_std.gsa").metadata["type"] == "STD"


def test_pattern_arrays_are_read_only() -> None:
    pattern = read_pattern(PATTERNS / "si_reference.xy")
    with pytest.raises(ValueError):
        pattern.intensity[0] = 1.0


# --- real measured files -------------------------------------------------------------------


def test_all_autoxrd_patterns_read(shared_dir: Path) -> None:
    files = sorted((shared_dir / "data/experimental/autoxrd").glob("*.xy"))
    assert len(files) == 88
    for file in files:
        pattern = read_pattern(file)
        assert len(pattern) >= 137, file
        assert 3.0 <= pattern.two_theta[0] < pattern.two_theta[-1] <= 80.1, file
        assert pattern.intensity.max() > 0, file


def test_autoxrd_glued_columns_are_split(shared_dir: Path) -> None:
    # the raw line "14.168110228" is 2theta 14.1681 with 10228 counts (neighbours 1697, 1515)
    pattern = read_pattern(
        shared_dir / "data/experimental/autoxrd/005_100_SnPerovskite_at_0.5M_4to1_dmftodmso.xy"
    )
    assert pattern.metadata["repaired_rows"] == "407"
    assert len(pattern) == 1412
    i = int(np.argmin(np.abs(pattern.two_theta - 14.1681)))
    assert pattern.two_theta[i] == 14.1681 and pattern.intensity[i] == 10228.0
    assert pattern.two_theta[-1] == 80.014 and pattern.intensity[-1] == 7.0


def test_all_xred_patterns_read(shared_dir: Path) -> None:
    files = sorted(
        f for f in (shared_dir / "data/experimental/xred").glob("*.csv") if f.name != "labels.csv"
    )
    assert len(files) == 17
    for file in files:
        pattern = read_pattern(file)
        assert len(pattern) >= 580, file
        assert pattern.two_theta[0] >= 10.0 and pattern.two_theta[-1] <= 160.1, file
    pbso4 = read_pattern(shared_dir / "data/experimental/xred/PbSO4.csv")
    assert len(pbso4) == 6001 and pbso4.two_theta[0] == 10.0
    assert pbso4.intensity[0] == 179.0


# --- bad input -----------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def _rows(n: int = 40, start: float = 20.0) -> list[list[float]]:
    return [[start + 0.1 * i, 100.0 + i] for i in range(n)]


def _xy(rows: list[list[float]]) -> str:
    return "\n".join(" ".join(repr(v) for v in row) for row in rows) + "\n"


def _expect_error(path: Path, fragment: str, **kwargs: str) -> None:
    with pytest.raises(PatternFileError) as info:
        read_pattern(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message, message


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "absent.xy", "no such file")


def test_directory(tmp_path: Path) -> None:
    _expect_error(tmp_path, "directory")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    _expect_error(_write(tmp_path, "empty.xy", content), "empty")


@pytest.mark.parametrize("name", ["noise.bin", "noise.xy", "noise.raw"])
def test_binary_unknown_format(tmp_path: Path, name: str) -> None:
    content = np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8).tobytes()
    _expect_error(_write(tmp_path, name, b"\x00\x01" + content), "binary file of unknown format")


def test_extension_promises_another_format(tmp_path: Path) -> None:
    _expect_error(_write(tmp_path, "scan.xrdml", _xy(_rows())), "PANalytical XRDML")


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(PatternFileError, match="unknown pattern format"):
        read_pattern(_write(tmp_path, "a.xy", _xy(_rows())), format="jcamp")


def test_one_column(tmp_path: Path) -> None:
    content = "\n".join(str(20 + 0.1 * i) for i in range(40)) + "\n"
    _expect_error(_write(tmp_path, "one.xy", content), "one column")


def test_unsplittable_single_value_row(tmp_path: Path) -> None:
    lines = _xy(_rows()).splitlines()
    lines[10] = "99.5"
    _expect_error(_write(tmp_path, "gap.xy", "\n".join(lines) + "\n"), "line 11 has one column")


def test_non_numeric_row(tmp_path: Path) -> None:
    lines = _xy(_rows()).splitlines()
    lines[5] = "21.0 n/a"
    _expect_error(_write(tmp_path, "text.xy", "\n".join(lines) + "\n"), "line 6 is not a row")


def test_only_header(tmp_path: Path) -> None:
    _expect_error(_write(tmp_path, "header.xy", "angle counts\nnothing here\n"), "no rows")


def test_nan_intensity(tmp_path: Path) -> None:
    rows = _rows()
    rows[7][1] = float("nan")
    _expect_error(_write(tmp_path, "nan.xy", _xy(rows)), "nan")


def test_strongly_negative_intensity_rejected(tmp_path: Path) -> None:
    rows = _rows()
    rows[3][1] = -50.0  # below -1 % of the maximum 139
    _expect_error(_write(tmp_path, "neg.xy", _xy(rows)), "below -1% of the maximum")


def test_small_negative_intensity_clipped(tmp_path: Path) -> None:
    rows = _rows()
    rows[3][1] = -1.0  # within 1 % of the maximum 139: background-subtraction noise
    rows[4][1] = -0.5
    pattern = read_pattern(_write(tmp_path, "small.xy", _xy(rows)))
    assert pattern.intensity[3] == 0.0 and pattern.intensity[4] == 0.0
    assert pattern.metadata["clipped_negative"] == "2"
    assert pattern.intensity[5] == 105.0


def test_all_zero_intensity(tmp_path: Path) -> None:
    rows = [[20 + 0.1 * i, 0.0] for i in range(40)]
    _expect_error(_write(tmp_path, "zero.xy", _xy(rows)), "no positive intensity")


def test_duplicated_two_theta(tmp_path: Path) -> None:
    rows = _rows()
    rows[6][0] = rows[5][0]
    _expect_error(_write(tmp_path, "dup.xy", _xy(rows)), "occurs twice")


def test_scan_that_changes_direction(tmp_path: Path) -> None:
    rows = _rows() + _rows(start=21.05)
    _expect_error(_write(tmp_path, "two_scans.xy", _xy(rows)), "not monotonic")


def test_reversed_file_is_reversed(tmp_path: Path) -> None:
    rows = _rows()
    pattern = read_pattern(_write(tmp_path, "down.xy", _xy(rows[::-1])))
    assert pattern.metadata["reversed"] == "true"
    assert pattern.two_theta[0] == 20.0 and pattern.intensity[0] == 100.0


def test_too_few_points(tmp_path: Path) -> None:
    path = _write(tmp_path, "short.xy", _xy(_rows(MIN_POINTS - 1)))
    _expect_error(path, f"only {MIN_POINTS - 1} data points")
    assert len(read_pattern(_write(tmp_path, "enough.xy", _xy(_rows(MIN_POINTS))))) == MIN_POINTS


def test_text_header_wavelength_and_comments(tmp_path: Path) -> None:
    rows = _rows()
    content = "Sample: quartz\nWavelength (A) = 0.70930\nangle\tcounts\terr\n"
    content += "\n".join(f"{a}\t{b}\t3.0" for a, b in rows[:20])
    content += "\n# a comment inside the data\n"
    content += "\n".join(f"{a}\t{b}\t3.0" for a, b in rows[20:]) + "\n"
    pattern = read_pattern(_write(tmp_path, "mo.dat", content))
    assert pattern.wavelength == 0.7093
    assert len(pattern) == 40 and pattern.metadata["columns"] == "3"


def test_malformed_xrdml(tmp_path: Path) -> None:
    text = (PATTERNS / "si_v15.xrdml").read_text()
    _expect_error(_write(tmp_path, "cut.xrdml", text[: len(text) // 2]), "malformed XML")


def test_xrdml_list_length_mismatch(tmp_path: Path) -> None:
    text = (PATTERNS / "si_v21_counts.xrdml").read_text()
    text = text.replace("<listPositions>20.0000 ", "<listPositions>")
    _expect_error(_write(tmp_path, "list.xrdml", text), "600 2theta positions listed for 601")


def test_zip_without_raw_data(tmp_path: Path) -> None:
    path = tmp_path / "other.brml"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a measurement")
    _expect_error(path, "RawData")


def test_brml_without_two_theta_axis(tmp_path: Path) -> None:
    path = tmp_path / "rocking.brml"
    with zipfile.ZipFile(PATTERNS / "si.brml") as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("RawData0.xml"):
                data = data.replace(b'AxisId="TwoTheta"', b'AxisId="Omega"')
            target.writestr(name, data)
    _expect_error(path, "no scan in the archive steps 2theta")


def test_truncated_bruker_raw(tmp_path: Path) -> None:
    data = (PATTERNS / "si_v4.raw").read_bytes()
    _expect_error(_write(tmp_path, "cut.raw", data[: len(data) - 100]), "truncated")


def test_bruker_raw_v3_layout(tmp_path: Path) -> None:
    counts = np.arange(100.0, 160.0)
    header = bytearray(712)
    header[0:7] = b"RAW1.01"
    struct.pack_into("<I", header, 12, 1)
    struct.pack_into("<d", header, 624, 1.788965)
    block = bytearray(304)
    struct.pack_into("<II", block, 0, 304, counts.size)
    struct.pack_into("<dd", block, 8, 7.5, 15.0)
    struct.pack_into("<d", block, 176, 0.05)
    content = bytes(header + block) + struct.pack(f"<{counts.size}f", *counts)
    pattern = read_pattern(_write(tmp_path, "co.raw", content))
    assert pattern.metadata["version"] == "3"
    assert pattern.wavelength == 1.788965
    np.testing.assert_allclose(pattern.two_theta, 15.0 + 0.05 * np.arange(60))
    np.testing.assert_array_equal(pattern.intensity, counts)


def test_bruker_raw_v2_layout(tmp_path: Path) -> None:
    counts = np.arange(200.0, 240.0)
    header = bytearray(256)
    header[0:4] = b"RAW2"
    struct.pack_into("<H", header, 4, 1)
    struct.pack_into("<f", header, 190, 1.540562)
    block = bytearray(48)
    struct.pack_into("<HH", block, 0, 48, counts.size)
    struct.pack_into("<fff", block, 8, 2.0, 0.25, 12.5)
    content = bytes(header + block) + struct.pack(f"<{counts.size}f", *counts)
    pattern = read_pattern(_write(tmp_path, "old.raw", content))
    assert pattern.metadata["version"] == "2"
    assert pattern.wavelength == pytest.approx(1.540562, abs=1e-6)
    np.testing.assert_allclose(pattern.two_theta, 12.5 + 0.25 * np.arange(40))
    np.testing.assert_array_equal(pattern.intensity, counts)


def test_gsas_time_of_flight_rejected(tmp_path: Path) -> None:
    content = "TOF data\nBANK 1 100 20 TIME_MAP 1 100 0 0 STD\n" + "  100   " * 10 + "\n"
    _expect_error(_write(tmp_path, "tof.gsa", content), "time-of-flight")


def test_gsas_bank_shorter_than_declared(tmp_path: Path) -> None:
    lines = (PATTERNS / "si_std.gsa").read_text().splitlines()
    _expect_error(_write(tmp_path, "short.gsa", "\n".join(lines[:-5]) + "\n"), "declares 601")


def test_ras_without_data_block(tmp_path: Path) -> None:
    content = '*RAS_DATA_START\n*RAS_HEADER_START\n*FILE_SAMPLE "x"\n*RAS_HEADER_END\n'
    _expect_error(_write(tmp_path, "empty.ras", content), "no *RAS_INT_START")


def test_ras_blocks_are_joined(tmp_path: Path) -> None:
    def block(start: float) -> str:
        rows = "\n".join(f"{start + 0.5 * i:.2f} {10 + i} 1.0" for i in range(15))
        header = '*RAS_HEADER_START\n*MEAS_SCAN_AXIS_X "TwoThetaTheta"\n*RAS_HEADER_END\n'
        return f"{header}*RAS_INT_START\n{rows}\n*RAS_INT_END\n"

    content = "*RAS_DATA_START\n" + block(10.0) + block(20.0) + "*RAS_DATA_END\n"
    pattern = read_pattern(_write(tmp_path, "two.ras", content))
    assert len(pattern) == 30 and pattern.metadata["blocks"] == "2"
    assert pattern.two_theta[15] == 20.0
