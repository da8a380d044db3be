"""Build a peak-list dataset from CIF sources and generated crystals, in parallel shards.

The work is cut into shards of ``shard_size`` structures. Each shard is computed by a worker
(local processes by default, or a Dask cluster given its scheduler address) and written
atomically; a shard file that exists is finished work, so an interrupted build run again with
the same settings computes only the missing shards and gives the same dataset. Tasks are
submitted through a bounded window, so memory stays bounded whatever the corpus size.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
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
    read_shard,
    shard_paths,
    write_shard,
)
from xrdsym.errors import DatasetError, XrdsymError
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
    """What a finished shard reports back: counts and skipped structures with reasons."""

    name: str
    accepted: int
    rejected: list[dict[str, str]] = field(default_factory=list)


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


def iter_task_crystals(task: ShardTask) -> Iterator[tuple[str, int, Crystal | str]]:
    """(structure id, requested group, crystal or reason it could not be made) of a task."""
    from xrdsym.structures.generate import generate_crystal
    from xrdsym.structures.reader import read_cif_text

    for structure_id, text in task.cif_items:
        try:
            yield structure_id, 0, read_cif_text(text, structure_id)
        except XrdsymError as exc:
            yield structure_id, 0, str(exc)
    rng = np.random.default_rng(task.seed)
    for position, group in enumerate(task.requested_groups):
        structure_id = f"{task.name}-{position:04d}-sg{group}"
        crystal = generate_crystal(group, rng)
        yield structure_id, group, crystal if crystal is not None else "generator gave up"


def build_shard(task: ShardTask, config: BuildConfig, shard_dir: Path) -> ShardResult:
    """Compute and write one shard; every structure that fails is skipped with its reason."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    for structure_id, requested, crystal in iter_task_crystals(task):
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
    write_shard(shard_dir / f"{task.name}.npz", rows_to_shard(rows))  # written last: "done"
    return ShardResult(task.name, len(rows), rejected)


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


@contextmanager
def make_executor(workers: int, scheduler: str | None) -> Iterator[cf.Executor]:
    """Local worker processes, or a Dask cluster's executor when a scheduler address is given.

    The Dask client is closed on exit, before the caller's cluster may shut down.
    """
    if not scheduler:
        with cf.ProcessPoolExecutor(max_workers=max(1, workers)) as executor:
            yield executor
        return
    from distributed import Client

    with Client(scheduler) as client, client.get_executor() as executor:
        yield executor


def check_resumable(output: Path, config: BuildConfig) -> None:
    """Refuse to mix shards of different build settings in one folder."""
    manifest_path = output / MANIFEST_NAME
    if not manifest_path.is_file():
        return
    previous = json.loads(manifest_path.read_text())["config"]
    current = json.loads(json.dumps(asdict(config)))
    changed = [key for key in RESUME_KEYS if previous.get(key) != current.get(key)]
    if changed:
        raise DatasetError(
            f"{output}: holds a build with other settings ({', '.join(changed)}); "
            "use a new folder or the same settings to resume"
        )
    recorded = json.loads(manifest_path.read_text()).get("library_versions", {})
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


def build_dataset(
    output: str | Path,
    config: BuildConfig,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
    on_shard: Callable[[ShardResult], None] | None = None,
) -> dict[str, Any]:
    """Build (or resume) a dataset in ``output`` and finalise it; returns the report.

    ``on_shard`` is called after each newly finished shard (used to test interruption).
    """
    root = Path(output)
    check_resumable(root, config)
    shard_dir = root / SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": asdict(config),
        "wavelength": config.wavelength,
        "library_versions": library_versions(),
    }
    atomic_write_json(root / MANIFEST_NAME, manifest)
    (root / SPLITS_NAME).unlink(missing_ok=True)

    window = max(2, 2 * workers)
    bar = tqdm(desc="shards", unit="shard", disable=not progress)
    done_structures = 0
    with make_executor(workers, scheduler) as executor:
        pending: set[cf.Future[ShardResult]] = set()

        def collect(futures: set[cf.Future[ShardResult]]) -> None:
            nonlocal done_structures
            for future in futures:
                result = future.result()
                done_structures += result.accepted
                bar.update(1)
                bar.set_postfix(structures=done_structures)
                if on_shard is not None:
                    on_shard(result)

        for task in plan_tasks(config):
            if (shard_dir / f"{task.name}.npz").is_file():
                bar.update(1)
                continue
            pending.add(executor.submit(build_shard, task, config, shard_dir))
            if len(pending) >= window:
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                collect(finished)
        finished, _ = cf.wait(pending)
        collect(finished)
    bar.close()
    return finalize_dataset(root, config.seed)


def finalize_dataset(root: Path, seed: int) -> dict[str, Any]:
    """Mark duplicates, record both splits, and write the report of counts and skips."""
    data = ShardData.concatenate([read_shard(path) for path in shard_paths(root)])
    splits = make_splits(data.structure_type, data.dedupe_key, data.cell, seed)
    rejected: list[dict[str, str]] = []
    for path in sorted((root / SHARD_DIR).glob("*.rejects.json")):
        rejected.extend(json.loads(path.read_text()))
    report = {
        "structures": int(len(data)),
        "duplicates": int(np.sum(splits["random"] < 0)),
        "rejected": len(rejected),
        "rejected_reasons": dict(
            Counter(r["reason"].split(":")[-1].strip()[:80] for r in rejected).most_common(20)
        ),
        "rejected_items": rejected,
    }
    tmp = root / f"{SPLITS_NAME}.tmp.npz"
    np.savez(tmp, **splits)  # type: ignore[arg-type]
    tmp.replace(root / SPLITS_NAME)
    atomic_write_json(root / REPORT_NAME, report)
    return report
