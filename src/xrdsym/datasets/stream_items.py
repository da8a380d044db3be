"""The items of the training stream, one maker per stream source.

An item is (two_theta in degrees float32, intensity float32, space group 1-230). Each stream
source of :mod:`xrdsym.datasets.sources` has an :data:`ItemFactory`: given the stream's parts
(:class:`StreamParts`), it returns the source's :data:`ItemMaker`,
``(index, rng, crystal_key) -> item or None``. None (or a
:class:`~xrdsym.errors.XrdsymError`) means the item could not be made; the stream then falls
back to the corpus peak list of the same index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from xrdsym.datasets.protocol import PeakSource

#: Peaks are computed over a wider range than the model grid (10-110 deg), as in a dataset
#: build, so that zero shifts and range augmentation never move an unstored peak into view.
STREAM_TWO_THETA_RANGE = (5.0, 115.0)

#: Draws of a synthetic crystal before an item falls back to the corpus.
VERIFY_ATTEMPTS = 5

#: One item of the stream: (two_theta deg float32, intensity float32, space group 1-230).
StreamItem = tuple[np.ndarray, np.ndarray, int]

#: Makes an item of one kind: (index, rng, crystal_key) -> item, or None when it cannot.
ItemMaker = Callable[[int, np.random.Generator, tuple[int, ...] | None], StreamItem | None]


class StreamParts(Protocol):
    """What an item maker reads of its stream (:class:`~xrdsym.datasets.stream.StructureStream`).

    Attributes:
        source: the dataset (peak lists, labels, stored cells).
        perturbation: bounds of perturbed copies (``PerturbationConfig``).
        generator: the synthetic generator (``SyntheticGenerator``; None when not drawn).
        verify: retry synthetic crystals with more symmetry than their label.
        wavelength: wavelength of the computed peak positions, Angstrom.
    """

    source: PeakSource
    perturbation: Any
    generator: Any
    verify: bool
    wavelength: float


#: A stream source's factory: the stream's parts -> its item maker.
ItemFactory = Callable[[StreamParts], ItemMaker]


def corpus_item(parts: StreamParts, index: int) -> StreamItem:
    """The stored peak list of training structure ``index``."""
    two_theta, intensity = parts.source.peaks(index)
    return two_theta, intensity, parts.source.space_group(index)


def corpus_items(parts: StreamParts) -> ItemMaker:
    """Maker of ``corpus`` items: the stored peak list of the item's index."""
    return lambda index, rng, crystal_key: corpus_item(parts, index)


def known_peaks(
    crystal: Any, operations: tuple[np.ndarray, np.ndarray], wavelength: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """(two_theta, intensity) float32 of ``crystal`` with its known ``operations`` over
    STREAM_TWO_THETA_RANGE at ``wavelength`` (Angstrom); None when no peak falls in it."""
    # deferred until called: imports spglib
    from xrdsym.patterns.peaks import compute_peaks

    peaks = compute_peaks(
        crystal,
        wavelength=wavelength,
        two_theta_range=STREAM_TWO_THETA_RANGE,
        operations=operations,
        exact_operations=True,
    )
    if len(peaks) == 0:
        return None
    return (
        np.asarray(peaks.two_theta, dtype=np.float32),
        np.asarray(peaks.intensity, dtype=np.float32),
    )


def perturbed_item(parts: StreamParts, index: int, rng: np.random.Generator) -> StreamItem | None:
    """A perturbed copy of training structure ``index``
    (:func:`~xrdsym.structures.perturb.perturb_prototype` of its stored cell)."""
    # deferred until called: imports spglib
    from xrdsym.structures.perturb import perturb_prototype
    from xrdsym.structures.prototype import hall_operations, prototype_crystal

    prototype = parts.source.prototype(index)  # type: ignore[attr-defined]
    new = perturb_prototype(prototype, rng, parts.perturbation)
    operations = hall_operations(new.hall_number)
    peaks = known_peaks(prototype_crystal(new), operations, parts.wavelength)
    return None if peaks is None else (*peaks, new.space_group)


def perturbed_items(parts: StreamParts) -> ItemMaker:
    """Maker of ``perturbed`` items: a perturbed copy of the item's structure."""
    return lambda index, rng, crystal_key: perturbed_item(parts, index, rng)


def synthetic_item(parts: StreamParts, rng: np.random.Generator) -> StreamItem | None:
    """A synthetic crystal drawn from ``rng`` (drawn again, up to VERIFY_ATTEMPTS times, when
    it has more symmetry than its label and ``parts.verify``; see
    :func:`~xrdsym.structures.synthetic_checks.keeps_its_group`)."""
    # deferred until called: imports spglib
    from xrdsym.structures.synthetic_checks import keeps_its_group

    for _ in range(VERIFY_ATTEMPTS):
        sample = parts.generator.sample(rng)
        if not parts.verify or sample.general or keeps_its_group(sample):
            peaks = known_peaks(sample.crystal, sample.operations, parts.wavelength)
            return None if peaks is None else (*peaks, sample.space_group)
    return None


def synthetic_items(parts: StreamParts) -> ItemMaker:
    """Maker of ``synthetic`` items: a crystal drawn from the item's ``rng``, or with a
    ``crystal_key`` the crystal of ``numpy.random.default_rng(crystal_key)``, kept while
    the key repeats (only the last one, so memory does not grow)."""
    last: list[tuple[tuple[int, ...], StreamItem | None]] = []

    def make(
        index: int, rng: np.random.Generator, crystal_key: tuple[int, ...] | None
    ) -> StreamItem | None:
        if crystal_key is None:
            return synthetic_item(parts, rng)
        if not last or last[0][0] != crystal_key:
            made = synthetic_item(parts, np.random.default_rng(list(crystal_key)))
            last[:] = [(crystal_key, made)]
        return last[0][1]

    return make
