"""Package a finished run as the model shipped with xrdsym: weights, config and model card data.

The bundled ``model.json`` is the run's own (architecture, grid, labels, training data) plus the
measured accuracies (held-out test part and measured sets, as written by ``xrdsym evaluate`` and
``xrdsym evaluate-measured``), the licence and a plain description of the training data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xrdsym.errors import ModelFileError
from xrdsym.models.pretrained import CONFIG_NAME, WEIGHTS_NAME, load_pretrained

TRAINING_DATA_LICENCES = (
    "Materials Project structures (CC BY 4.0; A. Jain et al., APL Materials 1, 011002 (2013)) "
    "and crystals generated with pyxtal"
)


def summarise_test(results: dict[str, Any]) -> dict[str, Any]:
    """Top-1 / top-5 / majority floor per task from an ``xrdsym evaluate`` results file."""
    return {
        "split": results.get("split"),
        "part": results.get("part"),
        "renderer": results.get("renderer", "paper"),
        "n": results.get("n"),
        **{
            task: {key: scores.get(key) for key in ("top1", "top5", "macro", "majority_baseline")}
            for task, scores in results.get("tasks", {}).items()
        },
    }


def summarise_measured(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measured set: files, classified, and top-1 / top-5 with floors per task."""
    keep = ("labels", "files", "classified", "crystal_system", "extinction_group", "space_group")
    return [{k: r[k] for k in keep if k in r} for r in results]


def bundle_model(
    run_dir: Path,
    output: Path,
    test_results: list[Path],
    measured_results: list[Path],
    description: str,
    licence: str = "MIT",
    onnx: bool = True,
) -> dict[str, Any]:
    """Copy the run's weights to ``output`` and write the enriched ``model.json``.

    With ``onnx`` the network is also exported to ``output/model.onnx`` and checked against
    torch (:func:`export_onnx`); the record goes into ``model.json["onnx"]``.

    The weights are loaded once first, so a broken run is refused before anything is copied.
    ``run_dir`` may be ``output`` itself (a bundled model whose figures are refreshed): the
    weights then stay in place. Test or measured figures are replaced only when results
    files of that kind are given; the others are kept.
    """
    load_pretrained(run_dir)
    config = json.loads((run_dir / CONFIG_NAME).read_text())
    for path in [*test_results, *measured_results]:
        if not path.is_file():
            raise ModelFileError(f"{path}: results file not found")
    config["licence"] = licence
    config["description"] = description
    config.setdefault("training_data", {})["sources"] = TRAINING_DATA_LICENCES
    metrics = config.setdefault("metrics", {})
    if test_results or "test" not in metrics:
        metrics["test"] = [summarise_test(json.loads(p.read_text())) for p in test_results]
    if measured_results or "measured" not in metrics:
        metrics["measured"] = [
            item for p in measured_results for item in summarise_measured(json.loads(p.read_text()))
        ]
    output.mkdir(parents=True, exist_ok=True)
    if (run_dir / WEIGHTS_NAME).resolve() != (output / WEIGHTS_NAME).resolve():
        shutil.copyfile(run_dir / WEIGHTS_NAME, output / WEIGHTS_NAME)
    (output / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    model, _ = load_pretrained(output)
    if onnx:
        n_points = int(config.get("grid", {}).get("n_points", 10001))
        config["onnx"] = export_onnx(model, output, n_points)
    else:
        config.pop("onnx", None)
    (output / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    return config


#: Largest allowed difference between ONNX Runtime and torch probabilities on the check inputs.
ONNX_TOLERANCE = 1e-5

#: ONNX operator set of the export.
ONNX_OPSET = 18


class _SpaceGroupLogits(nn.Module):
    """The network with one output: the space-group logits (B, 230)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch (B, 1, L)."""
        return self.model(x)["space_group"]


def check_inputs(input_length: int, seed: int = 0) -> np.ndarray:
    """Check batch (5, 1, L): uniform noise, zeros, a ramp and two peaked patterns in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, input_length)
    peaks = [
        np.exp(-0.5 * ((x[:, None] - rng.uniform(0, 1, 30)) / 0.002) ** 2).sum(axis=1)
        for _ in range(2)
    ]
    rows = [rng.uniform(0.0, 1.0, input_length), np.zeros(input_length), x]
    rows += [p / p.max() for p in peaks]
    return np.stack(rows).astype(np.float32)[:, None, :]


def export_onnx(model: nn.Module, folder: Path, input_length: int) -> dict[str, Any]:
    """Write ``folder/model.onnx`` (dynamic batch) and check it against torch.

    The check runs both on :func:`check_inputs` and compares softmax probabilities; the
    largest absolute difference must not exceed ``ONNX_TOLERANCE``.

    Returns:
        The ``onnx`` record for ``model.json``: file, weights_sha256, input_length, opset,
        max_abs_diff (probabilities), max_abs_diff_logits.

    Raises:
        ModelFileError: the export fails or disagrees with torch.
    """
    import contextlib
    import io
    import logging
    import warnings

    import onnxruntime as ort

    from xrdsym.calibration import softmax
    from xrdsym.inference import ONNX_NAME, file_sha256

    wrapped = _SpaceGroupLogits(model.eval()).eval()
    inputs = check_inputs(input_length)
    tmp = folder / (ONNX_NAME + ".tmp")
    batch = torch.export.Dim("batch", min=1, max=65536)
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapped,
                (torch.from_numpy(inputs[:2]),),
                input_names=["pattern"],
                output_names=["space_group_logits"],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                opset_version=ONNX_OPSET,
                external_data=False,
                verbose=False,
            )
            assert program is not None
            program.save(str(tmp), external_data=False)
    except Exception as exc:
        raise ModelFileError(f"{folder}: ONNX export failed ({type(exc).__name__}: {exc})") from exc
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"pattern": inputs})[0].astype(np.float64)
    with torch.inference_mode():
        reference = wrapped(torch.from_numpy(inputs)).float().numpy().astype(np.float64)
    diff = float(np.abs(softmax(ours) - softmax(reference)).max())
    if not diff <= ONNX_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"{folder}: ONNX and torch probabilities differ by {diff:.2e} > {ONNX_TOLERANCE}"
        )
    tmp.replace(folder / ONNX_NAME)
    return {
        "file": ONNX_NAME,
        "weights_sha256": file_sha256(folder / WEIGHTS_NAME),
        "input_length": int(input_length),
        "opset": ONNX_OPSET,
        "max_abs_diff": diff,
        "max_abs_diff_logits": float(np.abs(ours - reference).max()),
    }
