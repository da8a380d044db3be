"""One validation of a crystal, whatever its source (CIF, table, pymatgen, the API).

Two levels:

* :func:`check_sites` runs in :class:`~xrdsym.structures.crystal.Crystal`'s constructor and
  costs O(n): array shapes; finite lattice, coordinates, occupancies and B; occupancies in
  [0, 1]; B >= 0; a cell that is not flat (volume) nor thinner than :data:`MIN_CELL_WIDTH`.
  A NaN never reaches spglib (where it is a segfault), and a tiny cell never reaches a
  neighbour search (where it hangs or fills memory).
* :func:`check_crystal` adds the limits (volume, sites), at least
  :data:`MIN_VOLUME_PER_SITE` per site, then the overlap check (sites closer than
  :data:`MIN_SITE_DISTANCE` whose occupancies sum above 1). The CIF reader runs the same
  checks on the symmetry images, and ``compute_peaks`` on every crystal whose operations it
  has to find (CIF, table, pymatgen, API); crystals that come with their generator's exact
  operations (the training stream) get :func:`check_limits` only.

The neighbour search (:func:`crowded_site`) runs on blocks of centres, so its memory is
bounded whatever the positions: after the width and volume checks, a cell holds at most
:data:`MAX_SITES` sites and each block's pairs are at most ``block x sites``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from xrdsym.errors import StructureError


class Crystal(Protocol):
    """What the checks read of a :class:`xrdsym.structures.crystal.Crystal` (which imports
    this module)."""

    @property
    def lattice(self) -> np.ndarray:
        """Cell vectors as rows, Angstrom."""

    @property
    def frac_coords(self) -> np.ndarray:
        """Fractional coordinates (n, 3)."""

    @property
    def elements(self) -> tuple[str, ...]:
        """Element of each site."""

    @property
    def occupancies(self) -> np.ndarray:
        """Occupancy of each site."""

    @property
    def b_iso(self) -> np.ndarray:
        """B factor of each site, Angstrom^2."""

    @property
    def name(self) -> str:
        """The structure's name."""

    @property
    def n_sites(self) -> int:
        """Number of listed sites."""

    @property
    def volume(self) -> float:
        """Cell volume, Angstrom^3."""


#: Occupancies may be printed as e.g. 1.0001 after rounding; larger excesses are errors.
OCCUPANCY_TOLERANCE = 1e-3

#: Occupancies of sites sharing one position (or closer than MIN_SITE_DISTANCE) may sum to
#: 1 + this, for printed values such as 0.34 + 0.33 + 0.34.
OCCUPANCY_SUM_TOLERANCE = 0.02

#: Sites closer than this (Angstrom) cannot both be occupied (pymatgen's ``is_valid`` bound):
#: their occupancies must sum to at most 1, as for the split positions of one atom.
MIN_SITE_DISTANCE = 0.5

#: Narrowest cell accepted: the distance between opposite faces (V / |b x c| and the other
#: two), Angstrom. A narrower cell stacks its atoms closer than MIN_SITE_DISTANCE apart and
#: makes a neighbour search visit (2 r / width)^3 cells.
MIN_CELL_WIDTH = 0.5

#: Least cell volume per listed site, Angstrom^3 (the densest solids have ~5 per atom; a
#: mixed site of ten species lists ten sites on one atom's volume).
MIN_VOLUME_PER_SITE = 0.5

#: A cell whose volume is below this fraction of a*b*c is degenerate (coplanar vectors):
#: real cells have V / (abc) = sqrt(1 - cos^2 a - ...) above ~0.1 even for very oblique cells.
MIN_RELATIVE_VOLUME = 1e-3

#: Largest cell volume accepted (Angstrom^3; a cube of 63 Angstrom). Larger cells hold more
#: reflections than a powder pattern resolves and cost minutes to simulate.
MAX_CELL_VOLUME = 250_000.0

#: Largest number of sites in the unit cell after the symmetry expansion.
MAX_SITES = 10_000

#: Centres per block of the neighbour search.
_SEARCH_BLOCK = 256


