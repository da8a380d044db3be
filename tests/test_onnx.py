"""ONNX export against torch, and the backend choice of load_model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from xrdsym.classify import bundled_model_dir, load_model, read_sample
from xrdsym.errors import ModelFileError
from xrdsym.models import create_model, save_pretrained
from xrdsym.training.onnx_export import export_onnx

GRID_POINTS = 1001
EXAMPLE = bundled_model_dir().parent / "examples" / "PbSO4_CuKa.csv"


@pytest.fixture()
def exported(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    model = create_model("xrdnet_tiny", input_length=GRID_POINTS)
    config = {
        "architecture": "xrdnet_tiny",
        "model_kwargs": {"input_length": GRID_POINTS},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": GRID_POINTS, "wavelength": 1.540562},
    }
    save_pretrained(model, config, tmp_path)
    config["onnx"] = export_onnx(model, tmp_path, GRID_POINTS)
    (tmp_path / "model.json").write_text(json.dumps(config))
    return tmp_path


def test_onnx_and_torch_agree_on_batches(exported: Path) -> None:
    onnx, torch_ = load_model(exported, backend="onnx"), load_model(exported, backend="torch")
    values = np.random.default_rng(2).uniform(0, 1, (7, GRID_POINTS)).astype(np.float32)
    a, b = onnx.predict_proba(values), torch_.predict_proba(values)
    assert a.shape == (7, 230)
    assert np.abs(a - b).max() <= 1e-5


def test_stale_export_falls_back_to_torch(exported: Path) -> None:
    assert load_model(exported).backend.name == "onnx"
    torch.manual_seed(9)
    save_pretrained(
        create_model("xrdnet_tiny", input_length=GRID_POINTS),
        json.loads((exported / "model.json").read_text()),
        exported,
    )
    assert load_model(exported).backend.name == "torch"
    with pytest.raises(ModelFileError, match="no model.onnx exported from the current weights"):
        load_model(exported, backend="onnx")


def test_bundled_onnx_matches_torch_on_the_example(tmp_path: Path) -> None:
    folder = tmp_path / "bundled"
    shutil.copytree(bundled_model_dir(), folder)
    config = json.loads((folder / "model.json").read_text())
    if "onnx" not in config or load_model(folder).backend.name != "onnx":
        pytest.skip("the bundled model has no current ONNX export (run xrdsym calibrate)")
    with_onnx = load_model(folder, backend="onnx")
    with_torch = load_model(folder, backend="torch")
    sample = read_sample(EXAMPLE, with_onnx.grid, "CuKa1")
    p_onnx, p_torch = with_onnx.predict_proba(sample), with_torch.predict_proba(sample)
    assert np.abs(p_onnx - p_torch).max() <= 1e-5
