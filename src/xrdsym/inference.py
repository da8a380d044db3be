"""Forward passes of a model folder: ONNX Runtime for classification, torch as the fallback.

A backend maps prepared patterns (n, L) float32 on the model grid to space-group logits
(n, 230) float64. :class:`OnnxBackend` runs ``model.onnx`` (written beside the weights by
``xrdsym calibrate`` or ``xrdsym bundle``) and never imports torch, so one file is classified
in a fraction of a second. The ONNX file is used only while ``model.json`` records the SHA-256
of the very ``model.safetensors`` it was exported from and the SHA-256 of ``model.onnx``
itself: weights replaced later fall back to :class:`TorchBackend` instead of running a stale
export, and a swapped or damaged ``model.onnx`` is refused (:func:`check_onnx_model` also
refuses a network whose output on probe patterns is not finite, as non-finite weights give).

Thread counts follow the batch: one thread below :data:`PATTERNS_PER_THREAD` patterns (a
second thread costs more in synchronisation than it saves on a small batch), then one more per
that many patterns, up to the number of cores.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from xrdsym.errors import ModelFileError
from xrdsym.model_config import ModelSpec

#: File name of the exported network beside ``model.safetensors``.
ONNX_NAME = "model.onnx"

#: Largest model file hashed or loaded, bytes (a network of models.MAX_PARAMETERS float32
#: parameters is 800 MB).
MAX_MODEL_FILE_BYTES = 1 << 30

#: Patterns per extra inference thread.
PATTERNS_PER_THREAD = 64


class Backend(Protocol):
    """What the classifier needs from a network."""

    name: str

    def logits(self, values: np.ndarray) -> np.ndarray:
        """Space-group logits (n, 230) float64 of prepared patterns (n, L) float32."""
        ...


def threads_for(batch: int, cores: int | None = None) -> int:
    """Inference threads for a batch: 1 + batch // PATTERNS_PER_THREAD, at most the cores."""
    available = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(available, 1 + batch // PATTERNS_PER_THREAD))


def file_sha256(path: Path, limit: int = MAX_MODEL_FILE_BYTES) -> str:
    """Hex SHA-256 of a file's bytes.

    Raises:
        ModelFileError: the file is larger than ``limit`` bytes (checked before reading).
    """
    size = Path(path).stat().st_size
    if size > limit:
        raise ModelFileError(
            f"{path}: {size / 2**30:.1f} GiB, above the {limit / 2**30:.1f} GiB limit of a "
            "model file"
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TorchBackend:
    """The torch module itself (needs torch; the path training and export use)."""

    name = "torch"

    def __init__(self, model: Any) -> None:
        self.model = model.eval()

    def logits(self, values: np.ndarray) -> np.ndarray:
        """Space-group logits with ``threads_for(n)`` torch threads (restored afterwards)."""
        # deferred until called: imports torch
        import torch

        batch = np.ascontiguousarray(values, dtype=np.float32)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads_for(batch.shape[0]))
        try:
            tensor = torch.from_numpy(batch).reshape(batch.shape[0], 1, batch.shape[-1])
            with torch.inference_mode():
                out = self.model(tensor)["space_group"]
            return out.float().numpy().astype(np.float64)
        finally:
            torch.set_num_threads(previous)


class OnnxBackend:
    """``model.onnx`` in ONNX Runtime; one session per thread count, made when first needed."""

    name = "onnx"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._sessions: dict[int, Any] = {}

    def _session(self, threads: int) -> Any:
        """The inference session with ``threads`` intra-op threads."""
        if threads not in self._sessions:
            # deferred until called: imports onnxruntime
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._sessions[threads] = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[threads]

    def logits(self, values: np.ndarray) -> np.ndarray:
        """Space-group logits of a batch (n, L)."""
        batch = np.ascontiguousarray(values, dtype=np.float32)
        session = self._session(threads_for(batch.shape[0]))
        feed = {session.get_inputs()[0].name: batch.reshape(batch.shape[0], 1, batch.shape[-1])}
        return np.asarray(session.run(None, feed)[0], dtype=np.float64)


def onnx_is_current(folder: Path, spec: ModelSpec) -> bool:
    """True when ``model.onnx`` exists and was exported from the folder's current weights."""
    record = spec.onnx
    onnx_path = folder / ONNX_NAME
    weights = folder / "model.safetensors"
    if record is None or not onnx_path.is_file() or not weights.is_file():
        return False
    if not isinstance(record.get("sha256"), str):  # an export from before the file was hashed
        return False
    return record.get("weights_sha256") == file_sha256(weights)


def check_onnx_model(path: Path, spec: ModelSpec) -> None:
    """Refuse a ``model.onnx`` that is not the recorded export or cannot give finite answers.

    Checks: the file's SHA-256 equals ``model.json``'s ``onnx.sha256``; ONNX Runtime loads it
    and two probe patterns (all zeros, a ramp) give finite logits of the right shape (a
    non-finite initializer shows there; the ``onnx`` package, which could list the
    initializers, takes seconds to import and is not part of the light install).

    Raises:
        ModelFileError: naming the file and the failed check.
    """
    recorded = (spec.onnx or {}).get("sha256")
    if not isinstance(recorded, str):
        raise ModelFileError(
            f"{path}: model.json records no SHA-256 of the ONNX export; export it again "
            "(xrdsym calibrate) or use the torch backend"
        )
    if file_sha256(path) != recorded:
        raise ModelFileError(f"{path}: the file is not the export model.json records (SHA-256)")
    backend = OnnxBackend(path)
    n_points = spec.grid.n_points
    probes = np.stack([np.zeros(n_points), np.linspace(0.0, 1.0, n_points)]).astype(np.float32)
    try:
        logits = backend.logits(probes)
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types
        raise ModelFileError(f"{path}: ONNX Runtime cannot run it ({exc})"[:400]) from None
    if logits.shape != (2, 230) or not np.all(np.isfinite(logits)):
        raise ModelFileError(f"{path}: the network gives non-finite or misshaped logits")


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
