"""Metrics on hand-made predictions with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from xrdsym.training.metrics import (
    confusion_matrix,
    grouped_accuracy,
    macro_accuracy,
    majority_baseline,
    majority_class,
    per_class_accuracy,
    top_k_accuracy,
)

# Four patterns, six classes. Ranking of each row (best first):
# row 0: 0, 1, 2 ...   label 0 -> top-1 hit
# row 1: 2, 1, 0 ...   label 1 -> top-1 miss, top-2 hit
# row 2: 5, 4, 3, 2, 1, 0 label 0 -> only top-6
# row 3: 3, 1, ...     label 3 -> top-1 hit
P = np.array(
    [
        [0.50, 0.30, 0.10, 0.05, 0.03, 0.02],
        [0.20, 0.30, 0.40, 0.04, 0.03, 0.03],
        [0.01, 0.02, 0.07, 0.10, 0.30, 0.50],
        [0.05, 0.20, 0.10, 0.60, 0.03, 0.02],
    ]
)
Y = np.array([0, 1, 0, 3])


def test_top_k() -> None:
    assert top_k_accuracy(P, Y, 1) == pytest.approx(0.5)
    assert top_k_accuracy(P, Y, 2) == pytest.approx(0.75)
    assert top_k_accuracy(P, Y, 5) == pytest.approx(0.75)
    assert top_k_accuracy(P, Y, 6) == pytest.approx(1.0)
    assert np.isnan(top_k_accuracy(P[:0], Y[:0], 1))


def test_macro_accuracy_averages_present_classes() -> None:
    # class 0: 1 of 2 right, class 1: 0 of 1, class 3: 1 of 1 -> (0.5 + 0 + 1) / 3.
    assert per_class_accuracy(P, Y) == {0: 0.5, 1: 0.0, 3: 1.0}
    assert macro_accuracy(P, Y) == pytest.approx(0.5)


def test_grouped_accuracy() -> None:
    groups = np.array([0, 0, 1, 1])
    assert grouped_accuracy(P, Y, groups, ("a", "b")) == {"a": 0.5, "b": 0.5}


def test_majority_baseline() -> None:
    train = np.array([3, 3, 1, 0, 3, 1])
    assert majority_class(train) == 3
    assert majority_baseline(train, Y) == pytest.approx(0.25)
    assert majority_class(np.array([2, 1, 1, 2])) == 1  # ties -> smallest label


def test_confusion_matrix() -> None:
    matrix = confusion_matrix(np.argmax(P, axis=1), Y, 6)
    assert matrix.sum() == 4
    assert matrix[0, 0] == 1 and matrix[1, 2] == 1 and matrix[0, 5] == 1 and matrix[3, 3] == 1


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="labels"):
        top_k_accuracy(P, Y[:3])
    with pytest.raises(ValueError, match="0..5"):
        top_k_accuracy(P, np.array([0, 1, 2, 6]))
