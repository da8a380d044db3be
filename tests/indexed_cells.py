"""Peak lists and cells of known structures, typed as the indexing layer returns them."""

from __future__ import annotations

import numpy as np

from xrdsym.indexing.results import CellCandidate, ObservedPeak, PeakSearchResult
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.structures.crystal import crystal_from_pymatgen
from xrdsym.wavelengths import CU_KA1

_FAMILY = {
    "cubic": "c",
    "tetragonal": "t",
    "orthorhombic": "o",
    "hexagonal": "h",
    "trigonal": "h",
    "monoclinic": "m",
    "triclinic": "a",
}


def generic_structure(symbol: str, lattice: object, coords: list[list[float]]) -> object:
    """A pymatgen Structure of space group ``symbol`` with one element per listed site."""
    from pymatgen.core import Structure

    species = ["Pb", "S", "O", "Cu", "Zn", "Ti"][: len(coords)]
    return Structure.from_spacegroup(symbol, lattice, species, coords)


def observed_lines(
    structure: object,
    two_theta_range: tuple[float, float] = (10.0, 90.0),
    min_intensity: float = 1.0,
    zero_shift: float = 0.0,
) -> tuple[PeakSearchResult, object]:
    """The lines of a structure's peak list stronger than ``min_intensity`` (strongest 100)."""
    peaks = compute_peaks(crystal_from_pymatgen(structure), CU_KA1, two_theta_range)
    keep = peaks.intensity >= min_intensity
    lines = tuple(
        ObservedPeak(float(t) + zero_shift, 0.005, float(i), float(i), 0.1)
        for t, i in zip(peaks.two_theta[keep], peaks.intensity[keep], strict=True)
    )
    return PeakSearchResult(lines, CU_KA1, "absent", "none", 0.0), peaks


def candidate_of(
    structure: object,
    lines: PeakSearchResult,
    cell: tuple[float, ...] | None = None,
    bravais: str | None = None,
    m20: float = 50.0,
    zero_shift: float = 0.0,
) -> CellCandidate:
    """The conventional cell of a structure as a candidate (figures of merit made up)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    analyzer = SpacegroupAnalyzer(structure, symprec=0.01)
    conventional = analyzer.get_conventional_standard_structure().lattice
    system = analyzer.get_crystal_system()
    if bravais is None:
        letter = analyzer.get_space_group_symbol()[0]
        bravais = _FAMILY[system] + (letter if letter in "PIFR" else "C")
    if cell is None:
        cell = (
            conventional.a,
            conventional.b,
            conventional.c,
            conventional.alpha,
            conventional.beta,
            conventional.gamma,
        )
    n = len(lines.peaks)
    zeros = (0.0,) * 6
    return CellCandidate(
        bravais=bravais,
        crystal_system="hexagonal" if bravais == "hP" else system,
        cell=tuple(float(x) for x in cell),  # type: ignore[arg-type]
        cell_sigma=zeros,
        reduced_cell=tuple(float(x) for x in cell),  # type: ignore[arg-type]
        volume=float(conventional.volume),
        zero_shift=zero_shift,
        m20=m20,
        f_n=m20,
        f_n_lines=min(n, 20),
        n_indexed=n,
        n_lines=n,
        hkl=tuple((0, 0, 0) for _ in range(n)),
    )


def levels_of(p_space_group: np.ndarray) -> dict[str, np.ndarray]:
    """The three levels of a space-group distribution (sums)."""
    from xrdsym.spacegroups.table import level_probabilities

    return level_probabilities(p_space_group)
