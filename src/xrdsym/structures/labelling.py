"""Symmetry labels found by spglib, structure-type keys, and streaming/deduplicating loaders.

The label of a structure is what spglib finds in its atoms at a given ``symprec``, never the
space group written in the file. Sites sharing one position (mixed occupancy) are merged into
one spglib atom whose species is the set of (element, occupancy) pairs on it, so that e.g. a
Li/Ni antisite and a fully occupied Ni site are distinct species.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from multiprocessing.pool import AsyncResult
from pathlib import Path

import numpy as np
import spglib
from pymatgen.core import Composition
from spglib import SpglibDataset

from xrdsym.errors import StructureError
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.reader import CifSource, iter_sources, read_cif_text
from xrdsym.symmetry import space_group as space_group_info

#: Default spglib distance tolerance (Angstrom): tight enough not to promote slightly distorted
#: cells, loose enough for positions printed with 3-4 decimals.
DEFAULT_SYMPREC = 0.01

#: Largest spglib tolerance accepted (Angstrom): beyond it atoms of different sites merge and
#: every cell looks more symmetric than it is; spglib itself crashes on negative or NaN values.
MAX_SYMPREC = 1.0

#: Sites of partial occupancy closer than this (Angstrom) are one crystallographic site shared
#: by several species; CIFs give such sites identical coordinates up to printing precision.
SHARED_SITE_TOLERANCE = 0.05

#: Occupancies are compared to this many decimals when species are formed (CIFs print 2-4).
OCCUPANCY_DECIMALS = 3

#: Relative tolerance on the Niggli-reduced cell lengths and angles for duplicates: relaxed
#: entries of one material differ by well under 1 %, polymorphs of one formula by more.
DEDUPE_CELL_TOLERANCE = 0.01

#: Largest denominator allowed when a fractional composition is turned into integers.
MAX_FORMULA_DENOMINATOR = 1000

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
    195-230 cubic), from :func:`xrdsym.symmetry.space_group`; ValueError outside 1-230."""
    return space_group_info(space_group).crystal_system


def spglib_cell(crystal: Crystal) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    """The spglib cell ``(lattice, positions, numbers)`` plus the name of each species.

    Partially occupied sites within :data:`SHARED_SITE_TOLERANCE` of each other form one
    atom; its species is the sorted tuple of (element, rounded occupancy). Fully occupied
    sites keep their own position.
    """
    groups = _shared_site_groups(crystal)
    species_ids: dict[str, int] = {}
    positions: list[np.ndarray] = []
    numbers: list[int] = []
    for members in groups:
        key = _species_key(crystal, members)
        numbers.append(species_ids.setdefault(key, len(species_ids) + 1))
        positions.append(crystal.frac_coords[members[0]])
    names = sorted(species_ids, key=species_ids.__getitem__)
    return crystal.lattice, np.array(positions).reshape(-1, 3), numbers, names


def _species_key(crystal: Crystal, members: list[int]) -> str:
    """Species name of a group of sites, e.g. ``"Na"`` or ``"Li:0.98+Ni:0.02"``."""
    pairs = sorted(
        (crystal.elements[i], round(float(crystal.occupancies[i]), OCCUPANCY_DECIMALS))
        for i in members
    )
    if len(pairs) == 1 and pairs[0][1] >= 1.0:
        return pairs[0][0]
    return "+".join(f"{element}:{occupancy:g}" for element, occupancy in pairs)


def _shared_site_groups(crystal: Crystal) -> list[list[int]]:
    """Indices of sites grouped by shared position (only partially occupied sites merge).

    Distance between fractional positions f_i, f_j: |(d - round(d)) A| with d = f_i - f_j and
    A the lattice (rows), i.e. the minimum-image distance for the near-orthogonal case.
    """
    occupancy = np.round(crystal.occupancies, OCCUPANCY_DECIMALS)
    partial = np.flatnonzero(occupancy < 1.0)
    groups = [[int(i)] for i in np.flatnonzero(occupancy >= 1.0)]
    assigned = np.zeros(crystal.n_sites, dtype=bool)
    frac = crystal.frac_coords
    for i in partial:
        if assigned[i]:
            continue
        rest = partial[~assigned[partial]]
        delta = frac[rest] - frac[i]
        delta -= np.round(delta)
        close = rest[np.linalg.norm(delta @ crystal.lattice, axis=1) < SHARED_SITE_TOLERANCE]
        assigned[close] = True
        groups.append([int(i)] + [int(j) for j in close if j != i])
    return groups


