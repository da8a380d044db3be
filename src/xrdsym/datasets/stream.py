"""An unlimited stream of labelled peak lists: corpus structures, perturbed copies, synthetic ones.

Each item of a training epoch, identified by (epoch, index), is drawn from one of the stream
sources of :mod:`xrdsym.datasets.sources` (``STREAM_SOURCES``, the kinds) with configured
probabilities (:class:`StreamMix`):

- ``corpus``: the stored peak list of training structure ``index``;
- ``perturbed``: a new structure made from that structure's stored conventional cell
  (:func:`xrdsym.structures.perturb.perturb_prototype`), its peaks computed with its known
  operations;
- ``synthetic``: a crystal drawn by :class:`xrdsym.structures.synthetic.SyntheticGenerator`.

With a ramp (``start`` mix and ``ramp_epochs`` > 0), the kind probabilities of epoch e are
those of ``start`` and of ``mix`` interpolated linearly, ``(1 - f) p_start + f p_mix`` with
``f = min(e / ramp_epochs, 1)``: real structures first, then more generated ones. The epoch is
part of the item, so a ramped stream is as reproducible as a fixed one.

All randomness comes from the item's generator (``numpy.random.default_rng([seed, epoch + 1,
index])``, as for rendering), so an item is the same in any worker process and after a resume.
A perturbed crystal gives one pattern. A synthetic crystal gives one pattern, or, with
``crystal_key`` (see :meth:`StructureStream.draw`), up to k patterns: the items of one block of
k consecutive sampler positions share the crystal drawn from the block's own generator, each
rendered with its item's generator (other profile, background, noise). Only the last crystal
is kept, so memory does not grow with training time. A structure that cannot be made (a rare
generator failure) falls back to the corpus peak list of the same index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from xrdsym.datasets.protocol import PeakSource
from xrdsym.datasets.sources import SOURCES, STREAM_SOURCES, item_maker
from xrdsym.datasets.stream_items import (
    ItemMaker,
    StreamItem,
    corpus_item,
    synthetic_item,
)
from xrdsym.errors import DatasetError, XrdsymError
from xrdsym.sampling import draw_index


class PrototypeSource(PeakSource, Protocol):
    """A peak source that also stores each structure's conventional cell."""

    def prototype(self, index: int) -> Any:
        """The :class:`~xrdsym.structures.prototype.Prototype` of structure ``index``."""
        ...

    def has_prototypes(self) -> bool:
        """True when cells are stored."""
        ...


@dataclass(frozen=True)
class StreamMix:
    """Probabilities of the kinds of training structure (normalised when used); one field per
    name of ``STREAM_SOURCES``, in its order.

    Attributes:
        corpus, perturbed, synthetic: relative weights, each >= 0, not all 0.
    """

    corpus: float = 1.0
    perturbed: float = 0.0
    synthetic: float = 0.0

    def probabilities(self) -> np.ndarray:
        """(3,) weights of STREAM_SOURCES normalised to sum 1.

        Raises:
            ValueError: a weight is negative or not finite, or all are 0.
        """
        weights = np.array([getattr(self, kind) for kind in STREAM_SOURCES], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"stream weights must be >= 0 and not all 0, got {self}")
        return weights / weights.sum()


def drawn_kinds(mix: StreamMix, start: StreamMix | None = None) -> set[str]:
    """Names of the STREAM_SOURCES with a weight > 0 in ``mix`` or in the ramp's ``start``
    mix."""
    mixes = [mix] if start is None else [mix, start]
    return {kind for kind in STREAM_SOURCES if any(getattr(m, kind) > 0 for m in mixes)}


@dataclass
class StreamCounts:
    """Items drawn per kind, and fallbacks to the corpus (per process, for reporting)."""

    drawn: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAM_SOURCES, 0))
    fallbacks: int = 0


