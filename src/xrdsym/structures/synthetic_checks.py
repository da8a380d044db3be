"""Symmetry checks of synthetic crystals: the group spglib finds, whether a crystal keeps
the group it was drawn in (:func:`keeps_its_group`, with a fast test for extra lattice
translations in the groups of maximal point group), and the accidental-symmetry rate of a
generator. The generator itself is :mod:`xrdsym.structures.synthetic`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from xrdsym.errors import StructureError
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.symmetry import point_group_order, symmetry_dataset
from xrdsym.structures.synthetic import SyntheticCrystal, SyntheticGenerator
from xrdsym.structures.synthetic_statistics import crystal_family
from xrdsym.structures.tolerance import DEFAULT_SYMPREC


def accidental_symmetry_rate(
    generator: SyntheticGenerator,
    space_groups: Iterable[int],
    per_group: int,
    seed: int = 0,
    symprec: float = DEFAULT_SYMPREC,
) -> dict[int, tuple[int, int]]:
    """group -> (crystals drawn, crystals whose spglib group differs from the requested one)."""
    found = {}
    for group in space_groups:
        rng = np.random.default_rng([seed, int(group)])
        other = 0
        for _ in range(per_group):
            sample = generator.sample_group(int(group), rng)
            if int(symmetry_dataset(sample.crystal, symprec).number) != int(group):
                other += 1
        found[int(group)] = (per_group, other)
    return found


def spglib_group(sample: SyntheticCrystal, symprec: float = DEFAULT_SYMPREC) -> int:
    """The space-group number spglib finds in the crystal (0 when it finds none)."""
    try:
        return int(symmetry_dataset(sample.crystal, symprec).number)
    except StructureError:
        return 0


def spglib_agrees(sample: SyntheticCrystal, symprec: float = DEFAULT_SYMPREC) -> bool:
    """True when spglib finds the requested group in the crystal."""
    return spglib_group(sample, symprec) == sample.space_group


def has_maximal_point_group(space_group: int, rotations: np.ndarray) -> bool:
    """True when the group's point group is contained in no larger crystallographic one:
    m-3m (order 48) or 6/mmm (order 24 in the hexagonal family; no cubic group has a 6-fold
    axis)."""
    order = point_group_order(rotations)
    return order == 48 or (order == 24 and crystal_family(space_group) == "hexagonal")


def keeps_its_group(sample: SyntheticCrystal, symprec: float = DEFAULT_SYMPREC) -> bool:
    """True when the crystal has no more symmetry than its requested group (the stream's check).

    A group with a maximal point group (:func:`has_maximal_point_group`) can only gain
    symmetry through extra translations: a supergroup with the same point group differs by
    translations alone. For those groups a test for a pure translation outside the group's own
    (:func:`extra_translation`) replaces spglib, which spends most of its time on the cubic
    ones; it is stricter than spglib's group number (a smaller cell of the same type counts as
    more symmetry). Other groups: spglib finds the requested group.
    """
    rotations, translations = sample.operations
    if has_maximal_point_group(sample.space_group, rotations):
        return not extra_translation(sample.crystal, rotations, translations, symprec)
    return spglib_agrees(sample, symprec)


#: Atoms per block of :func:`extra_translation`'s candidate test.
TRANSLATION_CHECK_ATOMS = 8


def extra_translation(
    crystal: Crystal,
    rotations: np.ndarray,
    translations: np.ndarray,
    symprec: float = DEFAULT_SYMPREC,
) -> bool:
    """True when a pure translation tau that is not one of the operations' own (W = I) maps
    every atom onto an atom of the same element within ``symprec`` Angstrom.

    Candidates are tau = x_j - x_0 for the atoms j of atom 0's element; an atom i matches when
    the nearest image of x_i + tau - x_k is shorter than symprec for some atom k of its element.
    All candidates are tested together on ``TRANSLATION_CHECK_ATOMS`` atoms at a time, and a
    candidate leaves at the first atom it does not map (most leave at the first block).
    """
    frac = np.mod(np.asarray(crystal.frac_coords, dtype=np.float64), 1.0)
    elements = np.asarray(crystal.elements)
    lattice = np.asarray(crystal.lattice, dtype=np.float64)
    flat = np.asarray(rotations).reshape(-1, 9)
    own = np.asarray(translations, dtype=np.float64)[
        np.all(flat == np.eye(3, dtype=flat.dtype).ravel(), axis=1)
    ]
    candidates = frac[elements == elements[0]] - frac[0]
    candidates -= np.rint(candidates)
    known = candidates[:, None, :] - own[None, :, :]
    known -= np.rint(known)
    is_own = np.any(np.linalg.norm(known @ lattice, axis=2) < symprec, axis=1)
    same = elements[:, None] == elements[None, :]
    alive = candidates[~is_own]
    for start in range(0, len(frac), TRANSLATION_CHECK_ATOMS):
        if len(alive) == 0:
            return False
        rows = slice(start, start + TRANSLATION_CHECK_ATOMS)
        # (candidate, atom i of the block, atom k, 3): x_i + tau - x_k, nearest image.
        delta = frac[None, rows, None, :] + alive[:, None, None, :] - frac[None, None, :, :]
        delta -= np.rint(delta)
        cart = delta @ lattice
        close = np.einsum("cikx,cikx->cik", cart, cart) < symprec * symprec
        alive = alive[np.all(np.any(close & same[None, rows, :], axis=2), axis=1)]
    return len(alive) > 0
