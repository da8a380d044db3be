"""The one space-group table: symbols, crystal systems and extinction groups of the 230 space
groups, shipped as data (``space_group_table.json``, no spglib at start-up), and the one place
where a space-group distribution is summed into the two coarser levels.

The table is derived from spglib by :func:`space_group_table_data` (:mod:`.derive`); the test
suite checks that the shipped file equals the derivation. Calibration, evaluation and
classification all call :func:`reconcile_probabilities` / :func:`level_probabilities`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np

from xrdsym.spacegroups.derive import CRYSTAL_SYSTEMS, N_SPACE_GROUPS, space_groups

#: The shipped space-group table (symbols, crystal systems, extinction groups).
TABLE_RESOURCE = "space_group_table.json"

#: The three levels of a symmetry answer, coarse to fine.
LEVELS = ("crystal_system", "extinction_group", "space_group")


@dataclass(frozen=True)
class SpaceGroupTable:
    """Symbols and memberships of the 230 space groups.

    Attributes:
        symbols: (230,) Hermann-Mauguin symbols, index = number - 1.
        crystal_systems: the seven names, index = crystal-system label.
        system_of: (230,) crystal-system index of each space group (read-only).
        extinction_of: (230,) extinction-group index (0-100) of each space group (read-only).
    """

    symbols: tuple[str, ...]
    crystal_systems: tuple[str, ...]
    system_of: np.ndarray
    extinction_of: np.ndarray

    @cached_property
    def extinction_members(self) -> tuple[tuple[int, ...], ...]:
        """Space-group numbers of each extinction group, increasing; classes are ordered by
        their smallest member."""
        n = int(self.extinction_of.max()) + 1
        return tuple(
            tuple(int(i) + 1 for i in np.flatnonzero(self.extinction_of == g)) for g in range(n)
        )

    @cached_property
    def extinction_symbols(self) -> tuple[str, ...]:
        """An extinction group named by its member space groups: ``Pna2_1, Pnma``."""
        return tuple(
            ", ".join(self.symbols[n - 1] for n in members) for members in self.extinction_members
        )


def space_group_table_data() -> dict[str, Any]:
    """The table as derived from spglib (:mod:`.derive`), in the shipped JSON layout."""
    return {
        "crystal_systems": list(CRYSTAL_SYSTEMS),
        "space_groups": [
            [s.number, s.symbol, CRYSTAL_SYSTEMS.index(s.crystal_system), s.extinction_group]
            for s in space_groups()
        ],
    }


@functools.cache
def load_space_group_table() -> SpaceGroupTable:
    """The shipped table (``space_group_table.json``), read once per process."""
    text = resources.files("xrdsym.spacegroups").joinpath(TABLE_RESOURCE).read_text()
    data = json.loads(text)
    rows = data["space_groups"]
    system_of = np.array([r[2] for r in rows], dtype=np.int64)
    extinction_of = np.array([r[3] for r in rows], dtype=np.int64)
    system_of.flags.writeable = False
    extinction_of.flags.writeable = False
    return SpaceGroupTable(
        symbols=tuple(str(r[1]) for r in rows),
        crystal_systems=tuple(data["crystal_systems"]),
        system_of=system_of,
        extinction_of=extinction_of,
    )


def extinction_groups() -> tuple[tuple[int, ...], ...]:
    """The 101 extinction groups as tuples of member space-group numbers (ascending).

    Entry ``i`` is extinction group ``i``; classes are ordered by their smallest member.
    """
    return load_space_group_table().extinction_members


def label_maps() -> tuple[np.ndarray, np.ndarray]:
    """(crystal-system index, extinction-group index) per space group, each (230,) int64.

    Index ``number - 1`` holds the labels of space group ``number``. The arrays are fresh
    copies, safe to modify.
    """
    table = load_space_group_table()
    return table.system_of.copy(), table.extinction_of.copy()


def _checked_probabilities(p_space_group: np.ndarray) -> np.ndarray:
    """``p_space_group`` as a float array with a last axis of 230 non-negative finite values.

    Float input keeps its dtype; integer or bool input becomes float64.
    """
    p = np.asarray(p_space_group)
    if p.dtype.kind in "biu":
        p = p.astype(np.float64)
    elif p.dtype.kind != "f":
        raise ValueError(f"space-group probabilities must be real numbers, got dtype {p.dtype}")
    if p.ndim == 0 or p.shape[-1] != N_SPACE_GROUPS:
        raise ValueError(
            f"space-group probabilities need a last axis of length 230, got shape {p.shape}"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("space-group probabilities contain NaN or infinite values")
    if np.any(p < 0):
        raise ValueError("space-group probabilities contain negative values")
    return p


def reconcile_probabilities(p_space_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crystal-system and extinction-group probabilities implied by space-group probabilities.

    The crystal system and the extinction group are functions of the space group, so
    P(system = s) = sum of P(space group = g) over the groups g of system s, and likewise for
    extinction groups (summed in order of the space-group number).

    Args:
        p_space_group: (..., 230) non-negative finite values, index ``number - 1``. Float input
            keeps its dtype; integer or bool input is converted to float64. Rows need not sum
            to one: sums are preserved, so normalised input gives normalised output.

    Returns:
        ((..., 7) crystal-system probabilities, (..., 101) extinction-group probabilities).

    Raises:
        ValueError: the last axis is not 230 long, or the values are not real numbers, or some
            are NaN, infinite or negative.
    """
    p = _checked_probabilities(p_space_group)
    table = load_space_group_table()
    by_group = np.moveaxis(p, -1, 0)
    system = np.zeros((len(table.crystal_systems), *p.shape[:-1]), dtype=p.dtype)
    extinction = np.zeros((len(table.extinction_members), *p.shape[:-1]), dtype=p.dtype)
    np.add.at(system, table.system_of, by_group)
    np.add.at(extinction, table.extinction_of, by_group)
    return np.moveaxis(system, 0, -1), np.moveaxis(extinction, 0, -1)


def level_probabilities(p_space_group: np.ndarray) -> dict[str, np.ndarray]:
    """The distributions of the three levels (:data:`LEVELS`) from (..., 230) space-group ones.

    Crystal-system and extinction-group probabilities are sums over member space groups
    (:func:`reconcile_probabilities`).
    """
    p = _checked_probabilities(p_space_group)
    system, extinction = reconcile_probabilities(p)
    return {"crystal_system": system, "extinction_group": extinction, "space_group": p}


def level_labels(space_group_index: np.ndarray) -> dict[str, np.ndarray]:
    """Integer labels of the three levels from space-group indices 0-229 (number - 1)."""
    table = load_space_group_table()
    sg = np.asarray(space_group_index, dtype=np.int64)
    return {
        "crystal_system": table.system_of[sg],
        "extinction_group": table.extinction_of[sg],
        "space_group": sg,
    }
