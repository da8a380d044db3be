"""Accuracy on labelled measured files, with a hand-made predictor of known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdsym.errors import PatternFileError
from xrdsym.spacegroups import level_probabilities
from xrdsym.training.measured import evaluate_measured, prior_from_counts


def one_hot(group: int) -> np.ndarray:
    p = np.full(230, 1e-4)
    p[group - 1] = 1.0
    return p / p.sum()


def test_known_accuracy_and_floor(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("file,space_group\na.xy,225\nb.xy,14\nc.xy,62\nd.xy,221\nbad.xy,2\n")
    answers = {"a.xy": 225, "b.xy": 14, "c.xy": 33, "d.xy": 229}

    def predict(path: Path) -> dict[str, np.ndarray]:
        if path.name == "bad.xy":
            raise PatternFileError(f"{path}: binary file")
        return level_probabilities(one_hot(answers[path.name]))

    prior = prior_from_counts(np.array([225] * 5 + [14] * 3 + [62]))
    result = evaluate_measured(predict, labels, prior)
    assert result["files"] == 5 and result["classified"] == 4
    assert "binary file" in result["failed"]["bad.xy"]
    # 225 and 14 right; 62 -> 33 (Pnma, Pna2_1: one extinction group up to axis labels);
    # 221 -> 229 (Pm-3m, Im-3m): wrong group and extinction group, right crystal system.
    assert result["space_group"]["top1"] == pytest.approx(0.5)
    assert result["extinction_group"]["top1"] == pytest.approx(0.75)
    assert result["crystal_system"]["top1"] == pytest.approx(1.0)
    # The floor always answers 225 first, then 14, then 62: top-1 1/4, top-5 3/4.
    assert result["space_group"]["floor_top1"] == pytest.approx(0.25)
    assert result["space_group"]["floor_top5"] == pytest.approx(0.75)


def test_confidence_figures_count_right_answers_above_and_below_the_flag() -> None:
    from xrdsym.calibration import Calibration
    from xrdsym.training.measured import confidence_figures

    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.4, 0.35, 0.25], [0.2, 0.45, 0.35]])
    truth = np.array([0, 1, 0, 0])  # right, wrong (confident); right, wrong (unsure)
    calibration = Calibration(thresholds={"crystal_system": 0.3}, low_confidence_below=0.5)
    levels = {"crystal_system": p, "extinction_group": p, "space_group": p}
    figures = confidence_figures(levels, dict.fromkeys(levels, truth), calibration)
    system = figures["crystal_system"]
    assert (system["confident"], system["confident_right"]) == (2, 1)
    assert (system["unsure"], system["unsure_right"]) == (2, 1)
    # sets {p >= 0.3}: {0}, {0, 1}, {0, 1}, {1, 2} hold the truth in 3 of 4, size 7 / 4
    assert system["set_coverage"] == 0.75 and system["set_size"] == 1.75
    assert "set_coverage" not in figures["space_group"]  # no threshold: no set figures
