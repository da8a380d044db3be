"""Labels of the 230 space groups derived from spglib: crystal system, Laue class, point group,
extinction group.

Everything here is derived from the symmetry operations of each space group in its standard
setting, as listed by spglib's database (the first Hall setting of each number: unique axis b
and cell choice 1 for the monoclinic groups, origin choice 1 where there are two, hexagonal axes
for the rhombohedral groups). Nothing is read from a file.

Extinction groups (the 101 classes of Park et al. 2017, IUCrJ 4, 486-494) follow the project's
definition in ``shared/spec/extinction-groups.md``: two space groups share an extinction group
when they belong to the same crystal system and have the same set of systematically absent
reflections hkl; in the orthorhombic system two absence sets are also equal when one becomes the
other by a permutation of h, k, l, because a powder pattern cannot tell the axes apart.

A reflection h is systematically absent when some operation (R, t) of the group leaves it fixed,
h R = h, while h . t is not an integer: then F(h) = F(h) exp(2 pi i h . t) forces F(h) = 0.
The operations include the centring translations, so lattice absences (C: h + k odd, I, F, R
obverse: -h + k + l != 3n) come out of the same test. Indices -6..6 cover every reflection
condition (the longest periods are 4 for d glides and 4_1 screws, 6 for 6_1 screws); the test
suite checks that the classes equal the oracle table in ``shared/spec/extinction_groups.csv``.
"""

from __future__ import annotations

import functools
import itertools
import operator
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, SupportsIndex

import numpy as np

CRYSTAL_SYSTEMS: tuple[str, ...] = (
    "triclinic",
    "monoclinic",
    "orthorhombic",
    "tetragonal",
    "trigonal",
    "hexagonal",
    "cubic",
)
"""The seven crystal systems, in the order of their space-group numbers; index = class label."""

N_SPACE_GROUPS = 230
N_CRYSTAL_SYSTEMS = len(CRYSTAL_SYSTEMS)
N_EXTINCTION_GROUPS = 101
"""Number of extinction groups that the derivation yields (checked when the table is built)."""

HKL_MAX = 6
"""Miller indices -HKL_MAX..HKL_MAX are tested for absence (13^3 = 2197 reflections)."""

_PHASE_TOLERANCE = 1e-6
"""h . t is compared with the nearest integer to this tolerance: spglib's translations are
multiples of 1/12 stored as float64, so the products are exact to rounding."""

# Point group (spglib's international symbol) -> Laue class (the point group plus inversion).
_LAUE_CLASS: dict[str, str] = {
    "1": "-1",
    "-1": "-1",
    "2": "2/m",
    "m": "2/m",
    "2/m": "2/m",
    "222": "mmm",
    "mm2": "mmm",
    "mmm": "mmm",
    "4": "4/m",
    "-4": "4/m",
    "4/m": "4/m",
    "422": "4/mmm",
    "4mm": "4/mmm",
    "-42m": "4/mmm",
    "4/mmm": "4/mmm",
    "3": "-3",
    "-3": "-3",
    "32": "-3m",
    "3m": "-3m",
    "-3m": "-3m",
    "6": "6/m",
    "-6": "6/m",
    "6/m": "6/m",
    "622": "6/mmm",
    "6mm": "6/mmm",
    "-6m2": "6/mmm",
    "6/mmm": "6/mmm",
    "23": "m-3",
    "m-3": "m-3",
    "432": "m-3m",
    "-43m": "m-3m",
    "m-3m": "m-3m",
}

# Laue class -> crystal system (the trigonal system has the Laue classes -3 and -3m).
_CRYSTAL_SYSTEM_OF_LAUE: dict[str, str] = {
    "-1": "triclinic",
    "2/m": "monoclinic",
    "mmm": "orthorhombic",
    "4/m": "tetragonal",
    "4/mmm": "tetragonal",
    "-3": "trigonal",
    "-3m": "trigonal",
    "6/m": "hexagonal",
    "6/mmm": "hexagonal",
    "m-3": "cubic",
    "m-3m": "cubic",
}


