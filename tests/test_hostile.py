"""Hostile inputs: each cause of unbounded memory, time, crash or silent answer, one case each.

Every input is generated (``tests/hostile.py``); the calls that could claim memory run in a
child process under ``RLIMIT_AS`` and must end with a clear refusal or an answer inside it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hostile import (
    MIB,
    rasx_profile_bomb,
    read_pattern_limited,
    write_brml,
    write_rasx,
    write_text_bomb,
)

from xrdsym.errors import PatternFileError
from xrdsym.io import MAX_POINTS, read_pattern
from xrdsym.io.archive import MAX_XML_ELEMENTS, parse_xml_rows
from xrdsym.io.numeric import MAX_LINES, line_count

#: Address space of a reading child: the interpreter with numpy takes ~100 MiB of it.
READ_LIMIT_MB = 500


@pytest.mark.parametrize("kind", ["short_rows", "one_line", "wide_rows", "tokens"])
def test_rasx_member_of_32_mib_is_parsed_within_500_mb(tmp_path: Path, kind: str) -> None:
    """A 32 MiB profile (stored, so no ratio check stops it) is parsed or refused in 500 MB."""
    path = write_rasx(tmp_path / f"{kind}.rasx", rasx_profile_bomb(32 * MIB, kind))
    run = read_pattern_limited(path, READ_LIMIT_MB)
    assert run.outcome == "PatternFileError", run
    assert str(path) in run.message


def test_rasx_deflated_bomb_like_the_reported_one(tmp_path: Path) -> None:
    """A ~180 KB .rasx inflating to 32 MiB (ratio < 200) is read within 500 MB."""
    profile = rasx_profile_bomb(32 * MIB, "wide_rows")
    path = write_rasx(tmp_path / "bomb.rasx", profile, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 250_000
    run = read_pattern_limited(path, READ_LIMIT_MB)
    assert run.outcome == "PatternFileError", run


def test_text_with_more_lines_than_points_allow_is_refused(tmp_path: Path) -> None:
    """A text pattern with a comment line and MAX_LINES + 1 rows is refused before parsing."""
    path = write_text_bomb(tmp_path / "many.xy", MAX_LINES + 1)
    run = read_pattern_limited(path, READ_LIMIT_MB)
    assert run.outcome == "PatternFileError" and "lines" in run.message, run
    assert run.seconds < 10


def test_text_at_the_point_limit_is_read_within_the_limit(tmp_path: Path) -> None:
    """Two million rows with a comment (line-by-line path) are read in 500 MB."""
    path = tmp_path / "big.xy"
    with open(path, "wb") as handle:
        handle.write(b"# a comment sends this to the line-by-line parser\n")
        step = 170.0 / MAX_POINTS
        for start in range(0, MAX_POINTS, 100_000):
            handle.write(
                "".join(f"{(i + 1) * step:.7f} 1\n" for i in range(start, start + 100_000)).encode()
            )
    run = read_pattern_limited(path, READ_LIMIT_MB)
    assert run.outcome == "ok", run
    assert f"shape=({MAX_POINTS},)" in run.message


def test_long_lines_are_not_split_into_millions_of_fields(tmp_path: Path) -> None:
    """One 16 MiB line of numbers after the data started is refused, not split."""
    path = tmp_path / "long.xy"
    path.write_bytes(b"# c\n" + b"".join(b"%d 1\n" % i for i in range(1, 30)) + b"0 " * 8 * MIB)
    run = read_pattern_limited(path, 300)
    assert run.outcome == "PatternFileError" and "line 31" in run.message, run


def test_streamed_rows_are_counted_while_parsed(tmp_path: Path) -> None:
    """Rows beyond the limit are refused while streamed, before any table is built."""
    path = write_brml(tmp_path / "rows.brml", 50)
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("Experiment0/RawData0.xml")
    with pytest.raises(PatternFileError, match="more than 40 <Datum> rows"):
        parse_xml_rows(xml, "rows.brml", "RawData0.xml", "Datum", "DataRoute", max_rows=40)
    document = parse_xml_rows(xml, "rows.brml", "RawData0.xml", "Datum", "DataRoute")
    assert len(document.rows[0].text().splitlines()) == 50
    assert not [e for e in document.root.iter() if e.tag == "Datum"]


def test_xml_element_count_is_capped(tmp_path: Path) -> None:
    """An XML document with more elements than MAX_XML_ELEMENTS is refused within 500 MB."""
    path = write_brml(tmp_path / "elements.brml", 30, extra_elements=MAX_XML_ELEMENTS + 10)
    run = read_pattern_limited(path, READ_LIMIT_MB)
    assert run.outcome == "PatternFileError" and "XML elements" in run.message, run


def test_xrdml_numbers_are_parsed_by_numpy(tmp_path: Path) -> None:
    """A non-number inside an XRDML intensity list is refused with the element named."""
    text = (Path(__file__).parent / "data" / "patterns" / "si_v15.xrdml").read_text()
    start = text.index("<intensities")
    end = text.index(">", start) + 1
    path = tmp_path / "bad.xrdml"
    path.write_text(text[:end] + "12 x 14 " + text[end:])
    with pytest.raises(PatternFileError, match="<intensities> holds a value that is not a number"):
        read_pattern(path)


def test_line_count_counts_every_break_splitlines_uses() -> None:
    """The line bound counts what str.splitlines splits at (CRLF once)."""
    text = "a\nb\r\nc\rd\x0ce\x1cf\u2028g"
    assert line_count(text) == len(text.splitlines())
    assert line_count(text.encode("latin-1", errors="ignore")) >= len(
        text.encode("latin-1", errors="ignore").splitlines()
    )


def test_point_limit_applies_to_every_reader(tmp_path: Path) -> None:
    """validated_pattern refuses more than MAX_POINTS points whatever the reader."""
    from xrdsym.io import validated_pattern

    n = MAX_POINTS + 1
    import numpy as np

    with pytest.raises(PatternFileError, match="more than the 2,000,000 limit"):
        validated_pattern(np.linspace(1, 100, n), np.ones(n), "big")
