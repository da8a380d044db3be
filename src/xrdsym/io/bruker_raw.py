"""Bruker / Siemens binary .raw files (DIFFRAC-AT and DIFFRAC plus), versions 1 to 4.

All numbers are little-endian. Offsets in bytes (layouts as documented in the DIFFRAC-AT and
DIFFRAC plus manuals and implemented by xylib and GSAS-II):

* v1, magic ``"RAW "``: per range a 152-byte header (starting after the magic in the first
  range; later ranges may repeat the magic): u32 steps @0, f32 step @8, f32 start 2theta @20,
  char[32] sample @36, f32 K-alpha1 @68, u32 "another range follows" @148; then ``steps``
  float32 counts.
* v2, magic ``"RAW2"``: u16 range count @4, f32 K-alpha1 @190; ranges from @256, each with
  u16 header length @0, u16 steps @2, f32 step @12, f32 start @16, counts after the header.
* v3, magic ``"RAW1.01"``: 712-byte file header (u32 range count @12, char[4] anode @608,
  f64 K-alpha1 @624); per range: u32 header length @0 (304), u32 steps @4, f64 start 2theta
  @16, f64 step @176, u32 record size @252 (4 when zero), u32 supplementary header size @256;
  counts (first float32 of each record) after the headers.
* v4, magic ``"RAW4.00"``: a 61-byte preamble, then a chain of segments (u32 kind, u32
  length). Kind 30 holds the tube: f64 K-alpha-average, K-alpha1, K-alpha2, K-beta, ratio @72
  and char[4] anode @116. Kind 0 or 160 starts a range: char[24] scan type @32, f64 start
  @72, f64 step @80, u32 steps @88, f64 wavelength @112, u32 record size @136, u32 size of
  the nested header segments @140 (which follow @160); then ``steps`` records whose first
  float32 is the intensity. The chain resumes after the records.

Several ranges are joined when each starts above the end of the previous one; otherwise the
first range is read and ``metadata["ranges"]`` says how many there were.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.pattern import Pattern, validated_pattern

MAGIC_V1 = b"RAW "
MAGIC_V2 = b"RAW2"
MAGIC_V3 = b"RAW1.01"
MAGIC_V4 = b"RAW4.00"

V1_RANGE_HEADER = 152
V2_FIRST_RANGE = 256
V3_FILE_HEADER = 712
V4_PREAMBLE = 61
V4_RANGE_MARKERS = (0, 160)
V4_RANGE_HEADER = 160
V4_TUBE_SEGMENT = 30

#: Sanity bound on the number of points of one range: a larger count means a corrupt header.
MAX_STEPS = 10_000_000


@dataclass(frozen=True)
class _Range:
    """One measured range: 2theta start and step (degrees) and the intensities."""

    start: float
    step: float
    counts: np.ndarray

    @property
    def two_theta(self) -> np.ndarray:
        """2theta of each point: start + i * step, degrees."""
        return self.start + self.step * np.arange(self.counts.size)


class _Reader:
    """Bounds-checked little-endian reads from a byte string, raising PatternFileError."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source

    def unpack(self, fmt: str, offset: int, what: str) -> tuple:
        """``struct.unpack_from('<' + fmt)`` at ``offset``."""
        try:
            return struct.unpack_from("<" + fmt, self.data, offset)
        except struct.error:
            raise PatternFileError(
                f"{self.source}: the file ends inside {what} (offset {offset}); truncated?"
            ) from None

    def text(self, offset: int, length: int) -> str:
        """A NUL-padded fixed-width text field."""
        return self.data[offset : offset + length].split(b"\0")[0].decode("latin-1").strip()

    def records(self, offset: int, steps: int, stride: int, what: str) -> np.ndarray:
        """``steps`` float32 values, the first 4 bytes of each ``stride``-byte record."""
        if steps < 1 or steps > MAX_STEPS:
            raise PatternFileError(f"{self.source}: {what} declares {steps} points")
        end = offset + steps * stride
        if end > len(self.data):
            raise PatternFileError(
                f"{self.source}: {what} needs {end} bytes but the file has {len(self.data)}; "
                "truncated?"
            )
        raw = np.frombuffer(self.data, dtype=np.uint8, count=steps * stride, offset=offset)
        return raw.reshape(steps, stride)[:, :4].copy().view("<f4").ravel().astype(np.float64)


