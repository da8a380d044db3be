"""New structures from real ones: strained cell, displaced free coordinates, similar elements.

Every change keeps the space-group operations of the :class:`~xrdsym.structures.prototype.
Prototype`, so the label of the new structure is known exactly and its peaks need no symmetry
search:

- **strain**: the cell parameters change only as the crystal family allows (cubic: a; tetragonal,
  trigonal and hexagonal: a and c; orthorhombic: a, b, c; monoclinic: a, b, c and the monoclinic
  angle; triclinic: all six), so the metric keeps the lattice symmetry of the setting;
- **displacement**: each orbit's representative x moves by P d, where d is a random
  displacement and P = (1/|G_x|) sum_{W in G_x} W the projector onto the free coordinates of its
  site (G_x: the rotation parts of the operations that fix x); the orbit is then regenerated with
  all operations, so its multiplicity and Wyckoff position stay the same;
- **substitution**: each element is replaced, everywhere at once and one-to-one, by a
  chemically similar element (:func:`similar_elements`), and the cell is scaled by the cube root
  of the mean ratio of atomic volumes.

The changes are bounded (:class:`PerturbationConfig`) so that an accidental higher symmetry
stays rare; the test suite checks with spglib that the group is kept.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from xrdsym.structures.prototype import (
    Prototype,
    hall_operations,
    orbit_images,
    orbit_labels,
    species_parts,
)
from xrdsym.structures.symmetry import cell_parameters

#: Atomic radii (Angstrom) of similar elements of one group differ by at most this ratio
#: (Na-K 1.22, Cl-Br 1.15, Ti-Zr 1.13, O-S 1.67: O and S are not exchanged).
MAX_RADIUS_RATIO = 1.25

#: The tighter bound for neighbouring groups of the d block (Fe-Co 1.0, Ti-V 1.04).
MAX_NEIGHBOUR_RADIUS_RATIO = 1.1

#: Angles within this many degrees of 90 or 120 are held fixed by the family constraints.
SPECIAL_ANGLE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PerturbationConfig:
    """Bounds of the random changes.

    Attributes:
        strain: standard deviation of the relative change of each free cell length (0.03 = 3 %).
        angle: standard deviation of each free cell angle, degrees.
        displacement: standard deviation of each Cartesian displacement component, Angstrom,
            before projection onto the site's free coordinates.
        max_sigma: draws are clipped at this many standard deviations.
        substitution: probability that the elements of a structure are substituted.
    """

    strain: float = 0.03
    angle: float = 1.5
    displacement: float = 0.08
    max_sigma: float = 2.0
    substitution: float = 0.5

    def validate(self) -> None:
        """Raise ValueError for a negative bound or a probability outside [0, 1]."""
        for name in ("strain", "angle", "displacement", "max_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"perturbation {name} must be a number >= 0, got {value!r}")
        if not 0.0 <= self.substitution <= 1.0:
            raise ValueError(
                f"perturbation substitution must be in [0, 1], got {self.substitution}"
            )


def lattice_from_parameters(parameters: np.ndarray) -> np.ndarray:
    """Cell rows from (a, b, c, alpha, beta, gamma): a along x, b in the xy plane.

    a = (a, 0, 0); b = (b cos g, b sin g, 0); c = (c cos b, c (cos a - cos b cos g) / sin g,
    c sqrt(1 - cos^2 b - ((cos a - cos b cos g) / sin g)^2)).
    """
    a, b, c = parameters[:3]
    alpha, beta, gamma = np.radians(parameters[3:])
    cy = (math.cos(alpha) - math.cos(beta) * math.cos(gamma)) / math.sin(gamma)
    cz = math.sqrt(max(1.0 - math.cos(beta) ** 2 - cy**2, 1e-12))
    return np.array(
        [
            [a, 0.0, 0.0],
            [b * math.cos(gamma), b * math.sin(gamma), 0.0],
            [c * math.cos(beta), c * cy, c * cz],
        ]
    )


def family_length_ties(space_group: int) -> tuple[int, int, int]:
    """Which cell length each of a, b, c follows in the standard setting of the group's family:
    cubic (0, 0, 0); tetragonal, trigonal, hexagonal (0, 0, 2); lower (0, 1, 2)."""
    if space_group >= 195:
        return (0, 0, 0)
    if space_group >= 75:
        return (0, 0, 2)
    return (0, 1, 2)


def strain_lattice(
    lattice: np.ndarray, space_group: int, rng: np.random.Generator, config: PerturbationConfig
) -> np.ndarray:
    """A randomly strained cell with the same family constraints.

    Free lengths scale by exp(e), e ~ N(0, strain^2) clipped at max_sigma; free angles (all
    three for triclinic groups 1-2, those away from 90 degrees for monoclinic groups 3-15) move
    by N(0, angle^2) degrees, clipped.
    """
    parameters = cell_parameters(lattice)
    ties = family_length_ties(space_group)
    scale = np.exp(
        config.strain * np.clip(rng.normal(0.0, 1.0, 3), -config.max_sigma, config.max_sigma)
    )
    new = parameters.copy()
    new[:3] = parameters[:3] * scale[list(ties)]
    if space_group <= 15:
        angle_moves = config.angle * np.clip(
            rng.normal(0.0, 1.0, 3), -config.max_sigma, config.max_sigma
        )
        free = np.ones(3, dtype=bool)
        if space_group >= 3:
            free = np.abs(parameters[3:] - 90.0) > SPECIAL_ANGLE_TOLERANCE
        new[3:] = np.where(free, parameters[3:] + angle_moves, parameters[3:])
    return lattice_from_parameters(new)


def site_projector(
    position: np.ndarray, rotations: np.ndarray, translations: np.ndarray
) -> np.ndarray:
    """P = mean of the rotations W whose operation fixes ``position`` (modulo lattice vectors).

    P x is the part of a fractional displacement x that keeps the site symmetry.
    """
    images = rotations @ position + translations
    offset = images - position
    fixes = np.all(np.abs(offset - np.rint(offset)) < 10.0 ** (-3), axis=1)
    return rotations[fixes].astype(np.float64).mean(axis=0)


def displace_orbits(
    prototype: Prototype,
    lattice: np.ndarray,
    rng: np.random.Generator,
    config: PerturbationConfig,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Positions and species of the cell after moving every orbit along its free coordinates.

    The Cartesian displacement d ~ N(0, displacement^2) per component (clipped) is converted to
    fractions (d A^-1, A the cell rows), projected with :func:`site_projector`, and the orbit of
    the moved representative is regenerated with all operations. An orbit whose image count
    changes (the move landed on a more special position) keeps its original positions.
    """
    rotations, translations = hall_operations(prototype.hall_number)
    labels = orbit_labels(prototype)
    inverse = np.linalg.inv(lattice)
    positions: list[np.ndarray] = []
    species: list[str] = []
    for representative in np.unique(labels):
        members = np.flatnonzero(labels == representative)
        start = prototype.positions[representative]
        cartesian = config.displacement * np.clip(
            rng.normal(0.0, 1.0, 3), -config.max_sigma, config.max_sigma
        )
        move = site_projector(start, rotations, translations) @ (cartesian @ inverse)
        orbit = orbit_images(start + move, rotations, translations)
        if len(orbit) != len(members):
            orbit = prototype.positions[members]
        positions.append(orbit)
        species.extend([prototype.species[representative]] * len(orbit))
    return np.concatenate(positions), tuple(species)


