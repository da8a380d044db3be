"""Throughput (structures/s) of reading + labelling corpus CIFs and of generating crystals.

Reading + labelling: the first ``--rows`` rows of ``../shared/data/structures/
mp_structures.csv.gz`` are parsed with gemmi, labelled with spglib and deduplicated, in
``--workers`` processes (the one-off pyxtal import and Wyckoff tables of a process are
included). Generation: ``--per-group`` pyxtal crystals for every space group 1-230 (or
``--groups``), each labelled with spglib; the fraction whose spglib group equals the request
is printed beside the rate.

    python benchmarks/bench_structures.py                       # 2,000 rows, 230 crystals
    python benchmarks/bench_structures.py --rows 19152 --workers 2
    python benchmarks/bench_structures.py --rows 0 --per-group 3 --require-requested
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from pathlib import Path

import numpy as np

from xrdsym.structures.generate import generate_records
from xrdsym.structures.labelling import Rejected, StructureRecord, label_sources, reason_category
from xrdsym.structures.reader import iter_sources

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CORPUS = PROJECT_ROOT.parent / "shared" / "data" / "structures" / "mp_structures.csv.gz"


def bench_reading(path: Path, rows: int, workers: int, symprec: float) -> None:
    """Print structures/s of reading, labelling and deduplicating the first ``rows`` rows."""
    start = time.perf_counter()
    outcome: Counter[str] = Counter()
    sources = itertools.islice(iter_sources(path), rows)
    for item in label_sources(sources, symprec, dedupe=True, workers=workers):
        outcome[reason_category(item.reason) if isinstance(item, Rejected) else "accepted"] += 1
    seconds = time.perf_counter() - start
    total = sum(outcome.values())
    print(
        f"read+label: {total} structures in {seconds:.1f} s = {total / seconds:.0f} structures/s "
        f"(workers={workers}; {dict(outcome)})"
    )


def bench_generation(
    groups: list[int], per_group: int, seed: int, symprec: float, require_requested: bool
) -> None:
    """Print structures/s of generating and labelling crystals for ``groups``."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    made = matched = failed = atoms = 0
    slowest = (0.0, 0)
    for group in groups:
        group_start = time.perf_counter()
        for item in generate_records(
            [group], per_group, rng, symprec, require_requested=require_requested
        ):
            if isinstance(item, StructureRecord):
                made += 1
                atoms += item.crystal.n_sites
                matched += item.label.space_group == group
            else:
                failed += 1
        slowest = max(slowest, (time.perf_counter() - group_start, group))
    seconds = time.perf_counter() - start
    print(
        f"generate: {made} crystals ({failed} failed) in {seconds:.1f} s = "
        f"{made / seconds:.1f} structures/s; spglib group = request for {matched}/{made}; "
        f"mean {atoms / max(made, 1):.1f} atoms/cell; slowest group {slowest[1]} "
        f"({slowest[0]:.2f} s)"
    )


def main() -> None:
    """Parse arguments and run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rows", type=int, default=2000, help="corpus rows (0: skip)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--symprec", type=float, default=0.01)
    parser.add_argument("--per-group", type=int, default=1, help="crystals per group (0: skip)")
    parser.add_argument("--groups", type=int, nargs="*", default=list(range(1, 231)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--require-requested", action="store_true")
    args = parser.parse_args()
    if args.rows > 0:
        bench_reading(args.corpus, args.rows, args.workers, args.symprec)
    if args.per_group > 0:
        bench_generation(
            args.groups, args.per_group, args.seed, args.symprec, args.require_requested
        )


if __name__ == "__main__":
    main()