@dataclass(frozen=True)
class _RangeHeader:
    """Where one range's counts lie: 2theta ``start`` and ``step`` (degrees), ``steps``
    points, records of ``stride`` bytes, the first at ``data_offset`` bytes from the header."""

    start: float
    step: float
    steps: int
    stride: int
    data_offset: int


def _positive(value: float) -> float | None:
    """``value`` as a float when it is > 0 (a stated wavelength), else None (not stated)."""
    return float(value) if value > 0 else None


def _record_stride(record_size: int) -> int:
    """Bytes per record: ``record_size`` when it is a positive multiple of 4, else 4."""
    return record_size if record_size >= 4 and record_size % 4 == 0 else 4


def _range_at(r: _Reader, offset: int, header: _RangeHeader, number: int) -> tuple[_Range, int]:
    """Range ``number`` (1-based) whose header is at ``offset``, and the offset after its
    records (``offset + data_offset + stride * steps``)."""
    data_at = offset + header.data_offset
    counts = r.records(data_at, header.steps, header.stride, f"range {number}")
    return _Range(header.start, header.step, counts), data_at + header.stride * header.steps


def _read_v1(r: _Reader) -> tuple[list[_Range], float | None]:
    """Ranges and K-alpha1 of a version-1 file."""
    ranges: list[_Range] = []
    offset = len(MAGIC_V1)
    wavelength: float | None = None
    while True:
        if r.data[offset : offset + 4] == MAGIC_V1:
            offset += 4
        (steps,) = r.unpack("I", offset, "a range header")
        (step,) = r.unpack("f", offset + 8, "a range header")
        (start,) = r.unpack("f", offset + 20, "a range header")
        (k_alpha1,) = r.unpack("f", offset + 68, "a range header")
        (following,) = r.unpack("I", offset + 148, "a range header")
        header = _RangeHeader(float(start), float(step), steps, 4, V1_RANGE_HEADER)
        measured, offset = _range_at(r, offset, header, len(ranges) + 1)
        ranges.append(measured)
        wavelength = wavelength or _positive(k_alpha1)
        if following == 0 or offset >= len(r.data):
            return ranges, wavelength


def _v2_header(r: _Reader, offset: int) -> _RangeHeader:
    """The range header of a version-2 file at ``offset``."""
    header_length, steps = r.unpack("HH", offset, "a range header")
    step, start = r.unpack("ff", offset + 12, "a range header")
    return _RangeHeader(float(start), float(step), steps, 4, header_length)


def _v3_header(r: _Reader, offset: int) -> _RangeHeader:
    """The range header of a version-3 file at ``offset``."""
    header_length, steps = r.unpack("II", offset, "a range header")
    (start,) = r.unpack("d", offset + 16, "a range header")
    (step,) = r.unpack("d", offset + 176, "a range header")
    record_size, supplementary = r.unpack("II", offset + 252, "a range header")
    return _RangeHeader(
        start, step, steps, _record_stride(record_size), header_length + supplementary
    )


def _v4_header(r: _Reader, offset: int) -> tuple[_RangeHeader, float]:
    """The range segment header of a version-4 file at ``offset``, and the wavelength it
    states (Angstrom; 0 when none)."""
    start, step = r.unpack("dd", offset + 72, "a range header")
    (steps,) = r.unpack("I", offset + 88, "a range header")
    (wavelength,) = r.unpack("d", offset + 112, "a range header")
    record_size, nested = r.unpack("II", offset + 136, "a range header")
    stride = _record_stride(record_size)
    return _RangeHeader(start, step, steps, stride, V4_RANGE_HEADER + nested), wavelength


