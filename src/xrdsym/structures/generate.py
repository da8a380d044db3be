"""Random crystals of a requested space group, generated with pyxtal.

A composition of 1-3 common elements is drawn so that the number of atoms of each element is
a sum of Wyckoff multiplicities of the group (conventional cell, at most ~60 atoms); pyxtal then
places the atoms on Wyckoff positions with a cell volume from atomic radii (scaled by
``volume_factor``) and rejects placements with too-short interatomic distances. The symmetry
label of a generated crystal is what spglib finds in it, which can be higher than requested
(atoms on special positions can add symmetry); the requested group is kept in the metadata.
"""

from __future__ import annotations

import contextlib
import io
import math
import signal
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from types import FrameType

import numpy as np
from pyxtal import pyxtal
from pyxtal.symmetry import Group

from xrdsym.errors import StructureError
from xrdsym.structures.crystal import Crystal, crystal_from_pymatgen
from xrdsym.structures.labelling import (
    DEFAULT_SYMPREC,
    Rejected,
    StructureRecord,
    label_crystal,
)

#: Cations drawn for generated crystals: common metals and semimetals of inorganic solids.
CATIONS = (
    "Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "B", "Al", "Ga", "In", "Si",
    "Ge", "Sn", "Pb", "Sb", "Bi", "Sc", "Y", "La", "Ce", "Nd", "Ti", "Zr", "Hf", "V", "Nb",
    "Ta", "Cr", "Mo", "W", "Mn", "Fe", "Co", "Ni", "Cu", "Ag", "Au", "Zn", "Cd", "Pd", "Pt",
)  # fmt: skip

#: Anions drawn as the last element of multi-element crystals.
ANIONS = ("O", "S", "Se", "Te", "N", "P", "As", "F", "Cl", "Br", "I", "C", "H")

#: Probabilities of 1, 2 and 3 distinct elements (binary and ternary compounds dominate the
#: inorganic databases; elements are rarer).
ELEMENT_COUNT_PROBABILITIES = (0.15, 0.5, 0.35)

#: Largest number of atoms in the conventional cell: keeps the cells close to the corpus
#: (1-52 atoms) and the simulation cheap.
MAX_ATOMS_PER_CELL = 60

#: Each element occupies 1 or up to this many Wyckoff orbits.
MAX_ORBITS_PER_ELEMENT = 2

#: Relative draw weights of the general position and of special positions with free
#: coordinates (fixed special positions weigh 1): a compromise between reaching the requested
#: group (general positions) and realistic high-symmetry sites (special positions).
GENERAL_ORBIT_WEIGHT = 4.0
FREE_ORBIT_WEIGHT = 2.0

#: pyxtal's volume factor: cell volume = factor * sum of atomic volumes from covalent radii.
DEFAULT_VOLUME_FACTOR = 1.1

#: Wall-clock bound of one pyxtal attempt in seconds; 0 means none. pyxtal's own loops are
#: bounded by counts (lattices x coordinate sets x Wyckoff draws), so without a clock the
#: crystals depend on the seed alone and a build gives the same crystals on any machine
#: (``benchmarks/bench_build_attempts.py`` times the attempts of a build). A positive bound,
#: enforced in the main thread only (SIGALRM), caps slow attempts at the price of results that
#: depend on the machine's speed.
DEFAULT_ATTEMPT_SECONDS = 0.0

#: Draws of a composition before a generation attempt gives up on finding a compatible one.
COMPOSITION_DRAWS = 20


class _AttemptTimeoutError(Exception):
    """Raised by the SIGALRM handler when one pyxtal attempt runs over its time."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_AttemptTimeoutError` after ``seconds`` (no limit outside the main thread or
    where SIGALRM does not exist)."""
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _expire(signum: int, frame: FrameType | None) -> None:
        raise _AttemptTimeoutError

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wyckoff_multiplicities(space_group: int) -> list[int]:
    """Multiplicities (conventional cell) of the Wyckoff positions of a group, from pyxtal."""
    return [int(wp.multiplicity) for wp in Group(space_group).Wyckoff_positions]


