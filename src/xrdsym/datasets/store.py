"""On-disk dataset of peak lists: sharded, compressed, resumable.

Layout of a dataset folder::

    manifest.json            build settings (sources, wavelength, 2theta range, seeds)
    shards/<name>.npz        one compressed NumPy archive per shard (see ``SHARD_ARRAYS``)
    shards/<name>.rejects.json   structures of that shard that were skipped, with reasons
    splits.npz               part of every structure in each split (after finalisation)
    report.json              counts and skipped structures (after finalisation)

Why ``.npz`` shards: a peak list is a few hundred (2theta, intensity) pairs, so a whole corpus of
peak lists is tens of megabytes per 10^5 structures and is held in memory during training, where
random access is then an array slice. Shards are the unit of parallel work and of atomic writes
(temporary file + ``os.replace``), so an interrupted build resumes at the first missing shard;
deflate compression halves the size; the format needs nothing beyond NumPy and is readable from
any language with a zip and ``.npy`` reader.

Peak lists are stored CSR-style: ``peak_offsets[i]:peak_offsets[i+1]`` indexes the peaks of
structure ``i`` in ``two_theta`` / ``intensity`` / ``hkl`` / ``multiplicity``. Format 2 also keeps
each structure's symmetrised conventional cell (:class:`xrdsym.structures.prototype.Prototype`),
CSR-style over atoms with ``proto_offsets``, so that training can make new structures from it;
format 1 folders (no cells) are still read, with no prototypes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import DatasetError
from xrdsym.structures.prototype import Prototype

FORMAT_VERSION = 2
#: Formats that :func:`open_dataset` reads (format 1 has no prototype cells).
READABLE_FORMATS = (1, 2)
MANIFEST_NAME = "manifest.json"
SPLITS_NAME = "splits.npz"
REPORT_NAME = "report.json"
SHARD_DIR = "shards"

#: Arrays of one shard: per-structure metadata, then CSR peak arrays.
SHARD_ARRAYS = (
    "ids",
    "sources",
    "space_group",
    "requested_space_group",
    "structure_type",
    "dedupe_key",
    "cell",
    "peak_offsets",
    "two_theta",
    "intensity",
    "hkl",
    "multiplicity",
    "proto_hall",
    "proto_lattice",
    "proto_offsets",
    "proto_positions",
    "proto_species",
)

#: The prototype arrays (absent from format-1 shards).
PROTOTYPE_ARRAYS = SHARD_ARRAYS[-5:]

#: Codes of a structure's part in a split; EXCLUDED marks duplicates left out of every part.
PART_CODES = {"train": 0, "val": 1, "test": 2}
EXCLUDED = -1


@dataclass
class ShardData:
    """The contents of one shard (n structures, m peaks in total).

    Attributes:
        ids: (n,) str structure identifiers.
        sources: (n,) str source of each structure (file/table path or ``generated``).
        space_group: (n,) int16 space group found by spglib, 1-230.
        requested_space_group: (n,) int16 group asked of the generator (0 for real structures).
        structure_type: (n,) str structure-type key (space group, Wyckoff sites, stoichiometry).
        dedupe_key: (n,) str reduced formula and space group used to find duplicates.
        cell: (n, 6) float32 Niggli-reduced a, b, c (Angstrom), alpha, beta, gamma (degrees).
        peak_offsets: (n + 1,) int64 CSR offsets into the peak arrays.
        two_theta: (m,) float32 peak positions, degrees.
        intensity: (m,) float32 relative intensities (strongest peak of a structure = 100).
        hkl: (m, 3) int16 representative Miller indices.
        multiplicity: (m,) int16 number of merged reflections.
        proto_hall: (n,) int16 spglib Hall number of the conventional cell (0: none stored).
        proto_lattice: (n, 9) float64 conventional cell rows a, b, c in Angstrom, flattened.
        proto_offsets: (n + 1,) int64 CSR offsets into the atom arrays.
        proto_positions: (k, 3) float64 fractional coordinates of the conventional cell's atoms.
        proto_species: (k,) str species of each atom (element or ``"A:occ+B:occ"``).
    """

    ids: np.ndarray
    sources: np.ndarray
    space_group: np.ndarray
    requested_space_group: np.ndarray
    structure_type: np.ndarray
    dedupe_key: np.ndarray
    cell: np.ndarray
    peak_offsets: np.ndarray
    two_theta: np.ndarray
    intensity: np.ndarray
    hkl: np.ndarray
    multiplicity: np.ndarray
    proto_hall: np.ndarray
    proto_lattice: np.ndarray
    proto_offsets: np.ndarray
    proto_positions: np.ndarray
    proto_species: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def concatenate(parts: list[ShardData]) -> ShardData:
        """Join shards in order, shifting the CSR offsets."""
        if not parts:
            return empty_shard()
        joined = {
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in SHARD_ARRAYS
            if name not in ("peak_offsets", "proto_offsets")
        }
        return ShardData(
            peak_offsets=_join_offsets([p.peak_offsets for p in parts]),
            proto_offsets=_join_offsets([p.proto_offsets for p in parts]),
            **joined,
        )


def _join_offsets(parts: list[np.ndarray]) -> np.ndarray:
    """CSR offsets of concatenated parts: each part's offsets shifted by the items before it."""
    offsets = [np.zeros(1, dtype=np.int64)]
    shift = 0
    for part in parts:
        offsets.append(part[1:] + shift)
        shift += int(part[-1])
    return np.concatenate(offsets)


