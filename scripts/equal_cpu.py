"""Keep two running jobs at equal CPU time: pause (SIGSTOP) the one ahead until the other
catches up, resume it (SIGCONT), and log both every ``--every`` seconds.

Two trainings compared side by side on a shared machine get unequal shares of the CPU (a job
with more threads or processes gets more). Pausing the one that is ahead gives both the same
CPU seconds over the same wall time; each job's own wall-clock schedule is unchanged:

    python scripts/equal_cpu.py --pids PID_A PID_B --output equal_cpu.csv [--slack 10]

Each row: seconds since the start, then per job its process tree's resident memory (MiB),
CPU seconds (as ``scripts/sample_usage.py`` counts them) and whether it was paused. Stops when
both jobs have ended; a paused job is resumed first.
"""

from __future__ import annotations

import argparse
import csv
import signal
import time
from pathlib import Path

import psutil
from sample_usage import tree_usage


def signal_tree(root: psutil.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to ``root`` and all its descendants (those that still exist)."""
    for proc in [root, *root.children(recursive=True)]:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            continue


def alive(proc: psutil.Process) -> bool:
    """The process exists and is not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pids", type=int, nargs=2, required=True, help="the two jobs")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between checks")
    parser.add_argument("--slack", type=float, default=10.0, help="CPU seconds allowed apart")
    parser.add_argument("--output", type=Path, required=True, help="CSV log (appended)")
    args = parser.parse_args(argv)
    jobs = [psutil.Process(pid) for pid in args.pids]
    paused = [False, False]
    start = time.monotonic()
    with args.output.open("a", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seconds", "rss_a", "cpu_a", "paused_a", "rss_b", "cpu_b", "paused_b"])
        while any(alive(job) for job in jobs):
            usage = [tree_usage(job) if alive(job) else (0.0, float("inf"), 0) for job in jobs]
            cpu = [u[1] for u in usage]
            for i, job in enumerate(jobs):
                ahead = cpu[i] > cpu[1 - i] + args.slack and alive(jobs[1 - i])
                if alive(job) and ahead != paused[i]:
                    signal_tree(job, signal.SIGSTOP if ahead else signal.SIGCONT)
                    paused[i] = ahead
            row = [f"{time.monotonic() - start:.0f}"]
            for (rss, seconds, _), flag in zip(usage, paused, strict=True):
                row += [f"{rss:.1f}", f"{seconds:.1f}", str(int(flag))]
            writer.writerow(row)
            handle.flush()
            time.sleep(args.every)
        for job, flag in zip(jobs, paused, strict=True):
            if flag and alive(job):
                signal_tree(job, signal.SIGCONT)


if __name__ == "__main__":
    main()
