"""Peak lists: golden cases (absences, multiplicities) and agreement with pymatgen."""

from __future__ import annotations

import csv
import gzip
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import StructureError
from xrdsym.patterns.compare import peak_list_mismatches
from xrdsym.patterns.peaks import (
    PeakList,
    compute_peaks,
    equivalent_reflections,
    symmetry_operations,
)
from xrdsym.patterns.scattering import (
    form_factors,
    graphite_monochromator_two_theta,
    lorentz_polarization,
)
from xrdsym.spacegroups import CRYSTAL_SYSTEMS
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.prototype import hall_operations
from xrdsym.wavelengths import CU_KA1

#: pymatgen's wavelength for the comparison: Cu K-alpha1 as given to XRDCalculator.
PYMATGEN_WAVELENGTH = 1.540562

#: pymatgen keeps peaks above 1e-5 of the strongest (0.001 on its 0-100 scale); the
#: comparison computes the same set, so that clusters of close peaks sum alike.
PYMATGEN_MIN_RELATIVE_INTENSITY = 1e-5

#: Structures per crystal system in the fast comparison (7 x 15 = 105 structures).
PER_SYSTEM_FAST = 15

#: Structures per crystal system in the slow comparison (7 x 100 = 700 structures).
PER_SYSTEM_SLOW = 100


def make_crystal(
    a: float, basis: list[tuple[str, tuple[float, float, float]]], name: str = "test"
) -> Crystal:
    """A cubic crystal of edge ``a`` (Angstrom) with the listed sites."""
    n = len(basis)
    return Crystal(
        lattice=np.eye(3) * a,
        frac_coords=np.array([xyz for _, xyz in basis], dtype=np.float64),
        elements=tuple(el for el, _ in basis),
        occupancies=np.ones(n),
        b_iso=np.zeros(n),
        name=name,
    )


FCC = [(0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0)]


def nacl() -> Crystal:
    """Rock salt, Fm-3m, a = 5.6402 Angstrom."""
    shifted = [tuple((np.array(p) + [0.5, 0.0, 0.0]) % 1.0) for p in FCC]
    return make_crystal(5.6402, [("Na", p) for p in FCC] + [("Cl", p) for p in shifted], "NaCl")


def peak_by_hkl(peaks: PeakList, hkl: tuple[int, int, int]) -> int | None:
    """Index of the peak containing reflection ``hkl`` (or its Friedel mate), else None."""
    target = np.array(hkl)
    for sign in (1, -1):
        rows = np.nonzero(np.all(peaks.reflection_hkl == sign * target, axis=1))[0]
        if rows.size:
            return int(peaks.reflection_peak[rows[0]])
    return None


def cubic_shells(a: float, allowed: object) -> dict[int, int]:
    """N = h^2 + k^2 + l^2 -> number of allowed hkl (both Friedel mates) in 10-110 deg, Cu."""
    n_max = int((2.0 * a * np.sin(np.radians(55.0)) / CU_KA1) ** 2)
    n_min = (2.0 * a * np.sin(np.radians(5.0)) / CU_KA1) ** 2
    limit = int(np.sqrt(n_max)) + 1
    shells: dict[int, int] = {}
    for h, k, ell in itertools.product(range(-limit, limit + 1), repeat=3):
        n = h * h + k * k + ell * ell
        if n_min <= n <= n_max and allowed(h, k, ell):  # type: ignore[operator]
            shells[n] = shells.get(n, 0) + 1
    return shells


def observed_shells(peaks: PeakList, a: float) -> dict[int, int]:
    """N of each peak from its d (d = a / sqrt(N)) -> multiplicity."""
    n = np.rint((a / peaks.d_spacing) ** 2).astype(int)
    return dict(zip(n.tolist(), peaks.multiplicity.tolist(), strict=True))


