"""Lattice metrics in Q space for indexing: Q = 1/d^2 = h G* h^T.

Each crystal family constrains the reciprocal metric G* (1/Angstrom^2) to a linear span
G* = sum_i p_i M_i of fixed basis matrices M_i, so that

    Q(hkl) = sum_i p_i (h M_i h^T) = design(hkl) . p

is linear in the parameters p (A, B, C, D, E, F of the classical form
Q = h^2 A + k^2 B + l^2 C + hk D + hl E + kl F, restricted by symmetry). Settings: hexagonal and
rhombohedral (hR) lattices on hexagonal axes, monoclinic with b unique.

Centring conditions (conventional cell): I h+k+l even; F h, k, l all even or all odd;
A k+l even; B h+l even; C h+k even; R (obverse, hexagonal axes) -h+k+l = 3n.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: Crystal families searched, highest symmetry first ("hexagonal" holds hP and hR).
SYSTEMS: tuple[str, ...] = (
    "cubic",
    "tetragonal",
    "hexagonal",
    "orthorhombic",
    "monoclinic",
    "triclinic",
)


def _sym(i: int, j: int) -> np.ndarray:
    """Symmetric basis matrix with 1/2 at (i, j) and (j, i) (1 on the diagonal when i == j),
    so that h M h^T = h_i h_j for i != j and h_i^2 for i == j."""
    m = np.zeros((3, 3))
    if i == j:
        m[i, i] = 1.0
    else:
        m[i, j] = m[j, i] = 0.5
    return m


_HEX_AB = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])

#: Basis matrices M_i of G* for each family (parameters: cubic A; tetragonal A, C; hexagonal
#: A = a*^2 = 4/(3 a^2), C; orthorhombic A, B, C; monoclinic A, B, C, E (hl term);
#: triclinic A, B, C, D, E, F).
BASIS: dict[str, np.ndarray] = {
    "cubic": np.eye(3)[None],
    "tetragonal": np.stack([np.diag([1.0, 1.0, 0.0]), _sym(2, 2)]),
    "hexagonal": np.stack([_HEX_AB, _sym(2, 2)]),
    "orthorhombic": np.stack([_sym(0, 0), _sym(1, 1), _sym(2, 2)]),
    "monoclinic": np.stack([_sym(0, 0), _sym(1, 1), _sym(2, 2), 2.0 * _sym(0, 2)]),
    "triclinic": np.stack(
        [_sym(0, 0), _sym(1, 1), _sym(2, 2), 2.0 * _sym(0, 1), 2.0 * _sym(0, 2), 2.0 * _sym(1, 2)]
    ),
}

#: Centrings tried in each family (R: rhombohedral on hexagonal axes, obverse).
CENTRINGS: dict[str, tuple[str, ...]] = {
    "cubic": ("P", "I", "F"),
    "tetragonal": ("P", "I"),
    "hexagonal": ("P", "R"),
    "orthorhombic": ("P", "C", "A", "B", "I", "F"),
    "monoclinic": ("P", "C", "A", "I"),
    "triclinic": ("P",),
}

#: Pearson symbol of a (family, centring) pair; A and B face centring are oC, and monoclinic
#: A and I are mC, in another setting.
PEARSON: dict[tuple[str, str], str] = {
    ("cubic", "P"): "cP",
    ("cubic", "I"): "cI",
    ("cubic", "F"): "cF",
    ("tetragonal", "P"): "tP",
    ("tetragonal", "I"): "tI",
    ("hexagonal", "P"): "hP",
    ("hexagonal", "R"): "hR",
    ("orthorhombic", "P"): "oP",
    ("orthorhombic", "C"): "oC",
    ("orthorhombic", "A"): "oC",
    ("orthorhombic", "B"): "oC",
    ("orthorhombic", "I"): "oI",
    ("orthorhombic", "F"): "oF",
    ("monoclinic", "P"): "mP",
    ("monoclinic", "C"): "mC",
    ("monoclinic", "A"): "mC",
    ("monoclinic", "I"): "mC",
    ("triclinic", "P"): "aP",
}


def design(hkl: np.ndarray, system: str) -> np.ndarray:
    """(n, p) coefficients of the parameters: Q(hkl) = design(hkl) @ p, 1/Angstrom^2 per unit p."""
    h = np.asarray(hkl, dtype=np.float64)
    return np.einsum("ni,kij,nj->nk", h, BASIS[system], h)


def reciprocal_metric(params: np.ndarray, system: str) -> np.ndarray:
    """G* (..., 3, 3) in 1/Angstrom^2 from parameters (..., p): G* = sum_i p_i M_i."""
    return np.einsum("...k,kij->...ij", np.asarray(params, dtype=np.float64), BASIS[system])


def params_from_metric(gstar: np.ndarray, system: str) -> np.ndarray:
    """Least-squares parameters p of a reciprocal metric G* projected on the family's span."""
    basis = BASIS[system].reshape(len(BASIS[system]), 9).T
    return np.linalg.lstsq(basis, np.asarray(gstar).reshape(9), rcond=None)[0]


