"""Progress bars of the long commands (tqdm on standard error, with the total and an ETA) and
the report of a batch of files that skips the bad ones."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


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
