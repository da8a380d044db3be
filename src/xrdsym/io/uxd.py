"""Bruker/Siemens .uxd text files (DIFFRAC plus export).

Layout used::

    ; comment lines
    _FILEVERSION=1
    _WL1=1.540600                 K-alpha1 wavelength, Angstrom (_WLRATIO, _WL2 ignored)
    _ANODE="Cu"
    _START=10.000000              first 2theta of a range, degrees
    _STEPSIZE=0.020000
    _STEPCNT=4501
    _COUNTS  or  _CPS             then counts only, one or more values per line, at
                                  _START + i * _STEPSIZE
    _2THETACOUNTS or _2THETACPS   then rows of 2theta and counts

A file can hold several ranges (each with its own ``_START`` ... data); the first is read and
``metadata["ranges"]`` says how many there were.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.numeric import MAX_ROW_CHARS, check_line_count, check_point_count
from xrdsym.io.pattern import Pattern, validated_pattern

_KEY_RE = re.compile(r"^_([A-Za-z0-9]+)\s*(?:=\s*(.*))?$")
_DATA_KEYS = {"COUNTS": False, "CPS": False, "2THETACOUNTS": True, "2THETACPS": True}


@dataclass
class _Range:
    """One measured range: its keys, whether rows carry 2theta, and the numbers read."""

    keys: dict[str, str] = field(default_factory=dict)
    paired: bool = False
    two_theta: array[float] = field(default_factory=lambda: array("d"))
    counts: array[float] = field(default_factory=lambda: array("d"))

    def add(self, values: list[float]) -> None:
        """Append one data line: (2theta, counts) of a paired range (rows with fewer than two
        values are skipped), else every value as counts."""
        if not self.paired:
            self.counts.extend(values)
        elif len(values) >= 2:
            self.two_theta.append(values[0])
            self.counts.append(values[1])


def _ranges(text: str, source: str) -> list[_Range]:
    """The ranges in order; each holds the keys seen since the previous range's data.

    Raises:
        PatternFileError: a data line before any data key, or one that is not numbers.
    """
    check_line_count(text, source)
    ranges: list[_Range] = []
    pending: dict[str, str] = {}
    in_data = False
    points = 0
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        match = _KEY_RE.match(line)
        if match:
            key, value = match.group(1).upper(), (match.group(2) or "").strip().strip('"')
            if key in _DATA_KEYS:
                ranges.append(_Range(keys=pending, paired=_DATA_KEYS[key]))
                pending, in_data = {}, True
            else:
                pending[key], in_data = value, False
            continue
        if not in_data:
            raise PatternFileError(f"{source}: line {line_no} holds data before a _COUNTS key")
        try:
            if len(line) > MAX_ROW_CHARS:
                raise ValueError(line)
            values = [float(v) for v in line.replace(",", " ").split()]
        except ValueError:
            raise PatternFileError(
                f"{source}: line {line_no} is not numbers: {line[:60]!r}"
            ) from None
        ranges[-1].add(values)
        points += len(values)
        check_point_count(points, source, "the data")
    return ranges


def _arrays(block: _Range, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(2theta, counts) of a range."""
    if block.paired:
        return np.asarray(block.two_theta), np.asarray(block.counts)
    counts = np.asarray(block.counts)
    try:
        start = float(block.keys["START"])
        step = float(block.keys["STEPSIZE"])
    except (KeyError, ValueError):
        raise PatternFileError(f"{source}: a _COUNTS range without _START and _STEPSIZE") from None
    return start + step * np.arange(counts.size), counts


def read_uxd(path: Path, data: bytes) -> Pattern:
    """Read the first range of a .uxd file.

    Raises:
        PatternFileError: no data key, a malformed line, or invalid values.
    """
    source = str(path)
    ranges = _ranges(data.decode("latin-1"), source)
    if not ranges:
        raise PatternFileError(f"{source}: no _COUNTS or _2THETACOUNTS data in the file")
    keys = ranges[0].keys
    two_theta, counts = _arrays(ranges[0], source)
    metadata = {"format": "uxd", "ranges": str(len(ranges)), "scan": "1"}
    if keys.get("ANODE"):
        metadata["anode"] = keys["ANODE"]
    wavelength = float(keys["WL1"]) if keys.get("WL1") else None
    return validated_pattern(two_theta, counts, source, wavelength, metadata)
