"""Outputs of the structure sources and of the binary/XML readers that a refactoring must leave
byte for byte unchanged, as SHA-256 digests written by the xrdsym on PYTHONPATH:

- ``xrdsym dataset build`` of the first 8 rows of the shared Materials Project table with one
  generated crystal for each of the groups 2, 14, 62, 139, 225, once with each build source
  (every file but ``manifest.json``, which records times and versions);
- items of a seeded ``StructureStream`` (corpus, perturbed and synthetic weights 1, with and
  without a ramp; seed 7, epochs 0, 1, 3, every index of that dataset, odd indices sharing a
  synthetic crystal), with the items drawn per kind and the stream's label prior;
- every .raw, .brml, .xrdml and .rasx file of tests/ and the shared data read by
  ``read_pattern`` (arrays, wavelength, metadata with its key order; or the error).

Usage: PYTHONPATH=SRC python scripts/same_source_outputs.py OUT [SHARED]; then compare the
``digests.json`` of two OUT folders. The table is written once beside OUT (its path is stored
in the shards), so run both trees with OUT folders in the same parent.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUILD_ROWS = 8
GROUPS = "2,14,62,139,225"
#: The build sources compared, named here so that trees older than their registry run too.
BUILD_SOURCES = ("pyxtal", "synthetic")


def write_table(shared: Path, table: Path) -> None:
    """The first BUILD_ROWS rows of the shared corpus as a CSV table with a ``cif`` column."""
    source = shared / "data" / "structures" / "mp_structures.csv.gz"
    with gzip.open(source, "rt", newline="") as fin, open(table, "w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=["material_id", "source", "cif"])
        writer.writeheader()
        for index, row in enumerate(reader):
            if index == BUILD_ROWS:
                break
            writer.writerow({k: row[k] for k in ("material_id", "source", "cif")})


def build_digests(table: Path, out: Path) -> dict[str, str]:
    """SHA-256 of every file but the manifest of one small build per build source."""
    digests = {}
    for name in BUILD_SOURCES:
        folder = out / name
        command = [sys.executable, "-m", "xrdsym", "dataset", "build", str(folder)]
        command += ["--cif", str(table), "--generated-per-group", "1", "--space-groups", GROUPS]
        command += ["--generator", name, "--workers", "1", "--no-progress", "--shard-size", "5"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "manifest.json":
                key = f"{name}/{path.relative_to(folder)}"
                digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def stream_digests(dataset: Path) -> dict[str, str]:
    """Digests of the seeded stream items on ``dataset``, per mix (plain and ramped)."""
    from xrdsym.datasets.store import open_dataset
    from xrdsym.datasets.stream import StreamMix, StructureStream

    source = open_dataset(dataset)
    digests = {}
    ramps: dict[str, dict[str, Any]] = {
        "mix": {},
        "ramp": {"start": StreamMix(corpus=1), "ramp_epochs": 2},
    }
    for name, ramp in ramps.items():
        stream = StructureStream(source, StreamMix(corpus=1, perturbed=1, synthetic=1), **ramp)
        digest = hashlib.sha256()
        for epoch in (0, 1, 3):
            for index in range(len(source)):
                rng = np.random.default_rng([7, epoch + 1, index])
                key = (7, epoch, index // 3) if index % 2 else None
                two_theta, intensity, group = stream.draw(index, rng, key, epoch)
                digest.update(np.asarray(two_theta).tobytes())
                digest.update(np.asarray(intensity).tobytes())
                digest.update(str(group).encode())
        digests[f"stream/{name}"] = digest.hexdigest()
        digests[f"stream/{name}/counts"] = json.dumps(
            [stream.counts.drawn, stream.counts.fallbacks]
        )
        prior = stream.label_prior(np.arange(len(source))).tobytes()
        digests[f"stream/{name}/prior"] = hashlib.sha256(prior).hexdigest()
    return digests


def reader_digests(roots: list[Path]) -> dict[str, str]:
    """Digest of what ``read_pattern`` gives for each binary/XML pattern file under ``roots``."""
    from xrdsym.io.formats import read_pattern

    digests = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in (
                ".raw",
                ".brml",
                ".xrdml",
                ".rasx",
            ):
                continue
            try:
                pattern = read_pattern(path)
            except Exception as exc:  # noqa: BLE001 - the error is part of the output
                digests[str(path)] = f"{type(exc).__name__}: {exc}"
                continue
            arrays = (
                np.asarray(pattern.two_theta).tobytes() + np.asarray(pattern.intensity).tobytes()
            )
            facts = json.dumps([repr(pattern.wavelength), list(pattern.metadata.items())])
            digests[str(path)] = hashlib.sha256(arrays + facts.encode()).hexdigest()
    return digests


def main() -> None:
    """Write OUT/digests.json."""
    out = Path(sys.argv[1]).resolve()
    shared = Path(sys.argv[2] if len(sys.argv) > 2 else ROOT.parent / "shared").resolve()
    out.mkdir(parents=True, exist_ok=True)
    table = out.parent / "same_source_table.csv"
    write_table(shared, table)
    digests = build_digests(table, out)
    digests.update(stream_digests(out / "pyxtal"))
    digests.update(reader_digests([ROOT / "tests", shared / "data"]))
    (out / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True))
    print(f"{len(digests)} digests -> {out / 'digests.json'}")


if __name__ == "__main__":
    main()
