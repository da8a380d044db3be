"""Safe reading of zip-based pattern files (.brml, .rasx) and of their XML.

A zip member is inflated only after its declared size passed :data:`MAX_MEMBER_BYTES` and its
declared compression ratio (size / compressed size) :data:`MAX_RATIO`; the read itself is
bounded by the declared size, so a member that lies about its size cannot grow past it (zip
checks the CRC at the end). XML is parsed with defusedxml: no entity expansion, no external
entities, no DTD retrieval.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from typing import Any

import defusedxml.ElementTree as SafeET

from xrdsym.errors import PatternFileError

#: Largest member inflated, bytes (a 100,000-point XML scan is ~10 MB).
MAX_MEMBER_BYTES = 256 * 1024 * 1024

#: Largest declared compression ratio: XML deflates ~10-30x; a zip bomb declares 1000x+.
MAX_RATIO = 200.0

_BRML_RE = re.compile(r"(?:^|/)RawData\d+\.xml$", re.IGNORECASE)
_RASX_RE = re.compile(r"(?:^|/)Profile\d+\.txt$", re.IGNORECASE)


def open_zip(data: bytes, source: str) -> zipfile.ZipFile:
    """The zip archive in ``data``.

    Raises:
        PatternFileError: not a readable zip archive.
    """
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise PatternFileError(f"{source}: not a readable zip archive ({exc})") from None


def read_member(archive: zipfile.ZipFile, name: str, source: str) -> bytes:
    """The bytes of one member, after the size and ratio checks.

    Raises:
        PatternFileError: too large, suspiciously compressed, corrupt, encrypted or using an
            unsupported compression method.
    """
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise PatternFileError(
            f"{source}: archive member {name} declares {info.file_size / 2**20:.0f} MiB, above "
            f"the {MAX_MEMBER_BYTES // 2**20} MiB limit"
        )
    if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise PatternFileError(
            f"{source}: archive member {name} would inflate {info.compress_size} bytes to "
            f"{info.file_size} (more than {MAX_RATIO:g}x); refused as a possible zip bomb"
        )
    try:
        with archive.open(info) as handle:
            return handle.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise PatternFileError(f"{source}: archive member {name} is corrupt ({exc})") from None
    except NotImplementedError as exc:
        raise PatternFileError(
            f"{source}: archive member {name} uses an unsupported compression ({exc})"
        ) from None
    except RuntimeError as exc:  # encrypted members
        raise PatternFileError(f"{source}: archive member {name} cannot be read ({exc})") from None


def parse_xml(data: bytes, source: str, what: str) -> Any:
    """The root element of an XML document, parsed with defusedxml.

    Raises:
        PatternFileError: malformed XML, forbidden constructs (entities, DTDs) or an unknown
            declared encoding.
    """
    try:
        return SafeET.fromstring(data)
    except SafeET.ParseError as exc:
        raise PatternFileError(f"{source}: {what} is malformed XML ({exc})") from None
    except (ValueError, LookupError) as exc:  # DefusedXmlException is a ValueError
        raise PatternFileError(
            f"{source}: {what} is refused ({type(exc).__name__}: {exc})"
        ) from None


def archive_kind(data: bytes, source: str) -> str:
    """``brml`` or ``rasx`` from the member names of a zip archive.

    Raises:
        PatternFileError: a zip archive of neither kind (the message lists some members).
    """
    with open_zip(data, source) as archive:
        names = archive.namelist()
    if any(_BRML_RE.search(n) for n in names):
        return "brml"
    if any(_RASX_RE.search(n) for n in names):
        return "rasx"
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise PatternFileError(
        f"{source}: a zip archive that is neither a Bruker .brml (Experiment*/RawData*.xml) "
        f"nor a Rigaku .rasx (Data*/Profile*.txt); it holds {len(names)} members: "
        f"{shown or 'none'}"
    )