def cell_widths(lattice: np.ndarray) -> np.ndarray:
    """Perpendicular widths of a cell, Angstrom: V / |b x c|, V / |c x a|, V / |a x b|."""
    volume = abs(float(np.linalg.det(lattice)))
    faces = np.linalg.norm(
        np.cross(np.roll(lattice, -1, axis=0), np.roll(lattice, -2, axis=0)), axis=1
    )
    return volume / np.maximum(faces, np.finfo(float).tiny)


def check_cell(lattice: np.ndarray, name: str) -> float:
    """Refuse a lattice that is not finite, flat or narrower than :data:`MIN_CELL_WIDTH`.

    Returns:
        The cell volume, Angstrom^3.

    Raises:
        StructureError: naming the structure and the problem.
    """
    if lattice.shape != (3, 3):
        raise StructureError(f"{name}: the lattice has shape {lattice.shape}, not (3, 3)")
    if not np.all(np.isfinite(lattice)):
        raise StructureError(f"{name}: the lattice holds a non-finite value")
    lengths = np.linalg.norm(lattice, axis=1)
    volume = abs(float(np.linalg.det(lattice)))
    if not np.isfinite(volume) or volume <= MIN_RELATIVE_VOLUME * float(np.prod(lengths)):
        raise StructureError(
            f"{name}: zero-volume cell: a, b, c = {tuple(np.round(lengths, 6))} A, volume "
            f"{volume:.3g} A^3"
        )
    widths = cell_widths(lattice)
    if widths.min() < MIN_CELL_WIDTH:
        raise StructureError(
            f"{name}: cell too thin: its faces are {widths.min():.3g} A apart (at least "
            f"{MIN_CELL_WIDTH} A; a, b, c = {tuple(np.round(lengths, 6))} A)"
        )
    return volume


def _check_array(values: np.ndarray, shape: tuple[int, ...], what: str, name: str) -> None:
    """Refuse an array of the wrong shape or with a non-finite value."""
    if values.shape != shape:
        raise StructureError(f"{name}: {what} has shape {values.shape}, expected {shape}")
    bad = ~np.isfinite(values)
    if np.any(bad):
        site = int(np.argwhere(bad)[0][0])
        raise StructureError(f"{name}: {what} of site {site + 1} is not finite")


def check_sites(crystal: Crystal) -> None:
    """The O(n) checks of :class:`Crystal` (see the module docstring).

    Raises:
        StructureError: naming the structure, the site and the problem.
    """
    name = crystal.name or "structure"
    check_cell(np.asarray(crystal.lattice), name)
    n = len(crystal.elements)
    _check_array(np.asarray(crystal.frac_coords), (n, 3), "the fractional coordinates", name)
    _check_array(np.asarray(crystal.occupancies), (n,), "the occupancy", name)
    _check_array(np.asarray(crystal.b_iso), (n,), "the B factor", name)
    occupancy = np.asarray(crystal.occupancies)
    bad = (occupancy < 0.0) | (occupancy > 1.0 + OCCUPANCY_TOLERANCE)
    if np.any(bad):
        site = int(np.flatnonzero(bad)[0])
        raise StructureError(
            f"{name}: invalid occupancy {occupancy[site]:g} at site {site + 1} "
            f"({crystal.elements[site]}); occupancies lie in [0, 1]"
        )
    negative = np.asarray(crystal.b_iso) < 0.0
    if np.any(negative):
        site = int(np.flatnonzero(negative)[0])
        raise StructureError(
            f"{name}: negative B factor {crystal.b_iso[site]:g} A^2 at site {site + 1}"
        )


def check_volume(volume: float, name: str) -> None:
    """Refuse a cell larger than :data:`MAX_CELL_VOLUME`.

    Raises:
        StructureError: naming the structure, its volume and the limit.
    """
    if volume > MAX_CELL_VOLUME:
        raise StructureError(
            f"{name}: cell too large: volume {volume:.4g} A^3 above the limit of "
            f"{MAX_CELL_VOLUME:.4g} A^3"
        )


def check_site_count(n_sites: int, name: str, bound: bool = False) -> None:
    """Refuse more than :data:`MAX_SITES` sites in the unit cell.

    With ``bound``, ``n_sites`` is an upper bound (asymmetric sites times operations, before
    special positions are merged): refused only above four times the limit, before any work.
    """
    if n_sites > (4 * MAX_SITES if bound else MAX_SITES):
        raise StructureError(
            f"{name}: too many sites: {'up to ' if bound else ''}{n_sites} in the unit cell, "
            f"above the limit of {MAX_SITES}"
        )


