"""Two-column text patterns: .xy, .xye, .dat, .txt, .csv.

Layout accepted:

* optional header lines before the data (column titles, instrument settings, anything that is
  not a row of numbers) and comment lines anywhere (starting with ``#``, ``!``, ``%``, ``'``,
  ``;``, ``*`` or ``//``);
* data rows of 2theta (degrees) and intensity separated by spaces, tabs, commas or semicolons
  (with semicolons, a decimal comma is accepted: ``10,5;123``); further columns (the error
  column of .xye) are ignored;
* a wavelength is taken from a header or comment line that states it
  (``wavelength = 1.5406``, ``lambda: 0.7093``, ``Ka1 1.540562``).

Fixed-width writers sometimes glue the two columns together when the intensity needs more
digits than its field (``14.168110228`` for 2theta ``14.1681`` and 10228 counts; seen in
published thin-film data). Such a row is split at the width the first column has in the
other rows, and kept only if the angle it yields continues the scan within half a step
(``metadata["repaired_rows"]`` counts them); otherwise the row is reported as having one column.

Fast path (:func:`fast_columns`): the header is found line by line as above, then the data
block is parsed by numpy's C reader when it is plain (one separator, no comments, no decimal
commas, the same number of columns in every row). Anything else (or any doubt) goes to the
line-by-line parser, which gives the same numbers and the precise error messages.
"""

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.numeric import (
    MAX_COLUMNS,
    MAX_POINTS,
    MAX_ROW_CHARS,
    check_line_count,
    check_point_count,
    float_table,
)
from xrdsym.io.pattern import Pattern, validated_pattern

#: Line prefixes that mark a comment in the text formats seen in practice.
COMMENT_PREFIXES = ("#", "!", "%", "'", ";", "*", "//")

#: A glued row is accepted when its split angle lies within this fraction of the median step
#: of the expected next angle (a wrong split is off by at least a factor of ten).
GLUED_ROW_TOLERANCE = 0.5

#: Stated wavelengths outside this range (Angstrom) are not X-ray anode wavelengths.
WAVELENGTH_RANGE = (0.1, 5.0)

_WAVELENGTH_RE = re.compile(
    r"(?:wave\s*-?\s*length|lambda|k-?alpha\s*1|k\s*a\s*1|alpha\s*1)[^0-9\n]{0,20}?"
    r"([0-9]+\.[0-9]+)",
    re.IGNORECASE,
)
_WHITESPACE_RE = re.compile(r"[ \t]+")


