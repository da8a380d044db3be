"""The shipped space-group table: symbols, crystal systems and extinction groups of the 230
space groups, and the sums that turn a space-group distribution into the two coarser levels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np

#: The shipped space-group table (symbols, crystal systems, extinction groups).
TABLE_RESOURCE = "space_group_table.json"


@dataclass(frozen=True)
class SpaceGroupTable:
    """Symbols and memberships of the 230 space groups, shipped as data (no spglib at start-up).

    Attributes:
        symbols: (230,) Hermann-Mauguin symbols, index = number - 1.
        crystal_systems: the seven names, index = crystal-system label.
        system_of: (230,) crystal-system index of each space group.
        extinction_of: (230,) extinction-group index (0-100) of each space group.
    """

    symbols: tuple[str, ...]
    crystal_systems: tuple[str, ...]
    system_of: np.ndarray
    extinction_of: np.ndarray

    @cached_property
    def extinction_members(self) -> tuple[tuple[int, ...], ...]:
        """Space-group numbers of each extinction group, increasing."""
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

    def reconcile(self, p_space_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crystal-system, extinction-group) probabilities: sums over member space groups.

        Works on (230,) or (n, 230); p_level[..., c] = sum of p[..., g] over g in class c.
        """
        p = np.asarray(p_space_group, dtype=np.float64)
        system = np.zeros((*p.shape[:-1], len(self.crystal_systems)))
        extinction = np.zeros((*p.shape[:-1], len(self.extinction_members)))
        np.add.at(system.T, self.system_of, np.moveaxis(p, -1, 0))
        np.add.at(extinction.T, self.extinction_of, np.moveaxis(p, -1, 0))
        return system, extinction

    def levels(self, p_space_group: np.ndarray) -> dict[str, np.ndarray]:
        """The three levels' distributions (``LEVELS`` order) from space-group ones (sums)."""
        p = np.asarray(p_space_group, dtype=np.float64)
        system, extinction = self.reconcile(p)
        return {"crystal_system": system, "extinction_group": extinction, "space_group": p}


def space_group_table_data() -> dict[str, Any]:
    """The table as derived by :mod:`xrdsym.symmetry` (spglib), in the shipped JSON layout."""
    from xrdsym.symmetry import CRYSTAL_SYSTEMS, space_groups

    return {
        "crystal_systems": list(CRYSTAL_SYSTEMS),
        "space_groups": [
            [s.number, s.symbol, CRYSTAL_SYSTEMS.index(s.crystal_system), s.extinction_group]
            for s in space_groups()
        ],
    }


def load_space_group_table() -> SpaceGroupTable:
    """The shipped table (``space_group_table.json``)."""
    text = resources.files("xrdsym").joinpath(TABLE_RESOURCE).read_text()
    data = json.loads(text)
    rows = data["space_groups"]
    return SpaceGroupTable(
        symbols=tuple(str(r[1]) for r in rows),
        crystal_systems=tuple(data["crystal_systems"]),
        system_of=np.array([r[2] for r in rows], dtype=np.int64),
        extinction_of=np.array([r[3] for r in rows], dtype=np.int64),
    )
