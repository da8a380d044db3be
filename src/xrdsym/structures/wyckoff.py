"""Wyckoff positions of the 230 space groups with their orbit operations, as a shipped table.

The table is taken once from pyxtal (``pyxtal.symmetry.Group(n).Wyckoff_positions``: the
standard settings of the International Tables, unique axis b, hexagonal axes for rhombohedral
groups, origin choice 2 where there are two) by :func:`build_wyckoff_table` and shipped in the
package as ``data/wyckoff_positions.npz`` (plain arrays, no pickle), so that generating a crystal
needs neither pyxtal nor a symmetry search.

A Wyckoff position of multiplicity m is m affine operations (R | t), 3x4 each: the orbit of the
free parameters v = (x, y, z) is {R_i v + t_i}. The first position of a group is the general
one; its operations are the group's operations in the conventional cell, centring included.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

TABLE_FILE = "wyckoff_positions.npz"

#: Version of the table's layout, stored in the file.
TABLE_VERSION = 1


@dataclass(frozen=True, eq=False)
class WyckoffPosition:
    """One Wyckoff position of a group.

    Attributes:
        space_group: International Tables number 1-230.
        letter: Wyckoff letter (``"a"`` ... ``"z"``, ``"A"`` for alpha).
        multiplicity: number of positions in the conventional cell.
        dof: number of free coordinates (0-3).
        operations: (multiplicity, 3, 4) float64 affine operations (R | t) of the orbit.
    """

    space_group: int
    letter: str
    multiplicity: int
    dof: int
    operations: np.ndarray

    def orbit(self, free: np.ndarray) -> np.ndarray:
        """(multiplicity, 3) fractional positions in [0, 1): R_i v + t_i for v = ``free``."""
        return np.mod(self.operations[:, :, :3] @ free + self.operations[:, :, 3], 1.0)


@dataclass(frozen=True, eq=False)
class WyckoffTable:
    """The Wyckoff positions of all 230 groups (see :func:`load_wyckoff_table`).

    Attributes:
        group_offsets: (231,) int64; the positions of group n are
            ``group_offsets[n-1]:group_offsets[n]``.
        letters: (S,) str; multiplicities, dofs: (S,) int64.
        op_offsets: (S + 1,) int64 into ``operations`` (N, 3, 4) float64.
    """

    group_offsets: np.ndarray
    letters: np.ndarray
    multiplicities: np.ndarray
    dofs: np.ndarray
    op_offsets: np.ndarray
    operations: np.ndarray
    _by_group: tuple[tuple[WyckoffPosition, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The positions of every group, made once (views into ``operations``, no copies).
        object.__setattr__(self, "_by_group", tuple(self._make(n) for n in range(1, 231)))

    def positions(self, space_group: int) -> tuple[WyckoffPosition, ...]:
        """The Wyckoff positions of a group, general position first.

        Raises:
            ValueError: ``space_group`` is not an integer in 1-230.
        """
        if not isinstance(space_group, int | np.integer) or not 1 <= int(space_group) <= 230:
            raise ValueError(f"space group must be an integer in 1-230, got {space_group!r}")
        return self._by_group[int(space_group) - 1]

    def _make(self, space_group: int) -> tuple[WyckoffPosition, ...]:
        """The positions of one group from the arrays."""
        lo, hi = self.group_offsets[space_group - 1], self.group_offsets[space_group]
        return tuple(
            WyckoffPosition(
                int(space_group),
                str(self.letters[s]),
                int(self.multiplicities[s]),
                int(self.dofs[s]),
                self.operations[self.op_offsets[s] : self.op_offsets[s + 1]],
            )
            for s in range(lo, hi)
        )

    def group_operations(self, space_group: int) -> tuple[np.ndarray, np.ndarray]:
        """(rotations (n, 3, 3) int64, translations (n, 3) float64) of the general position."""
        general = self.positions(space_group)[0].operations
        return np.rint(general[:, :, :3]).astype(np.int64), general[:, :, 3].copy()


def build_wyckoff_table() -> dict[str, np.ndarray]:
    """The table's arrays, from pyxtal (about 1 s; used to write the shipped file)."""
    # deferred until called: imports pyxtal, pymatgen
    from pyxtal.symmetry import Group

    group_offsets = [0]
    letters: list[str] = []
    multiplicities: list[int] = []
    dofs: list[int] = []
    op_offsets = [0]
    operations: list[np.ndarray] = []
    for number in range(1, 231):
        for position in Group(number).Wyckoff_positions:
            affine = np.array([op.affine_matrix[:3] for op in position.ops], dtype=np.float64)
            letters.append(str(position.letter))
            multiplicities.append(int(position.multiplicity))
            dofs.append(int(position.get_dof()))
            operations.append(affine)
            op_offsets.append(op_offsets[-1] + len(affine))
        group_offsets.append(len(letters))
    return {
        "version": np.array(TABLE_VERSION),
        "group_offsets": np.array(group_offsets, dtype=np.int64),
        "letters": np.array(letters, dtype=str),
        "multiplicities": np.array(multiplicities, dtype=np.int64),
        "dofs": np.array(dofs, dtype=np.int64),
        "op_offsets": np.array(op_offsets, dtype=np.int64),
        "operations": np.concatenate(operations),
    }


def write_wyckoff_table(path: str | Path) -> Path:
    """Write :func:`build_wyckoff_table` as a compressed ``.npz``."""
    out = Path(path)
    np.savez_compressed(out, **build_wyckoff_table())  # type: ignore[arg-type]
    return out


@functools.lru_cache(maxsize=1)
def load_wyckoff_table() -> WyckoffTable:
    """The shipped table (read once per process; the cache holds one immutable table)."""
    source = resources.files("xrdsym.structures") / "data" / TABLE_FILE
    with resources.as_file(source) as path, np.load(path, allow_pickle=False) as archive:
        if int(archive["version"]) != TABLE_VERSION:
            raise ValueError(f"{path}: Wyckoff table version {int(archive['version'])}")
        return WyckoffTable(
            group_offsets=archive["group_offsets"],
            letters=archive["letters"],
            multiplicities=archive["multiplicities"],
            dofs=archive["dofs"],
            op_offsets=archive["op_offsets"],
            operations=archive["operations"],
        )
