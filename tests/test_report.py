"""The results report from hand-made run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from research.report import README_END, README_START, accuracy_at_budget, write_report
from xrdsym.spacegroups import LEVELS


def make_run(folder: Path, model: str, split: str, sg_top1: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": {"split": split}}))
    (folder / "model.json").write_text(
        json.dumps(
            {
                "architecture": model,
                "training_data": {"split": split, "dataset": "d", "n_train": 100},
                "training": {"wall_seconds": 900.0, "patterns_seen": 9000},
            }
        )
    )
    (folder / "history.csv").write_text(
        "wall_seconds,patterns_seen,val_top1_space_group,val_top1_crystal_system\n"
        "290,3000,0.10,0.40\n600,6000,0.20,0.50\n900,9000,0.30,0.60\n"
    )
    task = {
        "top1": sg_top1,
        "top5": 0.9,
        "macro": 0.1,
        "majority_baseline": 0.05,
        "per_crystal_system": {},
    }
    (folder / "test_results.json").write_text(
        json.dumps(
            {
                "n": 50,
                "tasks": {"space_group": task, "crystal_system": task, "extinction_group": task},
            }
        )
    )
    return folder


def test_budget_lookup_takes_last_evaluation_within_budget(tmp_path: Path) -> None:
    run = make_run(tmp_path / "a", "xrdnet", "random", 0.3)
    from research.report import read_history

    history = read_history(run)
    assert accuracy_at_budget(history, 5.0, "space_group") == 0.10
    assert accuracy_at_budget(history, 10.0, "space_group") == 0.20
    assert accuracy_at_budget(history, 15.0, "crystal_system") == 0.60
    assert np.isnan(accuracy_at_budget(history, 30.0, "space_group"))  # never trained so long


def test_report_writes_results_and_readme_section(tmp_path: Path) -> None:
    runs = [
        make_run(tmp_path / "a", "xrdnet", "random", 0.345),
        make_run(tmp_path / "b", "park_multitask", "structure_type", 0.123),
    ]
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{README_START}\nold\n{README_END}\n\nafter\n")
    results = write_report(runs, [], tmp_path / "results", readme)
    assert len(results["runs"]) == 2
    assert (tmp_path / "results" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    text = readme.read_text()
    assert "old" not in text and text.endswith("after\n")
    assert "| a | xrdnet | random | 15 | 9,000 | 50 | 34.5 / 90.0 (5.0)" in text
    assert "| b | park_multitask | structure_type |" in text
    assert "| Park et al. (2017) | paper CNNs | random (ICSD) |" in text
    # Rebuilt from the recorded results.json once the run folders are gone, with one more.
    later = make_run(tmp_path / "c", "xrdnet_small", "random", 0.2)
    rebuilt = write_report(
        [later], [], tmp_path / "again", readme, recorded=tmp_path / "results" / "results.json"
    )
    assert [r["run"] for r in rebuilt["runs"]] == ["a", "b", "c"]
    assert "| a | xrdnet | random | 15 | 9,000 | 50 | 34.5 / 90.0 (5.0)" in readme.read_text()


def test_model_card_lists_test_and_measured_figures() -> None:
    from research.model_card import model_card_lines

    config = {
        "architecture": "xrdnet_small",
        "model_kwargs": {"input_length": 5001},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": 5001, "wavelength": 1.540562},
        "training_data": {"split": "structure_type", "n_train": 20000, "renderer": "lab"},
        "training": {"wall_seconds": 3600.0, "patterns_seen": 1_000_000, "steps": 15625},
        "licence": "MIT",
        "metrics": {
            "test": [
                {
                    "split": "structure_type",
                    "renderer": "paper",
                    "n": 5590,
                    "space_group": {"top1": 0.1234, "top5": 0.3, "majority_baseline": 0.04},
                }
            ],
            "measured": [
                {
                    "labels": "a/xred/labels.csv",
                    "classified": 17,
                    "space_group": {
                        "top1": 0.0588,
                        "top5": 0.2353,
                        "floor_top1": 0.1176,
                        "floor_top5": 0.2353,
                    },
                }
            ],
        },
    }
    text = "\n".join(model_card_lines(config))
    assert "60 minutes, 1,000,000 patterns" in text
    assert "| simulated structure_type test part, paper rendering | 5590 |" in text
    assert "12.3 / 30.0 (4.0)" in text
    assert "| measured: xred | 17 |" in text and "5.9 / 23.5 (11.8 / 23.5)" in text
    assert "Reliability" not in text  # no calibration record, no reliability table


def test_model_card_gives_the_reliability_of_its_calibration_record() -> None:
    from research.model_card import model_card_lines, reliability_lines

    def scores(top1: float, n: int) -> dict[str, Any]:
        raw = {"n": n, "top1": top1, "ece": 0.2, "nll": 2.0}
        cal = {**raw, "ece": 0.05, "coverage": 0.91, "mean_set_size": 12.5}
        return {level: {"uncalibrated": raw, "calibrated": cal} for level in LEVELS}

    record = {
        "temperatures": dict.fromkeys(LEVELS, 1.5),
        "thresholds": dict.fromkeys(LEVELS, 0.01),
        "alpha": 0.1,
        "n_temperature": 966,
        "n_conformal": 967,
        "renderer": "lab",
        "part": "val",
        "split": "structure_type",
        "dataset_fingerprint": "abe3a87ede2ca919",
        "test": scores(0.25, 3000),
        "measured": [{"labels": "x/xred/labels.csv", **scores(0.4, 17)}],
    }
    lines = reliability_lines(record)
    assert "fitted on 966 and set thresholds on 967 lab-rendered patterns" in lines[0]
    assert "| simulated test | 3000 | space group | 0.250 | 0.200 | 0.050 | 0.910 | 12.5 |" in lines
    assert (
        "| measured: xred | 17 | crystal system | 0.400 | 0.200 | 0.050 | 0.910 | 12.5 |" in lines
    )
    assert len(lines) == 4 + 2 * len(LEVELS)
    card = model_card_lines(
        {"architecture": "xrdnet_small", "licence": "MIT", "calibration": record}
    )
    assert card[-len(lines) :] == lines


def test_continued_copies_share_one_curve_and_list_their_gap(tmp_path: Path) -> None:
    """A run at 15 minutes and its continuation (a copy with a longer history, whose dataset
    changed on resume): both in the test and gap tables, one curve and budget row for both."""
    early = make_run(tmp_path / "early" / "corpus", "xrdnet_small", "structure_type", 0.1)
    late = make_run(tmp_path / "late" / "corpus", "xrdnet_small", "structure_type", 0.2)
    (late / "history.csv").write_text(
        "wall_seconds,step,patterns_seen,train_top1,val_top1_space_group,val_top1_crystal_system\n"
        "600,10,6000,0.2,0.20,0.50\n900,20,9000,0.3,0.30,0.60\n1800,40,18000,0.45,0.25,0.55\n"
    )
    (late / "config.json").write_text(
        json.dumps(
            {
                "config": {"split": "structure_type"},
                "resumes": [
                    {"step": 20, "changed": {"dataset_fingerprint": ["a", "b"]}},
                    {"step": 30, "changed": {"max_minutes": [30, 60]}},
                ],
            }
        )
    )
    model = json.loads((late / "model.json").read_text())
    model["training"] = {"wall_seconds": 1800.0, "patterns_seen": 18000}
    (late / "model.json").write_text(json.dumps(model))
    validation = {
        "n": 40,
        "tasks": {"space_group": {"top1": 0.15}, "crystal_system": {"top1": 0.5}},
    }
    (late / "val_results.json").write_text(json.dumps(validation))
    readme = tmp_path / "README.md"
    readme.write_text("# title\n")
    results = write_report([early, late], [], tmp_path / "results", readme)
    assert [r["dataset_changed_min"] for r in results["runs"]] == [[], [15.0]]
    text = readme.read_text()
    assert text.count("| corpus | xrdnet_small | structure_type | 15 | 9,000 |") == 1
    assert text.count("| corpus | xrdnet_small | structure_type | 30 | 18,000 |") == 1
    # One budget row, from the longer history; 30 minutes reached by it only.
    assert text.count("| corpus | xrdnet_small | structure_type | 10 |") == 1
    assert "| 10 | - / - | 20.0 / 50.0 | 30.0 / 60.0 | 25.0 / 55.0 |" in text
    assert "validation part: corpus (minute 15); the columns before that minute" in text
    # Gap row only for the run with a validation evaluation: 45.0 - 15.0 = 30.0 points.
    assert "| corpus | 30 | 18,000 | 45.0 | 15.0 / 50.0 | 20.0 / 20.0 | 30.0 |" in text
    assert text.count("| corpus | 15 |") == 0
