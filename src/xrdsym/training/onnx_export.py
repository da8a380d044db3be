"""Export of a trained network to ONNX (``model.onnx``), checked against torch.

Classification runs the export with ONNX Runtime, without importing torch; ``xrdsym calibrate``
and ``xrdsym bundle`` write it beside the weights.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from xrdsym.atomic import atomic_path
from xrdsym.calibration import softmax
from xrdsym.errors import ModelFileError
from xrdsym.inference import ONNX_NAME, file_sha256
from xrdsym.models.pretrained import WEIGHTS_NAME

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
        The ``onnx`` record for ``model.json``: file, weights_sha256, sha256 (of model.onnx),
        input_length, opset, max_abs_diff (probabilities), max_abs_diff_logits.

    Raises:
        ModelFileError: the export fails or disagrees with torch.
    """
    wrapped = _SpaceGroupLogits(model.eval()).eval()
    inputs = check_inputs(input_length)
    with atomic_path(folder / ONNX_NAME) as tmp:
        _write_onnx(wrapped, inputs, tmp, folder)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        ours = session.run(None, {"pattern": inputs})[0].astype(np.float64)
        with torch.inference_mode():
            reference = wrapped(torch.from_numpy(inputs)).float().numpy().astype(np.float64)
        diff = float(np.abs(softmax(ours) - softmax(reference)).max())
        if not diff <= ONNX_TOLERANCE:
            raise ModelFileError(
                f"{folder}: ONNX and torch probabilities differ by {diff:.2e} > {ONNX_TOLERANCE}"
            )
    return {
        "file": ONNX_NAME,
        "weights_sha256": file_sha256(folder / WEIGHTS_NAME),
        "sha256": file_sha256(folder / ONNX_NAME),
        "input_length": int(input_length),
        "opset": ONNX_OPSET,
        "max_abs_diff": diff,
        "max_abs_diff_logits": float(np.abs(ours - reference).max()),
    }


def _write_onnx(wrapped: nn.Module, inputs: np.ndarray, path: Path, folder: Path) -> None:
    """Export ``wrapped`` to ``path`` with a dynamic batch axis, torch's messages silenced.

    Raises:
        ModelFileError: the export fails (names ``folder``).
    """
    batch = torch.export.Dim("batch", min=1, max=65536)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
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
            program.save(str(path), external_data=False)
    except Exception as exc:
        raise ModelFileError(f"{folder}: ONNX export failed ({type(exc).__name__}: {exc})") from exc
