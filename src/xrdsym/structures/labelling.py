"""Symmetry labels found by spglib, structure-type keys, and streaming/deduplicating loaders.

The label of a structure is what spglib finds in its atoms at a given ``symprec``, never the
space group written in the file. Cells, site merging, operations, Niggli cells and the rule
for duplicates are those of :mod:`xrdsym.structures.symmetry` (the one owner of symmetry
analysis), whose names this module also exports.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.pool import AsyncResult
from pathlib import Path

import numpy as np
from spglib import SpglibDataset

from xrdsym.errors import StructureError
from xrdsym.spacegroups import space_group as space_group_info
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.reader import CifSource, iter_sources, read_cif_text
from xrdsym.structures.symmetry import (
    CELL_ANGLE_TOLERANCE_DEG,
    CELL_LENGTH_TOLERANCE,
    MAX_FORMULA_DENOMINATOR,
    OCCUPANCY_DECIMALS,
    SHARED_SITE_TOLERANCE,
    DuplicateFinder,
    anonymous_formula,
    dedupe_key,
    duplicate_group,
    niggli_parameters,
    reduced_formula,
    same_cell,
    spglib_cell,
    symmetry_dataset,
)
from xrdsym.structures.tolerance import DEFAULT_SYMPREC, MAX_SYMPREC, check_symprec

#: Relative tolerance on the Niggli-reduced primitive cell lengths for duplicates (the rule is
#: :func:`xrdsym.structures.symmetry.same_cell`).
DEDUPE_CELL_TOLERANCE = CELL_LENGTH_TOLERANCE

__all__ = [
    "CELL_ANGLE_TOLERANCE_DEG",
    "CELL_LENGTH_TOLERANCE",
    "CHUNK_SIZE",
    "DEDUPE_CELL_TOLERANCE",
    "DEFAULT_SYMPREC",
    "DuplicateFinder",
    "MAX_FORMULA_DENOMINATOR",
    "MAX_SYMPREC",
    "OCCUPANCY_DECIMALS",
    "PENDING_CHUNKS_PER_WORKER",
    "Rejected",
    "SHARED_SITE_TOLERANCE",
    "StructureRecord",
    "SymmetryLabel",
    "anonymous_formula",
    "canonical_wyckoffs",
    "check_symprec",
    "crystal_system",
    "dedupe_key",
    "duplicate_group",
    "label_crystal",
    "label_from_dataset",
    "label_sources",
    "load_records",
    "niggli_parameters",
    "reason_category",
    "reduced_formula",
    "same_cell",
    "spglib_cell",
    "symmetry_dataset",
    "wyckoff_permutations",
]


#: Structures sent to a worker process at a time, and pending chunks per worker.
CHUNK_SIZE = 200
PENDING_CHUNKS_PER_WORKER = 2

#: Characters of a Wyckoff label "<multiplicity><letter>" (alpha is written "A").
_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzA"


@dataclass(frozen=True)
class SymmetryLabel:
    """What spglib finds in a structure.

    Attributes:
        space_group: International Tables number, 1-230.
        symbol: international (Hermann-Mauguin) short symbol, e.g. ``"Fm-3m"``.
        wyckoffs: occupied Wyckoff positions as spglib assigns them, one per orbit, as
            multiplicity (conventional cell) + letter, sorted, e.g. ``("4a", "4b")``.
        structure_type: ``"<space group>|<wyckoffs joined>|<anonymous formula>"``, e.g.
            ``"225|4a4b|AB"`` for both NaCl and KBr; the Wyckoff part is the smallest of the
            normalizer-equivalent descriptions (:func:`canonical_wyckoffs`).
    """

    space_group: int
    symbol: str
    wyckoffs: tuple[str, ...]
    structure_type: str

    @property
    def crystal_system(self) -> str:
        """Crystal system of the space group (see :func:`crystal_system`)."""
        return crystal_system(self.space_group)


@dataclass(frozen=True)
class StructureRecord:
    """A labelled structure: its id, where it was read from, the crystal and its label."""

    id: str
    source: str
    crystal: Crystal
    label: SymmetryLabel


@dataclass(frozen=True)
class Rejected:
    """A structure that was not accepted, with the reason (read error, duplicate, ...)."""

    id: str
    source: str
    reason: str


def crystal_system(space_group: int) -> str:
    """Crystal system of a space-group number (1-2 triclinic, 3-15 monoclinic, ...,
    195-230 cubic), from :func:`xrdsym.spacegroups.space_group`; ValueError outside 1-230."""
    return space_group_info(space_group).crystal_system


def _wyckoff_key(entry: str) -> tuple[int, str, int]:
    """Sort key of ``"<mult><letter>"``: letter order a-z then alpha, then multiplicity."""
    letter = entry.lstrip(_DIGITS)
    return (1 if letter.isupper() else 0, letter, int(entry[: len(entry) - len(letter)]))


def label_crystal(crystal: Crystal, symprec: float = DEFAULT_SYMPREC) -> SymmetryLabel:
    """Space group, Wyckoff positions and structure-type key that spglib finds.

    Raises:
        StructureError: spglib cannot analyse the cell (e.g. overlapping atoms).
    """
    return label_from_dataset(crystal, symmetry_dataset(crystal, symprec))


@functools.lru_cache(maxsize=230)
def wyckoff_permutations(space_group: int) -> tuple[dict[str, str], ...]:
    """Permutations of the Wyckoff letters of a group under its Euclidean normalizer.

    Each coset representative of the normalizer (origin shifts, axis changes that keep the
    group) maps every Wyckoff position onto one of the same multiplicity; pyxtal tabulates
    them (``Group.get_alternatives``, from the Bilbao Crystallographic Server). The cache
    only memoizes this pure function (230 possible arguments).
    """
    from pyxtal.symmetry import Group  # imported here: pyxtal takes ~1 s to import

    transformed = Group(space_group, quick=True).get_alternatives()["Transformed WP"]
    identity = transformed[0].split()
    return tuple(dict(zip(identity, row.split(), strict=True)) for row in transformed)


def canonical_wyckoffs(space_group: int, wyckoffs: Iterable[str]) -> tuple[str, ...]:
    """The smallest sorted ``"<mult><letter>"`` tuple among the normalizer-equivalent ones.

    Two descriptions of one structure that differ by an origin shift (e.g. spinel with the
    cations on 8a/16d or on 8b/16c in Fd-3m) get the same tuple.
    """
    entries = list(wyckoffs)
    split = [(entry.rstrip(_LETTERS), entry[len(entry.rstrip(_LETTERS)) :]) for entry in entries]
    candidates = [
        tuple(
            sorted(
                (f"{mult}{perm.get(letter, letter)}" for mult, letter in split), key=_wyckoff_key
            )
        )
        for perm in wyckoff_permutations(space_group)
    ]
    return min(candidates, key=lambda c: [_wyckoff_key(entry) for entry in c])


def label_from_dataset(crystal: Crystal, dataset: SpglibDataset) -> SymmetryLabel:
    """The :class:`SymmetryLabel` of a crystal from its spglib dataset.

    The multiplicity of an orbit in the conventional cell is
    ``n_orbit * n_conventional / n_input`` (atom counts of spglib's standardized cell and of
    the input cell). The structure-type key uses :func:`canonical_wyckoffs`.
    """
    equivalent = np.asarray(dataset.equivalent_atoms)
    ratio = len(dataset.std_types) / len(equivalent)
    orbits, counts = np.unique(equivalent, return_counts=True)
    wyckoffs = tuple(
        sorted(
            (
                f"{round(count * ratio)}{dataset.wyckoffs[orbit]}"
                for orbit, count in zip(orbits, counts, strict=True)
            ),
            key=_wyckoff_key,
        )
    )
    number = int(dataset.number)
    canonical = "".join(canonical_wyckoffs(number, wyckoffs))
    structure_type = f"{number}|{canonical}|{anonymous_formula(crystal)}"
    return SymmetryLabel(number, str(dataset.international), wyckoffs, structure_type)


@dataclass(frozen=True)
class _Labelled:
    """Worker output for one accepted structure: the record and its dedupe key."""

    record: StructureRecord
    group: str
    cell: np.ndarray


def _process_entry(entry: CifSource, symprec: float) -> _Labelled | Rejected:
    """Read, label and key one source; expected failures become :class:`Rejected`."""
    if entry.text is None:
        return Rejected(entry.id, entry.source, entry.error or "unreadable")
    try:
        crystal = read_cif_text(entry.text, entry.id)
        if entry.extra:
            crystal = replace(crystal, metadata=dict(entry.extra))
        dataset = symmetry_dataset(crystal, symprec)
        label = label_from_dataset(crystal, dataset)
        cell = niggli_parameters(dataset)
        group = duplicate_group(dedupe_key(crystal, label.space_group), label.structure_type)
    except StructureError as exc:
        return Rejected(entry.id, entry.source, _reason(str(exc), entry.id))
    record = StructureRecord(entry.id, entry.source, crystal, label)
    return _Labelled(record, group, cell)


def reason_category(reason: str) -> str:
    """The kind of a rejection reason: ``"duplicate"`` or the text before the first colon,
    e.g. ``"unknown element"`` for ``"unknown element: 'Xx' at site X1"``."""
    if reason.startswith("duplicate of "):
        return "duplicate"
    return reason.split(":", 1)[0].strip()


def _reason(message: str, structure_id: str) -> str:
    """The reason part of an error message (without the leading ``"<id>: "``)."""
    prefix = f"{structure_id}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _process_chunk(chunk: list[CifSource], symprec: float) -> list[_Labelled | Rejected]:
    """Worker task: process a list of sources in order."""
    return [_process_entry(entry, symprec) for entry in chunk]


def _chunks(entries: Iterable[CifSource], size: int) -> Iterator[list[CifSource]]:
    """Consecutive lists of at most ``size`` entries."""
    chunk: list[CifSource] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _labelled_stream(
    entries: Iterable[CifSource], symprec: float, workers: int
) -> Iterator[_Labelled | Rejected]:
    """Process sources in order, in ``workers`` processes with a bounded number of pending
    chunks so that a huge table is never held in memory."""
    if workers <= 1:
        for entry in entries:
            yield _process_entry(entry, symprec)
        return
    wyckoff_permutations(1)  # import pyxtal once here so that forked workers inherit it
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(workers) as pool:
        pending: deque[AsyncResult[list[_Labelled | Rejected]]] = deque()
        for chunk in _chunks(entries, CHUNK_SIZE):
            pending.append(pool.apply_async(_process_chunk, (chunk, symprec)))
            if len(pending) >= PENDING_CHUNKS_PER_WORKER * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def label_sources(
    entries: Iterable[CifSource],
    symprec: float = DEFAULT_SYMPREC,
    dedupe: bool = True,
    workers: int = 1,
) -> Iterator[StructureRecord | Rejected]:
    """Read, label and (optionally) deduplicate sources; see :func:`load_records`."""
    symprec = check_symprec(symprec)
    deduplicator = DuplicateFinder() if dedupe else None
    for item in _labelled_stream(entries, symprec, workers):
        if isinstance(item, Rejected):
            yield item
            continue
        original = (
            deduplicator.duplicate_of(item.group, item.record.id, item.cell)
            if deduplicator
            else None
        )
        if original is not None:
            yield Rejected(item.record.id, item.record.source, f"duplicate of {original}")
        else:
            yield item.record


def load_records(
    path: str | Path,
    symprec: float = DEFAULT_SYMPREC,
    dedupe: bool = True,
    workers: int = 1,
) -> Iterator[StructureRecord | Rejected]:
    """Stream labelled structures from a CIF file, folder or table (see ``iter_cif_sources``).

    Each structure is read, labelled by spglib at ``symprec`` (Angstrom) and, with ``dedupe``,
    compared with the accepted ones of the same reduced formula, space group and structure
    type: when their Niggli-reduced primitive cells agree (lengths within 1 %, angles within
    1 degree; :func:`xrdsym.structures.symmetry.same_cell`) it is reported as
    ``Rejected(reason="duplicate of <id>")``. Unreadable structures are reported as
    :class:`Rejected` with the reason and the stream goes on. ``workers`` > 1 reads and labels
    in that many processes; the output order is the input order either way.

    Raises:
        StructureError: the path does not exist, a table has no ``cif`` column, or
            ``symprec`` is out of range.
    """
    yield from label_sources(iter_sources(path), symprec, dedupe, workers)
