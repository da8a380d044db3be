"""GSAS raw powder data (.gsa, .gs, .fxye, .raw text), constant-wavelength banks.

Layout (GSAS manual, "Raw data file formats")::

    title line (80 characters)
    optional lines: "Instrument parameter file: ...", comments starting with '#'
    BANK IBANK NCHAN NREC BINTYP BCOEF1 BCOEF2 BCOEF3 BCOEF4 TYPE
    data records (NREC lines)

BINTYP ``CONST``/``CONS``: 2theta of point i is (BCOEF1 + i * BCOEF2) centidegrees. TYPE:

* ``STD`` (default): ten fields of 8 characters per line, each (I2, F6.0) = number of
  counters (blank = 1) and intensity;
* ``ESD``: five (intensity, esd) pairs per line, fields of 8 characters;
* ``ALT``: four (2theta in centidegrees F8.0, intensity F7.4, esd F5.4) points per line;
* ``FXYE`` / ``FXY``: one free-format point per line: 2theta (centidegrees), intensity, esd.

Time-of-flight banks (``TIME_MAP``, ``RALF``, ``SLOG``) are not 2theta patterns and are
rejected. The first bank is read; ``metadata["banks"]`` says how many the file holds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.numeric import MAX_ROW_CHARS, check_line_count, check_point_count
from xrdsym.io.pattern import Pattern, validated_pattern
from xrdsym.io.text import decode_text, stated_wavelength

#: GSAS stores constant-wavelength 2theta in centidegrees.
CENTIDEGREES_PER_DEGREE = 100.0

CONSTANT_BINNING = ("CONST", "CONS")
TIME_OF_FLIGHT_BINNING = ("TIME_MAP", "RALF", "SLOG")
FIELD_WIDTH = 8
ALT_WIDTHS = (8, 7, 5)

#: Points of one data record of each type.
POINTS_PER_RECORD = {"STD": 10, "ESD": 5, "ALT": 4, "FXYE": 1, "FXY": 1}

_BANK_RE = re.compile(r"^BANK\s", re.IGNORECASE)


def _fixed_fields(line: str, widths: tuple[int, ...]) -> list[str]:
    """Cut a line into repeated fixed-width fields (trailing blank fields dropped)."""
    fields: list[str] = []
    position = 0
    while position < len(line):
        for width in widths:
            fields.append(line[position : position + width])
            position += width
    while fields and not fields[-1].strip():
        fields.pop()
    return fields


def _std_values(lines: list[str]) -> list[float]:
    """Intensities of STD records: (I2, F6.0) fields, the intensity in the last 6 characters."""
    values: list[float] = []
    for line in lines:
        for cell in _fixed_fields(line.rstrip("\r\n"), (FIELD_WIDTH,)):
            values.append(float(cell[2:]) if cell[2:].strip() else 0.0)
    return values


def _esd_values(lines: list[str]) -> list[float]:
    """Intensities of ESD records: (intensity, esd) pairs of 8-character fields."""
    values: list[float] = []
    for line in lines:
        cells = _fixed_fields(line.rstrip("\r\n"), (FIELD_WIDTH,))
        values.extend(float(c) for c in cells[0::2])
    return values


def _alt_points(lines: list[str]) -> tuple[list[float], list[float]]:
    """(2theta centidegrees, intensity) of ALT records: (F8.0, F7.4, F5.4) per point."""
    x: list[float] = []
    y: list[float] = []
    for line in lines:
        cells = _fixed_fields(line.rstrip("\r\n"), ALT_WIDTHS)
        for i in range(0, len(cells) - 1, 3):
            x.append(float(cells[i]))
            y.append(float(cells[i + 1]))
    return x, y


def _free_points(lines: list[str]) -> tuple[list[float], list[float]]:
    """(2theta centidegrees, intensity) of FXYE/FXY records: one free-format point per line."""
    x: list[float] = []
    y: list[float] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 2:
            raise ValueError(f"record {line.strip()!r} has fewer than two values")
        x.append(float(fields[0]))
        y.append(float(fields[1]))
    return x, y


def _bank_data(
    tokens: list[str], records: list[str], source: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """(2theta degrees, intensity, type) of one bank from its BANK line tokens and records.

    Raises:
        PatternFileError: a time-of-flight or unknown binning, or malformed records.
    """
    if len(tokens) < 5:
        raise PatternFileError(f"{source}: BANK line {' '.join(tokens)!r} is incomplete")
    n_channels = int(tokens[2])
    binning = tokens[4].upper()
    kind = tokens[9].upper() if len(tokens) > 9 else "STD"
    if kind not in ("STD", "ESD", "ALT", "FXYE", "FXY"):
        raise PatternFileError(f"{source}: unknown GSAS data type {kind!r}")
    if binning in TIME_OF_FLIGHT_BINNING:
        raise PatternFileError(f"{source}: time-of-flight bank ({binning}), not a 2theta pattern")
    if binning not in CONSTANT_BINNING and kind not in ("FXYE", "FXY", "ALT"):
        raise PatternFileError(f"{source}: unsupported GSAS binning {binning!r}")
    check_point_count(n_channels, source, "the bank")
    records = records[: -(-n_channels // POINTS_PER_RECORD[kind])]
    if kind in ("FXYE", "FXY", "ALT"):
        x, y = _free_points(records) if kind != "ALT" else _alt_points(records)
        centideg = np.array(x[:n_channels])
        intensity = np.array(y[:n_channels])
    else:
        values = _std_values(records) if kind == "STD" else _esd_values(records)
        intensity = np.array(values[:n_channels])
        start, step = float(tokens[5]), float(tokens[6])
        centideg = start + step * np.arange(intensity.size)
    if intensity.size < n_channels:
        raise PatternFileError(
            f"{source}: the bank declares {n_channels} points but holds {intensity.size}"
        )
    return centideg / CENTIDEGREES_PER_DEGREE, intensity, kind


def read_gsas(path: Path, data: bytes) -> Pattern:
    """Read the first constant-wavelength bank of a GSAS raw data file.

    Raises:
        PatternFileError: no BANK line, a time-of-flight bank, malformed records.
    """
    source = str(path)
    text = decode_text(data)
    check_line_count(text, source)
    lines = text.splitlines()
    banks = [i for i, line in enumerate(lines) if _BANK_RE.match(line)]
    if not banks:
        raise PatternFileError(f"{source}: no BANK line (not a GSAS raw file)")
    first = banks[0]
    end = banks[1] if len(banks) > 1 else len(lines)
    records = [line for line in lines[first + 1 : end] if line.strip() and line[0] != "#"]
    long_record = next((r for r in records if len(r) > MAX_ROW_CHARS), None)
    if long_record is not None:
        raise PatternFileError(
            f"{source}: a data record of {len(long_record):,} characters (GSAS records are 80)"
        )
    try:
        two_theta, intensity, kind = _bank_data(lines[first].split(), records, source)
    except ValueError as exc:
        raise PatternFileError(f"{source}: malformed GSAS bank ({exc})") from None
    metadata = {"format": "gsas", "type": kind, "banks": str(len(banks))}
    if lines[0].strip():
        metadata["title"] = lines[0].strip()[:80]
    return validated_pattern(
        two_theta,
        intensity,
        source,
        wavelength=stated_wavelength(lines[:first]),
        metadata=metadata,
    )
