"""Rigaku .ras text files (SmartLab, Ultima, MiniFlex).

Layout::

    *RAS_DATA_START
    *RAS_HEADER_START
    *KEY "value"                          e.g. *HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"
    *RAS_HEADER_END
    *RAS_INT_START
    2theta intensity attenuation-factor   one row per point
    *RAS_INT_END
    ... further header/data blocks ...
    *RAS_DATA_END

The intensity is the second column multiplied by the third (the attenuator coefficient Rigaku
writes beside each count; 1 when no attenuator was in the beam). Several blocks are joined
when each one starts above the end of the previous one (a scan split into ranges); otherwise
only the first block is read and ``metadata["blocks"]`` says how many there were. Header text
may be Shift-JIS; only the ASCII keys and numbers are used.
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

#: Scan axes that are not 2theta: a file scanned along one of them is not a powder pattern.
NON_TWO_THETA_AXES = frozenset({"omega", "chi", "phi", "z", "rx", "ry", "psi", "alpha", "beta"})

_KEY_RE = re.compile(r'^\*(\w[\w-]*)\s+"(.*)"\s*$')


@dataclass
class _Block:
    """One header + intensity block of a .ras file.

    Attributes:
        header: the ``*KEY "value"`` pairs.
        two_theta: first column of each row, degrees.
        intensity: second column x third (attenuator factor, 1 when absent) of each row.
        short_row: 1-based index of the first row with one column, or 0.
    """

    header: dict[str, str] = field(default_factory=dict)
    two_theta: array[float] = field(default_factory=lambda: array("d"))
    intensity: array[float] = field(default_factory=lambda: array("d"))
    short_row: int = 0

    def add(self, values: list[float]) -> None:
        """Append one data row."""
        if len(values) < 2:
            self.short_row = self.short_row or len(self.two_theta) + 1
            values = [*values, 0.0, 0.0]
        self.two_theta.append(values[0])
        self.intensity.append(values[1] * (values[2] if len(values) > 2 else 1.0))


def _decode(data: bytes) -> str:
    """Text of a .ras file: UTF-8, else Shift-JIS (cp932), else Latin-1."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _blocks(text: str, source: str) -> list[_Block]:
    """Header/data blocks of a .ras file.

    Raises:
        PatternFileError: a non-numeric row inside an intensity block.
    """
    check_line_count(text, source)
    blocks: list[_Block] = []
    current = _Block()
    in_data = False
    points = 0
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "*RAS_HEADER_START":
            current = _Block()
            blocks.append(current)
        elif line == "*RAS_INT_START":
            in_data = True
        elif line == "*RAS_INT_END":
            in_data = False
        elif in_data:
            try:
                if len(line) > MAX_ROW_CHARS:
                    raise ValueError(line)
                current.add([float(v) for v in line.split()])
            except ValueError:
                raise PatternFileError(
                    f"{source}: line {line_no} is not a row of numbers: {line[:60]!r}"
                ) from None
            points += 1
            check_point_count(points, source)
        else:
            match = _KEY_RE.match(line)
            if match:
                current.header[match.group(1)] = match.group(2).strip()
    return [b for b in blocks if b.two_theta]


def _block_arrays(block: _Block, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(2theta, intensity x attenuation factor) of one block.

    Raises:
        PatternFileError: rows with fewer than two columns, or a non-2theta scan axis.
    """
    axis = block.header.get("MEAS_SCAN_AXIS_X", "")
    if re.sub(r"[^a-z]", "", axis.lower()) in NON_TWO_THETA_AXES:
        raise PatternFileError(f"{source}: the scan axis is {axis!r}, not 2theta")
    if block.short_row:
        raise PatternFileError(
            f"{source}: data row {block.short_row} of a block has one column; "
            "2theta and intensity are needed"
        )
    return np.asarray(block.two_theta), np.asarray(block.intensity)


def read_ras(path: Path, data: bytes) -> Pattern:
    """Read a Rigaku .ras file.

    Raises:
        PatternFileError: no intensity block, malformed rows, or invalid values.
    """
    source = str(path)
    blocks = _blocks(_decode(data), source)
    if not blocks:
        raise PatternFileError(f"{source}: no *RAS_INT_START data block")
    parts = [_block_arrays(b, source) for b in blocks]
    joinable = all(
        later[0][0] > earlier[0][-1] for earlier, later in zip(parts[:-1], parts[1:], strict=True)
    )
    used = parts if joinable else parts[:1]
    header = blocks[0].header
    metadata = {"format": "ras", "blocks": str(len(blocks))}
    for key, name in (("HW_XG_TARGET_NAME", "anode"), ("FILE_SAMPLE", "sample")):
        if header.get(key):
            metadata[name] = header[key]
    wavelength_text = header.get("HW_XG_WAVE_LENGTH_ALPHA1", "")
    try:
        wavelength: float | None = float(wavelength_text) if wavelength_text else None
    except ValueError:
        wavelength = None
    return validated_pattern(
        np.concatenate([p[0] for p in used]),
        np.concatenate([p[1] for p in used]),
        source,
        wavelength=wavelength,
        metadata=metadata,
    )
