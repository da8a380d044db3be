"""Loading a classifier from a model folder (or the bundled one), with the torch or ONNX
backend."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from xrdsym.classify.classifier import Classifier
from xrdsym.classify.joint import read_evidence_weight
from xrdsym.errors import ModelFileError, XrdsymError
from xrdsym.inference import (
    ONNX_NAME,
    OnnxBackend,
    check_onnx_model,
    file_sha256,
    onnx_is_current,
    onnxruntime_available,
)
from xrdsym.model_config import ModelSpec, read_model_config

__all__ = ["BUNDLED_MODEL_PACKAGE", "bundled_model_dir", "load_model"]

#: Folder of the bundled pretrained model inside the package.
BUNDLED_MODEL_PACKAGE = "xrdsym.pretrained"


def bundled_model_dir() -> Path:
    """The folder of the pretrained model shipped with the package."""
    return Path(str(resources.files(BUNDLED_MODEL_PACKAGE)))


def _check_onnx_grid(folder: Path, spec: ModelSpec) -> None:
    """The exported input length must be the grid's."""
    record = spec.onnx or {}
    n_points = spec.grid.n_points
    if int(record.get("input_length", n_points)) != n_points:
        raise ModelFileError(
            f"{folder / ONNX_NAME}: exported for {record.get('input_length')} grid points, "
            f"the model grid has {n_points}"
        )


def load_model(path: str | Path | None = None, backend: str = "auto") -> Classifier:
    """Load a classifier from a model folder (``model.safetensors`` + ``model.json``), offline.

    Without ``path`` the bundled pretrained model is loaded. Nothing is unpickled.

    Args:
        path: model folder.
        backend: ``onnx`` (``model.onnx`` with ONNX Runtime, no torch import), ``torch``, or
            ``auto``: ONNX when the export is current for the weights and ONNX Runtime is
            installed, else torch.

    Raises:
        ModelFileError: missing or broken files, or an ONNX backend that cannot be used.
    """
    folder = Path(path) if path is not None else bundled_model_dir()
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: model folder not found")
    if backend not in ("auto", "onnx", "torch"):
        raise XrdsymError(f"unknown backend {backend!r}; use auto, onnx or torch")
    spec = read_model_config(folder)
    weights = folder / "model.safetensors"
    digest = file_sha256(weights) if weights.is_file() else ""
    version = spec.version or f"sha256:{digest[:12]}"
    calibration = spec.calibration
    if calibration is not None and calibration.get("weights_sha256") not in (None, digest):
        spec = spec.uncalibrated()
    current = onnx_is_current(folder, spec)
    if backend == "onnx" or (backend == "auto" and current and onnxruntime_available()):
        if not current:
            raise ModelFileError(
                f"{folder}: no model.onnx exported from the current weights; run "
                f"'xrdsym calibrate {folder} --dataset DATASET' or use the torch backend"
            )
        _check_onnx_grid(folder, spec)
        check_onnx_model(folder / ONNX_NAME, spec)
        backend_onnx = OnnxBackend(folder / ONNX_NAME)
        return Classifier(None, spec, backend_onnx, version, read_evidence_weight(folder))
    try:  # torch is deferred: the light install has only ONNX Runtime
        from xrdsym.models import load_pretrained
    except ImportError as exc:
        raise ModelFileError(
            f"{folder}: the torch backend needs the training packages ({exc.name} is missing); "
            "install them with: pip install 'xrdsym[train]'"
        ) from None
    model, _ = load_pretrained(folder)
    return Classifier(model, spec, version=version, evidence_weight=read_evidence_weight(folder))
