"""Cell settings with spglib: primitive cell of a centred lattice, Niggli reduction, the Bravais
lattice of a metric and its conventional cell, and equality of two lattices after reduction.

The Bravais lattice of a cell is the holohedry of a one-atom crystal on it: spglib finds the
space group of that crystal (a symmorphic holohedry such as Fm-3m or C2/m), whose centring letter
and crystal system give the Pearson symbol, and its standardised lattice (``std_lattice``) the
conventional cell (monoclinic b unique, rhombohedral on hexagonal axes, obverse).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import spglib

from xrdsym.indexing import metric
from xrdsym.spacegroups import load_space_group_table

_THIRD = 1.0 / 3.0

#: Rows: primitive vectors in units of the conventional ones, per centring letter.
PRIMITIVE_FROM_CONVENTIONAL: dict[str, np.ndarray] = {
    "P": np.eye(3),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "F": np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]),
    "C": np.array([[0.5, -0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]),
    "A": np.array([[1.0, 0.0, 0.0], [0.0, 0.5, -0.5], [0.0, 0.5, 0.5]]),
    "B": np.array([[0.5, 0.0, -0.5], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]),
    "R": np.array(
        [
            [2 * _THIRD, _THIRD, _THIRD],
            [-_THIRD, _THIRD, _THIRD],
            [-_THIRD, -2 * _THIRD, _THIRD],
        ]
    ),
}

_PEARSON_LETTER = {
    "triclinic": "a",
    "monoclinic": "m",
    "orthorhombic": "o",
    "tetragonal": "t",
    "trigonal": "h",
    "hexagonal": "h",
    "cubic": "c",
}


def primitive_lattice(conventional: np.ndarray, centring: str) -> np.ndarray:
    """Primitive cell rows of a centred conventional cell (rows a, b, c in Angstrom)."""
    return PRIMITIVE_FROM_CONVENTIONAL[centring] @ np.asarray(conventional, dtype=np.float64)


def niggli(lattice: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Niggli-reduced rows of a primitive lattice (spglib.niggli_reduce)."""
    reduced = spglib.niggli_reduce(np.asarray(lattice, dtype=np.float64), eps=eps)
    if reduced is None:
        raise ValueError("Niggli reduction failed")
    return np.asarray(reduced)


def cell_of_lattice(lattice: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, alpha, beta, gamma) of lattice rows, Angstrom and degrees."""
    return metric.cell_from_metric(metric.metric_from_lattice(lattice))


def reduced_cell(
    conventional: np.ndarray, centring: str
) -> tuple[float, float, float, float, float, float]:
    """Niggli cell of the primitive lattice of a conventional cell."""
    return cell_of_lattice(niggli(primitive_lattice(conventional, centring)))


def bravais_of(lattice: np.ndarray, symprec: float) -> tuple[str, str, str, np.ndarray]:
    """Bravais lattice of a (primitive or conventional, P-described) lattice: Pearson symbol,
    crystal system, centring letter and the conventional cell rows (spglib, symprec in Angstrom).
    Falls back to aP and the Niggli cell when spglib finds nothing."""
    cell = (np.asarray(lattice, dtype=np.float64).tolist(), [[0.0, 0.0, 0.0]], [1])
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        return "aP", "triclinic", "P", niggli(lattice)
    table = load_space_group_table()
    system = table.crystal_systems[int(table.system_of[int(dataset.number) - 1])]
    centring = str(dataset.international)[0]
    pearson = _PEARSON_LETTER[system] + ("R" if centring == "R" else centring)
    return pearson, system, centring, np.asarray(dataset.std_lattice)


def family_of(system: str) -> str:
    """Family used by the metric module: trigonal (hR) cells live on hexagonal axes."""
    return "hexagonal" if system == "trigonal" else system


@functools.lru_cache(maxsize=1)
def _unimodular() -> np.ndarray:
    """(n, 3, 3) integer matrices with entries -1, 0, 1 and determinant +1: the changes of
    basis between neighbouring reduced forms of one lattice."""
    entries = np.array(list(itertools.product((-1, 0, 1), repeat=9))).reshape(-1, 3, 3)
    det = np.rint(np.linalg.det(entries)).astype(int)
    return entries[det == 1].astype(np.float64)


def _cells_of_metrics(g: np.ndarray) -> np.ndarray:
    """(n, 6) cells (a, b, c, alpha, beta, gamma) of direct metrics (n, 3, 3)."""
    lengths = np.sqrt(np.einsum("nii->ni", g))
    cos = np.stack(
        [
            g[:, 1, 2] / (lengths[:, 1] * lengths[:, 2]),
            g[:, 0, 2] / (lengths[:, 0] * lengths[:, 2]),
            g[:, 0, 1] / (lengths[:, 0] * lengths[:, 1]),
        ],
        axis=1,
    )
    return np.hstack([lengths, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))])


#: Reduced cells of one lattice share their edge lengths (the successive minima of the
#: lattice), so cells whose sorted lengths differ by more than this many length tolerances are
#: different lattices without the basis search of :func:`same_lattice`.
REDUCED_LENGTH_SLACK = 3.0


def same_lattice(
    cell_1: tuple[float, ...] | np.ndarray,
    cell_2: tuple[float, ...] | np.ndarray,
    length_tol: float = 0.005,
    angle_tol: float = 0.5,
) -> bool:
    """Whether two reduced cells describe the same lattice: some basis R a_1 of the first
    lattice (R unimodular with entries -1, 0, 1, which covers the different reduced forms of
    nearly special metrics) has lengths within ``length_tol`` (relative) and angles within
    ``angle_tol`` degrees of the second cell. Both cells are reduced (Niggli or Buerger): their
    sorted lengths are compared first (:data:`REDUCED_LENGTH_SLACK`)."""
    lengths_1 = np.sort(np.asarray(cell_1, dtype=np.float64)[:3])
    lengths_2 = np.sort(np.asarray(cell_2, dtype=np.float64)[:3])
    if np.any(np.abs(lengths_1 - lengths_2) > REDUCED_LENGTH_SLACK * length_tol * lengths_2):
        return False
    lattice_1 = metric.lattice_from_cell(cell_1)
    lattice_2 = metric.lattice_from_cell(cell_2)
    v1, v2 = abs(np.linalg.det(lattice_1)), abs(np.linalg.det(lattice_2))
    if abs(v1 - v2) > 3.0 * length_tol * v2 + 3.0 * math.radians(angle_tol) * v2:
        return False
    g1 = lattice_1 @ lattice_1.T
    target = np.asarray(cell_2, dtype=np.float64)
    r = _unimodular()
    cells = _cells_of_metrics(r @ g1 @ r.transpose(0, 2, 1))
    length_ok = np.all(np.abs(cells[:, :3] - target[:3]) <= length_tol * target[:3], axis=1)
    angle_ok = np.all(np.abs(cells[:, 3:] - target[3:]) <= angle_tol, axis=1)
    return bool(np.any(length_ok & angle_ok))


def default_symprec(volume: float) -> float:
    """Lattice tolerance for spglib: 0.2 % of the mean cell edge V^(1/3), at least 0.005 A."""
    return max(0.005, 2e-3 * math.copysign(abs(volume) ** (1.0 / 3.0), 1.0))
