"""Renderers by name: the one factory that turns a renderer name and its options into a
:class:`xrdsym.patterns.protocols.PatternRenderer`.

* ``paper``: :class:`xrdsym.patterns.profile.ProfileRenderer`, the protocol of Park et al.
  (2017), with ``profile`` overriding fields of ``PAPER_RANGES``;
* ``lab``: :func:`xrdsym.patterns.lab.lab_renderer`, laboratory-like patterns, with
  ``lab_off`` naming the families left out and ``impurity_pool`` the structures impurity
  phases are drawn from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from xrdsym.patterns.lab import lab_renderer
from xrdsym.patterns.profile import ProfileRenderer
from xrdsym.patterns.protocols import PatternRenderer, PeakSource


def _paper(
    profile: dict[str, Any], lab_off: tuple[str, ...], impurity_pool: PeakSource | None
) -> PatternRenderer:
    """The protocol of Park et al. (2017), ``profile`` replacing fields of PAPER_RANGES."""
    if lab_off or impurity_pool is not None:
        raise ValueError("the paper renderer takes no lab_off or impurity_pool")
    return ProfileRenderer(profile)


def _lab(
    profile: dict[str, Any], lab_off: tuple[str, ...], impurity_pool: PeakSource | None
) -> PatternRenderer:
    """Laboratory-like patterns without the families of ``lab_off``."""
    if profile:
        raise ValueError("the lab renderer takes no profile overrides (use lab_off)")
    return lab_renderer(impurity_pool=impurity_pool, **dict.fromkeys(lab_off, False))


#: The registry: renderer name -> builder (profile, lab_off, impurity_pool).
RENDERERS: dict[str, Callable[..., PatternRenderer]] = {"paper": _paper, "lab": _lab}

#: Names :func:`make_renderer` knows (the choices of ``TrainConfig.renderer`` and the CLI).
RENDERER_NAMES = tuple(RENDERERS)


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
    build = RENDERERS.get(name)
    if build is None:
        raise ValueError(f"unknown renderer {name!r}; known: {', '.join(RENDERER_NAMES)}")
    return build(dict(profile or {}), tuple(lab_off), impurity_pool)
