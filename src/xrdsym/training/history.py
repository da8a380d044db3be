"""``history.csv`` of a run folder: one row per evaluation."""

from __future__ import annotations

import csv
from pathlib import Path

from xrdsym.atomic import atomic_path

HISTORY_NAME = "history.csv"
HISTORY_FIELDS = (
    "wall_seconds",
    "epoch",
    "step",
    "patterns_seen",
    "lr",
    "train_loss",
    "train_top1",
    "val_top1_crystal_system",
    "val_top1_extinction_group",
    "val_top1_space_group",
)


def append_history(path: Path, row: dict[str, float]) -> None:
    """Append one row to ``history.csv`` (header written with the first row)."""
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in HISTORY_FIELDS})


def read_history(path: Path) -> list[dict[str, float]]:
    """Rows of ``history.csv`` as floats (empty cells skipped)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def rollback_history(path: Path, step: int) -> int:
    """Drop the rows after ``step`` (those of steps a resume from a checkpoint at ``step``
    trains again), rewriting the file atomically; the number of rows dropped.

    Rows without a readable step are kept.
    """
    if not path.exists():
        return 0
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept = [row for row in rows if not _after(row.get("step"), step)]
    if len(kept) == len(rows):
        return 0
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
    return len(rows) - len(kept)


def _after(value: str | None, step: int) -> bool:
    """Whether a row's step cell is a number above ``step``."""
    try:
        return float(value or "") > step
    except ValueError:
        return False