@dataclass
class _Rows:
    """The data rows of a text file, kept compact (8-byte numbers, no object per row).

    Attributes:
        x: first value of each row.
        y: second value (NaN for a one-value row).
        columns: number of values of each row.
        widths: characters up to the end of the first field of each row.
        single: (line number, raw text) of each one-value row, by row index.
    """

    x: array[float] = field(default_factory=lambda: array("d"))
    y: array[float] = field(default_factory=lambda: array("d"))
    columns: array[int] = field(default_factory=lambda: array("l"))
    widths: array[int] = field(default_factory=lambda: array("l"))
    single: dict[int, tuple[int, str]] = field(default_factory=dict)

    def add(self, line_no: int, raw: str, values: list[float], source: str) -> None:
        """Append one row (at most :data:`~xrdsym.io.numeric.MAX_POINTS`)."""
        if len(self.x) >= MAX_POINTS:
            check_point_count(len(self.x) + 1, source)
        if len(values) == 1:
            self.single[len(self.x)] = (line_no, raw)
        self.x.append(values[0])
        self.y.append(values[1] if len(values) > 1 else math.nan)
        self.columns.append(len(values))
        self.widths.append(_first_field_width(raw))


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (with or without BOM), else Latin-1 (never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_fields(line: str) -> list[str]:
    """Split a data line on semicolons, commas, tabs or spaces (a stripped, non-empty line).

    With semicolons as separators, commas are read as decimal commas. A line longer than
    :data:`~xrdsym.io.numeric.MAX_ROW_CHARS` is not split (it is not a row of numbers).
    """
    if len(line) > MAX_ROW_CHARS:
        return [line]
    line = line.rstrip(",;\t ")
    if ";" in line:
        parts = line.replace(",", ".").split(";")
    elif "," in line:
        parts = line.split(",")
    else:
        return _WHITESPACE_RE.split(line)
    fields: list[str] = []
    for part in parts:
        fields.extend(_WHITESPACE_RE.split(part.strip()) if part.strip() else [""])
    return fields


def parse_numbers(fields: list[str]) -> list[float] | None:
    """The fields as floats, or None when any field is not a number."""
    if len(fields) > MAX_COLUMNS:
        return None
    try:
        return [float(f) for f in fields]
    except ValueError:
        return None


def stated_wavelength(lines: list[str]) -> float | None:
    """The first wavelength (Angstrom) stated in header/comment lines, or None."""
    for line in lines:
        match = _WAVELENGTH_RE.search(line)
        if match:
            value = float(match.group(1))
            if WAVELENGTH_RANGE[0] <= value <= WAVELENGTH_RANGE[1]:
                return value
    return None


def _first_field_width(raw: str) -> int:
    """Characters up to the end of the first field, leading blanks included."""
    stripped = raw.lstrip()
    token = _WHITESPACE_RE.split(stripped, maxsplit=1)[0]
    return len(raw) - len(stripped) + len(token)


def _repair_glued_rows(rows: _Rows, source: str) -> int:
    """Split one-value rows whose two columns were printed without a separator, in place.

    Returns:
        The number of rows repaired.

    Raises:
        PatternFileError: a one-value row that cannot be split consistently.
    """
    paired = np.asarray(rows.columns) >= 2
    if int(paired.sum()) < 2:
        return 0
    width = int(np.bincount(np.asarray(rows.widths)[paired]).argmax())
    step = float(np.median(np.abs(np.diff(np.asarray(rows.x)[paired]))))
    repaired = 0
    for i, (line_no, text) in rows.single.items():
        raw = text.rstrip()
        split = parse_numbers([raw[:width].strip(), raw[width:].strip()])
        expected = None if i == 0 else rows.x[i - 1] + step
        if (
            split is None
            or raw[:width].strip() == ""
            or raw[width:].strip() == ""
            or expected is None
            or abs(split[0] - expected) > GLUED_ROW_TOLERANCE * step
        ):
            raise PatternFileError(
                f"{source}: line {line_no} has one column ({raw.strip()!r}); "
                "a pattern needs 2theta and intensity columns"
            )
        rows.x[i], rows.y[i] = split[0], split[1]
        rows.columns[i] = 2
        repaired += 1
    return repaired


def _scan_lines(text: str, source: str) -> tuple[list[str], _Rows]:
    """Split a text file into header/comment lines and numeric data rows.

    Raises:
        PatternFileError: a non-numeric line after the data has started, or more lines or
            rows than :mod:`xrdsym.io.numeric` allows.
    """
    check_line_count(text, source)
    header: list[str] = []
    rows = _Rows()
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(COMMENT_PREFIXES):
            header.append(line)
            continue
        values = parse_numbers(split_fields(line))
        if values is None:
            if not rows.x:
                header.append(line)
                continue
            raise PatternFileError(
                f"{source}: line {line_no} is not a row of numbers: {line[:60]!r}"
            )
        rows.add(line_no, raw, values, source)
    return header, rows


#: Characters that send the data block to the line-by-line parser.
_SLOW_MARKERS = ("#", "!", "%", "'", ";", "*", "//")


def _header_end(text: str) -> tuple[list[str], int]:
    """Header/comment lines before the first row of numbers, and that row's offset in text.

    Only the lines before the data are split off, so the cost does not grow with the data.
    """
    header: list[str] = []
    offset = 0
    while offset < len(text):
        newline = text.find("\n", offset)
        end = len(text) if newline < 0 else newline
        line = text[offset:end].strip()
        if line and not line.startswith(COMMENT_PREFIXES) and parse_numbers(split_fields(line)):
            return header, offset
        if line:
            header.append(line)
        offset = end + 1
    return header, len(text)


def fast_columns(text: str) -> tuple[list[str], np.ndarray] | None:
    """(header lines, table (n, columns)) by numpy's C parser, or None to use the slow path.

    The data block must use one separator (tab/space or comma, no semicolons), hold no
    comment marker, and have the same number of columns in every row.
    """
    header, start = _header_end(text)
    body = text[start:]
    if not body.strip() or any(marker in body for marker in _SLOW_MARKERS):
        return None
    first = body[: body.find("\n")] if "\n" in body else body
    if len(split_fields(first.strip())) > MAX_COLUMNS:
        return None
    delimiter = "," if "," in first else None
    try:
        table = float_table(body, "", "the data", delimiter)
    except PatternFileError:
        return None
    if table.shape[1] < 2:
        return None
    return header, table


def read_text(path: Path, data: bytes) -> Pattern:
    """Read a two-column text pattern (2theta in degrees, intensity; extra columns ignored).

    Raises:
        PatternFileError: no data rows, a single column, non-numeric rows, or a pattern that
            fails :func:`xrdsym.io.pattern.validated_pattern`.
    """
    source = str(path)
    text = decode_text(data)
    fast = fast_columns(text)
    if fast is not None:
        header, table = fast
        metadata = {"format": "text", "columns": str(table.shape[1])}
        if header:
            metadata["header"] = header[0][:200]
        return validated_pattern(
            table[:, 0],
            table[:, 1],
            source,
            wavelength=stated_wavelength(header),
            metadata=metadata,
        )
    return read_text_lines(text, source)


def read_text_lines(text: str, source: str) -> Pattern:
    """The line-by-line parser (comments anywhere, mixed separators, glued rows).

    Raises:
        PatternFileError: as :func:`read_text`.
    """
    header, rows = _scan_lines(text, source)
    if not rows.x:
        raise PatternFileError(f"{source}: no rows of numbers found")
    if len(rows.single) == len(rows.x):
        raise PatternFileError(
            f"{source}: the data has one column; a pattern needs 2theta and intensity columns"
        )
    repaired = _repair_glued_rows(rows, source)
    n_columns = int(np.bincount(np.asarray(rows.columns)).argmax())
    metadata = {"format": "text", "columns": str(n_columns)}
    if repaired:
        metadata["repaired_rows"] = str(repaired)
    if header:
        metadata["header"] = header[0][:200]
    return validated_pattern(
        np.asarray(rows.x),
        np.asarray(rows.y),
        source,
        wavelength=stated_wavelength(header),
        metadata=metadata,
    )
