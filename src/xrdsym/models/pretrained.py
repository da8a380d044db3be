"""Save and load trained models as ``model.safetensors`` + ``model.json`` (nothing unpickled).

``model.json`` holds at least ``architecture`` (a registered model name) and ``model_kwargs``
(the keyword arguments of :func:`~xrdsym.models.registry.create_model`); the rest of the
config (grid, wavelength, label names, training data, metrics, licence) is carried through
unchanged for the classifier and the model card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xrdsym.errors import ModelFileError
from xrdsym.models.registry import create_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "model.json"


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively, so that the config survives a JSON round trip."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _kwargs_from_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to tuples (architecture arguments such as ``widths`` are tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def save_pretrained(model: nn.Module, config: dict[str, Any], folder: str | Path) -> Path:
    """Write ``model.safetensors`` (the state dict) and ``model.json`` (``config``) to ``folder``.

    Raises:
        ValueError: ``config`` lacks ``architecture``.
    """
    if "architecture" not in config:
        raise ValueError("config must name the 'architecture' (a registered model)")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp_weights = out / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp_weights), metadata={"format": "pt"})
    tmp_weights.replace(out / WEIGHTS_NAME)
    full = dict(config)
    full.setdefault("model_kwargs", {})
    tmp_config = out / (CONFIG_NAME + ".tmp")
    tmp_config.write_text(json.dumps(_jsonable(full), indent=2, sort_keys=True) + "\n")
    tmp_config.replace(out / CONFIG_NAME)
    return out


def read_model_config(folder: str | Path) -> dict[str, Any]:
    """The parsed ``model.json`` of ``folder``.

    Raises:
        ModelFileError: the file is missing, not JSON, or lacks ``architecture``.
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelFileError(f"{path}: model config file not found")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a valid JSON model config ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        raise ModelFileError(f"{path}: no 'architecture' name in the model config")
    if not isinstance(config.get("model_kwargs", {}), dict):
        raise ModelFileError(f"{path}: 'model_kwargs' must be an object")
    return config


def load_pretrained(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of ``folder`` and load its weights; returns (model in eval mode, config).

    Raises:
        ModelFileError: a file is missing or unreadable, the architecture is unknown, or the
            weights do not match the architecture (missing, unexpected or mis-shaped tensors).
    """
    root = Path(folder)
    config = read_model_config(root)
    config_path = root / CONFIG_NAME
    try:
        model = create_model(
            config["architecture"], **_kwargs_from_json(config.get("model_kwargs", {}))
        )
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{config_path}: cannot build the model: {exc}") from None
    weights = root / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelFileError(f"{weights}: model weights file not found")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights}: not a readable safetensors file ({exc})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{weights}: weights do not match architecture {config['architecture']!r} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    wrong = [k for k, v in expected.items() if tuple(v.shape) != tuple(state[k].shape)]
    if wrong:
        raise ModelFileError(
            f"{weights}: tensors with the wrong shape for {config_path}: {wrong[:5]}"
        )
    with torch.no_grad():
        model.load_state_dict(state)
    model.eval()
    return model, config
