"""The shard format of a dataset folder: sharded, compressed, resumable peak-list files.

Layout of a dataset folder::

    manifest.json            build settings (sources and their SHA-256, wavelength, seeds)
    shards/<name>.npz        one compressed NumPy archive per shard (see ``SHARD_ARRAYS``)
    shards/<name>.rejects.json   structures of that shard that were skipped, with reasons
    shards/index.json        the finished shards and the SHA-256 of their two files
    splits.npz               part of every structure in each split (after finalisation)
    report.json              counts and skipped structures (after finalisation)

Why ``.npz`` shards: a peak list is a few hundred (2theta, intensity) pairs, so a whole corpus of
peak lists is tens of megabytes per 10^5 structures and is held in memory during training, where
random access is then an array slice. Shards are the unit of parallel work and of atomic writes
(temporary file + ``os.replace``), so an interrupted build resumes at the first missing shard;
temporary files are hidden (``.<name>.tmp-<pid>``) and never end in ``.npz``, so no reader takes
one for a shard. A shard counts as finished only once ``shards/index.json`` lists it with its
checksum: readers take the shards from that index, not from a directory listing, and a shard
whose bytes no longer match is reported by name. Deflate compression halves the size; the
format needs nothing beyond NumPy and is readable from any language with a zip and ``.npy``
reader.

Peak lists are stored CSR-style: ``peak_offsets[i]:peak_offsets[i+1]`` indexes the peaks of
structure ``i`` in ``two_theta`` / ``intensity`` / ``hkl`` / ``multiplicity``. Format 2 also keeps
each structure's symmetrised conventional cell (:class:`xrdsym.structures.prototype.Prototype`),
CSR-style over atoms with ``proto_offsets``, so that training can make new structures from it;
format 1 folders (no cells) are still read, with no prototypes.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.atomic import TEMP_MARK, atomic_write, atomic_write_json
from xrdsym.errors import DatasetError

FORMAT_VERSION = 2
#: Formats that :func:`open_dataset` reads (format 1 has no prototype cells).
READABLE_FORMATS = (1, 2)
MANIFEST_NAME = "manifest.json"
SPLITS_NAME = "splits.npz"
REPORT_NAME = "report.json"
SHARD_DIR = "shards"
SHARD_INDEX_NAME = "index.json"
LOCK_NAME = ".lock"

#: Temporary names of earlier versions: ``<name>.tmp<pid>`` (+ ``.npz``) or ``<name>.tmp.npz``.
_LEGACY_TEMP = re.compile(r"\.tmp\d*(\.npz)?$")

#: Bytes read at a time when a file is hashed.
HASH_BLOCK_BYTES = 1 << 20

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


def is_temporary_name(name: str) -> bool:
    """True for a temporary file name of :func:`xrdsym.atomic.temporary_path`, or of earlier
    versions (``X.npz.tmp<pid>.npz``, ``X.json.tmp<pid>``, ``splits.npz.tmp.npz``)."""
    return TEMP_MARK in name or bool(_LEGACY_TEMP.search(name))


def remove_temporary_files(folder: Path) -> list[str]:
    """Delete the temporary files a killed writer left in ``folder``; returns their names."""
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_temporary_name(path.name):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def read_json_file(path: Path, what: str, advice: str = "") -> Any:
    """The parsed JSON of ``path``.

    Raises:
        DatasetError: "<path>: unreadable <what> (<reason>)<advice>" when the file cannot be
            read or is not JSON.
    """
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable {what} ({exc}){advice}") from None


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = True) -> None:
    """Write arrays as an ``.npz`` archive, atomically (a crash leaves no partial archive)."""
    save = np.savez_compressed if compressed else np.savez
    atomic_write(path, lambda handle: save(handle, **arrays))  # type: ignore[arg-type]


def write_shard(path: Path, shard: ShardData) -> None:
    """Write a shard as a compressed ``.npz``, atomically (a crash leaves no partial shard)."""
    atomic_write_npz(path, {name: getattr(shard, name) for name in SHARD_ARRAYS})


def read_shard(path: Path) -> ShardData:
    """Read a shard written by :func:`write_shard`; a damaged file raises ``DatasetError``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in SHARD_ARRAYS if name in archive.files}
        if "proto_hall" not in arrays:  # format 1
            arrays.update(empty_prototypes(len(arrays["ids"])))
        return ShardData(**arrays)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: unreadable shard ({type(exc).__name__}: {exc})") from exc


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_checksums(shard_dir: Path, name: str) -> dict[str, str]:
    """Index entry of shard ``name``: the SHA-256 of its ``.npz`` and ``.rejects.json``."""
    return {
        "sha256": file_sha256(shard_dir / f"{name}.npz"),
        "rejects_sha256": file_sha256(shard_dir / f"{name}.rejects.json"),
    }


