"""The table of pattern file formats and the dispatcher ``read_pattern``.

Each format is a row of :data:`FORMATS`: a name, the file extensions it uses, a test on the
first bytes of the file (magic bytes or a characteristic keyword) and the reader function.
Every reader takes ``(path, bytes)`` and returns a :class:`~xrdsym.io.pattern.Pattern`.

Detection (``format=None``): a zip archive is a .brml or a .rasx by its member names (anything
else is refused with what it holds); otherwise the content decides first (the first format
whose magic test matches the first :data:`SNIFF_BYTES` bytes); then the extension: an
extension that belongs to a format with magic bytes the content lacks is an error (a
``.xrdml`` that is not XML says more than a text parse error would); binary content of unknown
kind is an error; anything else is read as two-column text.

Only regular files are opened (a FIFO would block, ``/dev/zero`` never ends), and none larger
than :data:`MAX_FILE_BYTES`; a text format (everything but the zip archives and the binary
.raw) is refused above :data:`MAX_TEXT_BYTES` or :data:`~xrdsym.io.numeric.MAX_LINES` lines
before it is decoded or split.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from xrdsym.errors import PatternFileError, XrdsymError
from xrdsym.io.archive import archive_kind
from xrdsym.io.brml import read_brml
from xrdsym.io.bruker_raw import MAGIC_V1, MAGIC_V2, MAGIC_V3, MAGIC_V4, read_bruker_raw
from xrdsym.io.gsas import read_gsas
from xrdsym.io.numeric import MAX_POINTS, check_line_count
from xrdsym.io.pattern import Pattern
from xrdsym.io.ras import read_ras
from xrdsym.io.rasx import read_rasx
from xrdsym.io.text import read_text
from xrdsym.io.uxd import read_uxd
from xrdsym.io.xrdml import read_xrdml

#: How much of the file the magic tests see.
SNIFF_BYTES = 4096

#: Largest pattern file read, bytes.
MAX_FILE_BYTES = 512 * 1024 * 1024

#: Largest text pattern: MAX_POINTS rows of 64 characters (a 100,000-point scan is ~3 MB).
MAX_TEXT_BYTES = 64 * MAX_POINTS

#: Formats whose content is text (decoded and split into lines by their readers).
TEXT_FORMATS = frozenset({"xrdml", "ras", "uxd", "gsas", "text"})

#: Share of control characters (other than tab, CR, LF) above which content counts as binary.
BINARY_CONTROL_FRACTION = 0.05

_GSAS_BANK_RE = re.compile(rb"(?m)^BANK\s+\d+\s+\d+")
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 12, 13})


@dataclass(frozen=True)
class PatternFormat:
    """One supported file format.

    Attributes:
        name: identifier accepted by ``read_pattern(..., format=name)``.
        description: human-readable name used in messages.
        extensions: lower-case file extensions, with the dot.
        sniff: test on the first bytes of a file, or None for the text fallback.
        read: reader ``(path, content) -> Pattern``.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool] | None
    read: Callable[[Path, bytes], Pattern]


def _is_bruker_raw(head: bytes) -> bool:
    """Bruker RAW magic bytes (any version)."""
    return head.startswith((MAGIC_V4, MAGIC_V3, MAGIC_V2, MAGIC_V1))


def _is_zip(head: bytes) -> bool:
    """Zip local-file-header magic (a .brml is a zip archive)."""
    return head.startswith(b"PK\x03\x04")


def _is_xrdml(head: bytes) -> bool:
    """XML whose first kilobytes mention the XRDML root element."""
    return head.lstrip().startswith(b"<") and b"xrdMeasurement" in head


def _is_ras(head: bytes) -> bool:
    """Rigaku RAS block keywords."""
    return head.lstrip().startswith(b"*RAS_") or b"*RAS_HEADER_START" in head


def _is_uxd(head: bytes) -> bool:
    """UXD keys: ``_FILEVERSION``, ``_WL1=`` or a data key at the start of a line."""
    return re.search(rb"(?m)^_(FILEVERSION|WL1\s*=|2THETACOUNTS|COUNTS\s*$)", head) is not None


def _is_gsas(head: bytes) -> bool:
    """A GSAS ``BANK <n> <nchan>`` line near the start of the file."""
    return _GSAS_BANK_RE.search(head) is not None


#: The supported formats, in detection order.
FORMATS: tuple[PatternFormat, ...] = (
    PatternFormat("bruker_raw", "Bruker RAW (binary)", (".raw",), _is_bruker_raw, read_bruker_raw),
    PatternFormat("brml", "Bruker BRML (zip)", (".brml",), _is_zip, read_brml),
    PatternFormat("rasx", "Rigaku RASX (zip)", (".rasx",), _is_zip, read_rasx),
    PatternFormat("xrdml", "PANalytical XRDML", (".xrdml",), _is_xrdml, read_xrdml),
    PatternFormat("ras", "Rigaku RAS", (".ras",), _is_ras, read_ras),
    PatternFormat("uxd", "Bruker UXD", (".uxd",), _is_uxd, read_uxd),
    PatternFormat("gsas", "GSAS raw data", (".gsa", ".gsas", ".gs", ".fxye"), _is_gsas, read_gsas),
    PatternFormat(
        "text",
        "two-column text",
        (".xy", ".xye", ".dat", ".txt", ".csv"),
        None,
        read_text,
    ),
)


def list_formats() -> list[str]:
    """Names of the supported formats, in detection order."""
    return [f.name for f in FORMATS]