def allowed(hkl: np.ndarray, centring: str) -> np.ndarray:
    """(n,) True where the reflection is allowed by the lattice centring (module docstring)."""
    h, k, ell = np.asarray(hkl).T
    if centring == "P":
        return np.ones(h.shape, dtype=bool)
    if centring == "I":
        return (h + k + ell) % 2 == 0
    if centring == "F":
        return ((h + k) % 2 == 0) & ((k + ell) % 2 == 0)
    if centring == "C":
        return (h + k) % 2 == 0
    if centring == "A":
        return (k + ell) % 2 == 0
    if centring == "B":
        return (h + ell) % 2 == 0
    if centring == "R":
        return (-h + k + ell) % 3 == 0
    raise ValueError(f"unknown centring {centring!r}")


def hkl_box(limits: tuple[int, int, int], system: str) -> np.ndarray:
    """(n, 3) Miller indices |h| <= H, |k| <= K, |l| <= L without 0 0 0, reduced by the family's
    sign symmetry (Q is unchanged by (h, k, l) -> (-h, -k, -l) always, and by each sign change
    of one index in the orthogonal families; monoclinic (b unique) keeps h of either sign)."""
    hh, kk, ll = (np.arange(-n, n + 1) for n in limits)
    grid = np.stack(np.meshgrid(hh, kk, ll, indexing="ij"), axis=-1).reshape(-1, 3)
    h, k, ell = grid.T
    if system in ("cubic", "tetragonal", "orthorhombic"):
        keep = (h >= 0) & (k >= 0) & (ell >= 0)
    elif system == "monoclinic":
        keep = (k >= 0) & ((ell > 0) | ((ell == 0) & (h >= 0)))
    else:  # hexagonal (rhombohedral obverse condition needs both signs of l) and triclinic
        keep = (h > 0) | ((h == 0) & ((k > 0) | ((k == 0) & (ell > 0))))
    grid = grid[keep]
    return grid[np.any(grid != 0, axis=1)]


def index_limits(gstar: np.ndarray, q_max: float) -> tuple[int, int, int]:
    """Largest |h|, |k|, |l| with Q <= q_max: |h_i| <= sqrt(q_max G_ii), G = (G*)^-1."""
    direct = np.linalg.inv(gstar)
    h, k, ell = (
        int(math.floor(math.sqrt(q_max * max(direct[i, i], 0.0)) + 1e-9)) for i in range(3)
    )
    return h, k, ell


@functools.lru_cache(maxsize=512)
def _box_rows(limits: tuple[int, int, int], system: str, centring: str) -> tuple[np.ndarray, ...]:
    """Allowed indices of an index box and their design rows (cached: refinement asks for the
    same boxes again and again)."""
    hkl = hkl_box(limits, system)
    hkl = hkl[allowed(hkl, centring)]
    rows = design(hkl, system)
    hkl.setflags(write=False)
    rows.setflags(write=False)
    return hkl, rows


