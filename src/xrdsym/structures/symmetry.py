"""The one owner of symmetry analysis: spglib cells, operations, datasets, Niggli-reduced
cells and the rule that makes two structures duplicates.

Site merging (one rule for labels, absences and prototypes): partially occupied sites within
:data:`SHARED_SITE_TOLERANCE` (0.05 Angstrom, minimum image) of each other form one spglib
atom, whose species is the sorted set of (element, occupancy rounded to
:data:`OCCUPANCY_DECIMALS` decimals) on it; fully occupied sites keep their own position. So a
Li/Ni antisite and a fully occupied Ni site are distinct species, and a Na/K site shared
half-half is one atom.

Duplicates (one rule for ``structures summary`` and ``dataset build``): two structures are
duplicates when they have the same reduced formula, space group and structure type
(:func:`duplicate_group`) and their Niggli-reduced *primitive* cells (:func:`niggli_parameters`
of the spglib dataset) agree within :data:`CELL_LENGTH_TOLERANCE` (1 %) in every length and
:data:`CELL_ANGLE_TOLERANCE_DEG` (1 degree) in every angle (:func:`same_cell`). The primitive
cell makes a supercell of a structure, or another setting of it, the same structure.
"""

from __future__ import annotations

import math
import multiprocessing
import warnings
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import spglib

from xrdsym.errors import StructureError
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.tolerance import DEFAULT_SYMPREC, check_symprec

#: Sites of partial occupancy closer than this (Angstrom) are one crystallographic site shared
#: by several species; CIFs give such sites identical coordinates up to printing precision.
SHARED_SITE_TOLERANCE = 0.05

#: Occupancies are compared to this many decimals when species are formed (CIFs print 2-4).
OCCUPANCY_DECIMALS = 3

#: Largest denominator allowed when a fractional composition is turned into integers.
MAX_FORMULA_DENOMINATOR = 1000

#: Duplicates: every Niggli-reduced primitive length agrees within this fraction...
CELL_LENGTH_TOLERANCE = 0.01
#: ...and every angle within this many degrees (relaxed entries of one material differ by well
#: under both; polymorphs of one formula by more).
CELL_ANGLE_TOLERANCE_DEG = 1.0


# --------------------------------------------------------------------------- rotations


def rotation_codes(rotations: np.ndarray) -> np.ndarray:
    """(n,) int64 one-to-one codes of rotation matrices W (n, 3, 3) or rows (n, 9).

    The rotations of lattice symmetries have entries -1, 0 or 1, so
    code(W) = sum_i (W_i + 1) 3^i over the nine entries is one integer per matrix; equal codes
    are equal matrices (a 1-D ``np.unique`` instead of a row-wise one).
    """
    flat = np.asarray(rotations, dtype=np.int64).reshape(-1, 9)
    return np.asarray(flat + 1) @ (3 ** np.arange(9, dtype=np.int64))


def point_group_order(rotations: np.ndarray) -> int:
    """Number of distinct rotations W among a group's operations: the order of its point
    group (1 to 48)."""
    return int(np.unique(rotation_codes(rotations)).shape[0])


# --------------------------------------------------------------------------- cells


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


# --------------------------------------------------------------------------- spglib calls


#: Cells with more sites than this are analysed by spglib in a child process with a time
#: budget: its search for translations grows steeply with the sites of a low-symmetry cell
#: (random one-element P1 cells at 27.6 A^3 per site, 2-core CPU: 500 sites 0.4 s, 1,000
#: 2 s, 3,000 32 s; 9,000 more than 500 s, and spglib ignores Ctrl-C).
SPGLIB_CHILD_SITES = 500

#: Time budget of one spglib call in a child process, seconds.
SPGLIB_TIMEOUT_S = 60.0