def random_composition(
    space_group: int, rng: np.random.Generator, max_atoms: int = MAX_ATOMS_PER_CELL
) -> tuple[list[str], list[int]] | None:
    """Elements and atom counts per conventional cell compatible with the group, or ``None``.

    Each count is the sum of 1..:data:`MAX_ORBITS_PER_ELEMENT` multiplicities drawn from the
    group's Wyckoff positions; the total is at most ``max_atoms`` and pyxtal's
    ``Group.check_compatible`` must accept the counts.
    """
    group = Group(space_group)
    multiplicities, weights = _orbit_choices(group, max_atoms)
    if not multiplicities:
        return None
    for _ in range(COMPOSITION_DRAWS):
        n_elements = int(rng.choice(3, p=ELEMENT_COUNT_PROBABILITIES)) + 1
        elements = _random_elements(n_elements, rng)
        counts = [
            int(
                sum(
                    rng.choice(
                        multiplicities,
                        size=int(rng.integers(1, MAX_ORBITS_PER_ELEMENT + 1)),
                        p=weights,
                    )
                )
            )
            for _ in elements
        ]
        if sum(counts) > max_atoms:
            continue
        compatible, _ = group.check_compatible(counts)
        if compatible:
            return elements, counts
    return None


def _orbit_choices(group: Group, max_atoms: int) -> tuple[list[int], np.ndarray]:
    """Multiplicities of the Wyckoff positions up to ``max_atoms`` and their draw
    probabilities: positions with free coordinates are favoured (:data:`FREE_ORBIT_WEIGHT`,
    :data:`GENERAL_ORBIT_WEIGHT`) because atoms on fixed special positions alone often have
    a higher symmetry than the group requested."""
    multiplicities: list[int] = []
    weights: list[float] = []
    for index, wp in enumerate(group.Wyckoff_positions):
        if wp.multiplicity > max_atoms:
            continue
        multiplicities.append(int(wp.multiplicity))
        if index == 0:
            weights.append(GENERAL_ORBIT_WEIGHT)
        else:
            weights.append(FREE_ORBIT_WEIGHT if wp.get_dof() > 0 else 1.0)
    total = sum(weights)
    return multiplicities, np.array(weights) / total if total else np.array([])


def _random_elements(n_elements: int, rng: np.random.Generator) -> list[str]:
    """``n_elements`` distinct elements: cations, plus one anion when there are several."""
    if n_elements == 1:
        return [str(rng.choice(CATIONS))]
    cations = [str(x) for x in rng.choice(CATIONS, size=n_elements - 1, replace=False)]
    return cations + [str(rng.choice(ANIONS))]


def generate_crystal(
    space_group: int,
    rng: np.random.Generator,
    max_attempts: int = 10,
    volume_factor: float = DEFAULT_VOLUME_FACTOR,
    max_atoms: int = MAX_ATOMS_PER_CELL,
    attempt_seconds: float = DEFAULT_ATTEMPT_SECONDS,
) -> Crystal | None:
    """A random crystal built by pyxtal in ``space_group`` (1-230), or ``None`` on failure.

    Every attempt draws a new composition (:func:`random_composition`) and a pyxtal seed from
    ``rng``; an attempt fails when pyxtal cannot place the atoms within its distance checks
    or, when ``attempt_seconds`` is positive, within that many seconds (which makes the result
    depend on the machine's speed; the default 0 sets no limit). The crystal is named
    ``"<formula>-sg<n>"`` and its metadata holds ``requested_space_group`` and ``generator``.
    """
    if not 1 <= space_group <= 230:
        raise ValueError(f"space group number must be 1-230, got {space_group}")
    for _ in range(max_attempts):
        composition = random_composition(space_group, rng, max_atoms)
        if composition is None:
            continue
        seed = int(rng.integers(2**31 - 1))
        crystal = _pyxtal_attempt(space_group, *composition, volume_factor, seed, attempt_seconds)
        if crystal is not None:
            return crystal
    return None


