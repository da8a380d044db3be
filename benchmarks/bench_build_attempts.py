"""Wall time of every pyxtal attempt of a build's generated crystals.

The generated shards of ``xrdsym dataset build --generated-per-group N --seed S`` are planned as
the build plans them (``datasets.planning.plan_tasks``) and their crystals are made with
``structures.generate.generate_crystal``, each ``pyxtal.from_random`` call timed. It prints the
number of attempts, their total and longest time and how many took longer than a few bounds:
the margin a wall-clock bound per attempt would leave on this machine (by default there is none,
so the crystals depend on the seed alone).

    python benchmarks/bench_build_attempts.py --per-group 40 --seed 0 --workers 2
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

import xrdsym.structures.generate as generate
from xrdsym.datasets.build_config import BuildConfig
from xrdsym.datasets.planning import plan_tasks
from xrdsym.datasets.shard_work import ShardTask

BOUNDS_S = (0.5, 1.0, 2.0, 3.0, 5.0)


def attempt_seconds(task: ShardTask) -> list[float]:
    """Seconds of each pyxtal attempt made for the crystals of one generated shard."""
    seconds: list[float] = []
    untimed = generate._pyxtal_attempt

    def timed(*args: Any) -> Any:
        start = time.perf_counter()
        outcome = untimed(*args)
        seconds.append(time.perf_counter() - start)
        return outcome

    setattr(generate, "_pyxtal_attempt", timed)  # noqa: B010 - in this worker process only
    rng = np.random.default_rng(task.seed)
    for group in task.requested_groups:
        generate.generate_crystal(group, rng)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--per-group", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = BuildConfig(generated_per_group=args.per_group, seed=args.seed)
    tasks = [task for task in plan_tasks(config) if task.source == "generated"]
    print(f"load average: {os.getloadavg()[0]:.2f}; {len(tasks)} generated shards")
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        times = np.array([s for shard in pool.map(attempt_seconds, tasks) for s in shard])
    print(
        f"{len(times)} attempts for {len(config.space_groups) * args.per_group} crystals in "
        f"{time.perf_counter() - start:.0f} s ({args.workers} workers); attempt time total "
        f"{times.sum():.0f} s, median {np.median(times):.3f} s, longest {times.max():.2f} s"
    )
    for bound in BOUNDS_S:
        print(f"attempts longer than {bound:g} s: {int(np.sum(times > bound))}")


if __name__ == "__main__":
    main()
