"""Symmetrised structures: a conventional cell whose space-group operations are known exactly.

A :class:`Prototype` is spglib's standardized conventional cell of a labelled structure
(idealized lattice and positions in the setting of its Hall number) together with the species
of every atom. Its operations come from spglib's database for that Hall number, so they map the
cell onto itself exactly; a perturbed copy (other cell, other free coordinates, other elements,
:mod:`xrdsym.structures.perturb`) keeps them, and its peak list needs no symmetry search.

Species are the names made by :func:`xrdsym.structures.labelling.spglib_cell`: an element
(``"Na"``) or a mixed site (``"Li:0.5+Ni:0.5"``, element:occupancy pairs joined by ``+``).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import spglib

from xrdsym.structures.crystal import Crystal
from xrdsym.structures.tolerance import DEFAULT_SYMPREC

#: Fractional positions are compared on this grid when orbits are formed and images deduplicated:
#: idealized spglib positions agree to ~1e-10, and distinct atoms of a cell are >= 0.5 A apart
#: (>= 1e-2 in fractions for cells below 50 A).
POSITION_DECIMALS = 4


@dataclass(frozen=True, eq=False)
class Prototype:
    """A conventional cell in a standard setting with exactly known symmetry.

    Attributes:
        space_group: International Tables number 1-230 (the label).
        hall_number: spglib Hall number 1-530 of the setting of ``lattice`` and ``positions``.
        lattice: 3x3 float64 cell rows a, b, c in Angstrom.
        positions: (n, 3) float64 fractional coordinates of every atom of the cell.
        species: species name of each atom (an element, or ``"A:occ+B:occ"`` for a mixed site).
        name: identifier of the structure it came from.
    """

    space_group: int
    hall_number: int
    lattice: np.ndarray
    positions: np.ndarray
    species: tuple[str, ...]
    name: str = ""

    def __len__(self) -> int:
        """Number of atoms in the conventional cell."""
        return len(self.species)


@functools.lru_cache(maxsize=530)
def hall_operations(hall_number: int) -> tuple[np.ndarray, np.ndarray]:
    """Operations (W, t) of a Hall setting from spglib's database, centring included.

    x' = W x + t in fractional coordinates; W (n, 3, 3) int64, t (n, 3) float64. The cache only
    memoizes this pure function of at most 530 arguments.
    """
    if not 1 <= int(hall_number) <= 530:
        raise ValueError(f"Hall number {hall_number} outside 1-530")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ops = spglib.get_symmetry_from_database(int(hall_number))
    if ops is None:
        raise ValueError(f"spglib has no operations for Hall number {hall_number}")
    return (
        np.asarray(ops["rotations"], dtype=np.int64),
        np.asarray(ops["translations"], dtype=np.float64),
    )


def position_keys(positions: np.ndarray) -> np.ndarray:
    """Integer keys (n, 3) of fractional positions modulo 1 on a 10^-POSITION_DECIMALS grid."""
    scale = 10**POSITION_DECIMALS
    return np.mod(np.rint(np.mod(positions, 1.0) * scale).astype(np.int64), scale)


def position_codes(positions: np.ndarray) -> np.ndarray:
    """One int64 per position (..., 3): (k0 s + k1) s + k2 of its :func:`position_keys`,
    s = 10^POSITION_DECIMALS; equal codes mean equal positions modulo 1, and codes sort as
    the keys do."""
    scale = 10**POSITION_DECIMALS
    keys = position_keys(positions)
    return (keys[..., 0] * scale + keys[..., 1]) * scale + keys[..., 2]


def orbit_images(
    representative: np.ndarray, rotations: np.ndarray, translations: np.ndarray
) -> np.ndarray:
    """The distinct images W x + t (mod 1) of one position x: its orbit, (k, 3) float64, in
    the order of their first appearance."""
    images = np.mod(rotations @ representative + translations, 1.0)
    _, first = np.unique(position_codes(images), return_index=True)
    return images[np.sort(first)]


def orbit_labels(prototype: Prototype) -> np.ndarray:
    """(n,) int64: the index of the first atom of each atom's orbit under the Hall operations.

    The orbit of atom i is {W x_i + t}; its label is the smallest index among the atoms of the
    same species found at those images, which is the same for every member of the orbit.
    """
    rotations, translations = hall_operations(prototype.hall_number)
    n = len(prototype)
    codes = position_codes(prototype.positions)
    order = np.argsort(codes)
    image_codes = position_codes(  # (m, n)
        np.einsum("mij,nj->mni", rotations, prototype.positions) + translations[:, None, :]
    )
    slot = np.clip(np.searchsorted(codes[order], image_codes), 0, n - 1)
    found = order[slot]
    _, species_id = np.unique(np.asarray(prototype.species), return_inverse=True)
    valid = (codes[found] == image_codes) & (species_id[found] == species_id[None, :])
    return np.where(valid, found, np.arange(n)[None, :]).min(axis=0).astype(np.int64)


def species_parts(species: str) -> list[tuple[str, float]]:
    """(element, occupancy) pairs of a species name: ``"Na"`` -> [("Na", 1.0)]."""
    if ":" not in species:
        return [(species, 1.0)]
    parts = []
    for item in species.split("+"):
        element, occupancy = item.split(":")
        parts.append((element, float(occupancy)))
    return parts


def prototype_crystal(prototype: Prototype) -> Crystal:
    """The :class:`Crystal` (all sites listed, B = 0) of a prototype; mixed sites split."""
    coords: list[np.ndarray] = []
    elements: list[str] = []
    occupancies: list[float] = []
    for position, species in zip(prototype.positions, prototype.species, strict=True):
        for element, occupancy in species_parts(species):
            coords.append(position)
            elements.append(element)
            occupancies.append(occupancy)
    n = len(elements)
    return Crystal(
        lattice=np.asarray(prototype.lattice, dtype=np.float64),
        frac_coords=np.mod(np.asarray(coords, dtype=np.float64).reshape(n, 3), 1.0),
        elements=tuple(elements),
        occupancies=np.asarray(occupancies, dtype=np.float64),
        b_iso=np.zeros(n),
        name=prototype.name,
    )


def prototype_from_dataset(dataset: object, species_names: list[str], name: str = "") -> Prototype:
    """The prototype of a structure from its spglib dataset.

    Args:
        dataset: ``spglib.get_symmetry_dataset`` result of the cell of
            :func:`xrdsym.structures.labelling.spglib_cell`.
        species_names: name of each spglib species number (1-based) of that cell.
        name: structure identifier.
    """
    types = np.asarray(dataset.std_types, dtype=np.int64)  # type: ignore[attr-defined]
    return Prototype(
        space_group=int(dataset.number),  # type: ignore[attr-defined]
        hall_number=int(dataset.hall_number),  # type: ignore[attr-defined]
        lattice=np.asarray(dataset.std_lattice, dtype=np.float64),  # type: ignore[attr-defined]
        positions=np.mod(np.asarray(dataset.std_positions, dtype=np.float64), 1.0),  # type: ignore[attr-defined]
        species=tuple(species_names[t - 1] for t in types),
        name=name,
    )


def prototype_of(crystal: Crystal, symprec: float = DEFAULT_SYMPREC) -> Prototype:
    """The prototype of a crystal: spglib's standardized cell at ``symprec`` (Angstrom).

    Raises:
        StructureError: spglib cannot analyse the cell.
    """
    # deferred until called: imports gemmi
    from xrdsym.structures.labelling import spglib_cell, symmetry_dataset

    dataset = symmetry_dataset(crystal, symprec=symprec)
    return prototype_from_dataset(dataset, spglib_cell(crystal)[3], crystal.name)


def read_prototypes(path: str | Path, limit: int | None = None) -> list[Prototype]:
    """Prototypes of the structures of a CIF file, folder or table, in file order.

    Args:
        path: anything :func:`xrdsym.structures.reader.iter_cif_sources` reads.
        limit: stop after this many structures (None: all).

    Raises:
        StructureError: a structure cannot be read or analysed.
    """

    # deferred until called: imports gemmi
    from xrdsym.structures.reader import iter_cif_sources, read_cif_text

    items = islice(iter_cif_sources(path), limit)
    return [prototype_of(read_cif_text(text, structure_id)) for structure_id, text in items]
