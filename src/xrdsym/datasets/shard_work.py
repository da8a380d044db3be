"""The work of one shard, run in a worker process: read or generate its crystals, label them,
compute their peak lists and write the shard with its rejects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.atomic import atomic_write_bytes
from xrdsym.datasets.build_config import BuildConfig
from xrdsym.datasets.shards import (
    ShardData,
    shard_checksums,
    write_shard,
)
from xrdsym.datasets.sources import crystal_maker
from xrdsym.errors import XrdsymError
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.prototype import prototype_from_dataset
from xrdsym.structures.symmetry import (
    dedupe_key,
    niggli_parameters,
    spglib_cell,
    symmetry_dataset,
)
from xrdsym.structures.tolerance import DEFAULT_SYMPREC


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


def niggli_cell(crystal: Crystal, symprec: float = DEFAULT_SYMPREC) -> np.ndarray:
    """The stored cell of a structure, float32 (6,): its Niggli-reduced primitive cell
    (a, b, c in Angstrom, alpha, beta, gamma in degrees) at ``symprec``, the cell of the
    duplicate rule (:func:`xrdsym.structures.symmetry.same_cell`)."""
    return np.asarray(niggli_parameters(symmetry_dataset(crystal, symprec)), dtype=np.float32)


def structure_row(
    crystal: Crystal, structure_id: str, source: str, requested: int, config: BuildConfig
) -> dict[str, Any]:
    """Label one crystal and compute its peak list: one row of a shard."""
    # deferred until called: imports gemmi
    from xrdsym.structures.labelling import label_from_dataset

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
        "cell": np.asarray(niggli_parameters(symmetry), dtype=np.float32),
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

    Requested crystals come from the build source ``config.generator`` (pyxtal by default,
    :func:`xrdsym.datasets.sources.crystal_maker`).
    """
    # deferred until called: imports gemmi
    from xrdsym.structures.reader import read_cif_text

    config = config if config is not None else BuildConfig()
    generate = crystal_maker(config.generator, config.synthetic_statistics)

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
