"""Reading and checking ``model.json``, the description of a model folder, without torch.

:func:`read_model_config` parses the file once into a frozen :class:`ModelSpec`
(architecture, its keyword arguments, the input :class:`~xrdsym.patterns.grid.Grid`,
calibration, ONNX record, version). The classifier reads it before choosing a backend (ONNX
Runtime needs no torch), :mod:`xrdsym.models.pretrained` before building the network, and
calibration and evaluation take the model's grid from ``spec.grid``; the grid defaults are
those of :class:`~xrdsym.patterns.grid.Grid`.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from xrdsym.errors import ModelFileError
from xrdsym.patterns.grid import Grid

CONFIG_NAME = "model.json"

#: Largest input grid accepted (points).
MAX_GRID_POINTS = 1 << 20

#: Largest ``model.json`` read, bytes (the bundled one is ~20 kB).
MAX_CONFIG_BYTES = 16 * 1024 * 1024

#: The architectures of ``xrdsym.models`` by name, known here without importing torch
#: (``tests/test_hostile.py`` checks that the registry holds exactly these).
ARCHITECTURES = frozenset(
    {
        "park_crystal_system",
        "park_extinction_group",
        "park_multitask",
        "park_space_group",
        "xrdnet",
        "xrdnet_small",
        "xrdnet_tiny",
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """A model folder's ``model.json``, parsed and checked once.

    Attributes:
        architecture: registered model name (``xrdsym.models.registry``).
        kwargs: keyword arguments of the architecture (JSON values, read-only).
        grid: the 2theta grid the network reads (missing fields: the defaults of ``Grid``).
        calibration: the ``calibration`` record, or None (uncalibrated).
        onnx: the ``onnx`` export record, or None.
        version: the stated ``version``, or None (the loader then names the weights' digest).
        record: the whole file as read (metrics, training data, licence, ...), read-only.
        path: the file it was read from (None when built from a dict).
    """

    architecture: str
    kwargs: Mapping[str, Any]
    grid: Grid
    calibration: Mapping[str, Any] | None
    onnx: Mapping[str, Any] | None
    version: str | None
    record: Mapping[str, Any]
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """A deep, mutable copy of the record with this spec's calibration (for writers)."""
        out = copy.deepcopy(dict(self.record))
        out["calibration"] = (
            None if self.calibration is None else copy.deepcopy(dict(self.calibration))
        )
        return out

    def uncalibrated(self) -> ModelSpec:
        """The same spec without its calibration record."""
        return replace(self, calibration=None)


def grid_of(grid: Mapping[str, Any]) -> Grid:
    """The :class:`Grid` of a ``model.json`` ``grid`` object; absent fields take the defaults
    of ``Grid`` (the grid of Park et al. 2017 at Cu K-alpha1)."""
    default = Grid()
    return Grid(
        start=float(grid.get("start", default.start)),
        stop=float(grid.get("stop", default.stop)),
        n_points=int(grid.get("n_points", default.n_points)),
        wavelength=float(grid.get("wavelength", default.wavelength)),
    )


def _optional_record(config: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = config.get(key)
    return MappingProxyType(dict(value)) if isinstance(value, dict) else None


def model_spec(config: Any, path: Path | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of a ``model.json`` object (checked by
    :func:`check_model_config`; ``path`` names the file in errors).

    Raises:
        ModelFileError: the object fails the schema.
    """
    check_model_config(config, path or Path(CONFIG_NAME))
    version = config.get("version")
    return ModelSpec(
        architecture=config["architecture"],
        kwargs=MappingProxyType(dict(config.get("model_kwargs", {}))),
        grid=grid_of(config.get("grid", {})),
        calibration=_optional_record(config, "calibration"),
        onnx=_optional_record(config, "onnx"),
        version=str(version) if version else None,
        record=MappingProxyType(copy.deepcopy(config)),
        path=path,
    )


def read_model_config(folder: str | Path) -> ModelSpec:
    """The parsed and checked ``model.json`` of ``folder`` (see :func:`check_model_config`).

    Raises:
        ModelFileError: the file is missing, not JSON, or fails the schema.
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelFileError(f"{path}: model config file not found")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelFileError(
            f"{path}: {path.stat().st_size / 2**20:.0f} MiB, above the "
            f"{MAX_CONFIG_BYTES // 2**20} MiB limit of a model config"
        )
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, too many digits
        raise ModelFileError(f"{path}: not a valid JSON model config ({exc})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: not a valid JSON model config (nested too deep)") from None
    return model_spec(config, path)


def known_architecture(name: str) -> bool:
    """Whether ``name`` is a built-in architecture or one registered since (a registry
    already imported; this never imports torch)."""
    registry = sys.modules.get("xrdsym.models.registry")
    registered = set(registry.list_models()) if registry is not None else set()
    return name in ARCHITECTURES or name in registered


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
    if not known_architecture(config["architecture"]):
        raise ModelFileError(
            f"{path}: unknown model {config['architecture'][:80]!r}; registered models: "
            f"{', '.join(sorted(ARCHITECTURES))}"
        )
    if not isinstance(config.get("model_kwargs", {}), dict):
        raise ModelFileError(f"{path}: 'model_kwargs' must be an object")
    grid = config.get("grid", {})
    if not isinstance(grid, dict):
        raise ModelFileError(f"{path}: 'grid' must be an object")
    default = Grid()
    start, stop = grid.get("start", default.start), grid.get("stop", default.stop)
    if not (_is_number(start) and _is_number(stop) and 0.0 <= start < stop <= 180.0):
        raise ModelFileError(f"{path}: grid start/stop must satisfy 0 <= start < stop <= 180")
    n_points = grid.get("n_points", default.n_points)
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