def _pyxtal_attempt(
    space_group: int,
    elements: list[str],
    counts: list[int],
    volume_factor: float,
    seed: int,
    seconds: float,
) -> Crystal | None:
    """One pyxtal ``from_random`` call; ``None`` when it fails or runs out of time."""
    generator = pyxtal()
    try:
        with (
            _time_limit(seconds),
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            generator.from_random(
                3, space_group, elements, counts, factor=volume_factor, random_state=seed
            )
            if not generator.valid:
                return None
            structure = generator.to_pymatgen()
    except _AttemptTimeoutError:
        return None
    except Exception:  # pyxtal raises bare RuntimeError/ValueError subclasses on failures
        return None
    name = f"{structure.composition.reduced_formula}-sg{space_group}"
    crystal = crystal_from_pymatgen(structure, name)
    metadata = {"requested_space_group": str(space_group), "generator": "pyxtal"}
    return replace(crystal, metadata=metadata)


def _plan(space_groups: Iterable[int], per_group: int | Mapping[int, int]) -> list[tuple[int, int]]:
    """(space group, number of crystals) pairs: the same number for every group (uniform) or
    the numbers given per group (e.g. matched to the counts of a corpus)."""
    if isinstance(per_group, Mapping):
        return [(int(sg), int(per_group.get(sg, 0))) for sg in space_groups]
    return [(int(sg), int(per_group)) for sg in space_groups]


def generate_records(
    space_groups: Iterable[int],
    per_group: int | Mapping[int, int],
    rng: np.random.Generator,
    symprec: float = DEFAULT_SYMPREC,
    max_attempts: int = 10,
    volume_factor: float = DEFAULT_VOLUME_FACTOR,
    max_atoms: int = MAX_ATOMS_PER_CELL,
    attempt_seconds: float = DEFAULT_ATTEMPT_SECONDS,
    require_requested: bool = False,
) -> Iterator[StructureRecord | Rejected]:
    """Generated crystals labelled by spglib, ``per_group`` for each group in turn.

    ``per_group`` is one number for all groups (uniform distribution) or a mapping
    group -> number (distribution matched to given counts). Ids are ``gen-<sg>-<k>`` with
    ``sg`` the requested group; the label is spglib's at ``symprec`` and can differ from the
    request (``crystal.metadata["requested_space_group"]``), unless ``require_requested``:
    then up to ``max_attempts`` crystals are generated until spglib finds the requested group.
    A crystal that cannot be made yields :class:`Rejected` ("generation failed: ...").
    The other options are those of :func:`generate_crystal`.
    """
    tries = max_attempts if require_requested else 1
    for space_group, count in _plan(space_groups, per_group):
        width = max(1, math.ceil(math.log10(count + 1)))
        for k in range(count):
            structure_id = f"gen-{space_group:03d}-{k:0{width}d}"
            outcome: StructureRecord | Rejected = Rejected(structure_id, "pyxtal", "")
            for _ in range(tries):
                crystal = generate_crystal(
                    space_group, rng, max_attempts, volume_factor, max_atoms, attempt_seconds
                )
                outcome = _labelled_record(structure_id, space_group, crystal, symprec)
                if isinstance(outcome, StructureRecord) and (
                    not require_requested or outcome.label.space_group == space_group
                ):
                    break
            else:
                if isinstance(outcome, StructureRecord):
                    found = outcome.label.space_group
                    reason = f"generation failed: spglib found {found}, not {space_group}"
                    outcome = Rejected(structure_id, "pyxtal", reason)
            yield outcome


def _labelled_record(
    structure_id: str, space_group: int, crystal: Crystal | None, symprec: float
) -> StructureRecord | Rejected:
    """The record of a generated crystal with its spglib label, or why there is none."""
    if crystal is None:
        reason = f"generation failed: pyxtal found no crystal in space group {space_group}"
        return Rejected(structure_id, "pyxtal", reason)
    crystal = replace(crystal, name=structure_id)
    try:
        label = label_crystal(crystal, symprec)
    except StructureError as exc:
        return Rejected(structure_id, "pyxtal", str(exc).split(": ", 1)[-1])
    return StructureRecord(structure_id, "pyxtal", crystal, label)
