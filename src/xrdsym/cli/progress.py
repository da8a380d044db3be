"""Progress bars of the long commands (tqdm on standard error, with the total and an ETA) and
the report of a batch of files that skips the bad ones."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tqdm import tqdm

from xrdsym.errors import XrdsymError


def add_file_batch_options(parser: argparse.ArgumentParser, work: str) -> None:
    """``--jobs N`` (files whose ``work`` runs in parallel processes; default up to 2) and
    ``--no-progress``, for the commands that take a batch of pattern files."""
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help=f"files {work} in parallel (processes; default: up to 2)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown on a terminal for several files)",
    )


def checked_jobs(jobs: int) -> int:
    """``jobs`` when at least 1; else an error naming the option."""
    if jobs < 1:
        raise XrdsymError("--jobs must be at least 1")
    return jobs


def progress_bar(total: int | None, unit: str, disabled: bool = False) -> Any:
    """A tqdm bar of ``total`` items of ``unit``, shown on terminals only (never when
    ``disabled``)."""
    return tqdm(total=total, unit=unit, disable=True if disabled else None, file=sys.stderr)


def report_failure(bar: Any, error: object) -> None:
    """Say on standard error, above the progress bar, why one file of a batch failed."""
    bar.write(f"xrdsym: error: {error}", file=sys.stderr)


def batch_exit_code(failures: int, total: int) -> int:
    """The exit code of a batch of ``total`` files: 1, after saying how many failed, when any
    did; else 0."""
    if failures:
        print(f"xrdsym: {failures} of {total} files failed", file=sys.stderr)
    return 1 if failures else 0