def test_nacl_absences_and_multiplicities() -> None:
    peaks = compute_peaks(nacl(), min_relative_intensity=0.0)
    assert peak_by_hkl(peaks, (1, 0, 0)) is None
    assert peak_by_hkl(peaks, (1, 1, 0)) is None
    assert peak_by_hkl(peaks, (2, 1, 0)) is None
    expected = {(1, 1, 1): 8, (2, 0, 0): 6, (2, 2, 0): 12, (3, 1, 1): 24, (2, 2, 2): 8}
    for hkl, multiplicity in expected.items():
        index = peak_by_hkl(peaks, hkl)
        assert index is not None, hkl
        assert peaks.multiplicity[index] == multiplicity
        assert tuple(peaks.hkl[index]) == hkl
    # d(200) = a / 2 and 2theta from Bragg's law.
    index = peak_by_hkl(peaks, (2, 0, 0))
    assert peaks.d_spacing[index] == pytest.approx(5.6402 / 2.0, rel=1e-12)
    assert peaks.two_theta[index] == pytest.approx(
        np.degrees(2.0 * np.arcsin(CU_KA1 / 5.6402)), abs=1e-9
    )
    assert peaks.intensity.max() == pytest.approx(100.0)
    assert np.argmax(peaks.intensity) == index  # 200 is the strongest line of rock salt
    assert np.all(np.diff(peaks.two_theta) > 0.0)


def test_cscl_keeps_100() -> None:
    cscl = make_crystal(4.123, [("Cs", (0.0, 0.0, 0.0)), ("Cl", (0.5, 0.5, 0.5))], "CsCl")
    peaks = compute_peaks(cscl)
    for hkl, multiplicity in {(1, 0, 0): 6, (1, 1, 0): 12, (1, 1, 1): 8, (2, 1, 0): 24}.items():
        index = peak_by_hkl(peaks, hkl)
        assert index is not None, hkl
        assert peaks.multiplicity[index] == multiplicity
    assert observed_shells(peaks, 4.123) == cubic_shells(4.123, lambda h, k, ell: True)


def test_bcc_allows_exactly_even_sums() -> None:
    a = 2.8665
    iron = make_crystal(a, [("Fe", (0.0, 0.0, 0.0)), ("Fe", (0.5, 0.5, 0.5))], "Fe")
    peaks = compute_peaks(iron, min_relative_intensity=0.0)
    expected = cubic_shells(a, lambda h, k, ell: (h + k + ell) % 2 == 0)
    assert observed_shells(peaks, a) == expected
    assert all((h + k + ell) % 2 == 0 for h, k, ell in peaks.reflection_hkl)
    assert peaks.multiplicity[0] == 12  # 110


def test_fcc_allows_exactly_unmixed_indices() -> None:
    a = 3.6149
    copper = make_crystal(a, [("Cu", p) for p in FCC], "Cu")
    peaks = compute_peaks(copper, min_relative_intensity=0.0)
    expected = cubic_shells(a, lambda h, k, ell: h % 2 == k % 2 == ell % 2)
    assert observed_shells(peaks, a) == expected
    assert list(peaks.multiplicity[:3]) == [8, 6, 12]  # 111, 200, 220


def test_p21_screw_axis_absences() -> None:
    beta = np.radians(100.0)
    lattice = np.array(
        [[5.0, 0.0, 0.0], [0.0, 6.0, 0.0], [7.0 * np.cos(beta), 0.0, 7.0 * np.sin(beta)]]
    )
    base = np.array([[0.12, 0.21, 0.33], [0.41, 0.07, 0.77]])
    image = np.column_stack([-base[:, 0], base[:, 1] + 0.5, -base[:, 2]]) % 1.0
    crystal = Crystal(
        lattice=lattice,
        frac_coords=np.vstack([base, image]),
        elements=("Si", "O", "Si", "O"),
        occupancies=np.ones(4),
        b_iso=np.zeros(4),
        name="P21",
    )
    peaks = compute_peaks(crystal, min_relative_intensity=0.0)
    for k in range(1, 7):
        present = peak_by_hkl(peaks, (0, k, 0)) is not None
        assert present == (k % 2 == 0), k
    # General reflections are not extinguished.
    assert peak_by_hkl(peaks, (1, 1, 0)) is not None
    assert peak_by_hkl(peaks, (0, 1, 1)) is not None


