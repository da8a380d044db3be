"""Bundling a run as the packaged model keeps its weights and adds its measured accuracies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from xrdsym.classify import load_model
from xrdsym.errors import ModelFileError
from xrdsym.models import create_model, save_pretrained
from xrdsym.training.bundle import bundle_model


def test_bundle_adds_metrics_and_loads(tmp_path: Path) -> None:
    run = tmp_path / "run"
    model = create_model("xrdnet_tiny", input_length=1001)
    save_pretrained(
        model,
        {
            "architecture": "xrdnet_tiny",
            "model_kwargs": {"input_length": 1001},
            "grid": {"n_points": 1001},
        },
        run,
    )
    test = tmp_path / "test.json"
    test.write_text(
        json.dumps(
            {
                "split": "structure_type",
                "part": "test",
                "n": 10,
                "tasks": {
                    "space_group": {
                        "top1": 0.3,
                        "top5": 0.6,
                        "macro": 0.1,
                        "majority_baseline": 0.05,
                    }
                },
            }
        )
    )
    measured = tmp_path / "measured.json"
    measured.write_text(
        json.dumps(
            [
                {
                    "labels": "x/labels.csv",
                    "files": 3,
                    "classified": 2,
                    "space_group": {"top1": 0.5},
                    "per_file": [],
                }
            ]
        )
    )
    out = tmp_path / "bundled"
    config = bundle_model(run, out, [test], [measured], "a test model")
    saved = json.loads((out / "model.json").read_text())
    assert saved == json.loads(json.dumps(config))
    assert saved["metrics"]["test"][0]["space_group"]["top1"] == 0.3
    assert saved["metrics"]["measured"][0]["classified"] == 2
    assert "per_file" not in saved["metrics"]["measured"][0]
    assert saved["licence"] == "MIT"
    loaded = load_model(out, backend="torch")
    x = torch.rand(2, 1, 1001)
    model.eval()
    with torch.inference_mode():
        assert torch.allclose(loaded.model(x)["space_group"], model(x)["space_group"])
    with pytest.raises(ModelFileError):
        bundle_model(run, tmp_path / "other", [tmp_path / "missing.json"], [], "")
    # Refreshing the bundled folder in place: new measured figures, test figures and
    # weights kept.
    measured.write_text(
        json.dumps([{"labels": "x/labels.csv", "files": 3, "classified": 3, "per_file": []}])
    )
    weights = (out / "model.safetensors").read_bytes()
    refreshed = bundle_model(out, out, [], [measured], "a test model")
    assert refreshed["metrics"]["measured"][0]["classified"] == 3
    assert refreshed["metrics"]["test"][0]["space_group"]["top1"] == 0.3
    assert (out / "model.safetensors").read_bytes() == weights
