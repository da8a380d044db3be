"""Synthetic crystals of all 230 space groups, drawn from statistics of real crystals.

A crystal is drawn in this order (:meth:`SyntheticGenerator.sample`):

1. a space group from the fitted frequencies, mixed with a uniform floor so that every group
   occurs: p(g) = (1 - floor) n_g / N + floor / 230;
2. the number of occupied orbits and of distinct elements from their fitted joint histogram;
3. a Wyckoff position for each orbit from the fitted occupation of that group's positions
   (with pseudo-counts, so that positions and groups absent from the corpus still occur); a
   position without free coordinates is used at most once, and the atoms of the conventional
   cell stay below ``max_atoms``;
4. elements from the fitted element frequencies, distinct, each on at least one orbit;
5. free coordinates uniform in [0, 1), the orbit from the shipped Wyckoff operations
   (:mod:`xrdsym.structures.wyckoff`);
6. a cell shape (b/a, c/a, alpha, beta, gamma) drawn from the fitted shapes of the crystal family,
   and a volume V = sum_i k (4/3) pi r_i^3 over the atoms, with k the fitted ratio of volume per
   atom to atomic volume (log-normal);
7. when two atoms are closer than ``min_distance_ratio`` (r_i + r_j), the cell is expanded
   just enough (at most ``max_expansion`` in length); otherwise the free coordinates are drawn
   again (up to ``coordinate_draws`` times, sites, elements and cell kept), and then the whole
   draw is rejected.

The label is the requested group. A crystal can have more symmetry by accident (atoms only on
special positions, a metrically higher cell); :func:`accidental_symmetry_rate` measures it with
spglib, and ``verify=True`` rejects such crystals in the stream.

The statistics (:class:`SyntheticStatistics`) are fitted by :func:`fit_statistics` from the
training part of a split only and saved as versioned JSON; the package ships one fitted on the
Materials Project corpus (``data/synthetic_statistics.json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xrdsym.errors import StructureError
from xrdsym.sampling import draw_distinct, draw_index
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.perturb import lattice_from_parameters
from xrdsym.structures.synthetic_statistics import (
    FAMILY_STARTS,
    MAX_ELEMENTS,
    MAX_ORBITS,
    MAX_SHAPES_PER_FAMILY,
    STATISTICS_FILE,
    STATISTICS_FORMAT,
    STATISTICS_VERSION,
    SyntheticStatistics,
    atomic_radii,
    crystal_family,
    fit_statistics,
    load_statistics,
    prototype_wyckoff_letters,
    statistics_from_json,
)
from xrdsym.structures.wyckoff import WyckoffPosition, WyckoffTable, load_wyckoff_table

__all__ = [
    "FAMILY_STARTS",
    "FIXED_PRIOR",
    "FREE_PRIOR",
    "GENERAL_PRIOR",
    "GeneratorConfig",
    "MAX_ELEMENTS",
    "MAX_ORBITS",
    "MAX_SHAPES_PER_FAMILY",
    "STATISTICS_FILE",
    "STATISTICS_FORMAT",
    "STATISTICS_VERSION",
    "SyntheticCrystal",
    "SyntheticGenerator",
    "SyntheticStatistics",
    "atomic_radii",
    "closest_contact_ratio",
    "crystal_family",
    "fit_statistics",
    "load_statistics",
    "prototype_wyckoff_letters",
    "statistics_from_json",
]

#: Pseudo-counts added to the fitted Wyckoff occupation of every group (see
#: ``SyntheticGenerator._position_weights``).
GENERAL_PRIOR = 4.0
FREE_PRIOR = 1.0
FIXED_PRIOR = 0.5


@dataclass(frozen=True)
class SyntheticCrystal:
    """A generated crystal, its requested (= label) group and its operations (W, t).

    ``general`` is True when an orbit sits on the general position: with random coordinates
    such a crystal has no more symmetry than its group (measured: 0.2 % of them differ in
    spglib, against 4.8 % of crystals with special positions only), so only crystals without
    one need a symmetry check.
    """

    crystal: Crystal
    space_group: int
    operations: tuple[np.ndarray, np.ndarray]
    wyckoffs: tuple[str, ...]
    general: bool = False


@dataclass(frozen=True)
class GeneratorConfig:
    """Bounds of the generator.

    Attributes:
        floor: weight of the uniform part of the space-group prior (0.1: every group has at
            least 0.1 / 230 probability).
        max_atoms: largest number of atoms in the conventional cell (raised to the
            multiplicity of the general position for groups where that is larger).
        min_distance_ratio: closest allowed distance in units of r_i + r_j (atomic radii).
        max_expansion: a cell whose closest contact is below ``min_distance_ratio`` is
            expanded (all lengths scaled) to reach it, by at most this factor; otherwise the draw
            is rejected.
        attempts: whole draws (sites, elements, cell) before a crystal is given up.
        coordinate_draws: draws of the free coordinates within one whole draw before it is
            rejected. With the shipped statistics and 1 (the default, the generator of every
            figure so far) 59 % of whole draws are rejected, most of them crystals with many
            atoms, so the accepted ones have fewer atoms than the fit: 18.8 per cell on average
            against 22.0 for the corpus's training part; 4 gives 20.4, with peak lists that
            take about 30 % longer.
        space_groups: groups to draw from (None: all 230).
    """

    floor: float = 0.1
    max_atoms: int = 64
    min_distance_ratio: float = 0.6
    max_expansion: float = 1.5
    attempts: int = 50
    coordinate_draws: int = 1
    space_groups: tuple[int, ...] | None = None

    def validate(self) -> None:
        """Raise ValueError for a setting outside its range."""
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"generator floor must be in [0, 1], got {self.floor}")
        if self.max_atoms < 1:
            raise ValueError(f"generator max_atoms must be >= 1, got {self.max_atoms}")
        if not 0.0 <= self.min_distance_ratio < 2.0:
            raise ValueError(
                f"generator min_distance_ratio must be in [0, 2), got {self.min_distance_ratio}"
            )
        if self.max_expansion < 1.0:
            raise ValueError(f"generator max_expansion must be >= 1, got {self.max_expansion}")
        if self.attempts < 1:
            raise ValueError(f"generator attempts must be >= 1, got {self.attempts}")
        if self.coordinate_draws < 1:
            raise ValueError(
                f"generator coordinate_draws must be >= 1, got {self.coordinate_draws}"
            )
        for group in self.space_groups or ():
            if not 1 <= int(group) <= 230:
                raise ValueError(f"space group must be in 1-230, got {group}")


@dataclass(frozen=True, eq=False)
class GroupSites:
    """What the site draw needs of one group, made once per generator.

    Attributes:
        positions: the Wyckoff positions, general first.
        weights: occupation probability of each (see ``SyntheticGenerator._position_weights``).
        multiplicities: (P,) int64 multiplicity of each position.
        fixed: (P,) bool, True for positions without a free coordinate (occupied once at most).
    """

    positions: tuple[WyckoffPosition, ...]
    weights: np.ndarray
    multiplicities: np.ndarray
    fixed: np.ndarray


class SyntheticGenerator:
    """Draws synthetic crystals; all randomness comes from the ``rng`` given to :meth:`sample`.

    The constructor only derives the sampling tables from the statistics (no state changes
    afterwards), so one generator serves any number of workers.
    """

    def __init__(
        self,
        statistics: SyntheticStatistics | None = None,
        config: GeneratorConfig | None = None,
        table: WyckoffTable | None = None,
    ) -> None:
        self.statistics = statistics if statistics is not None else load_statistics()
        self.config = config if config is not None else GeneratorConfig()
        self.config.validate()
        self.table = table if table is not None else load_wyckoff_table()
        counts = np.asarray(self.statistics.space_group_counts, dtype=np.float64)
        groups = np.array(self.config.space_groups or range(1, 231), dtype=np.int64)
        frequency = counts[groups - 1] / max(counts[groups - 1].sum(), 1.0)
        floor = self.config.floor if counts[groups - 1].sum() > 0 else 1.0
        self.groups = groups
        self.group_probabilities = (1.0 - floor) * frequency + floor / len(groups)
        radii = atomic_radii()
        names = sorted(self.statistics.element_counts)
        self.elements = np.array(names)
        weights = np.array([self.statistics.element_counts[e] for e in names], dtype=np.float64)
        self.element_probabilities = weights / weights.sum()
        self.element_radii = np.array([radii[e] for e in names])
        joint = np.asarray(self.statistics.orbit_element_counts, dtype=np.float64) + 1e-3
        joint[np.arange(MAX_ORBITS)[:, None] < np.arange(MAX_ELEMENTS)[None, :]] = (
            0.0  # elements <= orbits
        )
        self.orbit_element_probabilities = (joint / joint.sum()).ravel()
        self.group_sites = tuple(self._group_sites(n) for n in range(1, 231))

    def _group_sites(self, space_group: int) -> GroupSites:
        """The :class:`GroupSites` of one group."""
        positions = self.table.positions(space_group)
        return GroupSites(
            positions,
            self._position_weights(space_group, positions),
            np.array([p.multiplicity for p in positions], dtype=np.int64),
            np.array([p.dof == 0 for p in positions], dtype=bool),
        )

    def space_group_prior(self) -> np.ndarray:
        """(230,) probability of each group label in the generated stream."""
        prior = np.zeros(230)
        prior[self.groups - 1] = self.group_probabilities
        return prior

    def _position_weights(
        self, space_group: int, positions: tuple[WyckoffPosition, ...]
    ) -> np.ndarray:
        """Occupation frequency of each Wyckoff position of a group, with pseudo-counts.

        weight = fitted count + prior, the prior being GENERAL_PRIOR for the general position,
        FREE_PRIOR for special positions with free coordinates and FIXED_PRIOR for fixed ones:
        groups rare in the corpus then lean on general positions, which keep their symmetry.
        """
        counts = self.statistics.wyckoff_counts.get(str(space_group), {})
        prior = [
            GENERAL_PRIOR if k == 0 else (FREE_PRIOR if p.dof > 0 else FIXED_PRIOR)
            for k, p in enumerate(positions)
        ]
        weights = np.array(
            [counts.get(p.letter, 0) + w for p, w in zip(positions, prior, strict=True)]
        )
        return weights / weights.sum()

    def _draw_sites(
        self, space_group: int, n_orbits: int, rng: np.random.Generator
    ) -> list[WyckoffPosition]:
        """Wyckoff positions for up to ``n_orbits`` orbits within the atom budget."""
        sites = self.group_sites[space_group - 1]
        positions = sites.positions
        chosen: list[WyckoffPosition] = []
        used = np.zeros(len(positions), dtype=bool)
        atoms = 0
        # Groups whose general position alone exceeds max_atoms (F- and I-centred cubic) keep
        # room for one general orbit: their special positions alone often have more symmetry.
        budget = max(self.config.max_atoms, positions[0].multiplicity)
        for _ in range(n_orbits):
            allowed = (sites.multiplicities + atoms <= budget) & ~(sites.fixed & used)
            if not allowed.any():
                break
            w = sites.weights * allowed
            k = draw_index(rng, w)
            chosen.append(positions[k])
            atoms += positions[k].multiplicity
            used[k] = True
        return chosen

    def _draw_cell(
        self, space_group: int, atomic_volume: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Cell rows of the family's shape with V = k * atomic_volume, ln k ~ N(mean, std)."""
        family = crystal_family(space_group)
        shapes = self.statistics.cell_shapes[family]
        ratio_b, ratio_c, alpha, beta, gamma = shapes[int(rng.integers(len(shapes)))]
        if family == "cubic":
            ratio_b, ratio_c = 1.0, 1.0
        elif family in ("tetragonal", "hexagonal"):
            ratio_b = 1.0
        mean, std = self.statistics.volume_ratio_log
        volume = atomic_volume * math.exp(rng.normal(mean, std))
        unit = lattice_from_parameters(np.array([1.0, ratio_b, ratio_c, alpha, beta, gamma]))
        scale = (volume / abs(float(np.linalg.det(unit)))) ** (1.0 / 3.0)
        return unit * scale

    def sample(self, rng: np.random.Generator) -> SyntheticCrystal:
        """One crystal (retries until the distance check passes).

        Raises:
            StructureError: no valid crystal after ``attempts`` draws of everything.
        """
        space_group = int(rng.choice(self.groups, p=self.group_probabilities))
        for _ in range(self.config.attempts):
            crystal = self._try_sample(space_group, rng)
            if crystal is not None:
                return crystal
        raise StructureError(
            f"space group {space_group}: no crystal after {self.config.attempts} draws"
        )

    def sample_group(self, space_group: int, rng: np.random.Generator) -> SyntheticCrystal:
        """One crystal of a given group (see :meth:`sample`)."""
        if not 1 <= int(space_group) <= 230:
            raise ValueError(f"space group must be in 1-230, got {space_group}")
        for _ in range(self.config.attempts):
            crystal = self._try_sample(int(space_group), rng)
            if crystal is not None:
                return crystal
        raise StructureError(
            f"space group {space_group}: no crystal after {self.config.attempts} draws"
        )

    def _try_sample(self, space_group: int, rng: np.random.Generator) -> SyntheticCrystal | None:
        """One draw of sites, elements and cell, with coordinates from :meth:`_place_atoms`;
        None when the atoms overlap in every draw of the coordinates."""
        pair = draw_index(rng, self.orbit_element_probabilities)
        n_orbits, n_elements = pair // MAX_ELEMENTS + 1, pair % MAX_ELEMENTS + 1
        sites = self._draw_sites(space_group, n_orbits, rng)
        if not sites:
            return None
        sites_general_letter = self.group_sites[space_group - 1].positions[0].letter
        n_elements = min(n_elements, len(sites), len(self.elements))
        picked = draw_distinct(rng, self.element_probabilities, n_elements)
        owner = np.concatenate(
            [np.arange(n_elements), rng.integers(n_elements, size=len(sites) - n_elements)]
        )
        rng.shuffle(owner)
        site_of_atom = np.repeat(np.arange(len(sites)), [site.multiplicity for site in sites])
        element_of_atom = picked[owner[site_of_atom]]
        radii = self.element_radii[element_of_atom]
        atomic_volume = float(np.sum((4.0 / 3.0) * math.pi * radii**3))
        placed = self._place_atoms(
            sites, self._draw_cell(space_group, atomic_volume, rng), radii, rng
        )
        if placed is None:
            return None
        frac, lattice = placed
        n = len(frac)
        crystal = Crystal(
            lattice=lattice,
            frac_coords=frac,
            elements=tuple(str(e) for e in self.elements[element_of_atom]),
            occupancies=np.ones(n),
            b_iso=np.zeros(n),
            name=f"synthetic-sg{space_group}",
        )
        wyckoffs = tuple(f"{s.multiplicity}{s.letter}" for s in sites)
        general = any(site.letter == sites_general_letter for site in sites)
        return SyntheticCrystal(
            crystal, space_group, self.table.group_operations(space_group), wyckoffs, general
        )

    def _place_atoms(
        self,
        sites: list[WyckoffPosition],
        lattice: np.ndarray,
        radii: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(fractional coordinates (n, 3), cell rows in Angstrom) with the closest contact
        d_ij >= ``min_distance_ratio`` (r_i + r_j); None after ``coordinate_draws`` draws.

        Each draw puts uniform free coordinates on every site; when the closest contact ratio c
        is short, the cell is scaled by min_distance_ratio / c if that is at most
        ``max_expansion``, otherwise the coordinates are drawn again.
        """
        for _ in range(self.config.coordinate_draws):
            frac = np.concatenate([site.orbit(rng.random(3)) for site in sites])
            contact = closest_contact_ratio(frac, lattice, radii)
            if contact >= self.config.min_distance_ratio:
                return frac, lattice
            expansion = self.config.min_distance_ratio / max(contact, 1e-9)
            if expansion <= self.config.max_expansion:
                return frac, lattice * expansion
        return None


def closest_contact_ratio(frac: np.ndarray, lattice: np.ndarray, radii: np.ndarray) -> float:
    """min over atom pairs of d_ij / (r_i + r_j) under the minimum-image convention.

    d_ij = |(x_j - x_i - round(x_j - x_i)) A| in Angstrom (A: cell rows). For the cells drawn
    here (standard settings, angles 60-120 degrees) this is the nearest image, or within a few
    percent of it. Infinite for a single atom.
    """
    n = len(frac)
    if n < 2:
        return math.inf
    delta = frac[None, :, :] - frac[:, None, :]
    delta -= np.rint(delta)
    cart = delta.reshape(-1, 3) @ lattice
    dist = np.sqrt(np.einsum("ij,ij->i", cart, cart)).reshape(n, n)
    dist[np.diag_indices(n)] = np.inf
    return float((dist / (radii[:, None] + radii[None, :])).min())