def get_format(name: str) -> PatternFormat:
    """The format called ``name``.

    Raises:
        PatternFileError: unknown name (the message lists the known ones).
    """
    for fmt in FORMATS:
        if fmt.name == name.lower():
            return fmt
    raise PatternFileError(f"unknown pattern format {name!r}; known: {', '.join(list_formats())}")


def looks_binary(head: bytes) -> bool:
    """True for content with NUL bytes or many other control characters."""
    if not head or b"\0" in head:
        return bool(head)
    controls = sum(head.count(bytes([c])) for c in _CONTROL_BYTES)
    return controls > BINARY_CONTROL_FRACTION * len(head)


def detect_format(path: Path, content: bytes) -> PatternFormat:
    """The format of a file from its content, then its extension.

    Raises:
        PatternFileError: the extension promises a format the content does not have, or the
            content is binary of no known format.
    """
    head = content[:SNIFF_BYTES]
    if _is_zip(head):
        return get_format(archive_kind(content, str(path)))
    for fmt in FORMATS:
        if fmt.sniff is not None and fmt.sniff(head):
            return fmt
    suffix = path.suffix.lower()
    by_extension = next((f for f in FORMATS if suffix in f.extensions), None)
    if by_extension is not None and by_extension.sniff is not None and suffix != ".raw":
        raise PatternFileError(
            f"{path}: the extension {suffix} stands for {by_extension.description}, "
            "but the content is not in that format"
        )
    if looks_binary(head):
        raise PatternFileError(
            f"{path}: binary file of unknown format (first bytes {head[:8]!r}); supported: "
            + ", ".join(f.description for f in FORMATS)
        )
    return FORMATS[-1]


#: Low-level failures a reader may hit on malformed content; reported as PatternFileError.
_READER_ERRORS = (
    ValueError,
    KeyError,
    IndexError,
    struct.error,
    zipfile.BadZipFile,
    ET.ParseError,
    EOFError,
    OverflowError,
    LookupError,
    UnicodeError,
    zlib.error,
    NotImplementedError,
    MemoryError,
)


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular_file(
    file: Path, what: str = "a pattern file", error: type[XrdsymError] = PatternFileError
) -> BinaryIO:
    """A regular file opened for reading in binary mode.

    The file is checked with ``stat`` before it is opened (opening a FIFO blocks), opened
    without following a FIFO swapped in since (``O_NONBLOCK``), and checked again on the open
    descriptor.

    Raises:
        error: missing, not a regular file (a directory, FIFO, device, socket) or unreadable;
            the message names the file and ``what`` it should have been.
    """
    try:
        mode = os.stat(file).st_mode
    except FileNotFoundError:
        raise error(f"{file}: no such file") from None
    except OSError as exc:
        raise error(f"{file}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise error(f"{file}: is {_kind(mode)}, not {what}")
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(f"{file}: cannot be read ({exc.strerror})") from None
    handle = os.fdopen(fd, "rb")
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        handle.close()
        raise error(f"{file}: is {_kind(info.st_mode)}, not {what}")
    return handle


def read_regular_file(
    file: Path,
    limit: int = MAX_FILE_BYTES,
    what: str = "a pattern file",
    error: type[XrdsymError] = PatternFileError,
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (:func:`open_regular_file`).

    Raises:
        error: missing, not a regular file, too large or unreadable.
    """
    with open_regular_file(file, what, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise error(
                f"{file}: {size / 2**20:.0f} MiB is above the {limit // 2**20} MiB limit for {what}"
            )
        try:
            # Ask for the stated size (read(n) reserves n bytes), then for what a growing
            # file added, up to the limit.
            data = handle.read(size + 1)
            if len(data) > size:
                data += handle.read(limit + 1 - len(data))
        except OSError as exc:
            raise error(f"{file}: cannot be read ({exc.strerror})") from None
    if len(data) > limit:
        raise error(f"{file}: grew above the {limit // 2**20} MiB limit while read")
    return data


def check_text_size(content: bytes, source: str) -> None:
    """Refuse a text pattern above :data:`MAX_TEXT_BYTES` or with too many lines.

    Raises:
        PatternFileError: too large, or more lines than MAX_POINTS rows can need.
    """
    if len(content) > MAX_TEXT_BYTES:
        raise PatternFileError(
            f"{source}: {len(content) / 2**20:.0f} MiB of text is above the "
            f"{MAX_TEXT_BYTES // 2**20} MiB limit for a text pattern ({MAX_POINTS:,} points "
            "of 64 characters)"
        )
    check_line_count(content, source)


def read_pattern(path: str | Path, format: str | None = None) -> Pattern:
    """Read a measured powder pattern from any supported file.

    Args:
        path: the file.
        format: a name from :func:`list_formats`; None detects it from content and extension.

    Returns:
        The pattern (2theta in degrees, strictly increasing; intensities >= 0).

    Raises:
        PatternFileError: missing, empty, unreadable or invalid file; the message names the
            file and the problem.
    """
    file = Path(path)
    content = read_regular_file(file)
    if not content or content.isspace():  # isspace: no copy of a large file
        raise PatternFileError(f"{file}: the file is empty")
    fmt = get_format(format) if format is not None else detect_format(file, content)
    if fmt.name in TEXT_FORMATS:
        check_text_size(content, str(file))
    try:
        return fmt.read(file, content)
    except PatternFileError:
        raise
    except _READER_ERRORS as exc:
        raise PatternFileError(
            f"{file}: not a readable {fmt.description} file ({type(exc).__name__}: {exc})"
        ) from None
