"""Safe reading of zip-based pattern files (.brml, .rasx) and of their XML.

A zip member is inflated only after its declared size passed :data:`MAX_MEMBER_BYTES` and its
declared compression ratio (size / compressed size) :data:`MAX_RATIO`; the read itself is
bounded by the declared size, so a member that lies about its size cannot grow past it (zip
checks the CRC at the end). XML is parsed with defusedxml: no entity expansion, no external
entities, no DTD retrieval; incrementally (``iterparse``), so that the elements are counted
while they are built (at most :data:`MAX_XML_ELEMENTS`) and the rows of a scan (a .brml
``Datum`` per point) are streamed into one text per group instead of staying in the tree.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET

from xrdsym.errors import PatternFileError
from xrdsym.io.numeric import MAX_POINTS

#: Largest member inflated, bytes: MAX_POINTS rows of the most verbose layout (a .brml
#: ``<Datum>`` of ~60 bytes) fit; a 100,000-point XML scan is ~6 MB.
MAX_MEMBER_BYTES = 64 * MAX_POINTS

#: Most elements an XML document may build, besides the streamed rows (a .xrdml or a .brml
#: without its ``Datum`` rows has a few hundred).
MAX_XML_ELEMENTS = 100_000

#: Most ``=`` signs (an upper bound on attributes) an XML document may hold.
MAX_XML_ATTRIBUTES = 1_000_000

#: Rows joined into one string at a time while they are streamed.
_ROW_CHUNK = 4096

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


def _local(tag: str) -> str:
    """Element tag without its ``{namespace}``."""
    return tag.rpartition("}")[2]


@dataclass
class RowText:
    """The texts of the rows of one group, joined by newlines as they arrive."""

    chunks: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Append one row's text."""
        self.pending.append(text)
        if len(self.pending) >= _ROW_CHUNK:
            self.chunks.append("\n".join(self.pending))
            self.pending = []

    def text(self) -> str:
        """All rows, one a line."""
        return "\n".join([*self.chunks, "\n".join(self.pending)])


@dataclass
class XmlDocument:
    """A parsed XML document: its root and, per group element in document order, its rows."""

    root: Any
    rows: list[RowText]


def _check_attributes(data: bytes, source: str, what: str) -> None:
    """Refuse a document with more ``=`` signs than :data:`MAX_XML_ATTRIBUTES`."""
    count = data.count(b"=")
    if count > MAX_XML_ATTRIBUTES:
        raise PatternFileError(
            f"{source}: {what} holds {count:,} '=' signs, more than the "
            f"{MAX_XML_ATTRIBUTES:,} attributes an XML pattern may have"
        )


def _iterparse(
    data: bytes, source: str, what: str, row_tag: str, group_tag: str, max_rows: int
) -> XmlDocument:
    """Build the tree element by element, streaming ``row_tag`` elements out of it.

    Raises:
        PatternFileError: too many elements or rows, malformed or refused XML.
    """
    _check_attributes(data, source, what)
    stack: list[Any] = []
    groups: list[RowText] = []
    root: Any = None
    elements = rows = 0
    for event, element in SafeET.iterparse(io.BytesIO(data), events=("start", "end")):
        name = _local(element.tag)
        if event == "start":
            root = element if root is None else root
            stack.append(element)
            if name == row_tag:
                rows += 1
                if rows > max_rows:
                    raise PatternFileError(
                        f"{source}: {what} has more than {max_rows:,} <{row_tag}> rows "
                        "(the point limit)"
                    )
                continue
            elements += 1
            if elements > MAX_XML_ELEMENTS:
                raise PatternFileError(
                    f"{source}: {what} has more than {MAX_XML_ELEMENTS:,} XML elements"
                )
            if name == group_tag:
                groups.append(RowText())
            continue
        stack.pop()
        if name == row_tag and stack:
            if groups:
                groups[-1].add(element.text or "")
            stack[-1].remove(element)
    return XmlDocument(root, groups)


def parse_xml_rows(
    data: bytes,
    source: str,
    what: str,
    row_tag: str = "",
    group_tag: str = "",
    max_rows: int = MAX_POINTS,
) -> XmlDocument:
    """An XML document parsed with defusedxml, ``row_tag`` rows streamed per ``group_tag``.

    Each element called ``row_tag`` (local name) is taken out of the tree once read and its
    text appended to the rows of the latest ``group_tag`` element (rows before any group are
    dropped); at most ``max_rows`` rows, and :data:`MAX_XML_ELEMENTS` other elements.

    Raises:
        PatternFileError: malformed XML, forbidden constructs (entities, DTDs), an unknown
            declared encoding, or too many elements, rows or attributes.
    """
    try:
        return _iterparse(data, source, what, row_tag, group_tag, max_rows)
    except SafeET.ParseError as exc:
        raise PatternFileError(f"{source}: {what} is malformed XML ({exc})") from None
    except (ValueError, LookupError) as exc:  # DefusedXmlException is a ValueError
        raise PatternFileError(
            f"{source}: {what} is refused ({type(exc).__name__}: {exc})"
        ) from None


def parse_xml(data: bytes, source: str, what: str) -> Any:
    """The root element of an XML document (:func:`parse_xml_rows` without rows).

    Raises:
        PatternFileError: as :func:`parse_xml_rows`.
    """
    root = parse_xml_rows(data, source, what).root
    if root is None:
        raise PatternFileError(f"{source}: {what} is malformed XML (no element)")
    return root


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
