"""A finalised dataset folder in memory (:class:`PeakDataset`, :func:`open_dataset`).

The on-disk layout, the shard format, the shard index and the atomic writes are those of
:mod:`xrdsym.datasets.shards`, whose names this module also exports.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.datasets.shards import (
    EXCLUDED,
    FORMAT_VERSION,
    HASH_BLOCK_BYTES,
    LOCK_NAME,
    MANIFEST_NAME,
    PART_CODES,
    PROTOTYPE_ARRAYS,
    READABLE_FORMATS,
    REPORT_NAME,
    SHARD_ARRAYS,
    SHARD_DIR,
    SHARD_INDEX_NAME,
    SPLITS_NAME,
    ShardData,
    atomic_write_npz,
    damaged_shards,
    describe_damage,
    empty_prototypes,
    empty_shard,
    file_sha256,
    folder_lock,
    is_temporary_name,
    read_json_file,
    read_shard,
    read_shard_index,
    read_shards,
    remove_temporary_files,
    shard_checksums,
    shard_paths,
    write_shard,
    write_shard_index,
)
from xrdsym.errors import DatasetError
from xrdsym.structures.prototype import Prototype

__all__ = [
    "EXCLUDED",
    "FORMAT_VERSION",
    "HASH_BLOCK_BYTES",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "PART_CODES",
    "PROTOTYPE_ARRAYS",
    "PeakDataset",
    "READABLE_FORMATS",
    "REPORT_NAME",
    "SHARD_ARRAYS",
    "SHARD_DIR",
    "SHARD_INDEX_NAME",
    "SPLITS_NAME",
    "ShardData",
    "atomic_write_npz",
    "damaged_shards",
    "describe_damage",
    "empty_prototypes",
    "empty_shard",
    "file_sha256",
    "folder_lock",
    "is_temporary_name",
    "open_dataset",
    "read_shard",
    "read_shard_index",
    "read_shards",
    "read_splits",
    "remove_temporary_files",
    "shard_checksums",
    "shard_paths",
    "write_shard",
    "write_shard_index",
]


class PeakDataset:
    """A finalised dataset folder held in memory; implements ``PeakSource``.

    Use :func:`open_dataset`. Structures marked as duplicates stay in the arrays but belong to
    no split part.
    """

    def __init__(self, root: Path, manifest: dict[str, Any], data: ShardData, splits: dict):
        self.root = root
        self.manifest = manifest
        self.data = data
        self._splits = splits

    def __len__(self) -> int:
        return len(self.data)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(two_theta deg float32, relative intensity float32) of structure ``index``."""
        lo, hi = self.data.peak_offsets[index], self.data.peak_offsets[index + 1]
        return self.data.two_theta[lo:hi], self.data.intensity[lo:hi]

    def space_group(self, index: int) -> int:
        """Space-group number 1-230 of structure ``index``."""
        return int(self.data.space_group[index])

    def space_groups(self) -> np.ndarray:
        """(n,) int64 space-group numbers."""
        return self.data.space_group.astype(np.int64)

    def has_prototypes(self) -> bool:
        """True when the folder stores symmetrised cells (format 2)."""
        return bool(np.any(self.data.proto_hall > 0))

    def prototype(self, index: int) -> Prototype:
        """The symmetrised conventional cell of structure ``index``.

        Raises:
            DatasetError: the dataset stores no cell for it (format 1, or a failed cell).
        """
        hall = int(self.data.proto_hall[index])
        if hall <= 0:
            raise DatasetError(
                f"{self.root}: structure {self.data.ids[index]} has no stored cell "
                "(a format-1 dataset: rebuild it to train on perturbed structures)"
            )
        lo, hi = self.data.proto_offsets[index], self.data.proto_offsets[index + 1]
        return Prototype(
            space_group=int(self.data.space_group[index]),
            hall_number=hall,
            lattice=self.data.proto_lattice[index].reshape(3, 3),
            positions=self.data.proto_positions[lo:hi],
            species=tuple(str(s) for s in self.data.proto_species[lo:hi]),
            name=str(self.data.ids[index]),
        )

    def structure_types(self) -> np.ndarray:
        """(n,) str structure-type keys."""
        return self.data.structure_type

    @property
    def wavelength(self) -> float:
        """Wavelength of the stored peak positions, Angstrom."""
        return float(self.manifest["wavelength"])

    def split_names(self) -> list[str]:
        """Names of the recorded splits."""
        return sorted(self._splits)

    def split_indices(self, split: str, part: str) -> np.ndarray:
        """Indices of the structures in ``part`` (train, val, test) of ``split``."""
        if split not in self._splits:
            raise DatasetError(
                f"{self.root}: no split {split!r}; recorded: {', '.join(self.split_names())}"
            )
        if part not in PART_CODES:
            raise DatasetError(f"unknown split part {part!r}; use one of {', '.join(PART_CODES)}")
        return np.flatnonzero(self._splits[split] == PART_CODES[part])

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the labels and peak arrays: identifies the data."""
        digest = hashlib.sha256()
        for name in ("space_group", "peak_offsets", "two_theta", "intensity"):
            digest.update(np.ascontiguousarray(getattr(self.data, name)).tobytes())
        for split in self.split_names():
            digest.update(split.encode())
            digest.update(self._splits[split].tobytes())
        return digest.hexdigest()[:16]


def read_splits(path: Path) -> dict[str, np.ndarray]:
    """The split arrays of ``splits.npz``; a damaged file raises ``DatasetError``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetError(
            f"{path}: unreadable splits ({type(exc).__name__}); run the build again"
        ) from None


def open_dataset(path: str | Path) -> PeakDataset:
    """Open a finalised dataset folder written by ``xrdsym dataset build``."""
    root = Path(path)
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise DatasetError(f"{root}: not a dataset folder (no {MANIFEST_NAME})")
    manifest = read_json_file(manifest_path, "manifest")
    if not isinstance(manifest, dict):
        raise DatasetError(f"{manifest_path}: not a dataset manifest")
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise DatasetError(f"{manifest_path}: unsupported format {manifest.get('format_version')}")
    splits_path = root / SPLITS_NAME
    if not splits_path.is_file():
        raise DatasetError(f"{root}: build not finished (no {SPLITS_NAME}); run the build again")
    data = read_shards(root)
    splits = read_splits(splits_path)
    for name, parts in splits.items():
        if len(parts) != len(data):
            raise DatasetError(
                f"{splits_path}: split {name!r} has {len(parts)} entries, "
                f"the shards {len(data)}; rebuild the splits"
            )
    return PeakDataset(root, manifest, data, splits)
