"""Reflections of a crystal: the hkl inside a reciprocal-space shell, and which of them the
space-group operations forbid (systematic absences).

A reflection h is absent when some operation (W, t) has h W = h and h . t not an integer;
lattice centring (pure translations) and screw axes / glide planes are tested separately so
that the common case stays cheap. Work is cut into blocks of at most ``MAX_BLOCK_ENTRIES``
entries, so memory stays bounded whatever the cell.
"""

from __future__ import annotations

import numpy as np

from xrdsym.errors import StructureError
from xrdsym.structures.symmetry import rotation_codes

#: A reflection is absent when h . t differs from an integer by more than this. For h W = h the
#: product h . t is a multiple of 1/n (n = order of the operation, at most 6, or the number of
#: lattice points of a centred or super cell), so any genuine extinction is >= 1/6 from an
#: integer in practice, while spglib's translations carry errors of order symprec / a.
ABSENCE_PHASE_TOL = 0.05


#: Largest intermediate array (entries) built at once; larger problems are cut into blocks of
#: operations or reflections (2^22 float64 entries = 32 MB), which bounds memory for big cells.
MAX_BLOCK_ENTRIES = 1 << 22

#: Most reflections (one of each Friedel pair) a peak list is computed from; at Cu K-alpha1 over
#: 5-115 degrees this admits cells up to about 700,000 A^3 (the structure readers stop at
#: 250,000 A^3, see ``xrdsym.structures.validation.MAX_CELL_VOLUME``).
MAX_REFLECTIONS = 2_000_000

#: Most hkl index triples scanned for one peak list (in blocks of MAX_BLOCK_ENTRIES).
MAX_INDEX_BOX = 1 << 30


def reciprocal_radius(two_theta: float, wavelength: float) -> float:
    """1/d in 1/Angstrom of a reflection at ``two_theta`` degrees: 2 sin(theta) / lambda."""
    theta = np.radians(min(max(two_theta, 0.0), 180.0)) / 2.0
    return float(2.0 * np.sin(theta) / wavelength)


def estimated_reflections(lattice: np.ndarray, g_min: float, g_max: float) -> float:
    """Expected number of reflections (one of each Friedel pair) with g_min <= 1/d <= g_max:
    half the reciprocal-lattice points in the shell, (2 pi / 3) (g_max^3 - g_min^3) V."""
    volume = float(abs(np.linalg.det(np.asarray(lattice, dtype=np.float64))))
    return 2.0 * np.pi / 3.0 * (g_max**3 - g_min**3) * volume


