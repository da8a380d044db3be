"""Duplicate removal and train/val/test splits of a peak-list dataset.

Two splits are recorded:

* ``random``: structures assigned at random (the protocol of Park et al. 2017, 80 % training /
  20 % test; 10 % of the training part is held out as validation for early stopping).
* ``structure_type``: whole structure types (same space group, occupied Wyckoff sites and
  anonymous stoichiometry, e.g. all rock-salt compounds) go to one side, so that no structure
  type of the test part was seen in training. This measures generalisation to new structure
  types, the situation of an unknown compound.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from xrdsym.datasets.store import EXCLUDED, PART_CODES

#: Cells count as identical when every Niggli-reduced length agrees within this fraction...
CELL_LENGTH_TOLERANCE = 0.01
#: ...and every angle within this many degrees (relaxed duplicates differ by less).
CELL_ANGLE_TOLERANCE_DEG = 1.0

TEST_FRACTION = 0.2
VAL_FRACTION_OF_TRAIN = 0.1


def find_duplicates(dedupe_keys: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Mark later copies of a structure: same key (formula + space group) and near-equal cell.

    Args:
        dedupe_keys: (n,) str reduced formula and space group of each structure.
        cells: (n, 6) Niggli-reduced a, b, c (Angstrom), alpha, beta, gamma (degrees).

    Returns:
        (n,) bool, True where the structure duplicates an earlier one.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    duplicate = np.zeros(len(dedupe_keys), dtype=bool)
    for index, key in enumerate(dedupe_keys):
        for kept in groups[str(key)]:
            if cells_match(cells[index], cells[kept]):
                duplicate[index] = True
                break
        else:
            groups[str(key)].append(index)
    return duplicate


def cells_match(cell_a: np.ndarray, cell_b: np.ndarray) -> bool:
    """True when two reduced cells agree within the length and angle tolerances."""
    lengths_a, lengths_b = np.asarray(cell_a[:3], float), np.asarray(cell_b[:3], float)
    close_lengths = np.all(np.abs(lengths_a - lengths_b) <= CELL_LENGTH_TOLERANCE * lengths_b)
    close_angles = np.all(np.abs(np.asarray(cell_a[3:]) - cell_b[3:]) <= CELL_ANGLE_TOLERANCE_DEG)
    return bool(close_lengths and close_angles)


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
) -> np.ndarray:
    """Assign whole structure types to one part, so no type is on two sides.

    Types are shuffled with ``seed`` and each type draws its part once, with the same
    probabilities as :func:`random_split`; every member of a type gets that part.

    Returns:
        (n,) int8 part codes (train 0, val 1, test 2, excluded -1).
    """
    unique_types, inverse = np.unique(structure_types.astype(str), return_inverse=True)
    type_parts = random_split(
        len(unique_types), np.zeros(len(unique_types), dtype=bool), seed, test_fraction
    )
    parts = type_parts[inverse].astype(np.int8)
    parts[excluded] = EXCLUDED
    return parts


def make_splits(
    structure_types: np.ndarray, dedupe_keys: np.ndarray, cells: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """Both recorded splits, with duplicates excluded from every part.

    A duplicate has the same reduced formula, space group and structure type (so stacking
    variants with other Wyckoff sites stay apart) and a near-equal reduced cell.
    """
    keys = np.char.add(np.char.add(dedupe_keys.astype(str), "|"), structure_types.astype(str))
    duplicate = find_duplicates(keys, cells)
    return {
        "random": random_split(len(structure_types), duplicate, seed),
        "structure_type": structure_type_split(structure_types, duplicate, seed + 1),
    }
