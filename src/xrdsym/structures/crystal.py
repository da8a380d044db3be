"""The crystal representation shared by the simulator, the datasets and the generators."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xrdsym.structures.validation import check_sites


@dataclass(frozen=True)
class Crystal:
    """A periodic crystal with all sites of the unit cell listed (P1 expansion).

    Attributes:
        lattice: 3x3 float64, rows are the cell vectors a, b, c in Angstrom (Cartesian).
        frac_coords: (n_sites, 3) float64 fractional coordinates in [0, 1).
        elements: element symbol of each site, e.g. ``"Fe"``; length n_sites.
        occupancies: (n_sites,) float64 site occupancies in (0, 1].
        b_iso: (n_sites,) float64 isotropic displacement parameters B in Angstrom^2
            (B = 8 pi^2 U_iso); 0 when the source gives none.
        name: identifier of the structure (file name or database id).
    """

    lattice: np.ndarray
    frac_coords: np.ndarray
    elements: tuple[str, ...]
    occupancies: np.ndarray
    b_iso: np.ndarray
    name: str = ""
    metadata: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        """Refuse what no crystal can be (:func:`xrdsym.structures.validation.check_sites`):
        non-finite values, occupancies outside [0, 1], a flat or too thin cell, or more
        sites than the cell has room for."""
        check_sites(self)

    @property
    def n_sites(self) -> int:
        """Number of listed sites."""
        return len(self.elements)

    @property
    def volume(self) -> float:
        """Cell volume in Angstrom^3: |det(lattice)|."""
        return float(abs(np.linalg.det(self.lattice)))

    def reciprocal_lattice(self) -> np.ndarray:
        """Reciprocal cell vectors as rows, crystallographic convention (no 2 pi), 1/Angstrom.

        B = (A^-1)^T so that a_i . b_j = delta_ij; then 1/d_hkl = |h B|.
        """
        return np.linalg.inv(self.lattice).T


def crystal_from_pymatgen(structure: object, name: str = "") -> Crystal:
    """Convert a pymatgen ``Structure`` (ordered or disordered) into a :class:`Crystal`.

    Each species of a disordered site becomes its own listed site with its occupancy.
    B factors are read from the site property ``b_iso`` (Angstrom^2) when present, else 0.
    Oxidation states are dropped: the element symbol is kept.
    """
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)  # type: ignore[attr-defined]
    coords: list[np.ndarray] = []
    elements: list[str] = []
    occupancies: list[float] = []
    b_values: list[float] = []
    for site in structure:  # type: ignore[attr-defined]
        b_iso = float(site.properties.get("b_iso", 0.0) or 0.0)
        for species, occupancy in site.species.items():
            coords.append(np.mod(np.asarray(site.frac_coords, dtype=np.float64), 1.0))
            elements.append(str(getattr(species, "symbol", species)))
            occupancies.append(float(occupancy))
            b_values.append(b_iso)
    return Crystal(
        lattice=lattice,
        frac_coords=np.array(coords, dtype=np.float64).reshape(-1, 3),
        elements=tuple(elements),
        occupancies=np.array(occupancies, dtype=np.float64),
        b_iso=np.array(b_values, dtype=np.float64),
        name=name,
    )
