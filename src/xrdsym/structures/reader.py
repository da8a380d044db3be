"""Reading crystal structures from CIF text, CIF files, folders of CIFs and CIF tables.

Parsing and symmetry expansion use gemmi: the asymmetric-unit sites of the first data block
with atoms are expanded with the space-group operations of the file into every site of the
unit cell (images of one site closer than gemmi's special-position tolerance are merged), with
partial occupancies and isotropic displacement parameters kept.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import gemmi
import numpy as np

from xrdsym.errors import StructureError
from xrdsym.io.formats import open_regular_file, read_regular_file
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.operators import check_operators
from xrdsym.structures.validation import (
    MIN_RELATIVE_VOLUME,
    MIN_SITE_DISTANCE,
    OCCUPANCY_TOLERANCE,
    check_cell,
    check_site_count,
    check_volume,
    check_volume_per_site,
    crowded_site,
)

#: B = 8 pi^2 U converts an isotropic mean-square displacement U (A^2) into B (A^2).
U_TO_B = 8.0 * math.pi**2

#: Symmetry images of one site closer than this (Angstrom) are one atom on a special
#: position; sites of different labels this close share one position (mixed occupancy).
SAME_POSITION_DISTANCE = 0.05

#: Fractional coordinates within this distance of 1 are wrapped to 0, so that rounding noise
#: (e.g. 0.99999999999) does not produce two listed positions for one site.
WRAP_TOLERANCE = 1e-9

#: CIF text longer than this (characters) in one table cell is refused (the csv module limit).
MAX_CIF_CHARS = 64 * 1024 * 1024

#: Control characters other than tab, newline, carriage return and form feed mark binary data.
_BINARY_CHARACTERS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")

#: Characters of a text inspected for binary data (a binary file shows it at once).
_BINARY_CHECK_CHARS = 4096

#: Data name whose presence marks a data block with atom sites.
_ATOM_SITE_TAG = "_atom_site_fract_x"

#: gemmi prefixes parse errors with "string:<line>:<column>(<offset>): ".
_GEMMI_LOCATION = re.compile(r"^string:(\d+):\S*\s*")

#: Names of the id column of a CIF table, in order of preference.
_ID_COLUMNS = ("material_id", "id")


@dataclass(frozen=True)
class CifSource:
    """One structure to read: its id, where it comes from, its CIF text and extra columns.

    ``text`` is ``None`` when the source could not be read; ``error`` then gives the reason.
    ``extra`` holds the other (non-CIF) columns of a table row, e.g. the split of the row.
    """

    id: str
    source: str
    text: str | None
    error: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


def read_cif_text(text: str, name: str) -> Crystal:
    """Parse CIF text into a :class:`Crystal` with every site of the unit cell listed.

    Thermal factors: ``B = 8 pi^2 U_iso`` (A^2) from ``_atom_site_U_iso_or_equiv``,
    ``B_iso_or_equiv`` directly, or from the anisotropic tensor through
    ``U_eq = (1/3) sum_ij U^ij a*_i a*_j a_i . a_j``; 0 when the file gives none.

    Raises:
        StructureError: naming ``name`` and the reason (not a CIF, binary data, malformed or
            truncated CIF, no atoms, unknown element, invalid or zero-volume cell, ...).
    """
    _check_is_text(text, name)
    block = _atom_block(text, name)
    try:
        small = gemmi.make_small_structure_from_block(block)
    except (RuntimeError, ValueError) as exc:
        raise StructureError(f"{name}: malformed CIF: {exc}") from exc
    lattice = _lattice(small, name)
    _check_sites(small, name)
    _check_symmetry(small, block, name)
    check_site_count(len(small.sites) * (len(small.cell.images) + 1), name, bound=True)
    _check_site_distances(small, lattice, name)
    return _expand(small, lattice, name)


def read_cif_file(path: str | Path) -> Crystal:
    """Read one CIF file (see :func:`read_cif_text`); the crystal is named after the file stem.

    Raises:
        StructureError: naming the file path and the reason.
    """
    path = Path(path)
    crystal = read_cif_text(_read_text_file(path), str(path))
    return replace(crystal, name=path.stem)


def iter_cif_sources(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(structure id, CIF text)`` from a .cif file, a folder or a CIF table.

    A folder is searched recursively for ``*.cif`` files in sorted order (id: the path
    relative to the folder, without suffix). A ``.csv`` or ``.csv.gz`` table must have a
    ``cif`` column; the id is taken from ``material_id`` or ``id``, else the row number.
    Tables are streamed row by row.

    Raises:
        StructureError: the path does not exist, a table has no ``cif`` column, or a file
            cannot be read.
    """
    for entry in iter_sources(path):
        if entry.text is None:
            raise StructureError(f"{entry.source}: {entry.error}")
        yield entry.id, entry.text


