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

import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
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
class _Row:
    """One data line: its line number, raw text and parsed numbers."""

    line_no: int
    raw: str
    values: list[float]


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (with or without BOM), else Latin-1 (never fails)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_fields(line: str) -> list[str]:
    """Split a data line on semicolons, commas, tabs or spaces (a stripped, non-empty line).

    With semicolons as separators, commas are read as decimal commas.
    """
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


def _repair_glued_rows(rows: list[_Row], source: str) -> int:
    """Split one-value rows whose two columns were printed without a separator, in place.

    Returns:
        The number of rows repaired.

    Raises:
        PatternFileError: a one-value row that cannot be split consistently.
    """
    paired = [r for r in rows if len(r.values) >= 2]
    if len(paired) < 2:
        return 0
    width = Counter(_first_field_width(r.raw) for r in paired).most_common(1)[0][0]
    step = float(np.median(np.abs(np.diff([r.values[0] for r in paired]))))
    repaired = 0
    for i, row in enumerate(rows):
        if len(row.values) != 1:
            continue
        raw = row.raw.rstrip()
        split = parse_numbers([raw[:width].strip(), raw[width:].strip()])
        previous = rows[i - 1].values[0] if i > 0 else None
        expected = None if previous is None else previous + step
        if (
            split is None
            or raw[:width].strip() == ""
            or raw[width:].strip() == ""
            or expected is None
            or abs(split[0] - expected) > GLUED_ROW_TOLERANCE * step
        ):
            raise PatternFileError(
                f"{source}: line {row.line_no} has one column ({raw.strip()!r}); "
                "a pattern needs 2theta and intensity columns"
            )
        row.values = split
        repaired += 1
    return repaired


def _scan_lines(text: str, source: str) -> tuple[list[str], list[_Row]]:
    """Split a text file into header/comment lines and numeric data rows.

    Raises:
        PatternFileError: a non-numeric line after the data has started.
    """
    header: list[str] = []
    rows: list[_Row] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(COMMENT_PREFIXES):
            header.append(line)
            continue
        values = parse_numbers(split_fields(line))
        if values is None:
            if not rows:
                header.append(line)
                continue
            raise PatternFileError(
                f"{source}: line {line_no} is not a row of numbers: {line[:60]!r}"
            )
        rows.append(_Row(line_no, raw, values))
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
    delimiter = "," if "," in first else None
    try:
        table = np.loadtxt(io.StringIO(body), delimiter=delimiter, ndmin=2, dtype=np.float64)
    except ValueError:
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
    if not rows:
        raise PatternFileError(f"{source}: no rows of numbers found")
    if all(len(r.values) == 1 for r in rows):
        raise PatternFileError(
            f"{source}: the data has one column; a pattern needs 2theta and intensity columns"
        )
    repaired = _repair_glued_rows(rows, source)
    n_columns = Counter(len(r.values) for r in rows).most_common(1)[0][0]
    metadata = {"format": "text", "columns": str(n_columns)}
    if repaired:
        metadata["repaired_rows"] = str(repaired)
    if header:
        metadata["header"] = header[0][:200]
    return validated_pattern(
        [r.values[0] for r in rows],
        [r.values[1] for r in rows],
        source,
        wavelength=stated_wavelength(header),
        metadata=metadata,
    )
