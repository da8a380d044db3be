"""The pretrained model shipped in the package loads offline and classifies the example."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xrdsym
from xrdsym.classify import bundled_model_dir, read_sample
from xrdsym.cli import main


def test_bundled_model_card_states_data_split_and_accuracy() -> None:
    config = json.loads((bundled_model_dir() / "model.json").read_text())
    assert config["licence"]
    assert config["training_data"]["split"] in ("random", "structure_type")
    assert config["training"]["wall_seconds"] > 0
    test = config["metrics"]["test"][0]
    assert 0.0 <= test["space_group"]["top1"] <= 1.0
    assert test["space_group"]["top1"] > test["space_group"]["majority_baseline"]


def test_load_model_and_classify_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    classifier = xrdsym.load_model()
    example = bundled_model_dir().parent / "examples" / "PbSO4_CuKa.csv"
    p = classifier.predict_proba(read_sample(example, classifier.grid, "CuKa1"))[0]
    assert p.shape == (230,) and np.isfinite(p).all()
    assert p.sum() == pytest.approx(1.0, abs=1e-4)
    assert main(["classify", str(example), "--wavelength", "CuKa1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert len(record["space_group"]) == 3
