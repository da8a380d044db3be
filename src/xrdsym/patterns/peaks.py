"""Powder peak lists (position, relative intensity, multiplicity) from a crystal structure.

The calculation is fully vectorised over reflections and atoms:

1. enumerate every h = (h, k, l) with 1/d = |h B| inside the shell
   2 sin(theta_min)/lambda <= 1/d <= 2 sin(theta_max)/lambda (B: reciprocal cell rows, 1/Angstrom),
   keeping one reflection of each Friedel pair h, -h (their intensities are equal);
2. drop systematic absences decided by the space-group operations (W, t) from spglib:
   h is absent when some operation has h W = h and h . t not an integer;
3. structure factor F(h) = sum_j occ_j f_j(s) exp(-B_j s^2) exp(2 pi i h . x_j), s = 1/(2d);
4. intensity |F|^2 LP(2theta) (see :func:`xrdsym.patterns.scattering.lorentz_polarization`);
5. merge reflections of equal 2theta into peaks (multiplicity = number of merged h, Friedel
   mates included), scale to strongest = 100 and drop peaks below a relative threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xrdsym.errors import StructureError
from xrdsym.patterns import scattering
from xrdsym.patterns.bragg import bragg_two_theta
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.patterns.scattering import GRAPHITE_MONOCHROMATOR_TWO_THETA_CU
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.symmetry import rotation_codes
from xrdsym.structures.symmetry import symmetry_operations as symmetry_operations
from xrdsym.structures.tolerance import DEFAULT_SYMPREC
from xrdsym.structures.validation import check_crystal, check_limits
from xrdsym.wavelengths import CU_KA1

#: Reflections whose 2theta differ by at most this many degrees merge into one peak. Equivalent
#: reflections of a relaxed structure agree to ~1e-8 degrees; 1e-4 degrees is far below any
#: instrumental resolution (grid step 0.01 degrees) yet above floating-point noise.
TWO_THETA_MERGE_TOL = 1e-4

#: Peaks weaker than this fraction of the strongest are dropped (1e-3: 0.1 on the 0-100 scale,
#: invisible under any realistic noise). pymatgen's XRDCalculator drops below 1e-5 of the
#: strongest (0.001 on its 0-100 scale).
MIN_RELATIVE_INTENSITY = 1e-3

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

#: Relative intensities are on a 0-100 scale (strongest peak = 100).
STRONGEST_PEAK = 100.0


@dataclass(frozen=True, eq=False)
class PeakList:
    """The powder peaks of one crystal at one wavelength.

    Attributes:
        two_theta: (n,) float64 peak positions 2theta in degrees, ascending.
        intensity: (n,) float64 relative integrated intensities, strongest = 100
            (|F|^2 LP summed over the merged reflections).
        d_spacing: (n,) float64 interplanar spacings d in Angstrom.
        multiplicity: (n,) int64 number of merged reflections h (Friedel mates included).
        hkl: (n, 3) int64 one representative reflection of each peak.
        wavelength: X-ray wavelength in Angstrom.
        reflection_hkl: (m, 3) int64 every contributing reflection, one of each Friedel pair
            (h and -h share their intensity and their angle to any direction up to sign).
        reflection_peak: (m,) int64 index into the peak arrays of each reflection.
        reciprocal_lattice: 3x3 float64 reciprocal cell rows (1/Angstrom, no 2 pi), so that the
            scattering vector of h is h @ reciprocal_lattice (for preferred orientation).
    """

    two_theta: np.ndarray
    intensity: np.ndarray
    d_spacing: np.ndarray
    multiplicity: np.ndarray
    hkl: np.ndarray
    wavelength: float
    reflection_hkl: np.ndarray
    reflection_peak: np.ndarray
    reciprocal_lattice: np.ndarray

    def __len__(self) -> int:
        """Number of peaks."""
        return int(self.two_theta.shape[0])


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


def _flat_rotations(rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_ops, 9) int64 rows of the rotations W, and (n_ops,) True where W = I."""
    flat = np.asarray(rotations, dtype=np.int64).reshape(-1, 9)
    return flat, np.all(flat == np.eye(3, dtype=np.int64).ravel(), axis=1)


def _first_of_each_rotation(flat: np.ndarray) -> np.ndarray:
    """Index of the first operation of each distinct rotation W, W given as (n_ops, 9) rows."""
    return np.asarray(np.unique(rotation_codes(flat), return_index=True)[1])