def reflections(
    params: np.ndarray, system: str, centring: str, q_max: float, max_index: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Allowed reflections of one cell with Q <= q_max: hkl (n, 3) and Q (n,), Q ascending."""
    gstar = reciprocal_metric(params, system)
    h, k, ell = (min(n, max_index) for n in index_limits(gstar, q_max))
    hkl, rows = _box_rows((h, k, ell), system, centring)
    q = rows @ np.asarray(params, dtype=np.float64)
    keep = np.flatnonzero(q <= q_max)
    order = keep[np.argsort(q[keep], kind="stable")]
    return hkl[order], q[order]


def distinct_count(q_sorted: np.ndarray, relative: float = 1e-7) -> int:
    """Number of distinct values of an ascending Q list (equal within ``relative``)."""
    if q_sorted.size == 0:
        return 0
    gaps = np.diff(q_sorted) > relative * q_sorted[1:]
    return int(1 + np.count_nonzero(gaps))


def q_from_two_theta(two_theta: np.ndarray, wavelength: float) -> np.ndarray:
    """Q = 1/d^2 = (2 sin(theta) / lambda)^2 in 1/Angstrom^2, 2theta in degrees."""
    s = np.sin(np.radians(np.asarray(two_theta, dtype=np.float64)) / 2.0)
    return (2.0 * s / wavelength) ** 2


def two_theta_from_q(q: np.ndarray, wavelength: float) -> np.ndarray:
    """2theta in degrees of Q = 1/d^2 (NaN beyond the Ewald limit Q > 4 / lambda^2)."""
    s = np.sqrt(np.clip(np.asarray(q, dtype=np.float64), 0.0, None)) * wavelength / 2.0
    with np.errstate(invalid="ignore"):
        return np.degrees(2.0 * np.arcsin(np.where(s <= 1.0, s, np.nan)))


def dq_d2theta(two_theta: np.ndarray, wavelength: float) -> np.ndarray:
    """dQ / d(2theta) per degree: Q = 4 sin^2(theta) / lambda^2 gives
    dQ/d(2theta) = (2 / lambda^2) sin(2theta) (pi / 180)."""
    return 2.0 / wavelength**2 * np.sin(np.radians(two_theta)) * (math.pi / 180.0)


def cell_from_metric(gstar: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, alpha, beta, gamma) in Angstrom and degrees of the direct metric (G*)^-1."""
    g = np.linalg.inv(gstar)
    lengths = np.sqrt(np.diag(g))
    cosines = (
        g[1, 2] / (lengths[1] * lengths[2]),
        g[0, 2] / (lengths[0] * lengths[2]),
        g[0, 1] / (lengths[0] * lengths[1]),
    )
    angles = [math.degrees(math.acos(max(-1.0, min(1.0, c)))) for c in cosines]
    return (float(lengths[0]), float(lengths[1]), float(lengths[2]), *angles)  # type: ignore[return-value]


def lattice_from_cell(cell: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """3x3 rows a, b, c (Angstrom) of a cell: a along x, b in the xy plane."""
    a, b, c, alpha, beta, gamma = (float(x) for x in cell)
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    sg = math.sin(math.radians(gamma))
    cx = c * cb
    cy = c * (ca - cb * cg) / sg
    cz = math.sqrt(max(c * c - cx * cx - cy * cy, 0.0))
    return np.array([[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [cx, cy, cz]])


def metric_from_lattice(lattice: np.ndarray) -> np.ndarray:
    """Reciprocal metric G* = (L L^T)^-1 of lattice rows L."""
    lattice = np.asarray(lattice, dtype=np.float64)
    return np.linalg.inv(lattice @ lattice.T)


def volume_from_metric(gstar: np.ndarray) -> float:
    """Cell volume V = det(G*)^(-1/2) in Angstrom^3."""
    det = float(np.linalg.det(gstar))
    return 1.0 / math.sqrt(det) if det > 0 else math.inf
