"""Resuming an interrupted build: the settings, input digests and library versions a resume must
match, and the clean-up of a build folder before a (re)start."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from xrdsym.datasets.build_config import BuildConfig
from xrdsym.datasets.shards import (
    MANIFEST_NAME,
    SHARD_DIR,
    damaged_shards,
    read_json_file,
    read_shard,
    read_shard_index,
    remove_temporary_files,
    shard_checksums,
    write_shard_index,
)
from xrdsym.errors import DatasetError

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
    found = {}
    for name in (*BUILD_LIBRARIES, "xrdsym"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


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
    manifest = read_json_file(path, "manifest", "; use a new folder")
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