@dataclass(frozen=True)
class SpaceGroupInfo:
    """Labels of one space group.

    Attributes:
        number: International Tables number, 1-230.
        symbol: short Hermann-Mauguin symbol of the standard setting as spglib spells it, with
            an underscore for screw axes and the ITA "e" glide (e.g. ``"P2_1/c"``, ``"Fm-3m"``,
            ``"R-3c"``, ``"Cmce"`` for no. 64, formerly Cmca).
        crystal_system: one of :data:`CRYSTAL_SYSTEMS`.
        laue_class: Hermann-Mauguin symbol of the Laue class, e.g. ``"2/m"``, ``"mmm"``,
            ``"4/mmm"``, ``"-3m"``, ``"m-3m"`` (11 classes).
        point_group: Hermann-Mauguin symbol of the crystal class, e.g. ``"mm2"``, ``"-42m"``
            (32 classes; orientation variants such as -4m2 and -42m share one symbol).
        centring: lattice letter P, A, C, I, F or R (R: rhombohedral lattice, hexagonal axes).
        extinction_group: index 0-100 of the extinction group; classes are numbered in the
            order of their smallest member.
    """

    number: int
    symbol: str
    crystal_system: str
    laue_class: str
    point_group: str
    centring: str
    extinction_group: int

    @property
    def crystal_system_index(self) -> int:
        """Index of :attr:`crystal_system` in :data:`CRYSTAL_SYSTEMS`."""
        return CRYSTAL_SYSTEMS.index(self.crystal_system)


def _field(record: Any, name: str) -> Any:
    """Read ``name`` from a spglib record: a dataclass in spglib >= 2.5, a dict before."""
    if isinstance(record, dict):
        return record[name]
    return getattr(record, name)