def empty_shard() -> ShardData:
    """A shard with no structures."""
    return ShardData(
        ids=np.array([], dtype=str),
        sources=np.array([], dtype=str),
        space_group=np.zeros(0, dtype=np.int16),
        requested_space_group=np.zeros(0, dtype=np.int16),
        structure_type=np.array([], dtype=str),
        dedupe_key=np.array([], dtype=str),
        cell=np.zeros((0, 6), dtype=np.float32),
        peak_offsets=np.zeros(1, dtype=np.int64),
        two_theta=np.zeros(0, dtype=np.float32),
        intensity=np.zeros(0, dtype=np.float32),
        hkl=np.zeros((0, 3), dtype=np.int16),
        multiplicity=np.zeros(0, dtype=np.int16),
        **empty_prototypes(0),
    )


def empty_prototypes(n: int) -> dict[str, np.ndarray]:
    """Prototype arrays for ``n`` structures without a stored cell (Hall number 0)."""
    return {
        "proto_hall": np.zeros(n, dtype=np.int16),
        "proto_lattice": np.zeros((n, 9), dtype=np.float64),
        "proto_offsets": np.zeros(n + 1, dtype=np.int64),
        "proto_positions": np.zeros((0, 3), dtype=np.float64),
        "proto_species": np.array([], dtype=str),
    }


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace`` (atomic on POSIX)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_shard(path: Path, shard: ShardData) -> None:
    """Write a shard as a compressed ``.npz``, atomically (a crash leaves no partial shard)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    arrays = {name: getattr(shard, name) for name in SHARD_ARRAYS}
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_shard(path: Path) -> ShardData:
    """Read a shard written by :func:`write_shard`; a damaged file raises ``DatasetError``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in SHARD_ARRAYS if name in archive.files}
        if "proto_hall" not in arrays:  # format 1
            arrays.update(empty_prototypes(len(arrays["ids"])))
        return ShardData(**arrays)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable shard ({exc})") from exc


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


def shard_paths(root: Path) -> list[Path]:
    """Finished shard files of a dataset folder, sorted by name."""
    return sorted((root / SHARD_DIR).glob("*.npz"))


def open_dataset(path: str | Path) -> PeakDataset:
    """Open a finalised dataset folder written by ``xrdsym dataset build``."""
    root = Path(path)
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise DatasetError(f"{root}: not a dataset folder (no {MANIFEST_NAME})")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise DatasetError(f"{manifest_path}: unsupported format {manifest.get('format_version')}")
    splits_path = root / SPLITS_NAME
    if not splits_path.is_file():
        raise DatasetError(f"{root}: build not finished (no {SPLITS_NAME}); run the build again")
    data = ShardData.concatenate([read_shard(p) for p in shard_paths(root)])
    with np.load(splits_path, allow_pickle=False) as archive:
        splits = {name: archive[name] for name in archive.files}
    for name, parts in splits.items():
        if len(parts) != len(data):
            raise DatasetError(
                f"{splits_path}: split {name!r} has {len(parts)} entries, "
                f"the shards {len(data)}; rebuild the splits"
            )
    return PeakDataset(root, manifest, data, splits)
