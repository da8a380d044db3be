"""Evaluation of a model on a fixed, seeded set of rendered patterns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xrdsym.datasets.protocol import PeakSource
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.protocols import PatternRenderer
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, level_labels, reconcile_probabilities
from xrdsym.spacegroups import LEVELS as TASKS
from xrdsym.training.data import RenderedPatterns, render_fixed
from xrdsym.training.metrics import (
    confusion_matrix,
    grouped_accuracy,
    macro_accuracy,
    majority_baseline,
    top_k_accuracy,
)


@torch.inference_mode()
def predict_probabilities(
    model: nn.Module, patterns: np.ndarray, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Class probabilities of each task for prepared patterns (n, L).

    When the model predicts space groups, crystal-system and extinction-group probabilities are
    the sums of their space groups' probabilities (``reconcile_probabilities``), so the three
    answers are consistent; otherwise each task's own head is used (softmax of its logits).
    """

    was_training = model.training
    model.eval()
    chunks: dict[str, list[np.ndarray]] = {}
    device = next(model.parameters()).device
    for start in range(0, len(patterns), batch_size):
        x = torch.as_tensor(patterns[start : start + batch_size], device=device).unsqueeze(1)
        for task, logits in model(x).items():
            if task in TASKS:
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy().astype(np.float64)
                chunks.setdefault(task, []).append(probs)
    model.train(was_training)
    out = {task: np.concatenate(parts) for task, parts in chunks.items()}
    if "space_group" in out:
        out["crystal_system"], out["extinction_group"] = reconcile_probabilities(out["space_group"])
    return out


def score_task(
    probabilities: np.ndarray,
    labels: np.ndarray,
    crystal_system: np.ndarray,
    train_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Top-1/top-5/macro accuracy, accuracy per true crystal system and majority baseline."""

    result: dict[str, Any] = {
        "n": int(len(labels)),
        "top1": top_k_accuracy(probabilities, labels, 1),
        "top5": top_k_accuracy(probabilities, labels, 5),
        "macro": macro_accuracy(probabilities, labels),
        "per_crystal_system": grouped_accuracy(
            probabilities, labels, crystal_system, tuple(CRYSTAL_SYSTEMS)
        ),
    }
    if train_labels is not None and len(train_labels):
        result["majority_baseline"] = majority_baseline(train_labels, labels)
    return result


def evaluate(
    model: nn.Module,
    source: PeakSource,
    indices: np.ndarray,
    grid: Grid,
    seed: int,
    train_indices: np.ndarray | None = None,
    renderer: PatternRenderer | None = None,
    preparer: Callable[[np.ndarray, Grid, np.random.Generator], np.ndarray] | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> dict[str, Any]:
    """Render a fixed (seeded) test set of ``indices`` and score every task the model answers
    (``progress``: a bar of the patterns rendered, with an ETA, on a terminal).

    Returns ``{"n", "seed", "grid", "tasks": {task: score_task(...)},
    "crystal_system_confusion": (7, 7) nested list (rows true, columns predicted)}``; with
    ``train_indices`` each task also gets its majority-class baseline.
    """

    dataset = RenderedPatterns(source, grid, seed, renderer, preparer)
    patterns, sg = render_fixed(dataset, indices, progress)
    probabilities = predict_probabilities(model, patterns, batch_size)
    labels = level_labels(sg)
    train_labels = None
    if train_indices is not None:
        train_sg = np.array([source.space_group(int(i)) - 1 for i in train_indices], np.int64)
        train_labels = level_labels(train_sg)
    results: dict[str, Any] = {
        "n": int(len(sg)),
        "seed": int(seed),
        "grid": {"start": grid.start, "stop": grid.stop, "n_points": grid.n_points},
        "tasks": {},
    }
    for task in TASKS:
        if task in probabilities:
            results["tasks"][task] = score_task(
                probabilities[task],
                labels[task],
                labels["crystal_system"],
                None if train_labels is None else train_labels[task],
            )
    if "crystal_system" in probabilities:
        predicted = np.argmax(probabilities["crystal_system"], axis=1)
        matrix = confusion_matrix(predicted, labels["crystal_system"], len(CRYSTAL_SYSTEMS))
        results["crystal_system_confusion"] = matrix.tolist()
    return results


def plot_confusion(matrix: np.ndarray, names: tuple[str, ...], path: str | Path) -> Path:
    """Save a row-normalised confusion matrix (rows: true class) as a PNG.

    Drawn on a ``matplotlib.figure.Figure`` of its own, so no pyplot state or backend changes.
    """
    # deferred until called: imports matplotlib
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig = Figure(figsize=(6.5, 5.5), dpi=120)
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(names)):
            if counts[i, j]:
                colour = "white" if fractions[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=colour)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
