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

from xrdsym.calibration import Calibration, set_membership
from xrdsym.classify.samples import read_sample
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


def confidence_figures(
    probabilities: dict[str, np.ndarray], labels: dict[str, np.ndarray], calibration: Calibration
) -> dict[str, dict[str, float]]:
    """How far the answers' confidence can be trusted, per level, on labelled patterns.

    ``confident``: answers whose top probability reaches ``low_confidence_below`` (0.5; at the
    space-group level these are the answers without the low-confidence flag), and
    ``confident_right`` of them right; ``unsure`` / ``unsure_right`` the others. With set
    thresholds: ``set_coverage``, the share of patterns whose set {c: p(c) >= threshold}
    holds the truth, and ``set_size``, its mean size.
    """
    figures: dict[str, dict[str, float]] = {}
    for level in TASKS:
        p, truth = np.asarray(probabilities[level]), np.asarray(labels[level])
        right = p.argmax(axis=1) == truth
        confident = p.max(axis=1) >= calibration.low_confidence_below
        entry: dict[str, float] = {
            "confident": int(confident.sum()),
            "confident_right": int((right & confident).sum()),
            "unsure": int((~confident).sum()),
            "unsure_right": int((right & ~confident).sum()),
        }
        threshold = calibration.thresholds.get(level)
        if threshold is not None:
            member = set_membership(p, threshold)
            entry["set_coverage"] = float(member[np.arange(len(truth)), truth].mean())
            entry["set_size"] = float(member.sum(axis=1).mean())
        figures[level] = entry
    return figures


def evaluate_measured(
    predict_file: Callable[[Path], dict[str, np.ndarray]],
    labels_csv: str | Path,
    prior: np.ndarray,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Top-1 / top-5 accuracy of ``predict_file`` on the labelled files, beside the prior floor.

    Args:
        predict_file: path -> the distributions of the three levels (:data:`TASKS`; the
            classifier's answers, each level ranked as it answers); raises XrdsymError on bad
            files.
        labels_csv: CSV with ``file`` and ``space_group`` columns (files relative to it).
        prior: (230,) training label frequencies, the floor predictor.
        calibration: the model's calibration; with it, ``confidence`` holds
            :func:`confidence_figures`.

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
    if calibration is not None:
        result["confidence"] = confidence_figures(model_p, labels, calibration)
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
            lambda path: {
                level: p[0]
                for level, p in classifier.predict_levels(
                    read_sample(path, classifier.grid, wavelength)
                ).items()
            },
            labels,
            prior,
            classifier.calibration,
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
    lines += confidence_lines(result.get("confidence", {}))
    for name, reason in result["failed"].items():
        lines.append(f"  not classified: {name}: {reason}")
    return "\n".join(lines)


def confidence_lines(confidence: dict[str, Any]) -> list[str]:
    """Text table of :func:`confidence_figures` (empty without them)."""
    if not confidence:
        return []
    lines = [
        f"  {'task':<18}{'top p >= 0.5: right':>22}{'top p < 0.5: right':>21}"
        f"{'set coverage':>14}{'set size':>10}"
    ]
    for task, f in confidence.items():
        coverage = (
            f"{f['set_coverage']:>14.1%}{f['set_size']:>10.1f}" if "set_coverage" in f else ""
        )
        lines.append(
            f"  {task:<18}{f['confident_right']:>11} of {f['confident']:<7}"
            f"{f['unsure_right']:>10} of {f['unsure']:<7}{coverage}"
        )
    return lines


def confidence_table(results: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table of the :func:`confidence_figures` of ``xrdsym evaluate-measured``
    results, introduced (one row per result and level; nothing without figures)."""
    rows = [r for r in results if r.get("confidence")]
    if not rows:
        return []
    lines = [
        "Confidence on the measured sets (`xrdsym evaluate-measured`): the answers whose "
        "calibrated top probability reaches 0.5 (the answers without the low-confidence flag "
        "of that level) and how many of them are right, the same for the flagged ones, and "
        "the share of patterns whose prediction set holds the truth (sets fitted to hold it for "
        "90 % of simulated patterns).",
        "",
        "| model | measured set | level | answers with top p >= 0.5: right | the others: "
        "right | set coverage | mean set size |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for result in rows:
        name = Path(str(result["labels"])).parent.name
        for level, f in result["confidence"].items():
            coverage = (
                f"{f['set_coverage']:.0%} | {f['set_size']:.1f}" if "set_coverage" in f else "- | -"
            )
            lines.append(
                f"| {result.get('name', '')} | {name} | {level.replace('_', ' ')} | "
                f"{f['confident_right']} of {f['confident']} | {f['unsure_right']} of "
                f"{f['unsure']} | {coverage} |"
            )
    return [*lines, ""]
