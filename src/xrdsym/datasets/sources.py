"""The structure sources of the dataset build and of the training stream, registered once.

A structure source is where a labelled structure comes from. Each one is a
:class:`StructureSource` in :data:`SOURCES`, which states the uses it serves:

- ``corpus``: the stored peak lists of a dataset (stream);
- ``pyxtal``: a pyxtal random crystal of a requested group
  (:func:`xrdsym.structures.generate.generate_crystal`; build);
- ``perturbed``: a perturbed copy of a stored conventional cell
  (:func:`xrdsym.structures.perturb.perturb_prototype`; stream, needs stored cells);
- ``synthetic``: a crystal of the fitted synthetic generator
  (:class:`xrdsym.structures.synthetic.SyntheticGenerator`; stream and build).

Every list of names derives from the registry, in its order: :data:`BUILD_SOURCES` (the
choices of ``BuildConfig.generator`` and ``xrdsym dataset build --generator``; the first is the
default) and :data:`STREAM_SOURCES` (the kinds of :class:`xrdsym.datasets.stream.StreamMix`,
the keys of ``TrainConfig.stream``, the order of the stream's kind draws). A new source is one
entry here, with a :class:`CrystalMaker` factory for the build and/or an item factory
(:mod:`xrdsym.datasets.stream_items`) for the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from xrdsym.datasets.stream_items import (
    ItemFactory,
    ItemMaker,
    StreamParts,
    corpus_items,
    perturbed_items,
    synthetic_items,
)
from xrdsym.errors import StructureError

if TYPE_CHECKING:
    from xrdsym.structures.crystal import Crystal


class CrystalMaker(Protocol):
    """Makes a crystal of a requested space group for a dataset build."""

    def __call__(self, group: int, rng: np.random.Generator, /) -> Crystal | None:
        """A crystal of space group ``group`` (1-230) drawn from ``rng``; None when the
        source gives up on it."""
        ...


#: A factory of a build source: statistics file ("" for the shipped one) -> its maker.
MakerFactory = Callable[[str], CrystalMaker]


@dataclass(frozen=True)
class StructureSource:
    """One registered structure source.

    Attributes:
        name: the key in :data:`SOURCES`, in configs and on the command line.
        summary: one line saying what it makes.
        maker: factory of its :class:`CrystalMaker` (None: not a build source).
        items: factory of its stream item maker
            (:data:`~xrdsym.datasets.stream_items.ItemFactory`; None: not a stream source).
        needs_cells: True when it needs the stored conventional cells of a dataset.
    """

    name: str
    summary: str
    maker: MakerFactory | None = None
    items: ItemFactory | None = None
    needs_cells: bool = False


def pyxtal_maker(statistics: str = "") -> CrystalMaker:
    """The pyxtal generator (``statistics`` unused: pyxtal has no fitted statistics)."""
    # pyxtal is imported only when a build asks for it (a heavy import).
    from xrdsym.structures.generate import generate_crystal

    return generate_crystal


def synthetic_maker(statistics: str = "") -> CrystalMaker:
    """The synthetic generator of ``statistics`` ("" for the shipped file); a draw that
    cannot be made (:class:`~xrdsym.errors.StructureError`) gives None."""
    # deferred until called: imports spglib
    from xrdsym.structures.synthetic import SyntheticGenerator, load_statistics

    synthetic = SyntheticGenerator(load_statistics(statistics or None))

    def draw(group: int, rng: np.random.Generator) -> Crystal | None:
        try:
            return synthetic.sample_group(group, rng).crystal
        except StructureError:
            return None

    return draw


#: Every structure source, by name, in the order of the name lists below.
SOURCES: dict[str, StructureSource] = {
    source.name: source
    for source in (
        StructureSource("corpus", "stored peak lists of the dataset", items=corpus_items),
        StructureSource("pyxtal", "pyxtal random crystals", pyxtal_maker),
        StructureSource(
            "perturbed", "perturbed copies of stored cells", None, perturbed_items, True
        ),
        StructureSource(
            "synthetic", "fast generator with fitted statistics", synthetic_maker, synthetic_items
        ),
    )
}

#: Generators of requested crystals in a dataset build (the first is the default).
BUILD_SOURCES: tuple[str, ...] = tuple(
    name for name, source in SOURCES.items() if source.maker is not None
)

#: Kinds of the training stream, in the order of :class:`~xrdsym.datasets.stream.StreamMix`.
STREAM_SOURCES: tuple[str, ...] = tuple(
    name for name, source in SOURCES.items() if source.items is not None
)

#: Position of each stream source in :data:`STREAM_SOURCES`: the kind index of a drawn item.
STREAM_INDEX: dict[str, int] = {name: i for i, name in enumerate(STREAM_SOURCES)}


def registered(name: str, use: str) -> Any:
    """The factory of source ``name`` for ``use``: ``maker`` (build) or ``items`` (stream).

    Raises:
        ValueError: ``name`` is not a source with that use.
    """
    factory = getattr(SOURCES.get(name), use, None)
    if factory is None:
        what, known = (
            ("crystal generator", BUILD_SOURCES)
            if use == "maker"
            else ("stream kind", STREAM_SOURCES)
        )
        raise ValueError(f"unknown {what} {name!r}; known: {list(known)}")
    return factory


def crystal_maker(name: str, statistics: str = "") -> CrystalMaker:
    """The :class:`CrystalMaker` of build source ``name`` (ValueError for another name)."""
    factory: MakerFactory = registered(name, "maker")
    return factory(statistics)


def item_maker(name: str, parts: StreamParts) -> ItemMaker:
    """The item maker of stream source ``name`` for a stream of ``parts`` (ValueError for
    another name)."""
    factory: ItemFactory = registered(name, "items")
    return factory(parts)
