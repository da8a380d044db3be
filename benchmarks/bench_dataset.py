"""Dataset build throughput: structures per second, one worker against all local workers.

Builds the same slice of the shared corpus (and optionally generated crystals) twice, with
1 worker (the baseline) and with N workers, and prints both rates and their ratio.

    python benchmarks/bench_dataset.py [--rows 2000] [--generated-per-group 0] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import tempfile
import time
from pathlib import Path

from xrdsym.datasets.build import BuildConfig, build_dataset

CORPUS = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "structures"
    / "mp_structures.csv.gz"
)


def corpus_slice(rows: int, folder: Path) -> Path:
    """The first ``rows`` rows of the shared corpus as a CSV table."""
    out = folder / "slice.csv"
    with gzip.open(CORPUS, "rt", newline="") as fin, open(out, "w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for index, row in enumerate(reader):
            if index == rows:
                break
            writer.writerow(row)
    return out


def timed_build(config: BuildConfig, workers: int, folder: Path) -> tuple[int, float]:
    """(structures built, seconds) of one fresh build."""
    start = time.perf_counter()
    report = build_dataset(folder, config, workers=workers, progress=False)
    return report["structures"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--generated-per-group", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = BuildConfig(
            cif_sources=(str(corpus_slice(args.rows, folder)),),
            generated_per_group=args.generated_per_group,
            shard_size=100,
        )
        results = {w: timed_build(config, w, folder / f"w{w}") for w in (1, args.workers)}
    print(f"{'workers':>8}{'structures':>12}{'seconds':>10}{'structures/s':>15}")
    for workers, (count, seconds) in results.items():
        print(f"{workers:>8}{count:>12}{seconds:>10.1f}{count / seconds:>15.1f}")
    base = results[1][0] / results[1][1]
    fast = results[args.workers][0] / results[args.workers][1]
    print(f"ratio {args.workers} workers / 1 worker: {fast / base:.2f}x")


if __name__ == "__main__":
    main()
