"""xrdsym: crystal system, extinction group and space group from a powder XRD pattern.

The package is layered as the data flows:

``structures`` (CIF files -> :class:`~xrdsym.structures.crystal.Crystal` with a spglib label)
-> ``patterns`` (peak lists and rendered profiles)
-> ``datasets`` (sharded peak-list datasets and leakage-free splits)
-> ``models`` (registered CNNs)
-> ``training`` (training loop and evaluation)
-> ``io`` (measured pattern files) and ``classify`` (the pretrained classifier)
-> ``cli`` (the ``xrdsym`` command).

``study`` (reports, ablation, bundling of the shipped model, the measured-versus-simulated gap
analysis and the survey of the measured sets) sits beside the library: the CLI uses it, the
library imports nothing from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from xrdsym.classify import Classifier


def load_model(path: Any = None) -> Classifier:
    """Load the bundled pretrained classifier (or the one in folder ``path``), offline."""
    from xrdsym.classify import load_model as _load

    return _load(path)


__all__ = ["__version__", "load_model"]
