"""A registry of model architectures by name (in the manner of ``timm``).

Every registered factory returns a :class:`torch.nn.Module` that maps a batch of patterns
``(B, 1, L)`` float32 to a dict of logits keyed by task name (see :data:`TASK_CLASSES`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from xrdsym.patterns.grid import PAPER_GRID

#: Number of classes of each classification task.
TASK_CLASSES: dict[str, int] = {
    "crystal_system": 7,
    "extinction_group": 101,
    "space_group": 230,
}

#: Input length of the paper's grid: 10-110 deg 2theta in 0.01 deg steps.
DEFAULT_INPUT_LENGTH = PAPER_GRID.n_points

ModelFactory = TypeVar("ModelFactory", bound=Callable[..., nn.Module])

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(factory: ModelFactory) -> ModelFactory:
    """Register ``factory`` under its function name; used as a decorator.

    Raises:
        ValueError: a model of that name is already registered.
    """
    name = factory.__name__
    if name in _REGISTRY and _REGISTRY[name] is not factory:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = factory
    return factory


def list_models() -> list[str]:
    """Sorted names of all registered architectures (the built-in ones are registered when
    the ``xrdsym.models`` package is imported, which importing this module does first)."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the architecture registered as ``name`` with keyword arguments ``kwargs``.

    Raises:
        ValueError: ``name`` is not registered (the message lists the valid names).
    """
    if name not in _REGISTRY:
        valid = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown model {name!r}; registered models: {valid}")
    return _REGISTRY[name](**kwargs)
