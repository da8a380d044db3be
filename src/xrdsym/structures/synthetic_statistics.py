"""Statistics of real crystals for the synthetic generator (:class:`SyntheticStatistics`):
fitted by :func:`fit_statistics` from the training part of a split, saved and loaded as
versioned JSON (the package ships one fitted on the Materials Project corpus,
``data/synthetic_statistics.json``). Sampling from them is :mod:`xrdsym.structures.synthetic`.
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
import spglib

from xrdsym.errors import StructureError
from xrdsym.structures.prototype import Prototype, orbit_labels, species_parts
from xrdsym.structures.symmetry import cell_parameters, run_spglib

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
    # deferred until called: imports pymatgen
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
    """Wyckoff letters of a prototype's orbits (spglib on its idealized cell).

    Raises:
        StructureError: spglib cannot analyse the stored cell.
    """
    labels = orbit_labels(prototype)
    _, numbers = np.unique(np.asarray(prototype.species), return_inverse=True)
    cell = (prototype.lattice.tolist(), prototype.positions.tolist(), (numbers + 1).tolist())
    name = f"{prototype.name} (stored cell)"
    dataset = run_spglib(spglib.get_symmetry_dataset, cell, name, symprec=symprec)
    return tuple(str(dataset.wyckoffs[r]) for r in np.unique(labels))


# ----------------------------------------------------------------------------------------------
# Sampling.
