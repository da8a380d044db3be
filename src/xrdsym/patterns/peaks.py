"""Powder peak lists (position, relative intensity, multiplicity) from a crystal structure.

The calculation is fully vectorised over reflections and atoms:

1. enumerate every h = (h, k, l) with 1/d = |h B| inside the shell
   2 sin(theta_min)/lambda <= 1/d <= 2 sin(theta_max)/lambda (B: reciprocal cell rows, 1/Angstrom),
   keeping one reflection of each Friedel pair h, -h (their intensities are equal);
2. drop systematic absences decided by the space-group operations (W, t) from spglib
   (steps 1-2: :mod:`xrdsym.patterns.reflections`):
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
from xrdsym.patterns.reflections import (
    MAX_BLOCK_ENTRIES,
    absent_reflections,
    centring_absent,
    enumerate_reflections,
    first_of_each_rotation,
    flat_rotations,
    reciprocal_radius,
    screw_glide_absent,
)
from xrdsym.patterns.scattering import GRAPHITE_MONOCHROMATOR_TWO_THETA_CU
from xrdsym.structures.crystal import Crystal
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
    flat, _ = flat_rotations(rotations)
    w = flat[first_of_each_rotation(flat)].reshape(-1, 3, 3).astype(np.float64)
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
