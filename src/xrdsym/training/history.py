"""``history.csv`` of a run folder: one row per evaluation."""

from __future__ import annotations

import csv
from pathlib import Path

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