def read_shard_index(root: Path) -> dict[str, dict[str, str]] | None:
    """The finished shards of a dataset folder (name -> checksums), None without an index.

    Raises:
        DatasetError: the index exists but is not a valid index file.
    """
    path = root / SHARD_DIR / SHARD_INDEX_NAME
    if not path.is_file():
        return None
    index = read_json_file(path, "shard index")
    shards = index.get("shards") if isinstance(index, dict) else None
    if not isinstance(shards, dict) or not all(isinstance(v, dict) for v in shards.values()):
        raise DatasetError(f"{path}: not a shard index (no 'shards' table)")
    return shards


def write_shard_index(root: Path, shards: dict[str, dict[str, str]]) -> None:
    """Record the finished shards (name -> checksums) of a dataset folder, atomically."""
    path = root / SHARD_DIR / SHARD_INDEX_NAME
    atomic_write_json(path, {"shards": dict(sorted(shards.items()))}, sort_keys=True)


def damaged_shards(root: Path, shards: dict[str, dict[str, str]]) -> dict[str, str]:
    """Indexed shards whose files are missing or differ from their checksum: name -> problem."""
    shard_dir = root / SHARD_DIR
    problems = {}
    for name, expected in sorted(shards.items()):
        for suffix, key in ((".npz", "sha256"), (".rejects.json", "rejects_sha256")):
            path = shard_dir / f"{name}{suffix}"
            if not path.is_file():
                problems[name] = f"{path.name} is missing"
                break
            if file_sha256(path) != expected.get(key):
                problems[name] = f"{path.name} does not match its checksum"
                break
    return problems


def describe_damage(problems: dict[str, str]) -> str:
    """One line listing every damaged shard by name, e.g. ``cif00-00001 (... missing)``."""
    return "; ".join(f"{name} ({problem})" for name, problem in sorted(problems.items()))


def shard_paths(root: Path) -> list[Path]:
    """Finished shard files of a dataset folder, sorted by name.

    With a shard index (every folder built since indexes exist) these are the indexed shards,
    after their checksums are verified; an older folder's shards are listed, temporary files
    left out.

    Raises:
        DatasetError: naming every indexed shard that is missing or damaged.
    """
    shards = read_shard_index(root)
    shard_dir = root / SHARD_DIR
    if shards is None:
        return sorted(p for p in shard_dir.glob("*.npz") if not is_temporary_name(p.name))
    problems = damaged_shards(root, shards)
    if problems:
        raise DatasetError(
            f"{root}: damaged shards: {describe_damage(problems)}; "
            "run the build again to rebuild them"
        )
    return [shard_dir / f"{name}.npz" for name in sorted(shards)]


def read_shards(root: Path) -> ShardData:
    """All finished shards of a folder, joined in name order.

    Raises:
        DatasetError: naming every shard that is missing, damaged or unreadable.
    """
    parts, problems = [], {}
    for path in shard_paths(root):
        try:
            parts.append(read_shard(path))
        except DatasetError as exc:
            problems[path.name.removesuffix(".npz")] = str(exc).removeprefix(f"{path}: ")
    if problems:
        raise DatasetError(
            f"{root}: damaged shards: {describe_damage(problems)}; "
            "run the build again to rebuild them"
        )
    return ShardData.concatenate(parts)


@contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on a dataset folder while a build writes to it.

    The lock is ``fcntl.flock`` on ``<root>/.lock`` (released by the system when the process
    ends, however it ends); where ``fcntl`` does not exist the folder is not locked.

    Raises:
        DatasetError: another build holds the lock.
    """
    try:  # fcntl exists on POSIX systems only
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DatasetError(
                f"{root}: another build is writing to this folder (it holds {path}); "
                "wait for it to finish or stop it"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
