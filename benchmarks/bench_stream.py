"""Training throughput with the generated-structure stream beside the stored-corpus stream.

Runs ``xrdsym.training.loop.train`` for ``--seconds`` of training on a dataset folder with the
bundled model's configuration (``configs/xrdnet_small_stream.toml``: xrdnet_small, lab
renderer; one DataLoader worker unless ``--workers``; the config's torch threads, 0 = the cores
left by the workers, unless ``--threads``), once per stream: ``corpus`` (stored
peak lists only, the baseline), the configured mix, ``synthetic`` only with one pattern per
crystal, and ``synthetic`` only with ``--per-crystal`` patterns per crystal
(``synthetic_patterns_per_crystal``). It prints patterns/s of each and the ratio to the corpus
stream, and the rendering cost per pattern of each kind in this process (make + render, ms).

    python benchmarks/bench_stream.py --dataset data_cache/mp_gen40 [--seconds 60] [--per-crystal 4]
        [--workers 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from xrdsym.datasets.protocol import IndexedPeaks
from xrdsym.datasets.store import open_dataset
from xrdsym.datasets.stream import StreamMix, StructureStream
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import lab_renderer
from xrdsym.training.config import load_config
from xrdsym.training.data import PatternPreparer, StreamedPatterns
from xrdsym.training.loop import train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "xrdnet_small_stream.toml"
SYNTHETIC = {"synthetic": 1.0}


def streams(per_crystal: int) -> dict[str, tuple[dict[str, float] | None, int]]:
    """Name -> (stream weights, None for the config's; synthetic patterns per crystal)."""
    return {
        "corpus": ({"corpus": 1.0}, 1),
        "mix (config)": (None, 1),
        "synthetic": (SYNTHETIC, 1),
        f"synthetic, {per_crystal} per crystal": (SYNTHETIC, per_crystal),
    }


def training_rate(
    dataset: str,
    stream: dict[str, float] | None,
    per_crystal: int,
    seconds: float,
    workers: int,
    threads: int | None,
) -> float:
    """Patterns per second of a short training run with that stream (None: the config's)."""
    overrides = [
        f"dataset={dataset}",
        f"max_minutes={seconds / 60}",
        "val_size=64",
        "eval_interval_s=100000",
        "checkpoint_interval_s=100000",
        f"synthetic_patterns_per_crystal={per_crystal}",
        f"num_workers={workers}",
    ]
    if threads is not None:
        overrides.append(f"threads={threads}")
    if stream is not None:
        overrides.append("stream=" + str(stream).replace("'", '"'))
    config = load_config(CONFIG, overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(config, run_dir, resume=False, progress=False)
    return result.patterns_seen / result.wall_seconds


def render_cost(dataset: str, per_crystal: int, n: int = 300) -> dict[str, float]:
    """Milliseconds per pattern (make the structure + peaks + lab rendering) of each kind."""
    source = open_dataset(dataset)
    train_idx = source.split_indices("structure_type", "train")
    grid = Grid(10.0, 110.0, 5001, source.wavelength)
    renderer = lab_renderer(impurity_pool=IndexedPeaks(source, train_idx))
    costs = {}
    kinds = [("corpus", 1), ("perturbed", 1), ("synthetic", 1), ("synthetic", per_crystal)]
    for kind, k in kinds:
        weights = {name: float(name == kind) for name in ("corpus", "perturbed", "synthetic")}
        stream = StructureStream(source, StreamMix(**weights))
        patterns = StreamedPatterns(stream, grid, 0, renderer, PatternPreparer(0.5, 40.0), k)
        start = time.perf_counter()
        for position, i in enumerate(train_idx[:n]):
            patterns.render_item(0, int(i), 0, position)
        name = kind if k == 1 else f"{kind} ({k} per crystal)"
        costs[name] = 1000 * (time.perf_counter() - start) / n
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--per-crystal", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers of every run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (config's)")
    args = parser.parse_args()
    threads = "config's" if args.threads is None else args.threads
    print(
        f"load average: {os.getloadavg()[0]:.2f}; rendering workers: {args.workers}; "
        f"torch threads: {threads}"
    )
    for kind, ms in render_cost(args.dataset, args.per_crystal).items():
        print(f"make + render one {kind} pattern: {ms:.2f} ms")
    rates = {
        name: training_rate(args.dataset, mix, k, args.seconds, args.workers, args.threads)
        for name, (mix, k) in streams(args.per_crystal).items()
    }
    base = rates["corpus"]
    for name, rate in rates.items():
        print(f"training, {name} stream: {rate:.0f} patterns/s ({rate / base:.2f}x corpus)")


if __name__ == "__main__":
    main()