def _spglib_quietly(call: Callable[..., Any], cell: tuple[Any, ...], kwargs: Any) -> Any:
    """``call(cell, **kwargs)`` without spglib 2.x's error-mode notice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return call(cell, **kwargs)


def _spglib_child(connection: Any, call: Callable[..., Any], cell: Any, kwargs: Any) -> None:
    """Run spglib in the child and send back ("ok", result) or ("error", message)."""
    try:
        result = _spglib_quietly(call, cell, kwargs)
        if result is None:
            connection.send(("error", spglib.get_error_message()))
        else:
            connection.send(("ok", result))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        connection.send(("error", str(exc)))


def _spglib_with_budget(
    call: Callable[..., Any], cell: tuple[Any, ...], name: str, kwargs: Any
) -> Any:
    """spglib in a forked child that is killed after :data:`SPGLIB_TIMEOUT_S` seconds.

    Raises:
        StructureError: the budget ran out, or spglib failed.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_spglib_child, args=(send, call, cell, kwargs), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(SPGLIB_TIMEOUT_S):
            raise StructureError(
                f"{name}: the symmetry search of {len(cell[1])} sites took more than "
                f"{SPGLIB_TIMEOUT_S:g} s (spglib, symmetry unknown); refused"
            )
        status, value = receive.recv()
    except EOFError:
        status, value = "error", f"the child process ended ({child.exitcode})"
    finally:
        child.kill()
        child.join()
        receive.close()
    if status != "ok":
        raise StructureError(f"{name}: spglib failed: {value}")
    return value


def run_spglib(call: Callable[..., Any], cell: tuple[Any, ...], name: str, **kwargs: Any) -> Any:
    """``call(cell, **kwargs)`` of spglib, its failures (an exception or ``None``, by version)
    raised as one :class:`StructureError` naming the structure. A cell of more than
    :data:`SPGLIB_CHILD_SITES` sites runs in a child process with a time budget (where
    ``fork`` exists and this is not a daemonic pool worker)."""
    if (
        len(cell[1]) > SPGLIB_CHILD_SITES
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon  # a daemon may start no child
    ):
        return _spglib_with_budget(call, cell, name, kwargs)
    try:
        result = _spglib_quietly(call, cell, kwargs)
    except Exception as exc:  # spglib raises SpglibError (version dependent) on bad cells
        raise StructureError(f"{name}: spglib failed: {exc}") from exc
    if result is None:
        raise StructureError(f"{name}: spglib failed: {spglib.get_error_message()}")
    return result


def _checked_cell(crystal: Crystal, symprec: object) -> tuple[tuple[Any, ...], float, str]:
    """The spglib cell of a crystal as lists, the checked ``symprec`` and the crystal's name."""
    value = check_symprec(symprec)
    name = crystal.name or "structure"
    if crystal.n_sites == 0:
        raise StructureError(f"{name}: no atoms: nothing to analyse")
    lattice, positions, numbers, _ = spglib_cell(crystal)
    return (lattice.tolist(), positions.tolist(), numbers), value, name


def symmetry_dataset(crystal: Crystal, symprec: float = DEFAULT_SYMPREC) -> Any:
    """spglib symmetry dataset (``SpglibDataset``) of the cell built by :func:`spglib_cell`.

    Raises:
        StructureError: no atoms, spglib cannot analyse the cell (e.g. overlapping atoms), or
            ``symprec`` is out of range (see :func:`check_symprec`).
    """
    cell, value, name = _checked_cell(crystal, symprec)
    return run_spglib(spglib.get_symmetry_dataset, cell, name, symprec=value)


def symmetry_operations(
    crystal: Crystal, symprec: float = DEFAULT_SYMPREC
) -> tuple[np.ndarray, np.ndarray]:
    """Space-group operations (W, t) of the listed cell (:func:`spglib_cell`), from
    ``spglib.get_symmetry``.

    x' = W x + t in fractional coordinates. Pure translations of a centred or super cell are
    included.

    Raises:
        StructureError: no atoms, spglib cannot analyse the cell (e.g. overlapping atoms), or
            ``symprec`` is not a finite number in (0, 1] Angstrom.
    """
    cell, value, name = _checked_cell(crystal, symprec)
    operations = run_spglib(spglib.get_symmetry, cell, name, symprec=value)
    return (
        np.asarray(operations["rotations"], dtype=np.int64),
        np.asarray(operations["translations"], dtype=np.float64),
    )


# --------------------------------------------------------------------------- Niggli cells


