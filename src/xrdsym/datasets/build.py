"""Build a peak-list dataset from CIF sources and generated crystals, in parallel shards.

The work is cut into shards of ``shard_size`` structures. Each shard is computed by a worker
(local processes by default, or a Dask cluster given its scheduler address) and written
atomically; a shard is finished work once the shard index lists it with its checksums, so an
interrupted build run again with the same settings and inputs computes only the missing (or
damaged) shards and gives the same dataset. Tasks are submitted through a bounded window, so
memory stays bounded whatever the corpus size. One build at a time writes to a folder (a lock
file), and local worker processes end with the build process however it ends (Linux).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import math
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from xrdsym.datasets.splits import make_splits
from xrdsym.datasets.store import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    REPORT_NAME,
    SHARD_DIR,
    SPLITS_NAME,
    ShardData,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_npz,
    damaged_shards,
    folder_lock,
    read_shard,
    read_shard_index,
    read_shards,
    remove_temporary_files,
    shard_checksums,
    write_shard,
    write_shard_index,
)
from xrdsym.errors import DatasetError, StructureError, XrdsymError
from xrdsym.patterns.grid import CU_KA1
from xrdsym.structures.crystal import Crystal

#: Peaks are stored over a wider range than the model grid (10-110 deg) so that zero shifts,
#: sample displacement and range augmentation never move an unstored peak into view.
STORED_TWO_THETA_RANGE = (5.0, 115.0)

#: Settings that must not change between an interrupted build and its resumption.
RESUME_KEYS = (
    "cif_sources",
    "generated_per_group",
    "space_groups",
    "seed",
    "symprec",
    "wavelength",
    "polarization",
    "shard_size",
    "two_theta_range",
    "generator",
    "synthetic_statistics",
)


#: Libraries whose version decides the labels, structure types, generated crystals and peak
#: lists of a build. Two builds with the same settings but other versions of these can differ
#: (a spglib or pyxtal release may find another group or Wyckoff set for a borderline
#: structure), so a build records them and is resumed only with the same versions.
BUILD_LIBRARIES = ("numpy", "spglib", "gemmi", "pymatgen", "pyxtal")


def library_versions() -> dict[str, str]:
    """Installed versions of BUILD_LIBRARIES and xrdsym ("missing" for one not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in (*BUILD_LIBRARIES, "xrdsym"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


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
        generator: generator of the requested crystals: ``pyxtal`` (``structures.generate``)
            or ``synthetic`` (``structures.synthetic``, fitted statistics, no symmetry search:
            hundreds of crystals per second per core, for stored sets of millions).
        synthetic_statistics: statistics file of the synthetic generator ("" for the shipped
            one).
    """

    cif_sources: tuple[str, ...] = ()
    generated_per_group: int = 0
    space_groups: tuple[int, ...] = tuple(range(1, 231))
    seed: int = 0
    symprec: float = 0.01
    wavelength: float = CU_KA1
    polarization: str = "graphite_monochromator"
    shard_size: int = 250
    two_theta_range: tuple[float, float] = STORED_TWO_THETA_RANGE
    generator: str = "pyxtal"
    synthetic_statistics: str = ""

    def __post_init__(self) -> None:
        """Check every setting before any work (see :func:`check_build_config`)."""
        check_build_config(self)


#: Generators of requested crystals (``BuildConfig.generator``).
GENERATORS = ("pyxtal", "synthetic")

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


def _is_int(value: object) -> bool:
    """True for an int that is not a bool (bools are ints in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
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
    from xrdsym.patterns.scattering import POLARIZATIONS
    from xrdsym.structures.labelling import MAX_SYMPREC

    def refuse(name: str, rule: str, value: object) -> None:
        flag = f" (--{name.replace('_', '-')})" if name in _CLI_SETTINGS else ""
        raise DatasetError(f"{name}{flag} must be {rule}, got {value!r}")

    if not _is_int(config.shard_size) or not 1 <= config.shard_size <= MAX_SHARD_SIZE:
        refuse("shard_size", f"an integer from 1 to {MAX_SHARD_SIZE}", config.shard_size)
    if not _is_int(config.generated_per_group) or not (
        0 <= config.generated_per_group <= MAX_GENERATED_PER_GROUP
    ):
        refuse(
            "generated_per_group",
            f"an integer from 0 to {MAX_GENERATED_PER_GROUP}",
            config.generated_per_group,
        )
    if not config.space_groups or not all(
        _is_int(g) and 1 <= g <= 230 for g in config.space_groups
    ):
        refuse("space_groups", "a non-empty list of numbers within 1-230", config.space_groups)
    if not _is_int(config.seed) or config.seed < 0:
        refuse("seed", "an integer >= 0", config.seed)
    if not _is_number(config.symprec) or not 0.0 < config.symprec <= MAX_SYMPREC:
        refuse("symprec", f"a number in (0, {MAX_SYMPREC:g}] Angstrom", config.symprec)
    if not _is_number(config.wavelength) or config.wavelength <= 0.0:
        refuse("wavelength", "a positive number of Angstrom", config.wavelength)
    low, high = (tuple(config.two_theta_range) + (math.nan, math.nan))[:2]
    if len(config.two_theta_range) != 2 or not (
        _is_number(low) and _is_number(high) and 0.0 <= low < high <= 180.0
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
    if config.generator not in GENERATORS:
        refuse("generator", f"one of {GENERATORS}", config.generator)


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: either CIF texts or generator requests.

    Attributes:
        name: shard file stem, unique and stable for the same build settings.
        source: where the structures come from (a path, or ``generated``).
        cif_items: (structure id, CIF text) pairs for a CIF shard.
        requested_groups: space groups to generate for a generated shard.
        seed: seed of the generator for this shard.
    """

    name: str
    source: str
    cif_items: tuple[tuple[str, str], ...] = ()
    requested_groups: tuple[int, ...] = ()
    seed: int = 0


@dataclass
class ShardResult:
    """What a finished shard reports back: counts, skipped structures with reasons, and the
    SHA-256 of the two files written (``sha256``, ``rejects_sha256``) for the shard index."""

    name: str
    accepted: int
    rejected: list[dict[str, str]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# The work of one shard (runs in a worker process).


def niggli_cell(crystal: Crystal) -> np.ndarray:
    """Niggli-reduced cell (a, b, c in Angstrom, alpha, beta, gamma in degrees), float32 (6,)."""
    import spglib

    reduced = spglib.niggli_reduce(crystal.lattice)
    lattice = np.asarray(reduced if reduced is not None else crystal.lattice)
    lengths = np.linalg.norm(lattice, axis=1)
    angles = [
        np.degrees(np.arccos(np.clip(lattice[j] @ lattice[k] / (lengths[j] * lengths[k]), -1, 1)))
        for j, k in ((1, 2), (0, 2), (0, 1))
    ]
    return np.array([*lengths, *angles], dtype=np.float32)


def dedupe_key(crystal: Crystal, space_group: int) -> str:
    """Reduced formula (occupancy-weighted) and space group, e.g. ``NaCl|225``."""
    from pymatgen.core import Composition

    amounts: dict[str, float] = {}
    for element, occupancy in zip(crystal.elements, crystal.occupancies, strict=True):
        amounts[element] = amounts.get(element, 0.0) + float(occupancy)
    return f"{Composition(dict(amounts)).reduced_formula}|{space_group}"


def structure_row(
    crystal: Crystal, structure_id: str, source: str, requested: int, config: BuildConfig
) -> dict[str, Any]:
    """Label one crystal and compute its peak list: one row of a shard."""
    from xrdsym.patterns.peaks import compute_peaks
    from xrdsym.structures.labelling import label_from_dataset, spglib_cell, symmetry_dataset
    from xrdsym.structures.prototype import prototype_from_dataset

    symmetry = symmetry_dataset(crystal, symprec=config.symprec)
    label = label_from_dataset(crystal, symmetry)
    prototype = prototype_from_dataset(symmetry, spglib_cell(crystal)[3], structure_id)
    peaks = compute_peaks(  # one spglib search serves the label and the absences
        crystal,
        wavelength=config.wavelength,
        two_theta_range=config.two_theta_range,
        polarization=config.polarization,
        symprec=config.symprec,
        operations=(np.asarray(symmetry.rotations), np.asarray(symmetry.translations)),
    )
    if len(peaks.two_theta) == 0:
        raise XrdsymError(f"{structure_id}: no reflection in {config.two_theta_range} deg")
    return {
        "id": structure_id,
        "source": source,
        "space_group": label.space_group,
        "requested": requested,
        "structure_type": label.structure_type,
        "dedupe_key": dedupe_key(crystal, label.space_group),
        "cell": niggli_cell(crystal),
        "two_theta": np.asarray(peaks.two_theta, dtype=np.float32),
        "intensity": np.asarray(peaks.intensity, dtype=np.float32),
        "hkl": np.asarray(peaks.hkl, dtype=np.int16).reshape(-1, 3),
        "multiplicity": np.asarray(peaks.multiplicity, dtype=np.int16),
        "proto_hall": prototype.hall_number,
        "proto_lattice": np.asarray(prototype.lattice, dtype=np.float64).reshape(9),
        "proto_positions": np.asarray(prototype.positions, dtype=np.float64).reshape(-1, 3),
        "proto_species": np.array(prototype.species, dtype=str),
    }


def rows_to_shard(rows: list[dict[str, Any]]) -> ShardData:
    """Pack shard rows into CSR arrays."""

    def offsets_of(key: str) -> np.ndarray:
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(r[key]) for r in rows])
        return offsets

    def peaks_of(key: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        if not rows:
            return np.zeros(shape, dtype=dtype)
        return np.concatenate([r[key] for r in rows]).astype(dtype)

    return ShardData(
        ids=np.array([r["id"] for r in rows], dtype=str),
        sources=np.array([r["source"] for r in rows], dtype=str),
        space_group=np.array([r["space_group"] for r in rows], dtype=np.int16),
        requested_space_group=np.array([r["requested"] for r in rows], dtype=np.int16),
        structure_type=np.array([r["structure_type"] for r in rows], dtype=str),
        dedupe_key=np.array([r["dedupe_key"] for r in rows], dtype=str),
        cell=np.array([r["cell"] for r in rows], dtype=np.float32).reshape(-1, 6),
        peak_offsets=offsets_of("two_theta"),
        two_theta=peaks_of("two_theta", np.float32, (0,)),
        intensity=peaks_of("intensity", np.float32, (0,)),
        hkl=peaks_of("hkl", np.int16, (0, 3)),
        multiplicity=peaks_of("multiplicity", np.int16, (0,)),
        proto_hall=np.array([r["proto_hall"] for r in rows], dtype=np.int16),
        proto_lattice=np.array([r["proto_lattice"] for r in rows], dtype=np.float64).reshape(-1, 9),
        proto_offsets=offsets_of("proto_species"),
        proto_positions=peaks_of("proto_positions", np.float64, (0, 3)),
        proto_species=peaks_of("proto_species", str, (0,)),
    )


def iter_task_crystals(
    task: ShardTask, config: BuildConfig | None = None
) -> Iterator[tuple[str, int, Crystal | str]]:
    """(structure id, requested group, crystal or reason it could not be made) of a task.

    Requested crystals come from ``config.generator`` (pyxtal by default).
    """
    from xrdsym.structures.reader import read_cif_text

    generate = crystal_generator(config if config is not None else BuildConfig())

    for structure_id, text in task.cif_items:
        try:
            yield structure_id, 0, read_cif_text(text, structure_id)
        except XrdsymError as exc:
            yield structure_id, 0, str(exc)
    rng = np.random.default_rng(task.seed)
    for position, group in enumerate(task.requested_groups):
        structure_id = f"{task.name}-{position:04d}-sg{group}"
        crystal = generate(group, rng)
        yield structure_id, group, crystal if crystal is not None else "generator gave up"


def crystal_generator(config: BuildConfig) -> Callable[[int, np.random.Generator], Crystal | None]:
    """``(space group, rng) -> crystal or None`` of the configured generator."""
    if config.generator == "pyxtal":
        from xrdsym.structures.generate import generate_crystal

        return generate_crystal
    from xrdsym.structures.synthetic import SyntheticGenerator, load_statistics

    synthetic = SyntheticGenerator(load_statistics(config.synthetic_statistics or None))

    def draw(group: int, rng: np.random.Generator) -> Crystal | None:
        try:
            return synthetic.sample_group(group, rng).crystal
        except StructureError:
            return None

    return draw


def build_shard(task: ShardTask, config: BuildConfig, shard_dir: Path) -> ShardResult:
    """Compute and write one shard; every structure that fails is skipped with its reason."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    for structure_id, requested, crystal in iter_task_crystals(task, config):
        if isinstance(crystal, str):
            rejected.append({"id": structure_id, "source": task.source, "reason": crystal})
            continue
        try:
            rows.append(structure_row(crystal, structure_id, task.source, requested, config))
        except Exception as exc:  # noqa: BLE001 - a batch skips and reports any bad structure
            reason = str(exc) if isinstance(exc, XrdsymError) else f"{type(exc).__name__}: {exc}"
            rejected.append({"id": structure_id, "source": task.source, "reason": reason})
    rejects_path = shard_dir / f"{task.name}.rejects.json"
    atomic_write_bytes(rejects_path, json.dumps(rejected).encode())
    write_shard(shard_dir / f"{task.name}.npz", rows_to_shard(rows))
    return ShardResult(task.name, len(rows), rejected, shard_checksums(shard_dir, task.name))


# ----------------------------------------------------------------------------------------------
# Planning and running the shards.


def plan_tasks(config: BuildConfig) -> Iterator[ShardTask]:
    """All shard tasks of a build, in a stable order, streamed (CIF texts are read lazily)."""
    from xrdsym.structures.reader import iter_cif_sources

    for source_index, source in enumerate(config.cif_sources):
        chunk: list[tuple[str, str]] = []
        chunk_index = 0
        for item in iter_cif_sources(source):
            chunk.append(item)
            if len(chunk) == config.shard_size:
                yield ShardTask(f"cif{source_index:02d}-{chunk_index:05d}", source, tuple(chunk))
                chunk, chunk_index = [], chunk_index + 1
        if chunk:
            yield ShardTask(f"cif{source_index:02d}-{chunk_index:05d}", source, tuple(chunk))
    requests = [g for g in config.space_groups for _ in range(config.generated_per_group)]
    seeds = np.random.SeedSequence(config.seed).spawn(max(1, len(requests)))
    for chunk_index, start in enumerate(range(0, len(requests), config.shard_size)):
        groups = tuple(requests[start : start + config.shard_size])
        seed = int(seeds[chunk_index].generate_state(1)[0])
        yield ShardTask(f"gen-{chunk_index:05d}", "generated", requested_groups=groups, seed=seed)


def count_tasks(config: BuildConfig) -> int:
    """Number of shard tasks :func:`plan_tasks` yields (the total of the progress bar)."""
    from xrdsym.structures.reader import count_sources

    per_source = (count_sources(source) for source in config.cif_sources)
    cif_shards = sum(-(-n // config.shard_size) for n in per_source)
    requests = len(config.space_groups) * config.generated_per_group
    return cif_shards + -(-requests // config.shard_size)


#: prctl option that sends a signal to a process when its parent ends (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this process with SIGTERM when its parent ends (Linux only).

    A build killed at any point (an OOM kill, ``kill -9``) then leaves no worker computing
    shards for nobody. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not permitted here: the worker still works, it only outlives a killed parent
    if os.getppid() != parent_pid:  # the parent ended before the signal was armed
        os._exit(1)


@contextmanager
def make_executor(workers: int, scheduler: str | None) -> Iterator[cf.Executor]:
    """Local worker processes, or a Dask cluster's executor when a scheduler address is given.

    Local workers end with this process (:func:`die_with_parent`). The Dask client is closed on
    exit, before the caller's cluster may shut down.
    """
    if not scheduler:
        with cf.ProcessPoolExecutor(
            max_workers=max(1, workers), initializer=die_with_parent, initargs=(os.getpid(),)
        ) as executor:
            yield executor
        return
    from distributed import Client

    with Client(scheduler) as client, client.get_executor() as executor:
        yield executor


def input_digest(source: str) -> str:
    """SHA-256 (hex) of the content of a CIF source: a file's bytes, or for a folder the
    relative path and bytes of every ``*.cif`` below it, in sorted order.

    Raises:
        DatasetError: the source does not exist or cannot be read.
    """
    path = Path(source)
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".cif")
            for file in files:
                digest.update(file.relative_to(path).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(file.read_bytes()).digest())
        elif path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        else:
            raise DatasetError(f"{source}: no such file or folder")
    except OSError as exc:
        raise DatasetError(f"{source}: unreadable input ({exc.strerror or exc})") from None
    return digest.hexdigest()


def read_manifest(output: Path) -> dict[str, Any] | None:
    """The manifest of an earlier build in ``output``, or None when there is none.

    Raises:
        DatasetError: the manifest exists but cannot be read.
    """
    path = output / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable manifest ({exc}); use a new folder") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise DatasetError(f"{path}: not a build manifest; use a new folder")
    return manifest


def check_resumable(
    output: Path, config: BuildConfig, inputs: dict[str, str] | None = None
) -> None:
    """Refuse to mix shards of different build settings, inputs or library versions.

    ``inputs`` maps each CIF source to its :func:`input_digest`; a source whose content
    differs from the one recorded (a replaced CSV under the same name) is refused.
    """
    previous_manifest = read_manifest(output)
    if previous_manifest is None:
        return
    previous = previous_manifest["config"]
    current = json.loads(json.dumps(asdict(config)))
    defaults = json.loads(json.dumps(asdict(BuildConfig())))  # keys older builds did not record
    changed = [key for key in RESUME_KEYS if previous.get(key, defaults[key]) != current.get(key)]
    if changed:
        raise DatasetError(
            f"{output}: holds a build with other settings ({', '.join(changed)}); "
            "use a new folder or the same settings to resume"
        )
    recorded_inputs = previous_manifest.get("input_sha256", {})
    replaced = [
        source
        for source, digest in (inputs or {}).items()
        if source in recorded_inputs and recorded_inputs[source] != digest
    ]
    if replaced:
        raise DatasetError(
            f"{output}: the content of {', '.join(replaced)} differs from that of the "
            "interrupted build (same path, other file); use a new folder or the original input"
        )
    recorded = previous_manifest.get("library_versions", {})
    installed = library_versions()
    other = [
        f"{name} {recorded[name]} (installed: {installed[name]})"
        for name in BUILD_LIBRARIES
        if name in recorded and recorded[name] != installed[name]
    ]
    if other:
        raise DatasetError(
            f"{output}: was built with other library versions ({', '.join(other)}); its "
            "shards would not match new ones: use a new folder or those versions to resume"
        )


def adopt_unindexed_shard(shard_dir: Path, name: str) -> dict[str, str] | None:
    """Index entry of a finished shard of a folder built before shard indexes existed.

    Such a build wrote each shard by an atomic rename, so a shard file of a planned name is
    complete; it is adopted when it reads in full (every member's CRC checked) and has a
    readable rejects file. Otherwise None: the shard is computed again.
    """
    shard, rejects = shard_dir / f"{name}.npz", shard_dir / f"{name}.rejects.json"
    if not (shard.is_file() and rejects.is_file()):
        return None
    try:
        read_shard(shard)
        json.loads(rejects.read_text())
    except (DatasetError, OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return shard_checksums(shard_dir, name)


def prepare_folder(root: Path) -> tuple[dict[str, dict[str, str]], dict[str, str], bool]:
    """Clean a build folder for a (re)start: delete temporary files a killed writer left, and
    drop from the shard index every shard whose files are missing or damaged.

    Returns:
        (index of the intact finished shards, damaged shard name -> problem, whether the
        folder is an unindexed build of an earlier version whose shards may be adopted).
    """
    shard_dir = root / SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    remove_temporary_files(shard_dir)
    remove_temporary_files(root)
    index = read_shard_index(root)
    legacy = index is None and (root / MANIFEST_NAME).is_file()
    index = index or {}
    damaged = damaged_shards(root, index)
    for name in damaged:
        del index[name]
    write_shard_index(root, index)
    return index, damaged, legacy


def build_dataset(
    output: str | Path,
    config: BuildConfig,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
    on_shard: Callable[[ShardResult], None] | None = None,
) -> dict[str, Any]:
    """Build (or resume) a dataset in ``output`` and finalise it; returns the report.

    The folder is locked for the whole build. On a resume the settings, the content of the
    inputs and the library versions must match the earlier build; temporary files are
    deleted, and damaged shards are named in the report (``rebuilt_shards``) and computed
    again. ``on_shard`` is called after each newly finished shard (used to test interruption).

    Raises:
        DatasetError: another build holds the folder, the settings or inputs differ from the
            earlier build's, ``workers`` < 1, or a shard cannot be read at the end.
    """
    if not _is_int(workers) or workers < 1:
        raise DatasetError(f"workers must be an integer >= 1, got {workers!r}")
    root = Path(output)
    inputs = {source: input_digest(source) for source in config.cif_sources}
    with folder_lock(root):
        check_resumable(root, config, inputs)
        index, damaged, legacy = prepare_folder(root)
        manifest = {
            "format_version": FORMAT_VERSION,
            "config": asdict(config),
            "input_sha256": inputs,
            "wavelength": config.wavelength,
            "library_versions": library_versions(),
        }
        atomic_write_json(root / MANIFEST_NAME, manifest)
        (root / SPLITS_NAME).unlink(missing_ok=True)
        planned = run_shards(root, config, index, legacy, workers, scheduler, progress, on_shard)
        write_shard_index(root, {name: index[name] for name in planned})
        return finalize_dataset(root, config.seed, rebuilt=sorted(damaged))


def run_shards(
    root: Path,
    config: BuildConfig,
    index: dict[str, dict[str, str]],
    legacy: bool,
    workers: int,
    scheduler: str | None,
    progress: bool,
    on_shard: Callable[[ShardResult], None] | None,
) -> list[str]:
    """Compute every planned shard that ``index`` does not list, adding each to the index
    (written after every batch of finished shards); returns the planned shard names."""
    shard_dir = root / SHARD_DIR
    window = max(2, 2 * workers)
    total = count_tasks(config) if progress else None
    bar = tqdm(total=total, desc="shards", unit="shard", disable=not progress)
    done_structures = 0
    planned: list[str] = []
    with make_executor(workers, scheduler) as executor:
        pending: set[cf.Future[ShardResult]] = set()

        def collect(futures: set[cf.Future[ShardResult]]) -> None:
            nonlocal done_structures
            results = [f.result() for f in futures if f.exception() is None]
            for result in results:
                index[result.name] = result.checksums
            write_shard_index(root, index)  # shards that finished count even if one failed
            for future in futures:
                future.result()  # raises the first failure
            for result in sorted(results, key=lambda r: r.name):
                done_structures += result.accepted
                bar.update(1)
                bar.set_postfix(structures=done_structures)
                if on_shard is not None:
                    on_shard(result)

        try:
            for task in plan_tasks(config):
                planned.append(task.name)
                if task.name not in index and legacy:
                    adopted = adopt_unindexed_shard(shard_dir, task.name)
                    if adopted is not None:
                        index[task.name] = adopted
                if task.name in index:
                    bar.update(1)
                    continue
                pending.add(executor.submit(build_shard, task, config, shard_dir))
                if len(pending) >= window:
                    finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    collect(finished)
            finished, pending = cf.wait(pending)
            collect(finished)
        except BaseException:
            record_finished(root, index, pending)
            raise
        finally:
            bar.close()
    return planned


def record_finished(
    root: Path, index: dict[str, dict[str, str]], futures: set[cf.Future[ShardResult]]
) -> None:
    """On the way out of a stopped build: wait for the shards in flight and index those that
    finished, so that a resume does not compute them again."""
    cf.wait(futures)
    for future in futures:
        if not future.cancelled() and future.exception() is None:
            result = future.result()
            index[result.name] = result.checksums
    write_shard_index(root, index)


def finalize_dataset(root: Path, seed: int, rebuilt: list[str] | None = None) -> dict[str, Any]:
    """Mark duplicates, record both splits, and write the report of counts and skips.

    The shards are those of the shard index, each checked against its checksum; ``rebuilt``
    names the damaged shards a resume computed again (kept in the report).

    Raises:
        DatasetError: naming every indexed shard that is missing, damaged or unreadable.
    """
    data = read_shards(root)
    splits = make_splits(data.structure_type, data.dedupe_key, data.cell, seed)
    rejected: list[dict[str, str]] = []
    for name in sorted(read_shard_index(root) or {}):
        rejected.extend(json.loads((root / SHARD_DIR / f"{name}.rejects.json").read_text()))
    report = {
        "structures": int(len(data)),
        "duplicates": int(np.sum(splits["random"] < 0)),
        "rejected": len(rejected),
        "rejected_reasons": dict(
            Counter(r["reason"].split(":")[-1].strip()[:80] for r in rejected).most_common(20)
        ),
        "rejected_items": rejected,
        "rebuilt_shards": list(rebuilt or []),
    }
    atomic_write_npz(root / SPLITS_NAME, splits, compressed=False)
    atomic_write_json(root / REPORT_NAME, report)
    return report
