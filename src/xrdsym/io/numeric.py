"""Bounded parsing of numbers: points are counted before they are materialised.

A file's numbers become numpy arrays here, never lists of Python objects, so the memory a
file can claim while it is parsed is a fixed multiple of its size and is capped by
:data:`MAX_POINTS` (the bounds measured on generated files are in ``docs/safety.md``):

* a block of numbers parsed by numpy costs 8 bytes per value, and every value takes at least
  2 bytes of text (a digit and a separator): at most 4x the text it comes from;
* a text is split into lines only after :func:`check_line_count` counted its line breaks in
  one pass without copying (at most :data:`MAX_LINES` lines);
* a table is at most :data:`MAX_COLUMNS` wide.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from xrdsym.errors import PatternFileError

#: Most points a pattern may have: measured scans have at most about 100,000.
MAX_POINTS = 2_000_000

#: Header, comment and blank lines allowed beside the data rows.
MAX_HEADER_LINES = 100_000

#: Most lines a text pattern (or a text member of an archive) may have.
MAX_LINES = MAX_POINTS + MAX_HEADER_LINES

#: Widest numeric table read (2theta, intensity, error and a few more columns).
MAX_COLUMNS = 16

#: Longest line read as a row of numbers (MAX_COLUMNS fields of 64 characters).
MAX_ROW_CHARS = 64 * MAX_COLUMNS

#: The characters ``str.splitlines`` breaks a line at (``\r\n`` counts once).
_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_BYTE_BREAKS = (b"\n", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x85")


def line_count(text: str | bytes) -> int:
    """Upper bound on the lines ``text.splitlines()`` yields, counted without copying."""
    if isinstance(text, bytes):
        breaks = sum(text.count(b) for b in _BYTE_BREAKS) - text.count(b"\r\n")
    else:
        breaks = sum(text.count(c) for c in _LINE_BREAKS) - text.count("\r\n")
    return breaks + 1


def check_line_count(text: str | bytes, source: str, what: str = "the file") -> None:
    """Refuse a text with more lines than :data:`MAX_LINES`.

    Raises:
        PatternFileError: too many lines (the message gives the count and the limit).
    """
    lines = line_count(text)
    if lines > MAX_LINES:
        raise PatternFileError(
            f"{source}: {what} has {lines:,} lines, more than the {MAX_LINES:,} a pattern of "
            f"at most {MAX_POINTS:,} points can need"
        )


def check_point_count(points: int, source: str, what: str = "the scan") -> None:
    """Refuse more than :data:`MAX_POINTS` points.

    Raises:
        PatternFileError: too many points.
    """
    if points > MAX_POINTS:
        raise PatternFileError(
            f"{source}: {what} has {points:,} points, more than the {MAX_POINTS:,} limit "
            "(measured scans have at most about 100,000)"
        )


def check_row_length(data: bytes, source: str, what: str) -> None:
    """Refuse a block of rows with a line longer than :data:`MAX_ROW_CHARS`.

    Found from the positions of the line breaks (LF or CR): one byte per byte of text and
    8 per line.

    Raises:
        PatternFileError: the first line that is too long, with its number and length.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero((codes == 10) | (codes == 13))
    ends = np.concatenate([breaks, [codes.size]])
    lengths = np.diff(ends, prepend=-1) - 1
    longest = int(np.argmax(lengths)) if lengths.size else 0
    if lengths.size and lengths[longest] > MAX_ROW_CHARS:
        raise PatternFileError(
            f"{source}: {what}: a line of {int(lengths[longest]):,} characters (line break "
            f"{longest + 1}) is longer than a row of numbers ({MAX_ROW_CHARS} at most)"
        )


def float_values(text: str, source: str, what: str) -> np.ndarray:
    """Whitespace-separated numbers of a text as float64 (at most 4x the text's size).

    Raises:
        PatternFileError: a field that is not a number, or more than :data:`MAX_POINTS`.
    """
    try:
        values = np.fromstring(text, dtype=np.float64, sep=" ")
    except ValueError:
        raise PatternFileError(f"{source}: {what} holds a value that is not a number") from None
    check_point_count(int(values.size), source, what)
    return values


def float_table(
    text: str | bytes,
    source: str,
    what: str,
    delimiter: str | None = None,
    usecols: tuple[int, ...] | None = None,
) -> np.ndarray:
    """A block of numeric rows as a float64 table (rows, columns), parsed by numpy's C reader.

    The lines are counted first (:func:`check_line_count`); every row must have the columns
    of the first (or those in ``usecols``). The table is at most 4x the text's size.

    Raises:
        PatternFileError: too many lines, rows or columns, or a row that is not numbers.
    """
    check_line_count(text, source, what)
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    check_row_length(data, source, what)
    # Bytes, not io.StringIO: StringIO holds 4 bytes per character.
    handle = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(
                handle,
                delimiter=delimiter,
                usecols=usecols,
                ndmin=2,
                dtype=np.float64,
                comments=None,
            )
    except ValueError as exc:
        raise PatternFileError(f"{source}: {what} is not a table of numbers ({exc})") from None
    if table.shape[1] > MAX_COLUMNS:
        raise PatternFileError(
            f"{source}: {what} has {table.shape[1]} columns, more than {MAX_COLUMNS}"
        )
    check_point_count(int(table.shape[0]), source, what)
    return table