def _composition(crystal: Crystal) -> Composition:
    """Occupancy-weighted composition of the cell, as integers where the ratios allow."""
    counts: dict[str, float] = {}
    for element, occupancy in zip(crystal.elements, crystal.occupancies, strict=True):
        counts[element] = counts.get(element, 0.0) + float(occupancy)
    fractions = {
        el: Fraction(round(n, OCCUPANCY_DECIMALS)).limit_denominator(MAX_FORMULA_DENOMINATOR)
        for el, n in counts.items()
    }
    scale = math.lcm(*(f.denominator for f in fractions.values()))
    integers = {el: int(f * scale) for el, f in fractions.items()}
    divisor = math.gcd(*integers.values())
    return Composition({el: n // divisor for el, n in integers.items() if n > 0})


def reduced_formula(crystal: Crystal) -> str:
    """Reduced chemical formula, e.g. ``"NaCl"`` (occupancy-weighted, integer ratios)."""
    with warnings.catch_warnings():
        # pymatgen warns when it orders noble gases, which have no electronegativity
        warnings.simplefilter("ignore", UserWarning)
        return str(_composition(crystal).reduced_formula)


def anonymous_formula(crystal: Crystal) -> str:
    """Anonymous stoichiometry, elements replaced by A, B, ... in order of amount: ``"AB2"``."""
    return str(_composition(crystal).anonymized_formula)


def check_symprec(symprec: object) -> float:
    """``symprec`` as a float, checked to be finite and within (0, MAX_SYMPREC] Angstrom.

    Raises:
        StructureError: any other value (spglib would crash on a negative or NaN tolerance).
    """
    try:
        value = float(symprec)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(symprec, bool) or not (math.isfinite(value) and 0.0 < value <= MAX_SYMPREC):
        raise StructureError(
            f"symprec must be a number in (0, {MAX_SYMPREC:g}] Angstrom, got {symprec!r}"
        )
    return value


def symmetry_dataset(crystal: Crystal, symprec: float = DEFAULT_SYMPREC) -> SpglibDataset:
    """spglib symmetry dataset of the cell built by :func:`spglib_cell`.

    Raises:
        StructureError: spglib cannot analyse the cell (e.g. overlapping atoms), or
            ``symprec`` is out of range (see :func:`check_symprec`).
    """
    symprec = check_symprec(symprec)
    if crystal.n_sites == 0:
        raise StructureError(f"{crystal.name}: no atoms: nothing to label")
    lattice, positions, numbers, _ = spglib_cell(crystal)
    try:
        cell = (lattice.tolist(), positions.tolist(), numbers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # spglib 2.x error-mode notice
            dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except Exception as exc:  # spglib raises SpglibError (version dependent) on bad cells
        raise StructureError(f"{crystal.name}: spglib failed: {exc}") from exc
    if dataset is None:
        detail = spglib.get_error_message()
        raise StructureError(f"{crystal.name}: spglib failed: {detail}")
    return dataset


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


def niggli_parameters(dataset: SpglibDataset) -> np.ndarray:
    """Niggli-reduced primitive cell ``(a, b, c, alpha, beta, gamma)``, Angstrom and degrees.

    The primitive cell is spglib's; angles are ``arccos(u.v / |u||v|)`` of the reduced rows.
    """
    primitive = np.asarray(dataset.primitive_lattice, dtype=np.float64)
    return _cell_parameters(_niggli(primitive))


def _niggli(lattice: np.ndarray) -> np.ndarray:
    """spglib Niggli reduction of a lattice (rows); the input when the reduction fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib 2.x error-mode notice
        reduced = spglib.niggli_reduce(lattice)
    return lattice if reduced is None else np.asarray(reduced, dtype=np.float64)


def _cell_parameters(lattice: np.ndarray) -> np.ndarray:
    """Lengths (Angstrom) and angles (degrees) of a lattice given as rows a, b, c."""
    lengths = np.linalg.norm(lattice, axis=1)
    angles = [
        math.degrees(math.acos(np.clip(lattice[j] @ lattice[k] / (lengths[j] * lengths[k]), -1, 1)))
        for j, k in ((1, 2), (0, 2), (0, 1))
    ]
    return np.concatenate([lengths, angles])


@dataclass(frozen=True)
class _Labelled:
    """Worker output for one accepted structure: the record and its dedupe key."""

    record: StructureRecord
    formula: str
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
        formula = reduced_formula(crystal)
    except StructureError as exc:
        return Rejected(entry.id, entry.source, _reason(str(exc), entry.id))
    record = StructureRecord(entry.id, entry.source, crystal, label)
    return _Labelled(record, formula, cell)


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


def _same_cell(a: np.ndarray, b: np.ndarray) -> bool:
    """Cells agree within :data:`DEDUPE_CELL_TOLERANCE` (relative) in every length and angle."""
    return bool(np.all(np.abs(a - b) <= DEDUPE_CELL_TOLERANCE * np.abs(b)))


class _Deduplicator:
    """Remembers (formula, space group) -> [(id, Niggli cell)] of accepted structures."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], list[tuple[str, np.ndarray]]] = {}

    def duplicate_of(self, item: _Labelled) -> str | None:
        """Id of an earlier accepted duplicate, or ``None`` (and remember this one)."""
        key = (item.formula, item.record.label.space_group)
        known = self._seen.setdefault(key, [])
        for structure_id, cell in known:
            if _same_cell(item.cell, cell):
                return structure_id
        known.append((item.record.id, item.cell.astype(np.float32)))
        return None


def label_sources(
    entries: Iterable[CifSource],
    symprec: float = DEFAULT_SYMPREC,
    dedupe: bool = True,
    workers: int = 1,
) -> Iterator[StructureRecord | Rejected]:
    """Read, label and (optionally) deduplicate sources; see :func:`load_records`."""
    symprec = check_symprec(symprec)
    deduplicator = _Deduplicator() if dedupe else None
    for item in _labelled_stream(entries, symprec, workers):
        if isinstance(item, Rejected):
            yield item
            continue
        original = deduplicator.duplicate_of(item) if deduplicator else None
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
    compared with the accepted ones of the same reduced formula and space group: when every
    Niggli-reduced primitive cell parameter agrees within 1 % it is reported as
    ``Rejected(reason="duplicate of <id>")``. Unreadable structures are reported as
    :class:`Rejected` with the reason and the stream goes on. ``workers`` > 1 reads and labels
    in that many processes; the output order is the input order either way.

    Raises:
        StructureError: the path does not exist, a table has no ``cif`` column, or
            ``symprec`` is out of range.
    """
    yield from label_sources(iter_sources(path), symprec, dedupe, workers)