def iter_sources(path: str | Path) -> Iterator[CifSource]:
    """Like :func:`iter_cif_sources` but yields :class:`CifSource` records and does not stop
    on an unreadable file (its entry carries the error instead of the text)."""
    path = Path(path)
    if not path.exists():
        raise StructureError(f"{path}: no such file or folder")
    if path.is_dir():
        yield from _iter_folder(path)
    elif _is_table(path):
        yield from _iter_table(path)
    else:
        yield _file_source(path, path.stem)


def _is_table(path: Path) -> bool:
    """True for ``.csv`` and ``.csv.gz`` files."""
    name = path.name.lower()
    return name.endswith(".csv") or name.endswith(".csv.gz")


def count_sources(path: str | Path) -> int:
    """How many entries :func:`iter_sources` yields for ``path`` (CIF files counted unread)."""
    if Path(path).is_dir():
        return len(_cif_files(Path(path)))
    return sum(1 for _ in iter_sources(path))


def _cif_files(folder: Path) -> list[Path]:
    """CIF files below ``folder``, recursively, sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".cif")


def _iter_folder(folder: Path) -> Iterator[CifSource]:
    """CIF files below ``folder``, recursively, sorted by relative path."""
    for file in _cif_files(folder):
        yield _file_source(file, file.relative_to(folder).with_suffix("").as_posix())


def _file_source(path: Path, structure_id: str) -> CifSource:
    """Read one file into a :class:`CifSource`; read errors go into ``error``."""
    try:
        return CifSource(structure_id, str(path), _read_text_file(path))
    except StructureError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        return CifSource(structure_id, str(path), None, reason)


def _read_text_file(path: Path) -> str:
    """File contents as text: UTF-8, falling back to Latin-1 (old CIF 1.1 files).

    Only a regular file of at most :data:`MAX_CIF_CHARS` bytes is read (a FIFO would block,
    ``/dev/zero`` never ends).
    """
    data = read_regular_file(path, MAX_CIF_CHARS, "a CIF file", StructureError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Raise the csv module's field size limit while a table is read, then restore it."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, limit))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _open_table(path: Path) -> IO[str]:
    """Open a .csv or .csv.gz file (a regular file only) as text for the csv module."""
    open_regular_file(path, "a CIF table", StructureError).close()  # refuses FIFOs, devices
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _iter_table(path: Path) -> Iterator[CifSource]:
    """Stream the rows of a CIF table: one :class:`CifSource` per row."""
    try:
        handle = _open_table(path)
    except OSError as exc:
        raise StructureError(f"{path}: unreadable file: {exc.strerror or exc}") from exc
    with handle, _csv_field_limit(MAX_CIF_CHARS):
        reader = csv.DictReader(handle)
        try:
            fields = reader.fieldnames or []
        except (csv.Error, OSError, UnicodeDecodeError, EOFError) as exc:
            raise StructureError(f"{path}: not a readable CSV table: {exc}") from exc
        if "cif" not in fields:
            raise StructureError(f"{path}: table has no 'cif' column (columns: {fields})")
        id_column = next((c for c in _ID_COLUMNS if c in fields), None)
        row_number = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, OSError, UnicodeDecodeError, EOFError) as exc:
                raise StructureError(f"{path}: row {row_number + 1}: {exc}") from exc
            row_number += 1
            structure_id = row.get(id_column) if id_column else None
            structure_id = structure_id or f"row{row_number}"
            extra = tuple((k, v) for k, v in row.items() if k not in ("cif", id_column) and k and v)
            yield CifSource(structure_id, f"{path}:{row_number}", row.get("cif") or "", None, extra)


def _check_is_text(text: str, name: str) -> None:
    """Refuse empty text and binary data (NUL or other control characters)."""
    if not text.strip():
        raise StructureError(f"{name}: not a CIF: empty text")
    if _BINARY_CHARACTERS.search(text, 0, _BINARY_CHECK_CHARS):
        raise StructureError(f"{name}: binary data: not a CIF text file")


def _atom_block(text: str, name: str) -> gemmi.cif.Block:
    """The first data block with atom sites; errors name the parse problem."""
    try:
        document = gemmi.cif.read_string(text)
    except (RuntimeError, ValueError) as exc:
        message = _GEMMI_LOCATION.sub(r"line \1: ", str(exc))
        if "expected block header" in message and "data_" not in text:
            raise StructureError(f"{name}: not a CIF: no data_ block") from exc
        raise StructureError(f"{name}: malformed or truncated CIF: {message}") from exc
    if len(document) == 0:
        raise StructureError(f"{name}: not a CIF: no data_ block")
    for block in document:
        if len(block.find_values(_ATOM_SITE_TAG)) > 0:
            return block
    raise StructureError(f"{name}: no atoms: no _atom_site_fract_x in any data block")


def _lattice(small: gemmi.SmallStructure, name: str) -> np.ndarray:
    """Cell vectors as rows (Angstrom) from the CIF cell; rejects missing or flat cells."""
    cell = small.cell
    lengths = (cell.a, cell.b, cell.c)
    angles = (cell.alpha, cell.beta, cell.gamma)
    if not cell.is_crystal() or not all(math.isfinite(x) for x in lengths + angles):
        raise StructureError(f"{name}: invalid cell: missing or non-numeric cell parameters")
    if min(lengths) <= 0.0:
        raise StructureError(f"{name}: zero-volume cell: a, b, c = {lengths}")
    volume = cell.volume
    if (
        not math.isfinite(volume)
        or volume < MIN_RELATIVE_VOLUME * lengths[0] * lengths[1] * lengths[2]
    ):
        raise StructureError(f"{name}: zero-volume cell: a, b, c = {lengths}, angles = {angles}")
    check_volume(volume, name)
    lattice = np.array(cell.orth.mat.tolist(), dtype=np.float64).T
    check_cell(lattice, name)
    return lattice


def _check_sites(small: gemmi.SmallStructure, name: str) -> None:
    """Every site must have a known element, finite coordinates and occupancy <= 1."""
    if len(small.sites) == 0:
        raise StructureError(f"{name}: no atoms: empty atom-site loop")
    for site in small.sites:
        if site.element.atomic_number == 0:
            symbol = site.type_symbol or site.label
            raise StructureError(f"{name}: unknown element: {symbol!r} at site {site.label}")
        if not all(math.isfinite(x) for x in site.fract.tolist()):
            raise StructureError(f"{name}: missing coordinates: site {site.label}")
        if not math.isfinite(site.occ) or site.occ > 1.0 + OCCUPANCY_TOLERANCE:
            raise StructureError(f"{name}: invalid occupancy: {site.occ} at site {site.label}")
        if site.occ < 0.0:
            raise StructureError(
                f"{name}: invalid occupancy: negative ({site.occ}) at site {site.label}"
            )
    if all(site.occ <= 0.0 for site in small.sites):
        raise StructureError(f"{name}: no atoms: every site has zero occupancy")


def _symmetry_images(
    small: gemmi.SmallStructure, lattice: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every occupied site's distinct symmetry images in the cell, without gemmi's merging.

    Images of one site closer than :data:`SAME_POSITION_DISTANCE` are one atom (a special
    position); any farther apart are separate atoms, however close.

    Returns:
        fractional positions (n, 3), occupancies (n,) and the site label of each image.
    """
    positions: list[np.ndarray] = []
    occupancies: list[float] = []
    labels: list[str] = []
    for site in small.sites:
        if site.occ <= 0.0:
            continue
        images = [site.fract.tolist()] + [op.apply(site.fract).tolist() for op in small.cell.images]
        frac = np.mod(np.asarray(images, dtype=np.float64), 1.0)
        delta = frac[:, None, :] - frac[None, :, :]
        delta -= np.rint(delta)
        same = np.linalg.norm(delta @ lattice, axis=2) < SAME_POSITION_DISTANCE
        kept = frac[~np.any(np.tril(same, -1), axis=1)]  # first image of each coinciding set
        positions.extend(kept)
        occupancies.extend([float(site.occ)] * len(kept))
        labels.extend([site.label] * len(kept))
    return np.asarray(positions).reshape(-1, 3), np.asarray(occupancies), labels


