"""Temperature scaling, conformal sets and ``xrdsym calibrate`` on a tiny model and dataset."""

from __future__ import annotations

import json
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
)
from xrdsym.classify import load_model, load_space_group_table, space_group_table_data
from xrdsym.cli import main
from xrdsym.models import create_model, save_pretrained


def _overconfident(n: int, seed: int, true_t: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(z / true_t): the right T is true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 4.0, (n, 230))
    p = softmax(logits, true_t)
    labels = np.array([rng.choice(230, p=row) for row in p])
    return logits, labels


def test_shipped_space_group_table_equals_the_spglib_derivation() -> None:
    shipped = Path(__file__).parents[1] / "src" / "xrdsym" / "space_group_table.json"
    table = json.loads(shipped.read_text())
    derived = space_group_table_data()
    assert table["space_groups"] == derived["space_groups"]
    assert table["crystal_systems"] == derived["crystal_systems"]
    assert load_space_group_table().extinction_symbols[21] == "Pna2_1, Pnma"


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


def test_malformed_record_is_the_identity() -> None:
    assert not Calibration.from_config({"temperature": -1}).calibrated
    assert Calibration.from_config(None).temperature == 1.0


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
    assert record["part"] == "val" and record["n_conformal"] > 0 and record["temperature"] > 0
    assert set(record["thresholds"]) == {"crystal_system", "extinction_group", "space_group"}
    assert record["test"]["space_group"]["calibrated"]["n"] == 80
    assert config["onnx"]["max_abs_diff"] <= 1e-5
    classifier = load_model(folder)
    assert classifier.backend.name == "onnx" and classifier.calibration.calibrated
    values = np.random.default_rng(0).uniform(0, 1, (3, SMALL_GRID_POINTS)).astype(np.float32)
    prediction = classifier.answer(
        classifier.peaks_sample([28.4, 47.3, 56.1], [100, 60, 35]),
        classifier.predict_proba(values)[0],
    )
    assert prediction.coverage == pytest.approx(0.9) and prediction.prediction_sets["space_group"]
