"""Renderers by name: the one factory that turns a renderer name and its options into a
:class:`xrdsym.patterns.protocols.PatternRenderer`.

* ``paper``: :class:`xrdsym.patterns.profile.ProfileRenderer`, the protocol of Park et al.
  (2017), with ``profile`` overriding fields of ``PAPER_RANGES``;
* ``lab``: :func:`xrdsym.patterns.lab.lab_renderer`, laboratory-like patterns, with
  ``lab_off`` naming the families left out and ``impurity_pool`` the structures impurity
  phases are drawn from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from xrdsym.patterns.lab import lab_renderer
from xrdsym.patterns.profile import ProfileRenderer
from xrdsym.patterns.protocols import PatternRenderer, PeakSource

#: Names :func:`make_renderer` knows (those of ``TrainConfig.renderer``).
RENDERER_NAMES = ("paper", "lab")


def make_renderer(
    name: str,
    *,
    profile: Mapping[str, Any] | None = None,
    lab_off: Iterable[str] = (),
    impurity_pool: PeakSource | None = None,
) -> PatternRenderer:
    """The renderer ``name`` with its options; an option the renderer does not use is refused.

    Args:
        name: one of :data:`RENDERER_NAMES`.
        profile: ``paper`` only: ``ProfileRanges`` fields replacing those of PAPER_RANGES.
        lab_off: ``lab`` only: families of ``AUGMENTATION_FAMILIES`` / ``RANGE_FAMILIES`` off.
        impurity_pool: ``lab`` only: structures impurity phases are drawn from (None: none).

    Raises:
        ValueError: an unknown name, an option of the other renderer, or an unknown family.
    """
    off = tuple(lab_off)
    if name == "paper":
        if off or impurity_pool is not None:
            raise ValueError("the paper renderer takes no lab_off or impurity_pool")
        return ProfileRenderer(dict(profile or {}))
    if name == "lab":
        if profile:
            raise ValueError("the lab renderer takes no profile overrides (use lab_off)")
        return lab_renderer(impurity_pool=impurity_pool, **dict.fromkeys(off, False))
    raise ValueError(f"unknown renderer {name!r}; known: {', '.join(RENDERER_NAMES)}")