@functools.lru_cache(maxsize=1)
def _element_table() -> dict[str, tuple[int, int, float, frozenset[int]]]:
    """Element -> (group, row, atomic radius in A, common oxidation states), from pymatgen.

    Elements up to Bi (Z <= 83) with a known radius. The cache holds one immutable table.
    """
    # deferred until called: imports pymatgen
    from pymatgen.core.periodic_table import Element

    table = {}
    for z in range(1, 84):
        element = Element.from_Z(z)
        radius = element.atomic_radius
        if radius is None or element.is_noble_gas:
            continue
        states = frozenset(int(s) for s in element.common_oxidation_states)
        table[element.symbol] = (int(element.group), int(element.row), float(radius), states)
    return table


@functools.lru_cache(maxsize=128)
def similar_elements(symbol: str) -> tuple[str, ...]:
    """Elements that can replace ``symbol`` in a structure, the element itself excluded.

    Similar means: the same group of the periodic table with atomic radii within
    MAX_RADIUS_RATIO of each other, or, in the d block, a neighbouring group with a common
    oxidation state in common and radii within MAX_NEIGHBOUR_RADIUS_RATIO. Radii and oxidation
    states are pymatgen's (lanthanides have no group number there and are left alone).
    """
    table = _element_table()
    if symbol not in table:
        return ()
    group, _, radius, states = table[symbol]
    found = []
    for other, (other_group, _, other_radius, other_states) in table.items():
        if other == symbol:
            continue
        ratio = max(radius, other_radius) / min(radius, other_radius)
        if ratio > MAX_RADIUS_RATIO:
            continue
        same_group = other_group == group
        transition = 3 <= group <= 12 and 3 <= other_group <= 12
        neighbour = (
            transition
            and abs(other_group - group) <= 1
            and bool(states & other_states)
            and ratio <= MAX_NEIGHBOUR_RADIUS_RATIO
        )
        if same_group or neighbour:
            found.append(other)
    return tuple(found)