def niggli_reduce(lattice: np.ndarray) -> np.ndarray:
    """spglib Niggli reduction of a lattice (rows); the input when the reduction fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib 2.x error-mode notice
        reduced = spglib.niggli_reduce(np.asarray(lattice, dtype=np.float64))
    return np.asarray(lattice, dtype=np.float64) if reduced is None else np.asarray(reduced)


def cell_parameters(lattice: np.ndarray) -> np.ndarray:
    """Lengths (Angstrom) and angles (degrees) of a lattice given as rows a, b, c."""
    lengths = np.linalg.norm(lattice, axis=1)
    angles = [
        math.degrees(math.acos(np.clip(lattice[j] @ lattice[k] / (lengths[j] * lengths[k]), -1, 1)))
        for j, k in ((1, 2), (0, 2), (0, 1))
    ]
    return np.concatenate([lengths, angles])


def niggli_parameters(dataset: Any) -> np.ndarray:
    """Niggli-reduced primitive cell ``(a, b, c, alpha, beta, gamma)``, Angstrom and degrees.

    The primitive cell is that of the spglib dataset; angles are ``arccos(u.v / |u||v|)`` of
    the reduced rows. This is the cell that decides duplicates (:func:`same_cell`).
    """
    primitive = np.asarray(dataset.primitive_lattice, dtype=np.float64)
    return cell_parameters(niggli_reduce(primitive))


# --------------------------------------------------------------------------- formulas


def _composition(crystal: Crystal) -> Any:
    """Occupancy-weighted pymatgen composition of the cell, as integers where ratios allow."""
    from pymatgen.core import Composition  # imported here: the peak code never needs it

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


# --------------------------------------------------------------------------- duplicates


def dedupe_key(crystal: Crystal, space_group: int) -> str:
    """Reduced formula (:func:`reduced_formula`) and space group, e.g. ``NaCl|225``."""
    return f"{reduced_formula(crystal)}|{space_group}"


def duplicate_group(key: str, structure_type: str) -> str:
    """The group within which duplicates are sought: a :func:`dedupe_key` and the structure
    type (so stacking variants with other Wyckoff sites stay apart)."""
    return f"{key}|{structure_type}"


def same_cell(cell_a: np.ndarray, cell_b: np.ndarray) -> bool:
    """True when two Niggli-reduced cells agree: every length within
    :data:`CELL_LENGTH_TOLERANCE` (relative) and every angle within
    :data:`CELL_ANGLE_TOLERANCE_DEG` degrees."""
    a, b = np.asarray(cell_a, dtype=np.float64), np.asarray(cell_b, dtype=np.float64)
    close_lengths = np.all(np.abs(a[:3] - b[:3]) <= CELL_LENGTH_TOLERANCE * np.abs(b[:3]))
    close_angles = np.all(np.abs(a[3:] - b[3:]) <= CELL_ANGLE_TOLERANCE_DEG)
    return bool(close_lengths and close_angles)


class DuplicateFinder:
    """Remembers duplicate group -> [(id, cell)] of the structures kept so far."""

    def __init__(self) -> None:
        self._seen: dict[str, list[tuple[str, np.ndarray]]] = {}

    def duplicate_of(self, group: str, structure_id: str, cell: np.ndarray) -> str | None:
        """Id of an earlier kept structure that this one duplicates (same ``group``,
        :func:`same_cell`), or ``None``, and then this one is kept."""
        known = self._seen.setdefault(group, [])
        for kept_id, kept_cell in known:
            if same_cell(cell, kept_cell):
                return kept_id
        known.append((structure_id, np.asarray(cell, dtype=np.float32)))
        return None


def find_duplicates(groups: Iterable[str], cells: np.ndarray) -> np.ndarray:
    """(n,) bool, True where a structure duplicates an earlier one (see :class:`DuplicateFinder`).

    Args:
        groups: (n,) duplicate groups (:func:`duplicate_group`, or any key).
        cells: (n, 6) Niggli-reduced a, b, c (Angstrom), alpha, beta, gamma (degrees).
    """
    finder = DuplicateFinder()
    marks = [
        finder.duplicate_of(str(group), str(index), cells[index]) is not None
        for index, group in enumerate(groups)
    ]
    return np.array(marks, dtype=bool)
