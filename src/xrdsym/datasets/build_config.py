"""Settings of a dataset build (:class:`BuildConfig`) and their checks, each refusal naming the
setting."""

from __future__ import annotations

import math
from dataclasses import dataclass

from xrdsym.datasets.sources import BUILD_SOURCES
from xrdsym.errors import DatasetError
from xrdsym.patterns.scattering import POLARIZATIONS
from xrdsym.structures.tolerance import DEFAULT_SYMPREC, MAX_SYMPREC
from xrdsym.wavelengths import CU_KA1

#: Peaks are stored over a wider range than the model grid (10-110 deg) so that zero shifts,
#: sample displacement and range augmentation never move an unstored peak into view.
STORED_TWO_THETA_RANGE = (5.0, 115.0)


@dataclass(frozen=True)
class BuildConfig:
    """Settings of a dataset build (saved in ``manifest.json``).

    Attributes:
        cif_sources: CIF files, folders of CIFs or CSV tables with a ``cif`` column.
        generated_per_group: generated crystals requested per space group (0 for none).
        space_groups: groups to generate (default all 230).
        seed: seed of the generator draws and of the splits.
        symprec: spglib tolerance for the space-group label, Angstrom.
        wavelength: wavelength of the stored peak positions, Angstrom.
        polarization: Lorentz-polarization model (``graphite_monochromator`` or ``none``).
        shard_size: structures per shard (the unit of work and of resumption).
        two_theta_range: stored peak range, degrees.
        generator: build source of the requested crystals (``datasets.sources.BUILD_SOURCES``):
            ``pyxtal`` (``structures.generate``) or ``synthetic`` (``structures.synthetic``,
            fitted statistics, no symmetry search: hundreds of crystals per second per core,
            for stored sets of millions).
        synthetic_statistics: statistics file of the synthetic generator ("" for the shipped
            one).
    """

    cif_sources: tuple[str, ...] = ()
    generated_per_group: int = 0
    space_groups: tuple[int, ...] = tuple(range(1, 231))
    seed: int = 0
    symprec: float = DEFAULT_SYMPREC
    wavelength: float = CU_KA1
    polarization: str = "graphite_monochromator"
    shard_size: int = 250
    two_theta_range: tuple[float, float] = STORED_TWO_THETA_RANGE
    generator: str = "pyxtal"
    synthetic_statistics: str = ""

    def __post_init__(self) -> None:
        """Check every setting before any work (see :func:`check_build_config`)."""
        check_build_config(self)


#: Largest shard accepted (structures): a shard is held in a worker's memory and redone whole.
MAX_SHARD_SIZE = 100_000

#: Largest number of generated crystals requested per space group.
MAX_GENERATED_PER_GROUP = 1_000_000


#: Settings that ``xrdsym dataset build`` takes as options of the same name.
_CLI_SETTINGS = (
    "shard_size",
    "generated_per_group",
    "space_groups",
    "seed",
    "symprec",
    "generator",
)


def is_int(value: object) -> bool:
    """True for an int that is not a bool (bools are ints in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for a finite int or float that is not a bool."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def check_build_config(config: BuildConfig) -> None:
    """Refuse settings that cannot give a dataset, with the setting named.

    Raises:
        DatasetError: a count out of range (``shard_size`` 0, negative
            ``generated_per_group``), a space group outside 1-230, ``symprec`` outside
            (0, 1] Angstrom, a non-positive or non-finite wavelength, an empty or reversed
            2theta range, or an unknown polarization model.
    """

    def refuse(name: str, rule: str, value: object) -> None:
        flag = f" (--{name.replace('_', '-')})" if name in _CLI_SETTINGS else ""
        raise DatasetError(f"{name}{flag} must be {rule}, got {value!r}")

    if not is_int(config.shard_size) or not 1 <= config.shard_size <= MAX_SHARD_SIZE:
        refuse("shard_size", f"an integer from 1 to {MAX_SHARD_SIZE}", config.shard_size)
    if not is_int(config.generated_per_group) or not (
        0 <= config.generated_per_group <= MAX_GENERATED_PER_GROUP
    ):
        refuse(
            "generated_per_group",
            f"an integer from 0 to {MAX_GENERATED_PER_GROUP}",
            config.generated_per_group,
        )
    if not config.space_groups or not all(is_int(g) and 1 <= g <= 230 for g in config.space_groups):
        refuse("space_groups", "a non-empty list of numbers within 1-230", config.space_groups)
    if not is_int(config.seed) or config.seed < 0:
        refuse("seed", "an integer >= 0", config.seed)
    if not is_number(config.symprec) or not 0.0 < config.symprec <= MAX_SYMPREC:
        refuse("symprec", f"a number in (0, {MAX_SYMPREC:g}] Angstrom", config.symprec)
    if not is_number(config.wavelength) or config.wavelength <= 0.0:
        refuse("wavelength", "a positive number of Angstrom", config.wavelength)
    low, high = (tuple(config.two_theta_range) + (math.nan, math.nan))[:2]
    if len(config.two_theta_range) != 2 or not (
        is_number(low) and is_number(high) and 0.0 <= low < high <= 180.0
    ):
        refuse(
            "two_theta_range",
            "(low, high) degrees with 0 <= low < high <= 180",
            config.two_theta_range,
        )
    if config.polarization not in POLARIZATIONS:
        refuse("polarization", f"one of {POLARIZATIONS}", config.polarization)
    if not all(isinstance(source, str) and source for source in config.cif_sources):
        refuse("cif_sources", "a list of paths", config.cif_sources)
    if config.generator not in BUILD_SOURCES:
        refuse("generator", f"one of {BUILD_SOURCES}", config.generator)