def _check_site_distances(small: gemmi.SmallStructure, lattice: np.ndarray, name: str) -> None:
    """Refuse atoms that cannot coexist: sites (or symmetry images of one site) closer than
    :data:`MIN_SITE_DISTANCE` whose occupancies sum to more than 1 + tolerance.

    Two full atoms at one position, occupancies of a mixed site summing above 1, and a cell so
    small that the images of an atom overlap (fcc with a = 0.5 Angstrom) all fail this check.

    Raises:
        StructureError: naming the site(s), their distance and the occupancy sum.
    """
    frac, occupancy, labels = _symmetry_images(small, lattice)
    check_site_count(len(labels), name)
    check_volume_per_site(abs(float(np.linalg.det(lattice))), len(labels), name)
    found = crowded_site(frac, occupancy, lattice)
    if found is None:
        return
    i, j, d, total = found
    if d < SAME_POSITION_DISTANCE:
        raise StructureError(
            f"{name}: occupancies sum to {total:.3g} (above 1) at the position of site "
            f"{labels[i]} (shared with site {labels[j]})"
        )
    where = (
        f"site {labels[i]} and its symmetry image"
        if labels[i] == labels[j]
        else (f"sites {labels[i]} and {labels[j]}")
    )
    raise StructureError(
        f"{name}: atoms too close: {where} are {d:.3f} A apart (below {MIN_SITE_DISTANCE} A) "
        f"with occupancies summing to {total:.3g}"
    )


