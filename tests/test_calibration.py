"""Temperature scaling, conformal sets and ``xrdsym calibrate`` on a tiny model and dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import SMALL_GRID_POINTS, SyntheticPeaks, write_dataset

from xrdsym.calibration import (
    Calibration,
    conformal_threshold,
    fit_temperature,
    prediction_set,
    set_membership,
    softmax,
    tempered,
)
from xrdsym.classify import load_model, sample_from_peaks
from xrdsym.cli import main
from xrdsym.models import create_model, save_pretrained
from xrdsym.spacegroups import LEVELS, level_labels, level_probabilities
from xrdsym.training.calibration import fit_calibration


def _overconfident(n: int, seed: int, true_t: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(z / true_t): the right T is true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 4.0, (n, 230))
    p = softmax(logits, true_t)
    labels = np.array([rng.choice(230, p=row) for row in p])
    return logits, labels


def test_temperature_fit_recovers_the_true_temperature() -> None:
    logits, labels = _overconfident(4000, 0)
    assert fit_temperature(logits, labels) == pytest.approx(3.0, rel=0.1)


def test_conformal_sets_reach_their_coverage_on_held_out_draws() -> None:
    logits, labels = _overconfident(6000, 1)
    p = softmax(logits, 3.0)
    threshold = conformal_threshold(p[:2000], labels[:2000], alpha=0.1)
    member = set_membership(p[2000:], threshold)
    coverage = member[np.arange(4000), labels[2000:]].mean()
    assert 0.88 <= coverage <= 0.93
    assert member.sum(axis=1).mean() < 230


def test_prediction_set_is_never_empty_and_sorted() -> None:
    p = np.array([0.1, 0.6, 0.3])
    assert prediction_set(p, 0.99).tolist() == [1]
    assert prediction_set(p, 0.2).tolist() == [1, 2]


def test_malformed_or_older_records_are_not_used_and_say_why() -> None:
    none = Calibration.from_config(None)
    assert not none.calibrated and none.problem == "" and none.temperature("crystal_system") == 1
    older = Calibration.from_config({"temperature": 1.8, "thresholds": {"space_group": 0.1}})
    assert not older.calibrated and not older.thresholds
    assert "older layout" in older.problem and "xrdsym calibrate" in older.problem
    bad = {"temperatures": {"crystal_system": -1, "extinction_group": 1, "space_group": 1}}
    assert "malformed" in Calibration.from_config(bad).problem
    partial = {"temperatures": {"space_group": 2.0}}
    assert not Calibration.from_config(partial).calibrated


def test_level_temperatures_keep_every_level_ranking() -> None:
    """Summing tempered space-group probabilities moves crystal-system answers; the per-level
    temperatures of a record never do."""
    logits = np.random.default_rng(3).normal(0.0, 3.0, (2000, 230))
    raw = level_probabilities(softmax(logits))
    temperatures = {"crystal_system": 1.5, "extinction_group": 2.5, "space_group": 1.8}
    calibrated = Calibration(temperatures=temperatures).levels(raw)
    for level in LEVELS:
        assert np.array_equal(calibrated[level].argmax(1), raw[level].argmax(1))
        assert np.allclose(calibrated[level].sum(1), 1.0)
    assert np.allclose(calibrated["space_group"], softmax(logits, 1.8))
    summed = level_probabilities(softmax(logits, 1.8))["crystal_system"]
    assert np.mean(summed.argmax(1) != raw["crystal_system"].argmax(1)) > 0.02


def test_each_level_gets_its_own_fitted_temperature() -> None:
    """Labels drawn at T = 3 for space groups; the crystal-system sums of the same model are
    fitted separately, and the sets reach their coverage on the other half."""
    logits, labels = _overconfident(6000, 4)
    record = fit_calibration(logits, labels, alpha=0.1, seed=0)
    assert set(record["temperatures"]) == set(LEVELS)
    assert record["temperatures"]["space_group"] == pytest.approx(3.0, rel=0.1)
    truth = level_labels(labels)
    p = Calibration(temperatures=record["temperatures"]).levels(
        level_probabilities(softmax(logits))
    )
    fitted_nll = -np.log(p["crystal_system"][np.arange(6000), truth["crystal_system"]]).mean()
    for other in (1.0, record["temperatures"]["space_group"]):
        q = tempered(level_probabilities(softmax(logits))["crystal_system"], other)
        assert fitted_nll <= -np.log(q[np.arange(6000), truth["crystal_system"]]).mean() + 1e-9


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny untrained model on the 501-point grid and a synthetic dataset."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("calibrate")
    model = create_model("xrdnet_tiny", input_length=SMALL_GRID_POINTS)
    config = {
        "architecture": "xrdnet_tiny",
        "model_kwargs": {"input_length": SMALL_GRID_POINTS},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": SMALL_GRID_POINTS},
        "training_data": {"renderer": "paper"},
    }
    save_pretrained(model, config, root / "model")
    dataset = write_dataset(root / "data", SyntheticPeaks(240))
    return root / "model", dataset


def test_calibrate_writes_the_record_and_a_checked_onnx_export(
    tiny_model: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, dataset = tiny_model
    args = ["calibrate", str(folder), "--dataset", str(dataset), "--n-test", "80"]
    assert main(args) == 0
    assert "temperature" in capsys.readouterr().out
    config = json.loads((folder / "model.json").read_text())
    record = config["calibration"]
    assert record["part"] == "val" and record["n_conformal"] > 0
    assert set(record["temperatures"]) == set(LEVELS)
    assert set(record["thresholds"]) == {"crystal_system", "extinction_group", "space_group"}
    assert record["test"]["space_group"]["calibrated"]["n"] == 80
    assert config["onnx"]["max_abs_diff"] <= 1e-5
    classifier = load_model(folder)
    assert classifier.backend.name == "onnx" and classifier.calibration.calibrated
    values = np.random.default_rng(0).uniform(0, 1, (3, SMALL_GRID_POINTS)).astype(np.float32)
    levels = classifier.predict_levels(values)
    peaks = sample_from_peaks([28.4, 47.3, 56.1], [100, 60, 35], classifier.grid)
    prediction = classifier.classify(peaks)[0]
    assert prediction.coverage == pytest.approx(0.9) and prediction.prediction_sets["space_group"]
    assert np.array_equal(levels["space_group"], classifier.predict_proba(values))
    raw = level_probabilities(softmax(classifier.predict_logits(values)))
    for level in LEVELS:
        assert np.array_equal(levels[level].argmax(1), raw[level].argmax(1))


def test_an_older_calibration_record_is_reported_in_every_answer(
    tiny_model: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model[0], folder)
    config = json.loads((folder / "model.json").read_text())
    config["calibration"] = {"temperature": 1.8, "alpha": 0.1, "thresholds": {"space_group": 0.1}}
    (folder / "model.json").write_text(json.dumps(config))
    classifier = load_model(folder, backend="torch")
    peaks = sample_from_peaks([28.4, 47.3, 56.1], [100, 60, 35], classifier.grid)
    prediction = classifier.classify(peaks)[0]
    assert not prediction.prediction_sets and prediction.provenance is not None
    assert any("older layout" in w for w in prediction.provenance.warnings)
    assert "calibration_problem" in prediction.provenance.model


def test_calibrate_scores_measured_files_at_the_given_wavelength(
    tiny_model: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model[0], folder)
    measured = tmp_path / "measured"
    measured.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "patterns" / "si_reference.xy", measured)
    (measured / "labels.csv").write_text("file,space_group\nsi_reference.xy,227\n")
    args = ["calibrate", str(folder), "--dataset", str(tiny_model[1]), "--no-onnx"]
    args += ["--measured", str(measured / "labels.csv"), "--wavelength", "1.5406"]
    assert main(args) == 0
    assert "labels.csv" in capsys.readouterr().out
    (record,) = json.loads((folder / "model.json").read_text())["calibration"]["measured"]
    assert record["wavelength"] == "1.5406" and record["files"] == 1
    assert record["space_group"]["calibrated"]["n"] == 1


def test_reliability_bins_and_ece_of_a_known_diagram():
    from xrdsym.calibration import expected_calibration_error, reliability_bins

    # four answers at 0.9 (three right), two at 0.55 (one right): two bins of ten
    p = np.array([[0.9, 0.1]] * 4 + [[0.45, 0.55]] * 2)
    labels = np.array([0, 0, 0, 1, 1, 0])
    rows = reliability_bins(p, labels, bins=10)
    assert [(r["low"], r["count"]) for r in rows] == [(0.5, 2), (0.9, 4)]
    assert rows[0]["accuracy"] == 0.5 and rows[1]["accuracy"] == 0.75
    assert rows[1]["confidence"] == pytest.approx(0.9)
    ece = expected_calibration_error(p, labels, bins=10)
    assert ece == pytest.approx(2 / 6 * 0.05 + 4 / 6 * 0.15)
