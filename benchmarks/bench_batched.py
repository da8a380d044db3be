"""Training throughput of the batched path (``prefetch = "batched"``) beside the worker path.

Each run trains the bundled model's configuration (``configs/xrdnet_small_stream.toml``,
xrdnet_small, lab renderer, bf16) for ``--seconds`` of training in a fresh process, first on
today's worker path (``prefetch = "workers"``, ``--workers`` DataLoader processes) and then on
the batched path (``--workers`` processes make synthetic crystals when the stream has them),
``--repeat`` times in turn. ``--stream`` picks the kind weights: ``bundled`` (those of the
bundled run in ``training_state/xrdnet_small_stream``: corpus 0.3, perturbed 0.4, synthetic
0.3, 4 patterns per synthetic crystal) or ``config`` (the TOML's corpus 0.5, perturbed 0.5).
It prints patterns/s of each run (training loop time; set-up timed apart), the ratio of the
batched to the worker path, the peak resident memory of each run (the process and its
workers) and, with ``--rss-every``, the memory of the batched run over time.

    python benchmarks/bench_batched.py --dataset data_cache/mp_gen40 [--seconds 120]
        [--stream bundled] [--workers 2] [--repeat 1] [--rss-every 0] [--paths batched]

Render-only rates (no training) of both renderers on the same peak lists, and the
noise-free agreement of the two renderers on stored peak lists:

    python benchmarks/bench_batched.py --dataset data_cache/mp_gen40 --render-only
    python benchmarks/bench_batched.py --dataset data_cache/mp_gen40 --profiles
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "xrdnet_small_stream.toml"

STREAMS = {
    "bundled": [
        'stream={"corpus": 0.3, "perturbed": 0.4, "synthetic": 0.3}',
        "synthetic_patterns_per_crystal=4",
    ],
    "config": [],
}


def resident_mib() -> float:
    """Resident memory of this process and its children, MiB."""
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """Train one path in this process; its figures as a dict."""
    from xrdsym.training.config import load_config
    from xrdsym.training.loop import train

    overrides = [
        f"dataset={args.dataset}",
        f"max_minutes={args.seconds / 60}",
        "val_size=64",
        "eval_interval_s=1e9",
        "checkpoint_interval_s=1e9",
        f"num_workers={args.workers}",
        f"prefetch={args.one}",
        *STREAMS[args.stream],
    ]
    config = load_config(CONFIG, overrides)
    samples: list[tuple[float, float]] = []
    peak = [0.0]
    stop = threading.Event()
    start = time.perf_counter()

    def sample() -> None:
        while not stop.wait(1.0):
            now = resident_mib()
            peak[0] = max(peak[0], now)
            elapsed = time.perf_counter() - start
            if args.rss_every and (not samples or elapsed - samples[-1][0] >= args.rss_every):
                samples.append((round(elapsed, 1), round(now, 1)))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(config, run_dir, resume=False, progress=False)
    stop.set()
    total = time.perf_counter() - start
    return {
        "path": args.one,
        "patterns": result.patterns_seen,
        "train_seconds": round(result.wall_seconds, 1),
        "setup_seconds": round(total - result.wall_seconds, 1),
        "patterns_per_s": result.patterns_seen / result.wall_seconds,
        "peak_rss_mib": round(peak[0], 1),
        "rss_samples": samples,
    }


def render_only(dataset: str, n: int = 512, batch: int = 64) -> None:
    """Patterns/s of drawing alone: the numpy lab renderer one pattern at a time, the batch
    renderer ``batch`` at a time (one torch thread each), on the first ``n`` training
    structures."""
    import numpy as np
    import torch

    from xrdsym.datasets.store import open_dataset
    from xrdsym.patterns.batch_lab import BatchLabRenderer, normalize_batch
    from xrdsym.patterns.grid import Grid
    from xrdsym.patterns.lab import lab_renderer
    from xrdsym.patterns.prepare import normalize_intensity
    from xrdsym.training.batched import PeakTable

    torch.set_num_threads(1)
    source = open_dataset(dataset)
    rows = source.split_indices("structure_type", "train")[:n]
    grid = Grid(10.0, 110.0, 5001, source.wavelength)
    lab = lab_renderer()
    start = time.perf_counter()
    for i in rows:
        tt, inten = source.peaks(int(i))
        normalize_intensity(lab(tt, inten, grid, np.random.default_rng(int(i))))
    numpy_rate = len(rows) / (time.perf_counter() - start)
    table = PeakTable.from_source(source)
    renderer = BatchLabRenderer(impurities=False)
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for k in range(0, len(rows) - batch + 1, batch):
        arrays = table.gather(rows[k : k + batch])
        tt = torch.from_numpy(arrays["two_theta"])
        inten = torch.from_numpy(arrays["intensity"])
        normalize_batch(renderer(tt, inten, grid, g))
    batch_rate = (len(rows) // batch * batch) / (time.perf_counter() - start)
    print(f"load average: {os.getloadavg()[0]:.2f}; one torch thread; {len(rows)} structures")
    print(f"drawing only, numpy lab renderer: {numpy_rate:.0f} patterns/s")
    print(f"drawing only, batch renderer ({batch} a batch): {batch_rate:.0f} patterns/s")
    print(f"ratio: {batch_rate / numpy_rate:.2f}x")


def profile_agreement(dataset: str, n: int = 64) -> None:
    """Noise-free counts of the batch renderer against ``profile.render_pattern`` on the first
    ``n`` training structures, each with its own ``LAB_RANGES`` draw: the largest difference
    as a fraction of the highest point of the peaks."""
    import numpy as np
    import torch

    from xrdsym.datasets.store import open_dataset
    from xrdsym.patterns.batch_profile import BatchProfileParams, expected_counts
    from xrdsym.patterns.grid import Grid
    from xrdsym.patterns.lab import LAB_RANGES
    from xrdsym.patterns.profile import render_pattern, sample_profile_params
    from xrdsym.training.batched import PeakTable

    source = open_dataset(dataset)
    rows = source.split_indices("structure_type", "train")[:n]
    grid = Grid(10.0, 110.0, 5001, source.wavelength)
    rng = np.random.default_rng(0)
    params = [sample_profile_params(rng, LAB_RANGES) for _ in rows]
    arrays = PeakTable.from_source(source).gather(rows)
    tt, inten = torch.from_numpy(arrays["two_theta"]), torch.from_numpy(arrays["intensity"])
    batch = expected_counts(tt, inten, BatchProfileParams.stack(params), grid).numpy()
    errors = []
    for row, (i, p) in enumerate(zip(rows, params, strict=True)):
        reference = render_pattern(*source.peaks(int(i)), grid, p, None, noise=False)
        errors.append(float(np.abs(batch[row] - reference).max()) / p.counts)
    print(f"{len(rows)} structures, LAB_RANGES parameters, noise-free, 5001 points:")
    print(
        f"largest difference / highest point: max {max(errors):.4f}, "
        f"median {float(np.median(errors)):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--stream", choices=sorted(STREAMS), default="bundled")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rss-every", type=float, default=0.0, help="seconds between samples")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--profiles", action="store_true", help="noise-free agreement only")
    parser.add_argument(
        "--paths", nargs="+", choices=("workers", "batched"), default=["workers", "batched"]
    )
    parser.add_argument("--one", choices=("workers", "batched"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render_only:
        render_only(args.dataset)
        return
    if args.profiles:
        profile_agreement(args.dataset)
        return
    if args.one:
        print(json.dumps(one_run(args)))
        return
    print(
        f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; "
        f"stream {args.stream}; {args.seconds:.0f} s of training per run; "
        f"{args.workers} worker processes"
    )
    rates: dict[str, list[float]] = {"workers": [], "batched": []}
    for _ in range(args.repeat):
        for path in args.paths:
            command = [sys.executable, __file__, "--one", path, *sys.argv[1:]]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            rates[path].append(figures["patterns_per_s"])
            print(
                f"{path:8s}: {figures['patterns_per_s']:.0f} patterns/s "
                f"({figures['patterns']} patterns in {figures['train_seconds']} s; set-up "
                f"{figures['setup_seconds']} s; peak RSS {figures['peak_rss_mib']} MiB; "
                f"load average {os.getloadavg()[0]:.2f})"
            )
            if figures["rss_samples"]:
                print(f"  RSS (s, MiB): {figures['rss_samples']}")
    if rates["workers"] and rates["batched"]:
        workers = sum(rates["workers"]) / len(rates["workers"])
        batched = sum(rates["batched"]) / len(rates["batched"])
        print(f"batched / workers: {batched / workers:.2f}x")


if __name__ == "__main__":
    main()
