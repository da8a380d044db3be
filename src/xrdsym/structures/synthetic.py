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
   just enough (at most ``max_expansion`` in length), else the draw is rejected.

The label is the requested group. A crystal can have more symmetry by accident (atoms only on
special positions, a metrically higher cell); :func:`accidental_symmetry_rate` measures it with
spglib, and ``verify=True`` rejects such crystals in the stream.

The statistics (:class:`SyntheticStatistics`) are fitted by :func:`fit_statistics` from the
training part of a split only and saved as versioned JSON; the package ships one fitted on the
Materials Project corpus (``data/synthetic_statistics.json``).
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import StructureError
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.prototype import Prototype, orbit_labels, species_parts
from xrdsym.structures.wyckoff import WyckoffPosition, WyckoffTable, load_wyckoff_table

STATISTICS_FORMAT = "xrdsym-synthetic-statistics"
STATISTICS_VERSION = 1
STATISTICS_FILE = "synthetic_statistics.json"

#: Crystal families by the lowest space-group number of each (trigonal and hexagonal groups
#: share hexagonal axes; rhombohedral groups are on hexagonal axes too).
FAMILY_STARTS = (
    ("triclinic", 1),
    ("monoclinic", 3),
    ("orthorhombic", 16),
    ("tetragonal", 75),
    ("hexagonal", 143),
    ("cubic", 195),
)

#: Cell shapes kept per family in a statistics file (an empirical sample).
MAX_SHAPES_PER_FAMILY = 2000

#: Pseudo-counts added to the fitted Wyckoff occupation of every group (see
#: ``SyntheticGenerator._position_weights``).
GENERAL_PRIOR = 4.0
FREE_PRIOR = 1.0
FIXED_PRIOR = 0.5

#: Largest number of orbits and of distinct elements drawn.
MAX_ORBITS = 12
MAX_ELEMENTS = 6


def crystal_family(space_group: int) -> str:
    """Crystal family of a group: triclinic, monoclinic, orthorhombic, tetragonal, hexagonal
    (trigonal and hexagonal groups, 143-194) or cubic."""
    name = FAMILY_STARTS[0][0]
    for family, start in FAMILY_STARTS:
        if space_group >= start:
            name = family
    return name