def _counted_ranges(
    r: _Reader, n_ranges: int, offset: int, header_at: Callable[[_Reader, int], _RangeHeader]
) -> list[_Range]:
    """The ``n_ranges`` consecutive ranges from ``offset`` (v2, v3), each header read by
    ``header_at`` and followed by its records."""
    ranges: list[_Range] = []
    for i in range(n_ranges):
        measured, offset = _range_at(r, offset, header_at(r, offset), i + 1)
        ranges.append(measured)
    return ranges


def _read_v2(r: _Reader) -> tuple[list[_Range], float | None]:
    """Ranges and K-alpha1 of a version-2 file."""
    (n_ranges,) = r.unpack("H", 4, "the file header")
    (k_alpha1,) = r.unpack("f", 190, "the file header")
    return _counted_ranges(r, n_ranges, V2_FIRST_RANGE, _v2_header), _positive(k_alpha1)


def _read_v3(r: _Reader) -> tuple[list[_Range], float | None]:
    """Ranges and K-alpha1 of a version-3 (``RAW1.01``) file."""
    (n_ranges,) = r.unpack("I", 12, "the file header")
    (k_alpha1,) = r.unpack("d", 624, "the file header")
    return _counted_ranges(r, n_ranges, V3_FILE_HEADER, _v3_header), _positive(k_alpha1)


def _read_v4(r: _Reader) -> tuple[list[_Range], float | None]:
    """Ranges and K-alpha1 of a version-4 (``RAW4.00``) file, walking the segment chain."""
    ranges: list[_Range] = []
    tube_k_alpha1: float | None = None
    range_wavelength: float | None = None
    offset = V4_PREAMBLE
    while offset + 8 <= len(r.data):
        (kind,) = r.unpack("I", offset, "a segment header")
        if kind in V4_RANGE_MARKERS:
            header, wavelength = _v4_header(r, offset)
            measured, offset = _range_at(r, offset, header, len(ranges) + 1)
            ranges.append(measured)
            range_wavelength = range_wavelength or _positive(wavelength)
            continue
        (length,) = r.unpack("I", offset + 4, "a segment header")
        if length < 8:
            raise PatternFileError(
                f"{r.source}: segment of kind {kind} at offset {offset} has length {length}"
            )
        if kind == V4_TUBE_SEGMENT and length >= 112:
            (k_alpha1,) = r.unpack("d", offset + 80, "the tube segment")
            tube_k_alpha1 = _positive(k_alpha1)
        offset += length
    return ranges, tube_k_alpha1 or range_wavelength


def read_bruker_raw(path: Path, data: bytes) -> Pattern:
    """Read a Bruker binary .raw file (versions 1-4).

    Raises:
        PatternFileError: unknown magic bytes, truncated headers, no range, invalid values.
    """
    source = str(path)
    reader = _Reader(data, source)
    if data.startswith(MAGIC_V4):
        version, (ranges, wavelength) = "4", _read_v4(reader)
    elif data.startswith(MAGIC_V3):
        version, (ranges, wavelength) = "3", _read_v3(reader)
    elif data.startswith(MAGIC_V2):
        version, (ranges, wavelength) = "2", _read_v2(reader)
    elif data.startswith(MAGIC_V1):
        version, (ranges, wavelength) = "1", _read_v1(reader)
    else:
        raise PatternFileError(f"{source}: not a Bruker RAW file (starts with {data[:8]!r})")
    if not ranges:
        raise PatternFileError(f"{source}: Bruker RAW v{version} file without a measured range")
    joinable = all(b.start > a.two_theta[-1] for a, b in zip(ranges[:-1], ranges[1:], strict=True))
    used = ranges if joinable else ranges[:1]
    metadata = {"format": "bruker_raw", "version": version, "ranges": str(len(ranges))}
    return validated_pattern(
        np.concatenate([rg.two_theta for rg in used]),
        np.concatenate([rg.counts for rg in used]),
        source,
        wavelength=wavelength,
        metadata=metadata,
    )
