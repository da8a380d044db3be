"""Classification metrics as pure functions of (probabilities, labels).

``probabilities`` is (n, K) with rows summing to 1 (or any scores: only their order matters);
``labels`` is (n,) int class indices 0..K-1.
"""

from __future__ import annotations

import numpy as np


def _check(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes: (n, K) scores and (n,) integer labels within 0..K-1."""
    p = np.asarray(probabilities)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(f"need (n, K) probabilities and (n,) labels, got {p.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in 0..{p.shape[1] - 1}")
    return p, y


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the k highest scores (ties broken by index).

    acc_k = (1/n) sum_i [y_i in top_k(p_i)]; NaN for an empty set.
    """
    p, y = _check(probabilities, labels)
    if y.size == 0:
        return float("nan")
    k = min(k, p.shape[1])
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == y[:, None], axis=1)))


def per_class_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Top-1 accuracy (recall) of each class present in ``labels``: {class: n_correct / n}."""
    p, y = _check(probabilities, labels)
    pred = np.argmax(p, axis=1)
    return {int(c): float(np.mean(pred[y == c] == c)) for c in np.unique(y)}


def macro_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the per-class top-1 accuracies over the classes present in ``labels``."""
    per_class = per_class_accuracy(probabilities, labels)
    return float(np.mean(list(per_class.values()))) if per_class else float("nan")


def grouped_accuracy(
    probabilities: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: tuple[str, ...]
) -> dict[str, float]:
    """Top-1 accuracy within each group (e.g. the true crystal system of each pattern).

    ``groups`` is (n,) int indices into ``names``; groups without patterns are left out.
    """
    p, y = _check(probabilities, labels)
    g = np.asarray(groups, dtype=np.int64)
    correct = np.argmax(p, axis=1) == y
    return {names[int(k)]: float(np.mean(correct[g == k])) for k in np.unique(g)}


def majority_class(train_labels: np.ndarray) -> int:
    """The most frequent training label (smallest index on ties)."""
    y = np.asarray(train_labels, dtype=np.int64)
    if y.size == 0:
        raise ValueError("no training labels")
    return int(np.argmax(np.bincount(y)))


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """Accuracy of predicting the most frequent training label for every test pattern."""
    y = np.asarray(test_labels, dtype=np.int64)
    if y.size == 0:
        return float("nan")
    return float(np.mean(y == majority_class(train_labels)))


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    pred = np.asarray(predicted, dtype=np.int64)
    y = np.asarray(labels, dtype=np.int64)
    if pred.shape != y.shape:
        raise ValueError(f"predicted {pred.shape} and labels {y.shape} differ in shape")
    counts = np.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)