def test_supercell_gives_the_primitive_peaks() -> None:
    a = 4.123
    cell = make_crystal(a, [("Cs", (0.0, 0.0, 0.0)), ("Cl", (0.5, 0.5, 0.5))], "CsCl")
    doubled = Crystal(
        lattice=np.diag([2.0 * a, a, a]),
        frac_coords=np.array(
            [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.25, 0.5, 0.5], [0.75, 0.5, 0.5]]
        ),
        elements=("Cs", "Cs", "Cl", "Cl"),
        occupancies=np.ones(4),
        b_iso=np.zeros(4),
        name="CsCl 2x1x1",
    )
    primitive, super_peaks = compute_peaks(cell), compute_peaks(doubled, min_relative_intensity=0.0)
    # Reflections with odd h of the doubled cell are extinguished by the pure translation.
    assert all(h % 2 == 0 for h, _, _ in super_peaks.reflection_hkl)
    np.testing.assert_allclose(super_peaks.two_theta, primitive.two_theta, atol=1e-9)
    np.testing.assert_allclose(super_peaks.intensity, primitive.intensity, rtol=1e-5)
    np.testing.assert_array_equal(super_peaks.multiplicity, primitive.multiplicity)


def test_disordered_site_keeps_the_symmetry() -> None:
    base = nacl()
    n = base.n_sites
    # Na sites shared half-half with K: still Fm-3m, so 100 and 110 stay absent.
    crystal = Crystal(
        lattice=base.lattice,
        frac_coords=np.vstack([base.frac_coords, base.frac_coords[:4]]),
        elements=base.elements + ("K",) * 4,
        occupancies=np.concatenate([[0.5] * 4, np.ones(n - 4), [0.5] * 4]),
        b_iso=np.zeros(n + 4),
        name="Na0.5K0.5Cl",
    )
    rotations, _ = symmetry_operations(crystal)
    assert len(rotations) == 192  # 48 point operations x 4 centring translations
    peaks = compute_peaks(crystal, min_relative_intensity=0.0)
    assert peak_by_hkl(peaks, (1, 0, 0)) is None
    assert peak_by_hkl(peaks, (1, 1, 1)) is not None


def test_given_operations_give_the_same_peaks() -> None:
    crystal = nacl()
    default = compute_peaks(crystal)
    shared = compute_peaks(crystal, operations=symmetry_operations(crystal))
    np.testing.assert_array_equal(default.two_theta, shared.two_theta)
    np.testing.assert_array_equal(default.intensity, shared.intensity)


@pytest.mark.parametrize("hall_number", [1, 2, 81, 90, 108, 349, 402, 436, 460, 488, 523, 530])
def test_equivalent_reflections_are_the_orbits_of_plus_minus_h_w(hall_number: int) -> None:
    """Sets of the one-product key against orbits {+h W, -h W} listed one by one (groups 1, 2,
    14, 15, 16, 75, 125, 148, 167, 194, 225, 230)."""
    rotations, _ = hall_operations(hall_number)
    rng = np.random.default_rng(hall_number)
    hkl = np.unique(rng.integers(-4, 5, size=(300, 3)), axis=0)
    first, inverse = equivalent_reflections(hkl, rotations)
    index = {tuple(h): i for i, h in enumerate(hkl.tolist())}
    for i, h in enumerate(hkl):
        images = np.concatenate([h @ rotations, -(h @ rotations)])
        orbit = {index[tuple(v)] for v in images.tolist() if tuple(v) in index}
        assert {j for j in range(len(hkl)) if inverse[j] == inverse[i]} == orbit
    assert np.array_equal(inverse[first], np.arange(first.shape[0]))


