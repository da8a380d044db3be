"""Duplicate removal and train/val/test splits of a peak-list dataset.

Two splits are recorded:

* ``random``: structures assigned at random (the protocol of Park et al. 2017, 80 % training /
  20 % test; 10 % of the training part is held out as validation for early stopping).
* ``structure_type``: whole structure types (same space group, occupied Wyckoff sites and
  anonymous stoichiometry, e.g. all rock-salt compounds) go to one side, so that no structure
  type of the test part was seen in training. This measures generalisation to new structure
  types, the situation of an unknown compound. A type holding more than
  ``MAX_HELD_OUT_TYPE_FRACTION`` of the kept structures always goes to training: drawn into a
  held-out part it would make up much of it (one Heusler type of 1,769 structures was 47 % of
  a validation part of 3,776), and that part would then score one type instead of many.
"""

from __future__ import annotations

import numpy as np

from xrdsym.datasets.shards import EXCLUDED, PART_CODES
from xrdsym.structures.symmetry import (
    CELL_ANGLE_TOLERANCE_DEG,
    CELL_LENGTH_TOLERANCE,
    duplicate_group,
    same_cell,
)
from xrdsym.structures.symmetry import find_duplicates as symmetry_find_duplicates

__all__ = [
    "CELL_ANGLE_TOLERANCE_DEG",
    "CELL_LENGTH_TOLERANCE",
    "MAX_HELD_OUT_TYPE_FRACTION",
    "TEST_FRACTION",
    "VAL_FRACTION_OF_TRAIN",
    "cells_match",
    "find_duplicates",
    "make_splits",
    "random_split",
    "structure_type_split",
]

TEST_FRACTION = 0.2
VAL_FRACTION_OF_TRAIN = 0.1
#: Largest share of the kept structures one structure type may hold and still be held out.
MAX_HELD_OUT_TYPE_FRACTION = 0.01


def find_duplicates(dedupe_keys: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Mark later copies of a structure: same key and near-equal cell.

    The rule is :func:`xrdsym.structures.symmetry.find_duplicates` (cells compared by
    :func:`~xrdsym.structures.symmetry.same_cell`), the one of ``structures summary``.

    Args:
        dedupe_keys: (n,) str duplicate group of each structure.
        cells: (n, 6) Niggli-reduced primitive a, b, c (Angstrom), alpha, beta, gamma (degrees).

    Returns:
        (n,) bool, True where the structure duplicates an earlier one.
    """
    return symmetry_find_duplicates((str(key) for key in dedupe_keys), cells)


#: Two reduced cells agree (the rule of :func:`xrdsym.structures.symmetry.same_cell`).
cells_match = same_cell


def random_split(
    n: int, excluded: np.ndarray, seed: int, test_fraction: float = TEST_FRACTION
) -> np.ndarray:
    """Assign structures at random: (n,) int8 part codes (train 0, val 1, test 2, excluded -1)."""
    rng = np.random.default_rng(seed)
    parts = np.full(n, PART_CODES["train"], dtype=np.int8)
    draw = rng.random(n)
    parts[draw < test_fraction] = PART_CODES["test"]
    val_cut = test_fraction + (1.0 - test_fraction) * VAL_FRACTION_OF_TRAIN
    parts[(draw >= test_fraction) & (draw < val_cut)] = PART_CODES["val"]
    parts[excluded] = EXCLUDED
    return parts


def structure_type_split(
    structure_types: np.ndarray,
    excluded: np.ndarray,
    seed: int,
    test_fraction: float = TEST_FRACTION,
    max_held_out_fraction: float = MAX_HELD_OUT_TYPE_FRACTION,
) -> np.ndarray:
    """Assign whole structure types to one part, so no type is on two sides.

    Each type draws its part once, with ``seed`` and the probabilities of
    :func:`random_split`; every member of a type gets that part. A type with more than
    ``max_held_out_fraction`` of the kept (not excluded) structures goes to training whatever
    it drew, so that no held-out part is dominated by one type.

    Returns:
        (n,) int8 part codes (train 0, val 1, test 2, excluded -1).
    """
    unique_types, inverse = np.unique(structure_types.astype(str), return_inverse=True)
    type_parts = random_split(
        len(unique_types), np.zeros(len(unique_types), dtype=bool), seed, test_fraction
    )
    kept_per_type = np.bincount(inverse[~excluded], minlength=len(unique_types))
    too_large = kept_per_type > max_held_out_fraction * max(1, int(np.sum(~excluded)))
    type_parts[too_large] = PART_CODES["train"]
    parts = type_parts[inverse].astype(np.int8)
    parts[excluded] = EXCLUDED
    return parts


def make_splits(
    structure_types: np.ndarray, dedupe_keys: np.ndarray, cells: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """Both recorded splits, with duplicates excluded from every part.

    A duplicate has the same reduced formula, space group and structure type (so stacking
    variants with other Wyckoff sites stay apart) and a near-equal Niggli-reduced primitive
    cell: the rule of :mod:`xrdsym.structures.symmetry`, shared with ``structures summary``.
    """
    keys = [
        duplicate_group(str(key), str(kind))
        for key, kind in zip(dedupe_keys.astype(str), structure_types.astype(str), strict=True)
    ]
    duplicate = symmetry_find_duplicates(keys, cells)
    return {
        "random": random_split(len(structure_types), duplicate, seed),
        "structure_type": structure_type_split(structure_types, duplicate, seed + 1),
    }
