"""xrdsym: crystal system, extinction group and space group from a powder XRD pattern.

``xrdsym.load_model()`` gives the bundled :class:`~xrdsym.classify.Classifier`; the layers of
the package and where each idea lives are drawn in ``docs/architecture.md`` (checked by
``tests/test_layers.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from xrdsym.classify import Classifier


def load_model(path: Any = None, backend: str = "auto") -> Classifier:
    """Load the bundled pretrained classifier (or the one in folder ``path``), offline, with
    the ``backend`` of :func:`xrdsym.classify.load_model` (``auto``, ``onnx`` or ``torch``)."""
    # Deferred on purpose: ``import xrdsym`` stays cheap (the CLI's help, the version).
    from xrdsym.classify import load_model as _load

    return _load(path, backend=backend)


__all__ = ["__version__", "load_model"]