def test_no_atoms_is_a_structure_error() -> None:
    empty = Crystal(
        lattice=np.eye(3) * 4.0,
        frac_coords=np.zeros((0, 3)),
        elements=(),
        occupancies=np.zeros(0),
        b_iso=np.zeros(0),
        name="empty",
    )
    with pytest.raises(StructureError, match="empty"):
        compute_peaks(empty)


def test_lorentz_polarization_values() -> None:
    # 2theta = 90: cos 2theta = 0, sin^2 45 cos 45 = 0.5 / sqrt 2.
    plain = lorentz_polarization(np.array([90.0]), "none")[0]
    assert plain == pytest.approx(2.0 * np.sqrt(2.0), rel=1e-12)
    mono = lorentz_polarization(np.array([90.0]), "graphite_monochromator", 26.6)[0]
    cos2m = np.cos(np.radians(26.6)) ** 2
    assert mono == pytest.approx(2.0 * np.sqrt(2.0) / (1.0 + cos2m), rel=1e-12)
    # At 2theta = 60: (1 + 1/4) / (1/4 * sqrt(3)/2).
    assert lorentz_polarization(np.array([60.0]), "none")[0] == pytest.approx(
        1.25 / (0.25 * np.sqrt(3.0) / 2.0), rel=1e-12
    )
    assert graphite_monochromator_two_theta(CU_KA1) == pytest.approx(26.55, abs=0.01)


def test_form_factors_at_zero_angle_count_electrons() -> None:
    s2 = np.array([0.0, 0.25])
    it92 = form_factors(["Fe", "O"], s2, "it92")
    assert it92[:, 0] == pytest.approx([26.0, 8.0], abs=0.01)
    pmg = form_factors(["Fe", "O"], s2, "pymatgen")
    assert pmg[:, 0] == pytest.approx([26.0, 8.0], abs=1e-12)
    # Both tables describe the same atoms: within 2 % at s = 0.5 / Angstrom.
    assert pmg[:, 1] == pytest.approx(it92[:, 1], rel=0.02)
    assert np.all(it92[:, 1] < it92[:, 0])


# --- Agreement with pymatgen's XRDCalculator -------------------------------------------