#: Tags naming a file's space group, by Hermann-Mauguin symbol or by number.
_NAME_TAGS = ("_symmetry_space_group_name_H-M", "_space_group_name_H-M_alt")
_NUMBER_TAGS = ("_space_group_IT_number", "_symmetry_Int_Tables_number")


def _named_group(block: gemmi.cif.Block) -> tuple[str | None, gemmi.SpaceGroup | None]:
    """(the symbol the file names, the space group gemmi finds for it), or for a file that
    names none, (None, the group of its number)."""
    symbol = None
    for tag in _NAME_TAGS:
        value = block.find_value(tag)
        if value is not None and gemmi.cif.as_string(value).strip() not in ("", "?", "."):
            symbol = gemmi.cif.as_string(value).strip()
            group = gemmi.find_spacegroup_by_name(symbol)
            return symbol, group
    for tag in _NUMBER_TAGS:
        value = block.find_value(tag)
        if value is not None and gemmi.cif.as_string(value).strip().isdigit():
            number = int(gemmi.cif.as_string(value).strip())
            if 1 <= number <= 230:
                return symbol, gemmi.find_spacegroup_by_number(number)
    return symbol, None


def _check_symmetry(small: gemmi.SmallStructure, block: gemmi.cif.Block, name: str) -> None:
    """Refuse listed operators that are unreadable, not a group or not the named group
    (:func:`xrdsym.structures.operators.check_operators`), and a file whose space group is
    named but neither recognised nor given as operators."""
    symbol, named = _named_group(block)
    check_operators(list(small.symops), named, name)
    if small.spacegroup is not None or len(small.symops) > 0:
        return
    if symbol is not None and named is None and symbol.replace(" ", "").upper() != "P1":
        raise StructureError(f"{name}: unknown space group: {symbol!r} and no symmetry operators")


def _u_iso(small: gemmi.SmallStructure, site: gemmi.SmallStructure.Site) -> float:
    """Isotropic U (A^2): the file's U_iso/B_iso, else U_eq of the anisotropic tensor."""
    if site.u_iso > 0.0 or not site.aniso.nonzero():
        return max(float(site.u_iso), 0.0)
    return max(float(small.cell.calculate_u_eq(site.aniso)), 0.0)


def _element_symbol(site: gemmi.SmallStructure.Site) -> str:
    """Element symbol of a site; deuterium counts as hydrogen (same X-ray scattering)."""
    symbol = site.element.name
    return "H" if symbol == "D" else symbol


def _wrap(frac: np.ndarray) -> np.ndarray:
    """Fractional coordinates wrapped into [0, 1)."""
    wrapped = np.mod(frac, 1.0)
    wrapped[wrapped > 1.0 - WRAP_TOLERANCE] = 0.0
    return wrapped


def _expand(small: gemmi.SmallStructure, lattice: np.ndarray, name: str) -> Crystal:
    """All unit-cell sites (gemmi symmetry expansion) as a :class:`Crystal`."""
    coords: list[list[float]] = []
    elements: list[str] = []
    occupancies: list[float] = []
    b_values: list[float] = []
    for site in small.get_all_unit_cell_sites():
        if site.occ <= 0.0:
            continue
        coords.append(site.fract.tolist())
        elements.append(_element_symbol(site))
        occupancies.append(min(float(site.occ), 1.0))
        b_values.append(U_TO_B * _u_iso(small, site))
    return Crystal(
        lattice=lattice,
        frac_coords=_wrap(np.array(coords, dtype=np.float64).reshape(-1, 3)),
        elements=tuple(elements),
        occupancies=np.array(occupancies, dtype=np.float64),
        b_iso=np.array(b_values, dtype=np.float64),
        name=name,
    )