class StructureStream:
    """Labelled peak lists of the training stream (see the module docstring).

    Args:
        source: the dataset (its stored cells are needed for ``perturbed``).
        mix: kind probabilities (at the end of the ramp, and throughout without one).
        perturbation: a :class:`~xrdsym.structures.perturb.PerturbationConfig` (None: defaults).
        generator: a :class:`~xrdsym.structures.synthetic.SyntheticGenerator` (None: built
            from the shipped statistics when ``mix.synthetic`` > 0).
        verify: reject synthetic crystals with more symmetry than requested
            (:func:`~xrdsym.structures.synthetic_checks.keeps_its_group`: spglib, or for the
            groups of point group m-3m or 6/mmm a test for extra translations), which keeps the
            label noise of accidental higher symmetry out of the stream; crystals with an orbit
            on the general position are not checked (see
            :class:`~xrdsym.structures.synthetic.SyntheticCrystal`).
        start: kind probabilities of epoch 0 when ``ramp_epochs`` > 0 (None: no ramp).
        ramp_epochs: epochs over which the probabilities move from ``start`` to ``mix``.
    """

    def __init__(
        self,
        source: PeakSource,
        mix: StreamMix,
        perturbation: Any = None,
        generator: Any = None,
        verify: bool = True,
        start: StreamMix | None = None,
        ramp_epochs: int = 0,
    ) -> None:
        # deferred until called: imports spglib
        from xrdsym.structures.perturb import PerturbationConfig

        if ramp_epochs < 0 or (ramp_epochs > 0) != (start is not None):
            raise ValueError("a ramp needs both a start mix and ramp_epochs > 0")
        self.source = source
        self.mix = mix
        self.probabilities = mix.probabilities()
        self.ramp_epochs = ramp_epochs
        self._start_probabilities = start.probabilities() if start is not None else None
        kinds = drawn_kinds(mix, start)
        self.perturbation = perturbation if perturbation is not None else PerturbationConfig()
        self.perturbation.validate()
        if any(SOURCES[kind].needs_cells for kind in kinds) and not (
            hasattr(source, "has_prototypes") and source.has_prototypes()
        ):
            raise DatasetError(
                "the dataset stores no structure cells (format 1): rebuild it with "
                "`xrdsym dataset build` to train on perturbed structures"
            )
        if generator is None and "synthetic" in kinds:
            # deferred until called: imports spglib
            from xrdsym.structures.synthetic import SyntheticGenerator

            generator = SyntheticGenerator()
        self.generator = generator
        self.verify = verify
        self.wavelength = float(getattr(source, "wavelength", 1.540562))
        self.counts = StreamCounts()
        #: The item maker of each kind (:mod:`xrdsym.datasets.stream_items`).
        self._item_makers: dict[str, ItemMaker] = {
            kind: item_maker(kind, self) for kind in STREAM_SOURCES
        }

    def label_prior(self, train_idx: np.ndarray) -> np.ndarray:
        """(230,) expected frequency of each space-group label in the stream.

        The corpus and perturbed kinds carry the labels of the training part; the synthetic
        kind carries the generator's prior. Stored with a model so that its output prior can be
        corrected: p(g | x) * target(g) / stream(g), renormalised. A ramped stream gives the
        prior of its end mix, which the model trains on last.
        """
        counts = np.bincount(
            [self.source.space_group(int(i)) - 1 for i in train_idx], minlength=230
        ).astype(np.float64)
        corpus = counts / max(counts.sum(), 1.0)
        p_corpus, p_perturbed, p_synthetic = self.probabilities
        prior = (p_corpus + p_perturbed) * corpus
        if p_synthetic > 0 and self.generator is not None:
            prior = prior + p_synthetic * self.generator.space_group_prior()
        return prior

    def probabilities_at(self, epoch: int) -> np.ndarray:
        """(3,) kind probabilities of ``epoch``: ``(1 - f) p_start + f p_mix``,
        ``f = min(epoch / ramp_epochs, 1)`` (the mix's own without a ramp)."""
        if self._start_probabilities is None:
            return self.probabilities
        f = min(max(epoch, 0) / self.ramp_epochs, 1.0)
        return (1.0 - f) * self._start_probabilities + f * self.probabilities

    def mean_probabilities(self, patterns_seen: int, epoch_size: int) -> np.ndarray:
        """(3,) kind probabilities averaged over the first ``patterns_seen`` items of epochs of
        ``epoch_size`` items each (what the model saw, for the model card)."""
        if self._start_probabilities is None or patterns_seen <= 0 or epoch_size <= 0:
            return self.probabilities
        full, rest = divmod(int(patterns_seen), int(epoch_size))
        total = sum(self.probabilities_at(e) * epoch_size for e in range(full))
        total = total + self.probabilities_at(full) * rest
        return np.asarray(total, dtype=np.float64) / patterns_seen

    def kind(self, rng: np.random.Generator, epoch: int = 0) -> str:
        """The kind of the next item of ``epoch``."""
        return STREAM_SOURCES[draw_index(rng, self.probabilities_at(epoch))]

    def draw(
        self,
        index: int,
        rng: np.random.Generator,
        crystal_key: tuple[int, ...] | None = None,
        epoch: int = 0,
    ) -> StreamItem:
        """(two_theta deg float32, intensity float32, space group 1-230) of one item of
        ``epoch`` (which sets the kind probabilities of a ramped stream).

        ``crystal_key`` (integers): a synthetic item is the crystal of
        ``numpy.random.default_rng(crystal_key)`` instead of one drawn from ``rng``; items
        with the same key share it (the last one is kept, not recomputed).
        """
        kind = self.kind(rng, epoch)
        self.counts.drawn[kind] += 1
        try:
            made = self._item_makers[kind](index, rng, crystal_key)
        except XrdsymError:
            made = None
        if made is None:
            self.counts.fallbacks += 1
            return corpus_item(self, index)
        return made

    def synthetic_crystal(self, crystal_key: tuple[int, ...]) -> StreamItem | None:
        """(two_theta, intensity, space group) of the synthetic crystal of
        ``numpy.random.default_rng(crystal_key)``; None when it cannot be made."""
        try:
            return synthetic_item(self, np.random.default_rng(list(crystal_key)))
        except XrdsymError:
            return None


def check_mix(values: dict[str, Any]) -> StreamMix:
    """A :class:`StreamMix` from a config table (kinds not named weigh 0); ValueError for
    unknown keys or bad weights."""
    unknown = sorted(set(values) - set(STREAM_SOURCES))
    if unknown:
        raise ValueError(f"stream names unknown kinds {unknown}; known: {list(STREAM_SOURCES)}")
    for key, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"stream.{key} must be a number, got {value!r}")
    # A kind the table does not name has weight 0 (not the dataclass default of corpus = 1).
    mix = StreamMix(**{kind: float(values.get(kind, 0.0)) for kind in STREAM_SOURCES})
    mix.probabilities()
    return mix