@dataclass(frozen=True)
class SyntheticStatistics:
    """Sampling distributions of the generator, fitted on real crystals.

    Attributes:
        space_group_counts: (230,) structures per space group.
        wyckoff_counts: per group number (str key), letter -> number of occupied orbits.
        orbit_element_counts: (MAX_ORBITS, MAX_ELEMENTS) structures with i + 1 orbits and
            j + 1 distinct elements.
        element_counts: element -> number of orbits it occupies.
        volume_ratio_log: (mean, std) of ln(volume per atom / mean atomic volume (4/3) pi r^3).
        cell_shapes: family -> list of (b/a, c/a, alpha, beta, gamma).
        source: what the statistics were fitted on (dataset, split, part, count).
    """

    space_group_counts: tuple[int, ...]
    wyckoff_counts: dict[str, dict[str, int]]
    orbit_element_counts: tuple[tuple[int, ...], ...]
    element_counts: dict[str, int]
    volume_ratio_log: tuple[float, float]
    cell_shapes: dict[str, list[tuple[float, float, float, float, float]]]
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON document (format name and version first)."""
        return {
            "format": STATISTICS_FORMAT,
            "version": STATISTICS_VERSION,
            "source": self.source,
            "space_group_counts": list(self.space_group_counts),
            "wyckoff_counts": self.wyckoff_counts,
            "orbit_element_counts": [list(row) for row in self.orbit_element_counts],
            "element_counts": self.element_counts,
            "volume_ratio_log": list(self.volume_ratio_log),
            "cell_shapes": {k: [list(s) for s in v] for k, v in self.cell_shapes.items()},
        }

    def save(self, path: str | Path) -> Path:
        """Write the statistics as JSON."""
        out = Path(path)
        out.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")
        return out


def statistics_from_json(document: dict[str, Any], name: str = "statistics") -> SyntheticStatistics:
    """Parse and check a statistics document.

    Raises:
        StructureError: wrong format name or version, or a missing or malformed field.
    """
    if document.get("format") != STATISTICS_FORMAT:
        raise StructureError(
            f"{name}: not a synthetic-statistics file (format {document.get('format')!r})"
        )
    if document.get("version") != STATISTICS_VERSION:
        raise StructureError(
            f"{name}: statistics version {document.get('version')!r}, expected {STATISTICS_VERSION}"
        )
    try:
        counts = tuple(int(c) for c in document["space_group_counts"])
        orbit_elements = tuple(
            tuple(int(c) for c in row) for row in document["orbit_element_counts"]
        )
        shapes = {
            str(k): [tuple(float(x) for x in s) for s in v]
            for k, v in document["cell_shapes"].items()
        }
        stats = SyntheticStatistics(
            space_group_counts=counts,
            wyckoff_counts={
                str(g): {str(k): int(v) for k, v in c.items()}
                for g, c in document["wyckoff_counts"].items()
            },
            orbit_element_counts=orbit_elements,
            element_counts={str(k): int(v) for k, v in document["element_counts"].items()},
            volume_ratio_log=(
                float(document["volume_ratio_log"][0]),
                float(document["volume_ratio_log"][1]),
            ),
            cell_shapes=shapes,  # type: ignore[arg-type]
            source=dict(document.get("source", {})),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StructureError(
            f"{name}: malformed statistics ({type(exc).__name__}: {exc})"
        ) from None
    if len(counts) != 230 or sum(counts) <= 0:
        raise StructureError(f"{name}: space_group_counts must hold 230 counts, not all zero")
    if len(orbit_elements) != MAX_ORBITS or any(len(r) != MAX_ELEMENTS for r in orbit_elements):
        raise StructureError(f"{name}: orbit_element_counts must be {MAX_ORBITS} x {MAX_ELEMENTS}")
    missing = [family for family, _ in FAMILY_STARTS if not shapes.get(family)]
    if missing:
        raise StructureError(f"{name}: no cell shapes for {', '.join(missing)}")
    unknown = [e for e in stats.element_counts if e not in atomic_radii()]
    if unknown or not stats.element_counts:
        raise StructureError(f"{name}: elements without a radius or none at all: {unknown}")
    return stats


def load_statistics(path: str | Path | None = None) -> SyntheticStatistics:
    """Statistics from a JSON file, or the shipped ones when ``path`` is None.

    Raises:
        StructureError: the file is missing, not JSON, or not a valid statistics document.
    """
    if path is None:
        return _shipped_statistics()
    source = Path(path)
    try:
        document = json.loads(source.read_text())
    except OSError as exc:
        raise StructureError(f"{source}: cannot read statistics ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StructureError(f"{source}: not a JSON statistics file ({exc})") from None
    if not isinstance(document, dict):
        raise StructureError(f"{source}: not a synthetic-statistics file")
    return statistics_from_json(document, str(source))


@functools.lru_cache(maxsize=1)
def _shipped_statistics() -> SyntheticStatistics:
    """The packaged statistics (parsed once per process)."""
    text = (resources.files("xrdsym.structures") / "data" / STATISTICS_FILE).read_text()
    return statistics_from_json(json.loads(text), STATISTICS_FILE)


@functools.lru_cache(maxsize=1)
def atomic_radii() -> dict[str, float]:
    """Element -> atomic radius in Angstrom (pymatgen), elements H-Bi without noble gases."""
    from pymatgen.core.periodic_table import Element

    radii = {}
    for z in range(1, 84):
        element = Element.from_Z(z)
        if element.atomic_radius is not None and not element.is_noble_gas:
            radii[element.symbol] = float(element.atomic_radius)
    return radii


# ----------------------------------------------------------------------------------------------
# Fitting.


def _shape(parameters: np.ndarray) -> tuple[float, float, float, float, float]:
    """(b/a, c/a, alpha, beta, gamma) of cell parameters (a, b, c, alpha, beta, gamma)."""
    a, b, c, alpha, beta, gamma = (float(x) for x in parameters)
    return (b / a, c / a, alpha, beta, gamma)


def fit_statistics(
    prototypes: Iterable[Prototype],
    wyckoff_letters: Iterable[tuple[str, ...]],
    seed: int = 0,
    source: dict[str, Any] | None = None,
) -> SyntheticStatistics:
    """Fit the sampling distributions on real structures (the training part of a split only).

    Args:
        prototypes: symmetrised conventional cells of the structures.
        wyckoff_letters: the Wyckoff letter of each orbit of each structure, in the order of
            the orbits' first atoms (:func:`prototype_wyckoff_letters`).
        seed: seed of the subsample of cell shapes kept per family.
        source: description of the data, stored in the file.
    """
    from xrdsym.structures.perturb import cell_parameters

    radii = atomic_radii()
    sg_counts = np.zeros(230, dtype=np.int64)
    wyckoff: dict[str, Counter[str]] = {}
    orbit_elements = np.zeros((MAX_ORBITS, MAX_ELEMENTS), dtype=np.int64)
    elements: Counter[str] = Counter()
    log_ratios: list[float] = []
    shapes: dict[str, list[tuple[float, float, float, float, float]]] = {}
    for prototype, letters in zip(prototypes, wyckoff_letters, strict=True):
        group = prototype.space_group
        sg_counts[group - 1] += 1
        wyckoff.setdefault(str(group), Counter()).update(letters)
        labels = orbit_labels(prototype)
        representatives = np.unique(labels)
        symbols = {e for s in prototype.species for e, _ in species_parts(s)}
        n_orbits = min(len(representatives), MAX_ORBITS)
        orbit_elements[n_orbits - 1, min(len(symbols), MAX_ELEMENTS) - 1] += 1
        for r in representatives:
            elements.update(e for e, _ in species_parts(prototype.species[r]) if e in radii)
        atomic = [
            occ * (4.0 / 3.0) * math.pi * radii[e] ** 3
            for s in prototype.species
            for e, occ in species_parts(s)
            if e in radii
        ]
        if atomic:
            volume = abs(float(np.linalg.det(prototype.lattice)))
            log_ratios.append(math.log(volume / sum(atomic)))
        shapes.setdefault(crystal_family(group), []).append(
            _shape(cell_parameters(prototype.lattice))
        )
    rng = np.random.default_rng(seed)
    kept = {}
    for family, items in shapes.items():
        if len(items) > MAX_SHAPES_PER_FAMILY:
            chosen = rng.choice(len(items), MAX_SHAPES_PER_FAMILY, replace=False)
            items = [items[i] for i in np.sort(chosen)]
        kept[family] = [tuple(round(x, 5) for x in s) for s in items]
    for family, _ in FAMILY_STARTS:  # a family absent from the data: its ideal shape
        kept.setdefault(family, [_ideal_shape(family)])
    ratios = np.asarray(log_ratios) if log_ratios else np.zeros(1)
    return SyntheticStatistics(
        space_group_counts=tuple(int(c) for c in sg_counts),
        wyckoff_counts={
            g: dict(sorted(c.items())) for g, c in sorted(wyckoff.items(), key=lambda i: int(i[0]))
        },
        orbit_element_counts=tuple(tuple(int(c) for c in row) for row in orbit_elements),
        element_counts=dict(sorted(elements.items())),
        volume_ratio_log=(float(ratios.mean()), float(ratios.std())),
        cell_shapes=kept,  # type: ignore[arg-type]
        source=dict(source or {}),
    )


def _ideal_shape(family: str) -> tuple[float, float, float, float, float]:
    """A fallback cell shape of a family: equal lengths, its conventional angles."""
    if family == "hexagonal":
        return (1.0, 1.6, 90.0, 90.0, 120.0)
    if family == "monoclinic":
        return (1.1, 1.2, 90.0, 100.0, 90.0)
    if family == "triclinic":
        return (1.1, 1.2, 80.0, 85.0, 75.0)
    return (1.0, 1.0, 90.0, 90.0, 90.0)


def prototype_wyckoff_letters(prototype: Prototype, symprec: float = 1e-3) -> tuple[str, ...]:
    """Wyckoff letters of a prototype's orbits (spglib on its idealized cell)."""
    import warnings

    import spglib

    labels = orbit_labels(prototype)
    _, numbers = np.unique(np.asarray(prototype.species), return_inverse=True)
    cell = (prototype.lattice.tolist(), prototype.positions.tolist(), (numbers + 1).tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise StructureError(f"{prototype.name}: spglib failed on the stored cell")
    return tuple(str(dataset.wyckoffs[r]) for r in np.unique(labels))


# ----------------------------------------------------------------------------------------------
# Sampling.


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
        attempts: draws of positions before a crystal is given up and redrawn.
        space_groups: groups to draw from (None: all 230).
    """

    floor: float = 0.1
    max_atoms: int = 64
    min_distance_ratio: float = 0.6
    max_expansion: float = 1.5
    attempts: int = 50
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
        for group in self.space_groups or ():
            if not 1 <= int(group) <= 230:
                raise ValueError(f"space group must be in 1-230, got {group}")


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
        positions = self.table.positions(space_group)
        weights = self._position_weights(space_group, positions)
        chosen: list[WyckoffPosition] = []
        used_fixed: set[str] = set()
        atoms = 0
        # Groups whose general position alone exceeds max_atoms (F- and I-centred cubic) keep
        # room for one general orbit: their special positions alone often have more symmetry.
        budget = max(self.config.max_atoms, positions[0].multiplicity)
        for _ in range(n_orbits):
            allowed = np.array(
                [
                    p.multiplicity + atoms <= budget and not (p.dof == 0 and p.letter in used_fixed)
                    for p in positions
                ]
            )
            if not allowed.any():
                break
            w = weights * allowed
            site = positions[int(rng.choice(len(positions), p=w / w.sum()))]
            chosen.append(site)
            atoms += site.multiplicity
            if site.dof == 0:
                used_fixed.add(site.letter)
        return chosen

    def _draw_cell(
        self, space_group: int, atomic_volume: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Cell rows of the family's shape with V = k * atomic_volume, ln k ~ N(mean, std)."""
        from xrdsym.structures.perturb import lattice_from_parameters

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
        """One draw of sites, elements, coordinates and cell; None when atoms overlap."""
        pair = int(
            rng.choice(len(self.orbit_element_probabilities), p=self.orbit_element_probabilities)
        )
        n_orbits, n_elements = pair // MAX_ELEMENTS + 1, pair % MAX_ELEMENTS + 1
        sites = self._draw_sites(space_group, n_orbits, rng)
        if not sites:
            return None
        sites_general_letter = self.table.positions(space_group)[0].letter
        n_elements = min(n_elements, len(sites), len(self.elements))
        picked = rng.choice(
            len(self.elements), n_elements, replace=False, p=self.element_probabilities
        )
        owner = np.concatenate(
            [np.arange(n_elements), rng.integers(n_elements, size=len(sites) - n_elements)]
        )
        rng.shuffle(owner)
        coords = [site.orbit(rng.random(3)) for site in sites]
        site_of_atom = np.repeat(np.arange(len(sites)), [len(c) for c in coords])
        element_of_atom = picked[owner[site_of_atom]]
        radii = self.element_radii[element_of_atom]
        atomic_volume = float(np.sum((4.0 / 3.0) * math.pi * radii**3))
        lattice = self._draw_cell(space_group, atomic_volume, rng)
        frac = np.concatenate(coords)
        contact = closest_contact_ratio(frac, lattice, radii)
        if contact < self.config.min_distance_ratio:
            expansion = self.config.min_distance_ratio / max(contact, 1e-9)
            if expansion > self.config.max_expansion:
                return None
            lattice = lattice * expansion
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


def accidental_symmetry_rate(
    generator: SyntheticGenerator,
    space_groups: Iterable[int],
    per_group: int,
    seed: int = 0,
    symprec: float = 0.01,
) -> dict[int, tuple[int, int]]:
    """group -> (crystals drawn, crystals whose spglib group differs from the requested one)."""
    from xrdsym.structures.labelling import symmetry_dataset

    found = {}
    for group in space_groups:
        rng = np.random.default_rng([seed, int(group)])
        other = 0
        for _ in range(per_group):
            sample = generator.sample_group(int(group), rng)
            if int(symmetry_dataset(sample.crystal, symprec).number) != int(group):
                other += 1
        found[int(group)] = (per_group, other)
    return found


def spglib_agrees(sample: SyntheticCrystal, symprec: float = 0.01) -> bool:
    """True when spglib finds the requested group in the crystal."""
    from xrdsym.structures.labelling import symmetry_dataset

    try:
        return int(symmetry_dataset(sample.crystal, symprec).number) == sample.space_group
    except StructureError:
        return False