def centring_absent(hkl: np.ndarray, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """(M,) True where h . t is not an integer for a pure translation (W = I) t of the
    operations: the absences of a centred (or super-) cell."""
    _, identity = _flat_rotations(rotations)
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
    flat, identity = _flat_rotations(rotations)
    h = hkl.astype(np.float64)
    absent = np.zeros(h.shape[0], dtype=bool)
    first = _first_of_each_rotation(flat)
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


def structure_factor_squared(
    crystal: Crystal, hkl: np.ndarray, g: np.ndarray, form_factor_table: str = "it92"
) -> np.ndarray:
    """|F(h)|^2 in electrons^2.

    F(h) = sum_j occ_j f_j(s) exp(-B_j s^2) exp(2 pi i h . x_j), s = g / 2 = 1/(2d) in
    1/Angstrom, B_j in Angstrom^2. Sites are grouped into scattering types (element, B), so
    F = sum_type f_type(s) sum_{j in type} occ_j exp(2 pi i h . x_j), the inner sum a matrix
    product over atoms. The phase h . x_j is reduced to [-1/2, 1/2] in float64 before the
    trigonometric functions are evaluated in float32 (vectorised; absolute error ~1e-7 of
    sum_j |f_j|, far below the intensity threshold).

    Args:
        crystal: the structure (P1 listing).
        hkl: (M, 3) integer Miller indices.
        g: (M,) 1/d in 1/Angstrom.
        form_factor_table: ``"it92"`` or ``"pymatgen"``.
    """
    s2 = 0.25 * np.asarray(g, dtype=np.float64) ** 2
    symbols, element_index = np.unique(np.asarray(crystal.elements), return_inverse=True)
    element_index = element_index.ravel()
    b_iso = np.asarray(crystal.b_iso, dtype=np.float64)
    f_element = scattering.form_factors(list(symbols), s2, form_factor_table)  # (n_el, M)
    if np.all(b_iso == b_iso[0]):
        type_index = element_index
        f_type = f_element * np.exp(-b_iso[0] * s2)[None, :] if b_iso[0] else f_element
    else:
        keys = np.stack([element_index.astype(np.float64), b_iso], axis=1)
        rows, type_index = np.unique(keys, axis=0, return_inverse=True)
        type_index = type_index.ravel()
        f_type = f_element[rows[:, 0].astype(np.int64)] * np.exp(-rows[:, 1][:, None] * s2)
    occupancy = np.zeros((crystal.n_sites, f_type.shape[0]), dtype=np.float32)
    occupancy[np.arange(crystal.n_sites), type_index] = np.asarray(crystal.occupancies)
    frac_t = np.asarray(crystal.frac_coords, dtype=np.float64).T
    h = hkl.astype(np.float64)
    f2 = np.empty(h.shape[0])
    # Reflections in blocks, so that the (block, N) phase matrices stay below MAX_BLOCK_ENTRIES.
    block = max(1, MAX_BLOCK_ENTRIES // max(1, crystal.n_sites))
    for start in range(0, h.shape[0], block):
        block_rows = slice(start, start + block)
        turns = h[block_rows] @ frac_t
        phase = ((2.0 * np.pi) * (turns - np.rint(turns))).astype(np.float32)  # radians
        real = (f_type[:, block_rows].T * (np.cos(phase) @ occupancy)).sum(axis=1)
        imag = (f_type[:, block_rows].T * (np.sin(phase) @ occupancy)).sum(axis=1)
        f2[block_rows] = real * real + imag * imag
    return f2


def _merge_starts(two_theta_sorted: np.ndarray) -> np.ndarray:
    """First index of each peak in sorted 2theta: a peak starts after a gap > merge tolerance."""
    gaps = np.nonzero(np.diff(two_theta_sorted) > TWO_THETA_MERGE_TOL)[0] + 1
    return np.concatenate(([0], gaps)).astype(np.int64)


def _largest_hkl(hkl: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Lexicographically largest (h, k, l) of each run of rows beginning at ``starts``."""
    offset = int(np.abs(hkl).max()) + 1
    base = 2 * offset + 1
    code = ((hkl[:, 0] + offset) * base + (hkl[:, 1] + offset)) * base + (hkl[:, 2] + offset)
    best = np.maximum.reduceat(code, starts)
    return np.stack([best // (base * base), (best // base) % base, best % base], axis=1) - offset


def equivalent_reflections(hkl: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One representative of each set of reflections equivalent under the rotations W.

    For an operation (W, t) of the crystal, F(h W) = exp(-2 pi i h . t) F(h), so |F|^2 is
    the same on the set {h W} and on its Friedel mates {-h W}. With u = (b^2, b, 1) and
    b = 2 m + 1 for a bound m on the components of every h W, u . v is a one-to-one integer
    code of the integer vectors v with |v_i| <= m (balanced base b), and the key of h is
    max over W of |(h W) . u| = max over W of |h . (W u)|: the largest code of the set and its
    Friedel mates, the same for every member and different between sets. It is one (M, 3) by
    (3, n_rot) matrix product.

    Returns:
        (first index of each set (k,), set of each reflection (M,)), so that
        ``values[first][inverse]`` spreads one value per set back over all reflections.
    """
    flat, _ = _flat_rotations(rotations)
    w = flat[_first_of_each_rotation(flat)].reshape(-1, 3, 3).astype(np.float64)
    # |(h W)_j| <= max|h| * sum_i |W_ij|; small integers are exact in float64 (keys < 2^53).
    bound = float(np.abs(hkl).max(initial=0)) * float(np.abs(w).sum(axis=1).max(initial=1.0))
    base = 2.0 * bound + 3.0
    u = np.array([base * base, base, 1.0])
    key = np.abs(hkl.astype(np.float64) @ (w @ u).T).max(axis=1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def compute_peaks(
    crystal: Crystal,
    wavelength: float = CU_KA1,
    two_theta_range: tuple[float, float] = (PAPER_GRID.start, PAPER_GRID.stop),
    polarization: str = "graphite_monochromator",
    monochromator_two_theta: float = GRAPHITE_MONOCHROMATOR_TWO_THETA_CU,
    form_factors: str = "it92",
    symprec: float = DEFAULT_SYMPREC,
    min_relative_intensity: float = MIN_RELATIVE_INTENSITY,
    operations: tuple[np.ndarray, np.ndarray] | None = None,
    exact_operations: bool = False,
) -> PeakList:
    """The powder peak list of ``crystal``.

    Positions: 2theta = 2 asin(lambda / (2d)) in degrees, 1/d = |h B| (Angstrom^-1).
    Intensities: I = sum over merged reflections of |F(h)|^2 LP(2theta), scaled so that the
    strongest peak is 100; F as in :func:`structure_factor_squared`, LP as in
    :func:`xrdsym.patterns.scattering.lorentz_polarization`. Reflections closer than
    ``TWO_THETA_MERGE_TOL`` degrees merge (multiplicity = number of merged h, counting h and
    -h). Systematic absences (from the spglib operations at ``symprec``) are removed exactly,
    and peaks below ``min_relative_intensity`` of the strongest (default 1e-3, i.e. 0.1 on the
    0-100 scale) are dropped.

    Args:
        crystal: the structure, all sites listed.
        wavelength: X-ray wavelength in Angstrom (Cu K-alpha1 by default).
        two_theta_range: (min, max) 2theta in degrees, both included.
        polarization: ``"graphite_monochromator"`` (incident-beam monochromator) or ``"none"``.
        monochromator_two_theta: monochromator angle 2theta_m in degrees.
        form_factors: ``"it92"`` (gemmi, default) or ``"pymatgen"`` (XRDCalculator's table).
        symprec: spglib tolerance in Angstrom for the symmetry operations.
        min_relative_intensity: drop peaks weaker than this fraction of the strongest.
        operations: the crystal's space-group operations (rotations (n, 3, 3) int, translations
            (n, 3) fractional) when already known, e.g. from the ``rotations`` and
            ``translations`` of a ``spglib.get_symmetry_dataset`` made to label the structure;
            None runs :func:`symmetry_operations` (the dominant cost for cubic cells).
        exact_operations: the given operations map the listed atoms exactly onto each other
            (generated or symmetrised crystals). Then |F(h W)| = |F(h)| for every rotation W,
            and |F|^2 is computed once per set of equivalent reflections
            (:func:`equivalent_reflections`), up to 48 times fewer for cubic groups.

    Raises:
        StructureError: the crystal has no sites, an element without form factor, a cell
            spglib cannot analyse, or a cell above the limits of volume, sites
            or overlapping sites (``xrdsym.structures.validation.check_crystal``, when the
            operations are not given) or reflections
            (``MAX_REFLECTIONS``).
    """
    name = crystal.name or "structure"
    if crystal.n_sites == 0:
        raise StructureError(f"{name}: no atoms to diffract")
    if operations is None:
        check_crystal(crystal)
    else:
        check_limits(crystal)
    g_min = reciprocal_radius(two_theta_range[0], wavelength)
    g_max = reciprocal_radius(two_theta_range[1], wavelength)
    try:
        hkl, g = enumerate_reflections(crystal.lattice, g_min, g_max)
    except StructureError as exc:
        raise StructureError(f"{name}: {exc}") from None
    if operations is None:
        operations = symmetry_operations(crystal, symprec)
    rotations, translations = operations
    try:
        if exact_operations:
            hkl, g, f2 = _exact_structure_factors(
                crystal, hkl, g, rotations, translations, form_factors
            )
        else:
            present = ~absent_reflections(hkl, rotations, translations)
            hkl, g = hkl[present], g[present]
            f2 = structure_factor_squared(crystal, hkl, g, form_factors)
    except StructureError as exc:
        raise StructureError(f"{crystal.name or 'structure'}: {exc}") from None
    two_theta = bragg_two_theta(g, wavelength)
    raw = f2 * scattering.lorentz_polarization(two_theta, polarization, monochromator_two_theta)
    return _assemble_peaks(crystal, hkl, g, two_theta, raw, wavelength, min_relative_intensity)


def _exact_structure_factors(
    crystal: Crystal,
    hkl: np.ndarray,
    g: np.ndarray,
    rotations: np.ndarray,
    translations: np.ndarray,
    form_factors: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hkl, g, |F|^2) of the present reflections, with operations exact for the crystal.

    Centring absences are removed from the whole list; the screw and glide absences and |F|^2
    are then computed once per set of equivalent reflections (both are the same on every
    member of a set) and spread over the set.
    """
    lattice_present = ~centring_absent(hkl, rotations, translations)
    hkl, g = hkl[lattice_present], g[lattice_present]
    first, inverse = equivalent_reflections(hkl, rotations)
    set_present = ~screw_glide_absent(hkl[first], rotations, translations)
    kept = first[set_present]
    f2_of_set = np.zeros(first.shape[0])
    f2_of_set[set_present] = structure_factor_squared(crystal, hkl[kept], g[kept], form_factors)
    present = set_present[inverse]
    return hkl[present], g[present], f2_of_set[inverse][present]


def _assemble_peaks(
    crystal: Crystal,
    hkl: np.ndarray,
    g: np.ndarray,
    two_theta: np.ndarray,
    raw: np.ndarray,
    wavelength: float,
    min_relative_intensity: float,
) -> PeakList:
    """Merge reflections into peaks, scale to strongest = 100 and apply the threshold.

    Peak position and d are the means over the merged reflections (they agree to
    ``TWO_THETA_MERGE_TOL``); the representative hkl is the lexicographically largest.
    """
    recip = crystal.reciprocal_lattice()
    if hkl.shape[0] == 0 or not np.any(raw > 0.0):
        return PeakList(
            two_theta=np.zeros(0),
            intensity=np.zeros(0),
            d_spacing=np.zeros(0),
            multiplicity=np.zeros(0, dtype=np.int64),
            hkl=np.zeros((0, 3), dtype=np.int64),
            wavelength=float(wavelength),
            reflection_hkl=np.zeros((0, 3), dtype=np.int64),
            reflection_peak=np.zeros(0, dtype=np.int64),
            reciprocal_lattice=recip,
        )
    order = np.argsort(two_theta, kind="stable")
    hkl, g, two_theta, raw = hkl[order], g[order], two_theta[order], raw[order]
    starts = _merge_starts(two_theta)
    count = np.diff(np.append(starts, two_theta.shape[0]))
    summed = np.add.reduceat(raw, starts)
    relative = summed / summed.max()
    keep = relative >= min_relative_intensity
    kept_count = count[keep]
    peak_of_reflection = np.repeat(np.cumsum(keep) - 1, count)
    reflection_kept = np.repeat(keep, count)
    return PeakList(
        two_theta=np.add.reduceat(two_theta, starts)[keep] / kept_count,
        intensity=STRONGEST_PEAK * relative[keep],
        d_spacing=kept_count / np.add.reduceat(g, starts)[keep],
        multiplicity=2 * kept_count.astype(np.int64),
        hkl=_largest_hkl(hkl, starts)[keep],
        wavelength=float(wavelength),
        reflection_hkl=hkl[reflection_kept],
        reflection_peak=peak_of_reflection[reflection_kept].astype(np.int64),
        reciprocal_lattice=recip,
    )