def _index_blocks(limits: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(h values, k values) of blocks of the index box h in [0, H], k in [-K, K], l in [-L, L]
    with at most MAX_BLOCK_ENTRIES entries each (whole l rows), in lexicographic order."""
    n_l = 2 * int(limits[2]) + 1
    n_k = 2 * int(limits[1]) + 1
    k_all = np.arange(-limits[1], limits[1] + 1)
    h_all = np.arange(0, limits[0] + 1)
    if n_k * n_l <= MAX_BLOCK_ENTRIES:
        step = max(1, MAX_BLOCK_ENTRIES // (n_k * n_l))
        return [(h_all[i : i + step], k_all) for i in range(0, h_all.shape[0], step)]
    step = max(1, MAX_BLOCK_ENTRIES // n_l)
    return [(h_all[i : i + 1], k_all[j : j + step]) for i in h_all for j in range(0, n_k, step)]


def _reflections_in_block(
    metric: np.ndarray, h: np.ndarray, k: np.ndarray, ell: np.ndarray, g_min: float, g_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """The reflections of one index block inside the shell, one of each Friedel pair."""
    hh = h.astype(np.float64)[:, None, None]
    kk = k.astype(np.float64)[None, :, None]
    ll = ell.astype(np.float64)[None, None, :]
    g2 = (metric[0, 0] * hh * hh + metric[1, 1] * kk * kk + metric[2, 2] * ll * ll) + 2.0 * (
        metric[0, 1] * hh * kk + metric[0, 2] * hh * ll + metric[1, 2] * kk * ll
    )
    inside = (g2 >= g_min * g_min) & (g2 <= g_max * g_max)
    # Kept half-space: h > 0, or h = 0 and k > 0, or h = k = 0 and l > 0.
    first_half = (hh > 0) | ((hh == 0) & ((kk > 0) | ((kk == 0) & (ll > 0))))
    i, j, m = np.nonzero(inside & first_half)
    hkl = np.stack([h[i], k[j], ell[m]], axis=1).astype(np.int64)
    return hkl, np.sqrt(g2[i, j, m])


def enumerate_reflections(
    lattice: np.ndarray, g_min: float, g_max: float, max_reflections: float = MAX_REFLECTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """All h with g_min <= |h B| <= g_max, one of each Friedel pair.

    The index box is |h_i| <= g_max |a_i| (since h_i = g . a_i); on it
    g^2 = h G* h^T with the reciprocal metric G* = B B^T. The kept half-space is
    h > 0, or h = 0 and k > 0, or h = k = 0 and l > 0. The box is scanned in blocks of at most
    ``MAX_BLOCK_ENTRIES`` entries, so memory stays bounded whatever the cell.

    Args:
        lattice: 3x3 cell rows a, b, c in Angstrom.
        g_min, g_max: shell radii in 1/Angstrom.
        max_reflections: refuse a shell expected to hold more reflections than this.

    Returns:
        hkl (M, 3) int64 and g = 1/d (M,) float64 in 1/Angstrom, h, k, l ascending.

    Raises:
        StructureError: the shell holds more than ``max_reflections`` reflections, or the
            index box is larger than ``MAX_INDEX_BOX`` (a degenerate, very oblique cell).
    """
    lattice = np.asarray(lattice, dtype=np.float64)
    expected = estimated_reflections(lattice, g_min, g_max)
    if not np.isfinite(expected) or expected > max_reflections:
        raise StructureError(
            f"too many reflections: about {expected:.3g} in the 2theta range, above the limit "
            f"of {max_reflections:.3g} (cell volume {abs(np.linalg.det(lattice)):.4g} A^3)"
        )
    recip = np.linalg.inv(lattice).T
    metric = recip @ recip.T
    limits = np.floor(g_max * np.sqrt((lattice * lattice).sum(axis=1)) + 1e-9).astype(np.int64)
    box = float(limits[0] + 1) * float(2 * limits[1] + 1) * float(2 * limits[2] + 1)
    if box > MAX_INDEX_BOX:
        raise StructureError(
            f"index box too large: {box:.3g} hkl to scan, above the limit of {MAX_INDEX_BOX:.3g}"
        )
    ell = np.arange(-limits[2], limits[2] + 1)
    parts = [
        _reflections_in_block(metric, h, k, ell, g_min, g_max) for h, k in _index_blocks(limits)
    ]
    hkl = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3), dtype=np.int64)
    g = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    return hkl, g


def _off_integer_any(hkl: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """(M,) True where h . t is not an integer for some row t of ``translations``."""
    found = np.zeros(hkl.shape[0], dtype=bool)
    if translations.shape[0] == 0 or hkl.shape[0] == 0:
        return found
    block = max(1, MAX_BLOCK_ENTRIES // hkl.shape[0])
    for start in range(0, translations.shape[0], block):
        phase = translations[start : start + block] @ hkl.T  # (n, M)
        found |= np.any(np.abs(phase - np.rint(phase)) > ABSENCE_PHASE_TOL, axis=0)
    return found


def absent_reflections(
    hkl: np.ndarray, rotations: np.ndarray, translations: np.ndarray
) -> np.ndarray:
    """Mask of the reflections of a list extinguished by the operations (W, t) of a crystal.

    (Not :func:`xrdsym.spacegroups.derive.systematic_absences`, which gives the absences of a
    space group on a fixed hkl grid.)

    For an operation (W, t), F(h) = exp(2 pi i h . t) F(h W); when h W = h this forces F(h) = 0
    unless h . t is an integer. The pure translations (W = I: centring or super-cell vectors)
    are tested on every h. Operations sharing a rotation W differ by a pure translation, so
    for an h that passes all pure translations one representative t per W decides.

    Args:
        hkl: (M, 3) integer Miller indices (row vectors).
        rotations: (n_ops, 3, 3) integer matrices W acting on fractional coordinates.
        translations: (n_ops, 3) fractional translations t.

    Returns:
        (M,) bool, True where the reflection is systematically absent.
    """
    absent = centring_absent(hkl, rotations, translations)
    absent[~absent] = screw_glide_absent(hkl[~absent], rotations, translations)
    return absent


def flat_rotations(rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_ops, 9) int64 rows of the rotations W, and (n_ops,) True where W = I."""
    flat = np.asarray(rotations, dtype=np.int64).reshape(-1, 9)
    return flat, np.all(flat == np.eye(3, dtype=np.int64).ravel(), axis=1)


def first_of_each_rotation(flat: np.ndarray) -> np.ndarray:
    """Index of the first operation of each distinct rotation W, W given as (n_ops, 9) rows."""
    return np.asarray(np.unique(rotation_codes(flat), return_index=True)[1])


def centring_absent(hkl: np.ndarray, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """(M,) True where h . t is not an integer for a pure translation (W = I) t of the
    operations: the absences of a centred (or super-) cell."""
    _, identity = flat_rotations(rotations)
    t = np.asarray(translations, dtype=np.float64)[identity]
    return _off_integer_any(hkl.astype(np.float64), t)


def screw_glide_absent(
    hkl: np.ndarray, rotations: np.ndarray, translations: np.ndarray
) -> np.ndarray:
    """(M,) True where an operation (W, t), W != I, with h W = h has h . t off the integers.

    For reflections that pass :func:`centring_absent`: operations sharing a rotation then
    differ by a pure translation that leaves h . t unchanged modulo 1, so one t per W decides.
    """
    t = np.asarray(translations, dtype=np.float64)
    flat, identity = flat_rotations(rotations)
    h = hkl.astype(np.float64)
    absent = np.zeros(h.shape[0], dtype=bool)
    first = first_of_each_rotation(flat)
    first = first[~identity[first]]  # one operation per rotation W != I
    t_rep = t[first]
    first = first[np.any(np.abs(t_rep - np.rint(t_rep)) > ABSENCE_PHASE_TOL / 10.0, axis=1)]
    if first.shape[0] == 0 or h.shape[0] == 0:
        return absent
    w = flat[first].reshape(-1, 3, 3).astype(np.float64)
    t_rep = t[first]
    # Rotations in blocks, so that the (block, M, 3) products stay below MAX_BLOCK_ENTRIES.
    block = max(1, MAX_BLOCK_ENTRIES // (3 * h.shape[0]))
    for start in range(0, w.shape[0], block):
        # Integer arithmetic in float64 is exact for these magnitudes; matmul is much faster.
        fixed = np.all(np.matmul(h[None], w[start : start + block]) == h[None], axis=2)
        phase = t_rep[start : start + block] @ h.T  # (n, M)
        absent |= np.any(fixed & (np.abs(phase - np.rint(phase)) > ABSENCE_PHASE_TOL), axis=0)
    return absent
