"""Accuracy on measured patterns with known space groups (a labels table beside the files).

The floor beside every figure is the label-frequency prior of the training data: always
answering the space groups (or crystal systems, extinction groups) that are most frequent in
the training part, ranked by frequency. A model that does not beat it has learned nothing
that transfers to these measurements.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.spacegroups import LEVELS as TASKS
from xrdsym.spacegroups import level_labels, level_probabilities
from xrdsym.training.metrics import top_k_accuracy


def read_labels(labels_csv: Path) -> list[tuple[Path, int]]:
    """(pattern file, space group) pairs from a CSV with columns ``file`` and ``space_group``."""
    with open(labels_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "space_group"} <= set(rows[0]):
        raise XrdsymError(f"{labels_csv}: need columns 'file' and 'space_group'")
    return [(labels_csv.parent / row["file"], int(row["space_group"])) for row in rows]


def prior_from_counts(train_space_groups: np.ndarray) -> np.ndarray:
    """(230,) label-frequency prior of the training space groups (add-one smoothed ranks)."""
    counts = np.bincount(np.asarray(train_space_groups) - 1, minlength=230).astype(float)
    return (counts + 1e-6) / (counts + 1e-6).sum()


def evaluate_measured(
    predict_file: Callable[[Path], dict[str, np.ndarray]],
    labels_csv: str | Path,
    prior: np.ndarray,
) -> dict[str, Any]:
    """Top-1 / top-5 accuracy of ``predict_file`` on the labelled files, beside the prior floor.

    Args:
        predict_file: path -> the distributions of the three levels (:data:`TASKS`; the
            classifier's answers, each level ranked as it answers); raises XrdsymError on bad
            files.
        labels_csv: CSV with ``file`` and ``space_group`` columns (files relative to it).
        prior: (230,) training label frequencies, the floor predictor.

    Returns:
        ``files``, ``classified``, ``failed`` (file -> reason) and, per task, ``top1``, ``top5``,
        ``floor_top1``, ``floor_top5``; plus ``per_file`` rows (file, true and predicted group).
    """
    pairs = read_labels(Path(labels_csv))
    answers: list[dict[str, np.ndarray]] = []
    truths: list[int] = []
    failed: dict[str, str] = {}
    per_file: list[dict[str, Any]] = []
    for path, group in pairs:
        try:
            levels = predict_file(path)
        except XrdsymError as exc:
            failed[path.name] = str(exc)
            continue
        p = levels["space_group"]
        answers.append(levels)
        truths.append(group)
        per_file.append(
            {
                "file": path.name,
                "space_group": group,
                "predicted": int(np.argmax(p)) + 1,
                "probability": float(np.max(p)),
            }
        )
    result: dict[str, Any] = {
        "labels": str(labels_csv),
        "files": len(pairs),
        "classified": len(truths),
        "failed": failed,
        "per_file": per_file,
    }
    if not truths:
        return result
    model_p = {task: np.stack([a[task] for a in answers]) for task in TASKS}
    floor_p = level_probabilities(np.tile(prior, (len(truths), 1)))
    labels = level_labels(np.array(truths) - 1)
    for task in TASKS:
        result[task] = {
            "top1": top_k_accuracy(model_p[task], labels[task], 1),
            "top5": top_k_accuracy(model_p[task], labels[task], 5),
            "floor_top1": top_k_accuracy(floor_p[task], labels[task], 1),
            "floor_top5": top_k_accuracy(floor_p[task], labels[task], 5),
        }
    return result


def score_measured_sets(
    classifier: Any,
    labels_files: Sequence[str | Path],
    dataset: Any,
    split: str,
    wavelength: float | str | None = "CuKa1",
) -> list[dict[str, Any]]:
    """:func:`evaluate_measured` of a ``Classifier`` on each labels file.

    The floor is the label-frequency prior of the training part of ``split`` of ``dataset``
    (a ``PeakDataset``); files are read with ``wavelength`` (Angstrom or an anode name).
    """
    prior = prior_from_counts(dataset.space_groups()[dataset.split_indices(split, "train")])
    return [
        evaluate_measured(
            lambda path: classifier.predict_levels_file(path, wavelength=wavelength),
            labels,
            prior,
        )
        for labels in labels_files
    ]


def format_measured(result: dict[str, Any]) -> str:
    """Human-readable table of :func:`evaluate_measured`."""
    lines = [f"{result['labels']}: {result['classified']} of {result['files']} files classified"]
    lines.append(f"  {'task':<18}{'top-1':>8}{'top-5':>8}{'floor top-1':>13}{'floor top-5':>13}")
    for task in TASKS:
        if task in result:
            r = result[task]
            lines.append(
                f"  {task:<18}{r['top1']:>8.1%}{r['top5']:>8.1%}"
                f"{r['floor_top1']:>13.1%}{r['floor_top5']:>13.1%}"
            )
    for name, reason in result["failed"].items():
        lines.append(f"  not classified: {name}: {reason}")
    return "\n".join(lines)