@contextmanager
def _quiet_spglib() -> Iterator[None]:
    """Hide spglib's DeprecationWarning about its error-handling mode (>= 2.5) for these calls.

    Setting ``spglib.error.OLD_ERROR_HANDLING`` would change spglib for the whole process, so
    the warning is filtered here instead; errors are still detected by the None checks.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"spglib(\.|$)")
        yield


@functools.cache
def _standard_hall_numbers() -> tuple[int, ...]:
    """Hall number (1-530) of the standard setting of space groups 1..230: the first listed."""
    # deferred until called: imports spglib
    import spglib

    first: dict[int, int] = {}
    for hall_number in range(1, 531):
        with _quiet_spglib():
            record = spglib.get_spacegroup_type(hall_number)
        if record is None:
            raise RuntimeError(f"spglib has no space-group type for Hall number {hall_number}")
        first.setdefault(int(_field(record, "number")), hall_number)
    if sorted(first) != list(range(1, N_SPACE_GROUPS + 1)):
        raise RuntimeError("spglib's database does not list all 230 space groups")
    return tuple(first[number] for number in range(1, N_SPACE_GROUPS + 1))


@functools.cache
def hkl_grid() -> np.ndarray:
    """(2197, 3) int64 Miller indices h, k, l in -HKL_MAX..HKL_MAX, l varying fastest."""
    r = np.arange(-HKL_MAX, HKL_MAX + 1, dtype=np.int64)
    grid = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    grid.flags.writeable = False
    return grid


def _check_number(number: SupportsIndex) -> int:
    if isinstance(number, bool):
        raise TypeError(f"space-group number must be an integer, got {number!r}")
    value = operator.index(number)
    if not 1 <= value <= N_SPACE_GROUPS:
        raise ValueError(f"space-group number must be in 1-230, got {value}")
    return value


def standard_operations(number: SupportsIndex) -> tuple[np.ndarray, np.ndarray]:
    """Operations (R, t) of space group ``number`` in its standard setting, centring included.

    Returns rotations (n_ops, 3, 3) int64 and translations (n_ops, 3) float64, acting on
    fractional coordinates as x' = R x + t (spglib's database, first Hall setting).
    """
    return _standard_operations(_check_number(number))


@functools.cache
def _standard_operations(number: int) -> tuple[np.ndarray, np.ndarray]:
    # deferred until called: imports spglib
    import spglib

    index = number - 1
    with _quiet_spglib():
        ops = spglib.get_symmetry_from_database(_standard_hall_numbers()[index])
    if ops is None:
        raise RuntimeError(f"spglib returned no operations for space group {index + 1}")
    rotations = np.asarray(ops["rotations"], dtype=np.int64)
    translations = np.asarray(ops["translations"], dtype=np.float64)
    rotations.flags.writeable = False
    translations.flags.writeable = False
    return rotations, translations


def systematic_absences(number: SupportsIndex) -> np.ndarray:
    """(2197,) bool: which reflections of :func:`hkl_grid` space group ``number`` forbids.

    Computed from the operations (R, t) of the standard setting: h is absent when h R = h and
    h . t is not an integer for some operation. The reflection 000 is never absent.
    """
    rotations, translations = standard_operations(number)
    hkl = hkl_grid()
    absent = np.zeros(len(hkl), dtype=bool)
    # One vectorised pass per operation: h R for all h is a (2197, 3) @ (3, 3) product.
    for rotation, translation in zip(rotations, translations, strict=True):
        fixed = np.all(hkl @ rotation == hkl, axis=1)
        phase = hkl[fixed] @ translation
        off = np.abs(phase - np.round(phase)) > _PHASE_TOLERANCE
        absent[np.flatnonzero(fixed)[off]] = True
    return absent


def _absence_key(absent: np.ndarray, crystal_system: str) -> bytes:
    """Bytes that are equal exactly when two absence sets count as one extinction group.

    For the orthorhombic system the key is the smallest over the six permutations of the axes.
    """
    n = 2 * HKL_MAX + 1
    cube = absent.reshape(n, n, n)
    if crystal_system != "orthorhombic":
        return cube.tobytes()
    return min(
        np.ascontiguousarray(cube.transpose(axes)).tobytes()
        for axes in itertools.permutations(range(3))
    )


@functools.cache
def space_groups() -> tuple[SpaceGroupInfo, ...]:
    """The 230 space groups; entry ``i`` is space group number ``i + 1``.

    Built once per process (about half a second) and cached.
    """
    # deferred until called: imports spglib
    import spglib

    infos: list[SpaceGroupInfo] = []
    class_of_key: dict[tuple[str, bytes], int] = {}
    for number, hall_number in enumerate(_standard_hall_numbers(), start=1):
        with _quiet_spglib():
            record = spglib.get_spacegroup_type(hall_number)
        symbol = str(_field(record, "international_short"))
        point_group = str(_field(record, "pointgroup_international"))
        laue_class = _LAUE_CLASS[point_group]
        crystal_system = _CRYSTAL_SYSTEM_OF_LAUE[laue_class]
        key = (crystal_system, _absence_key(systematic_absences(number), crystal_system))
        # Numbers are visited in increasing order, so a new class gets the next index: classes
        # come out ordered by their smallest member.
        extinction_group = class_of_key.setdefault(key, len(class_of_key))
        infos.append(
            SpaceGroupInfo(
                number=number,
                symbol=symbol,
                crystal_system=crystal_system,
                laue_class=laue_class,
                point_group=point_group,
                centring=symbol[0],
                extinction_group=extinction_group,
            )
        )
    if len(class_of_key) != N_EXTINCTION_GROUPS:
        raise RuntimeError(
            f"derived {len(class_of_key)} extinction groups, expected {N_EXTINCTION_GROUPS}"
        )
    return tuple(infos)


def space_group(number: SupportsIndex) -> SpaceGroupInfo:
    """Labels of space group ``number`` (1-230); ValueError outside that range."""
    return space_groups()[_check_number(number) - 1]
