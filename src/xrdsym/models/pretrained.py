"""Save and load trained models as ``model.safetensors`` + ``model.json`` (nothing unpickled).

``model.json`` holds at least ``architecture`` (a registered model name) and ``model_kwargs``
(the keyword arguments of :func:`~xrdsym.models.registry.create_model`); the rest of the
config (grid, wavelength, label names, training data, metrics, licence) is carried through
unchanged for the classifier and the model card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xrdsym.atomic import atomic_path, atomic_write_json
from xrdsym.errors import ModelFileError, XrdsymError
from xrdsym.model_config import (
    CONFIG_NAME,
    MAX_GRID_POINTS,
    ModelSpec,
    check_model_config,
    read_model_config,
)
from xrdsym.models.registry import create_model

WEIGHTS_NAME = "model.safetensors"

__all__ = [
    "CONFIG_NAME",
    "MAX_GRID_POINTS",
    "MAX_PARAMETERS",
    "ModelSpec",
    "WEIGHTS_NAME",
    "check_model_config",
    "load_pretrained",
    "read_model_config",
    "save_pretrained",
]

#: Largest network a model folder may describe (parameters; 800 MB of float32). The size is
#: counted on torch's ``meta`` device, so an absurd ``model.json`` allocates nothing.
MAX_PARAMETERS = 200_000_000


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
    with atomic_path(out / WEIGHTS_NAME) as tmp_weights:
        save_file(state, str(tmp_weights), metadata={"format": "pt"})
    full = dict(config)
    full.setdefault("model_kwargs", {})
    atomic_write_json(out / CONFIG_NAME, _jsonable(full), sort_keys=True)
    return out


def create_sized_model(
    name: str,
    kwargs: dict[str, Any],
    source: str,
    error: type[XrdsymError] = ModelFileError,
) -> nn.Module:
    """``create_model(name, **kwargs)`` after building it on the ``meta`` device (no memory)
    and counting its parameters: at most :data:`MAX_PARAMETERS`.

    Raises:
        error: too many parameters, or arguments the architecture refuses (names ``source``).
    """
    try:
        with torch.device("meta"):
            sizing = create_model(name, **kwargs)
        parameters = sum(p.numel() for p in sizing.parameters())
        if parameters > MAX_PARAMETERS:
            raise error(
                f"{source}: model_kwargs describe a network of {parameters:.3g} "
                f"parameters, above the limit of {MAX_PARAMETERS:.3g}"
            )
        return create_model(name, **kwargs)
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise error(f"{source}: cannot build the model: {str(exc)[:300]}") from None


def _build_model(spec: ModelSpec, config_path: Path) -> nn.Module:
    """The architecture of ``config``, sized on the ``meta`` device before it is allocated.

    Raises:
        ModelFileError: unknown architecture, bad arguments, a network above
            ``MAX_PARAMETERS``, or an input length other than the grid's ``n_points``.
    """
    name, kwargs = spec.architecture, _kwargs_from_json(dict(spec.kwargs))
    model = create_sized_model(name, kwargs, str(config_path), ModelFileError)
    input_length = getattr(model, "input_length", None)
    n_points = spec.grid.n_points
    if input_length is not None and int(input_length) != n_points:
        raise ModelFileError(
            f"{config_path}: the grid has {n_points} points but the network reads "
            f"{input_length}: the model folder is inconsistent"
        )
    return model


def load_pretrained(folder: str | Path) -> tuple[nn.Module, ModelSpec]:
    """Rebuild the model of ``folder`` and load its weights; returns (model in eval mode, spec).

    Raises:
        ModelFileError: a file is missing or unreadable, ``model.json`` fails its schema, the
            architecture is unknown or too large, its input length is not the grid's, or the
            weights do not match it (missing, unexpected or mis-shaped tensors, NaN values).
    """
    root = Path(folder)
    spec = read_model_config(root)
    config_path = root / CONFIG_NAME
    model = _build_model(spec, config_path)
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
            f"{weights}: weights do not match architecture {spec.architecture!r} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    wrong = [k for k, v in expected.items() if tuple(v.shape) != tuple(state[k].shape)]
    if wrong:
        raise ModelFileError(
            f"{weights}: tensors with the wrong shape for {config_path}: {wrong[:5]}"
        )
    broken = [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if broken:
        raise ModelFileError(f"{weights}: tensors with NaN or infinite values: {broken[:5]}")
    with torch.no_grad():
        model.load_state_dict(state)
    model.eval()
    return model, spec