def close_pairs(
    frac: np.ndarray, centres: np.ndarray, lattice: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance) of every pair of a centre (index into ``centres``) and a position
    (index into ``frac``) closer than ``radius`` Angstrom, periodic images included; a centre
    paired with its own position without translation is left out (``centres`` indexes
    ``frac``)."""
    # deferred until called: imports pymatgen
    from pymatgen.optimization.neighbors import find_points_in_spheres

    cart = np.ascontiguousarray(frac @ lattice, dtype=np.float64)
    centre, neighbour, images, distance = find_points_in_spheres(
        cart,
        np.ascontiguousarray(cart[centres]),
        r=float(radius),
        pbc=np.ones(3, dtype=np.int64),
        lattice=np.ascontiguousarray(lattice, dtype=np.float64),
        tol=1e-8,
    )
    centre = centres[centre]
    trivial = (centre == neighbour) & np.all(images == 0, axis=1)
    return centre[~trivial], neighbour[~trivial], distance[~trivial]


def crowded_site(
    frac: np.ndarray, occupancy: np.ndarray, lattice: np.ndarray
) -> tuple[int, int, float, float] | None:
    """The first site whose occupancy plus its neighbours' within MIN_SITE_DISTANCE exceeds
    1 + OCCUPANCY_SUM_TOLERANCE, as (site, nearest neighbour, distance A, occupancy sum), or
    None. The cell must have passed :func:`check_cell`."""
    for start in range(0, len(frac), _SEARCH_BLOCK):
        centres = np.arange(start, min(start + _SEARCH_BLOCK, len(frac)))
        centre, neighbour, distance = close_pairs(frac, centres, lattice, MIN_SITE_DISTANCE)
        totals = occupancy[centres].copy()
        np.add.at(totals, centre - start, occupancy[neighbour])
        crowded = np.flatnonzero(totals > 1.0 + OCCUPANCY_SUM_TOLERANCE)
        if crowded.size:
            i = int(centres[crowded[0]])
            here = centre == i
            nearest = int(np.argmin(distance[here]))
            return (
                i,
                int(neighbour[here][nearest]),
                float(distance[here][nearest]),
                float(totals[crowded[0]]),
            )
    return None


def check_limits(crystal: Crystal) -> None:
    """Refuse a crystal above the volume or site limits.

    Raises:
        StructureError: naming the structure, the value and the limit.
    """
    name = crystal.name or "structure"
    check_volume(crystal.volume, name)
    check_site_count(crystal.n_sites, name)


def check_volume_per_site(volume: float, n_sites: int, name: str) -> None:
    """Refuse fewer than :data:`MIN_VOLUME_PER_SITE` Angstrom^3 per site (run before any
    neighbour search, whose cost grows with the density of sites).

    Raises:
        StructureError: naming the structure, the site count and the volume.
    """
    if n_sites and volume / n_sites < MIN_VOLUME_PER_SITE:
        raise StructureError(
            f"{name}: atoms too close: {n_sites} sites in {volume:.3g} A^3 "
            f"({volume / n_sites:.3g} A^3 per site, below {MIN_VOLUME_PER_SITE} A^3)"
        )


def check_crystal(crystal: Crystal) -> None:
    """Refuse a crystal above the limits, too dense, or with sites that overlap.

    Raises:
        StructureError: naming the structure, the sites, their distance and occupancy sum.
    """
    name = crystal.name or "structure"
    check_limits(crystal)
    check_volume_per_site(crystal.volume, crystal.n_sites, name)
    found = crowded_site(
        np.asarray(crystal.frac_coords), np.asarray(crystal.occupancies), crystal.lattice
    )
    if found is None:
        return
    i, j, distance, total = found
    raise StructureError(
        f"{name}: sites {i + 1} ({crystal.elements[i]}) and {j + 1} ({crystal.elements[j]}) "
        f"are {distance:.3f} A apart (below {MIN_SITE_DISTANCE} A) with occupancies summing "
        f"to {total:.3g} (above 1)"
    )
