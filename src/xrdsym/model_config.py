"""Reading and checking ``model.json``, the description of a model folder, without torch.

The classifier reads it before choosing a backend (ONNX Runtime needs no torch), and
:mod:`xrdsym.models.pretrained` reads it before building the network; both use these
functions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from xrdsym.errors import ModelFileError

CONFIG_NAME = "model.json"

#: Largest input grid accepted (points).
MAX_GRID_POINTS = 1 << 20


def read_model_config(folder: str | Path) -> dict[str, Any]:
    """The parsed and checked ``model.json`` of ``folder`` (see :func:`check_model_config`).

    Raises:
        ModelFileError: the file is missing, not JSON, or fails the schema.
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelFileError(f"{path}: model config file not found")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a valid JSON model config ({exc})") from None
    check_model_config(config, path)
    return config


def _is_number(value: Any) -> bool:
    """True for a finite int or float that is not a bool."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def check_model_config(config: Any, path: Path) -> None:
    """The schema of ``model.json``: ``architecture`` (str), ``model_kwargs`` (object), and
    when present ``grid`` (``start`` < ``stop`` in degrees, ``n_points`` an integer from 2 to
    ``MAX_GRID_POINTS``, positive ``wavelength``) and a positive top-level ``wavelength``.

    Raises:
        ModelFileError: naming the file and the field.
    """
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        raise ModelFileError(f"{path}: no 'architecture' name in the model config")
    if not isinstance(config.get("model_kwargs", {}), dict):
        raise ModelFileError(f"{path}: 'model_kwargs' must be an object")
    grid = config.get("grid", {})
    if not isinstance(grid, dict):
        raise ModelFileError(f"{path}: 'grid' must be an object")
    start, stop = grid.get("start", 10.0), grid.get("stop", 110.0)
    if not (_is_number(start) and _is_number(stop) and 0.0 <= start < stop <= 180.0):
        raise ModelFileError(f"{path}: grid start/stop must satisfy 0 <= start < stop <= 180")
    n_points = grid.get("n_points", 2)
    if not (isinstance(n_points, int) and not isinstance(n_points, bool)) or not (
        2 <= n_points <= MAX_GRID_POINTS
    ):
        raise ModelFileError(
            f"{path}: grid n_points must be an integer from 2 to {MAX_GRID_POINTS}, "
            f"got {n_points!r}"
        )
    for where, table in (("grid", grid), ("model config", config)):
        wavelength = table.get("wavelength", 1.0)
        if not _is_number(wavelength) or wavelength <= 0:
            raise ModelFileError(f"{path}: {where} wavelength must be > 0, got {wavelength!r}")