def substitute_species(
    species: tuple[str, ...], rng: np.random.Generator
) -> tuple[tuple[str, ...], float]:
    """Species with each element replaced one-to-one by a similar one, and the volume ratio.

    Elements are visited in a random order; each takes a random similar element not yet used
    (or stays). Returns the new species and sum(r_new^3) / sum(r_old^3) over the atoms.
    """
    table = _element_table()
    elements = sorted({e for s in species for e, _ in species_parts(s)})
    mapping: dict[str, str] = {}
    used = set(elements)
    for element in rng.permutation(elements):
        candidates = [e for e in similar_elements(str(element)) if e not in used]
        choice = str(candidates[rng.integers(len(candidates))]) if candidates else str(element)
        mapping[str(element)] = choice
        used.add(choice)
    new_species = tuple(
        "+".join(f"{mapping[e]}:{o:g}" for e, o in species_parts(s)) if ":" in s else mapping[s]
        for s in species
    )
    old_volume = new_volume = 0.0
    for s in species:
        for element, occupancy in species_parts(s):
            if element in table:
                old_volume += occupancy * table[element][2] ** 3
                new_volume += occupancy * table[mapping[element]][2] ** 3
    return new_species, (new_volume / old_volume if old_volume > 0 else 1.0)


def perturb_prototype(
    prototype: Prototype, rng: np.random.Generator, config: PerturbationConfig | None = None
) -> Prototype:
    """A new structure of the same space group: substituted, strained and displaced.

    Order: substitution (with its volume scaling), then strain of the scaled cell, then the
    displacements in the strained cell. The Hall setting and the label are unchanged.
    """
    config = config if config is not None else PerturbationConfig()
    species = prototype.species
    lattice = np.asarray(prototype.lattice, dtype=np.float64)
    if config.substitution > 0 and rng.random() < config.substitution:
        species, volume_ratio = substitute_species(species, rng)
        lattice = lattice * volume_ratio ** (1.0 / 3.0)
    lattice = strain_lattice(lattice, prototype.space_group, rng, config)
    substituted = Prototype(
        prototype.space_group,
        prototype.hall_number,
        lattice,
        prototype.positions,
        species,
        prototype.name,
    )
    positions, species = displace_orbits(substituted, lattice, rng, config)
    return Prototype(
        prototype.space_group,
        prototype.hall_number,
        lattice,
        positions,
        species,
        f"{prototype.name}~perturbed",
    )
