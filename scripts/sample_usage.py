"""Sample the resident memory and CPU time of a running process and its children until it exits.

Used to show that a long training run stays bounded in memory and to state the CPU time two
side-by-side runs received:

    python scripts/sample_usage.py --pid PID --every 60 --output usage.csv

Each row: seconds since the first sample, resident memory of the process tree (MiB), CPU
seconds (user + system) of the process tree so far, the number of processes. The CPU time of
children that have exited and been waited for is counted through the parent's
``children_user`` and ``children_system`` times (workers replaced every epoch keep counting);
children that exit without being waited for are lost, so the column is a lower bound.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import psutil


def tree_usage(root: psutil.Process) -> tuple[float, float, int]:
    """(resident MiB, CPU seconds user + system, processes) of ``root`` and its descendants,
    the CPU time of their waited-for children included."""
    rss = 0
    cpu = 0.0
    count = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
            count += 1
        except psutil.NoSuchProcess:
            continue
    return rss / 2**20, cpu, count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pid", type=int, required=True, help="process to follow")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--output", type=Path, required=True, help="CSV file (appended)")
    args = parser.parse_args(argv)
    root = psutil.Process(args.pid)
    start = time.monotonic()
    new_file = not args.output.exists()
    with args.output.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(["seconds", "rss_mib", "cpu_seconds", "processes"])
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            try:
                rss, cpu, count = tree_usage(root)
            except psutil.NoSuchProcess:
                break
            writer.writerow([f"{time.monotonic() - start:.0f}", f"{rss:.1f}", f"{cpu:.1f}", count])
            handle.flush()
            time.sleep(args.every)


if __name__ == "__main__":
    main()