def corpus_path(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def pick_structures(path: Path, per_system: int) -> list[tuple[str, object]]:
    """The first ``per_system`` structures of each crystal system in file order (pymatgen)."""
    import gemmi
    import spglib
    from pymatgen.core import Structure

    chosen: dict[str, list[tuple[str, object]]] = {name: [] for name in CRYSTAL_SYSTEMS}
    csv.field_size_limit(1 << 30)
    with gzip.open(path, "rt") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in csv.DictReader(handle):
            structure = Structure.from_str(row["cif"], fmt="cif")
            cell = (
                structure.lattice.matrix,
                structure.frac_coords,
                [site.specie.Z for site in structure],
            )
            number = spglib.get_symmetry_dataset(cell, symprec=0.01).number
            system = gemmi.find_spacegroup_by_number(number).crystal_system_str()
            if len(chosen[system]) < per_system:
                chosen[system].append((row["material_id"], structure))
            if all(len(v) == per_system for v in chosen.values()):
                break
    return [item for name in CRYSTAL_SYSTEMS for item in chosen[name]]


def compare_with_pymatgen(structures: list[tuple[str, object]]) -> list[str]:
    """Every structure's disagreements with XRDCalculator (plain LP, pymatgen form factors)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from xrdsym.structures.crystal import crystal_from_pymatgen

    calculator = XRDCalculator(wavelength=PYMATGEN_WAVELENGTH)
    failures = []
    for material_id, structure in structures:
        reference = calculator.get_pattern(structure, two_theta_range=(10.0, 110.0))
        ref_x, ref_y = np.array(reference.x), np.array(reference.y)
        ours = compute_peaks(
            crystal_from_pymatgen(structure, material_id),
            wavelength=PYMATGEN_WAVELENGTH,
            polarization="none",
            form_factors="pymatgen",
            min_relative_intensity=PYMATGEN_MIN_RELATIVE_INTENSITY,
        )
        problems = peak_list_mismatches(ref_x, ref_y, ours.two_theta, ours.intensity)
        if problems:
            failures.append(f"{material_id}: {problems[:3]}")
    return failures


def test_matches_pymatgen_on_all_crystal_systems(shared_dir: Path) -> None:
    structures = pick_structures(corpus_path(shared_dir), PER_SYSTEM_FAST)
    assert len(structures) == 7 * PER_SYSTEM_FAST
    assert compare_with_pymatgen(structures) == []


@pytest.mark.slow
def test_matches_pymatgen_on_700_structures(shared_dir: Path) -> None:
    structures = pick_structures(corpus_path(shared_dir), PER_SYSTEM_SLOW)
    assert compare_with_pymatgen(structures) == []


def _nacl_with_shared_sodium(shift_angstrom: float) -> Crystal:
    """NaCl whose Na sites are shared half-half with K, K listed ``shift_angstrom`` off Na."""
    base = nacl()
    n = base.n_sites
    shift = np.array([shift_angstrom / base.lattice[0, 0], 0.0, 0.0])
    return Crystal(
        lattice=base.lattice,
        frac_coords=np.vstack([base.frac_coords, base.frac_coords[:4] + shift]),
        elements=base.elements + ("K",) * 4,
        occupancies=np.concatenate([[0.5] * 4, np.ones(n - 4), [0.5] * 4]),
        b_iso=np.zeros(n + 4),
        name=f"Na0.5K0.5Cl shifted {shift_angstrom} A",
    )


@pytest.mark.parametrize(("shift", "operations"), [(0.0, 192), (0.03, 192), (0.3, 32)])
def test_partial_sites_within_0_05_angstrom_are_one_species(shift: float, operations: int) -> None:
    from xrdsym.structures.symmetry import SHARED_SITE_TOLERANCE, symmetry_dataset

    assert SHARED_SITE_TOLERANCE == 0.05
    crystal = _nacl_with_shared_sodium(shift)
    rotations, translations = symmetry_operations(crystal)
    # The absences and the label see the same cell: the same operations.
    dataset = symmetry_dataset(crystal)
    assert len(rotations) == len(dataset.rotations) == operations
    np.testing.assert_allclose(np.sort(translations, axis=0), np.sort(dataset.translations, axis=0))
    if operations == 192:
        assert peak_by_hkl(compute_peaks(crystal, min_relative_intensity=0.0), (1, 0, 0)) is None


def test_peak_list_comparison_groups_close_peaks_and_names_each_failure() -> None:
    x = np.array([20.0, 30.0, 45.0, 60.0])
    y = np.array([100.0, 50.0, 10.0, 0.5])
    assert peak_list_mismatches(x, y, x, y) == []
    # A reflection split in two within the tolerance, and a 1e-4 degree shift, still agree.
    split = peak_list_mismatches(
        x, y, np.array([20.0, 30.0, 30.004, 45.0001]), np.array([100.0, 25.0, 25.0, 10.0])
    )
    assert split == []
    # Missing a 10 % peak, or 2 % off in intensity, fails at that group; a missing peak below
    # 1 % of the strongest is not checked.
    missing = peak_list_mismatches(x, y, x[[0, 1, 3]], y[[0, 1, 3]])
    assert (
        len(missing) == 1 and missing[0].startswith("45.0000 deg") and "one list only" in missing[0]
    )
    off = peak_list_mismatches(x, y, x, y * np.array([1.0, 1.02, 1.0, 1.0]))
    assert len(off) == 1 and off[0].startswith("30.0000 deg")
    assert peak_list_mismatches(x, y, x[:3], y[:3]) == []
