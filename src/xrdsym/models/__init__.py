"""Registered CNN architectures and their safe (safetensors + JSON) serialisation.

>>> from xrdsym.models import create_model, list_models
>>> model = create_model("xrdnet")            # doctest: +SKIP
>>> logits = model(batch)["space_group"]      # doctest: +SKIP
"""

from __future__ import annotations

# The architecture modules register their factories on import; the registry itself imports
# no model file, so the dependency runs one way: park / xrdnet -> registry.
from xrdsym.models import park, xrdnet  # noqa: F401
from xrdsym.models.pretrained import load_pretrained, read_model_config, save_pretrained
from xrdsym.models.registry import (
    DEFAULT_INPUT_LENGTH,
    TASK_CLASSES,
    create_model,
    list_models,
    register_model,
)

__all__ = [
    "DEFAULT_INPUT_LENGTH",
    "TASK_CLASSES",
    "create_model",
    "list_models",
    "load_pretrained",
    "read_model_config",
    "register_model",
    "save_pretrained",
]
