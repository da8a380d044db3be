"""Training patterns rendered on the fly from peak lists.

Every epoch each structure gets fresh random profile parameters (peak widths and shapes,
background, noise), drawn from ``numpy.random.default_rng([seed, epoch, index])``: the same
(seed, epoch, index) always gives the same pattern, whichever process or worker renders it.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from xrdsym.datasets.protocol import PeakSource
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.prepare import normalize_intensity, truncate_range
from xrdsym.patterns.profile import ProfileRenderer
from xrdsym.patterns.protocols import PatternRenderer


@dataclass(frozen=True)
class PatternPreparer:
    """The shared normalisation to [0, 1], then optionally a random range truncation.

    Truncation zero-fills outside [low, high] and renormalises the kept part, which is what
    ``prepare_pattern`` makes of a measurement covering only that range.

    Attributes:
        truncate_probability: chance of zero-filling outside a random measured range.
        truncate_min_span: narrowest kept range, degrees 2theta.
    """

    truncate_probability: float = 0.0
    truncate_min_span: float = 40.0

    def __call__(self, counts: np.ndarray, grid: Grid, rng: np.random.Generator) -> np.ndarray:
        """float32 (grid.n_points,) in [0, 1]."""

        values = normalize_intensity(np.asarray(counts, dtype=np.float64))
        if self.truncate_probability > 0 and rng.random() < self.truncate_probability:
            full = grid.stop - grid.start
            span = rng.uniform(min(self.truncate_min_span, full), full)
            low = rng.uniform(grid.start, grid.stop - span)
            values = truncate_range(values, grid, low, low + span)
        return np.asarray(values, dtype=np.float32)


def pattern_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of structure ``index`` in ``epoch``; epoch -1 is used for fixed sets."""
    return np.random.default_rng([seed, epoch + 1, index])


#: An item of a training epoch: (epoch, dataset index), optionally followed by (rank, position
#: in the rank's epoch order) as :class:`EpochSampler` yields them.
Item = tuple[int, ...]


class RenderedPatterns(Dataset[tuple[torch.Tensor, int]]):
    """Items ``(epoch, index, ...)`` -> (pattern (1, L) float32, space-group index 0-229)."""

    def __init__(
        self,
        source: PeakSource,
        grid: Grid,
        seed: int,
        renderer: PatternRenderer | None = None,
        preparer: Callable[[np.ndarray, Grid, np.random.Generator], np.ndarray] | None = None,
    ) -> None:
        self.source = source
        self.grid = grid
        self.seed = seed
        self.renderer: PatternRenderer = renderer if renderer is not None else ProfileRenderer()
        self.preparer = preparer if preparer is not None else PatternPreparer()

    def __len__(self) -> int:
        return len(self.source)

    def render(self, epoch: int, index: int) -> np.ndarray:
        """Prepared pattern (L,) float32 of structure ``index`` in ``epoch``."""
        rng = pattern_rng(self.seed, epoch, index)
        two_theta, intensity = self.source.peaks(index)
        counts = self.renderer(two_theta, intensity, self.grid, rng)
        return self.preparer(counts, self.grid, rng)

    def __getitem__(self, item: Item) -> tuple[torch.Tensor, int]:
        epoch, index = item[0], item[1]
        values = self.render(epoch, index)
        return torch.from_numpy(values).unsqueeze(0), self.source.space_group(index) - 1


#: Tags the generators of shared synthetic crystals apart from the items' generators.
SHARED_CRYSTAL_TAG = 7


class StreamedPatterns(RenderedPatterns):
    """Items ``(epoch, index[, rank, position])`` drawn from a
    :class:`~xrdsym.datasets.stream.StructureStream`.

    The item's generator decides the kind of structure (corpus, perturbed, synthetic), makes
    it and renders it, so an item is reproducible in any worker and after a resume. With
    ``patterns_per_crystal`` k > 1, the synthetic items of positions k*j .. k*j + k - 1 of a
    rank's epoch share one crystal, from ``default_rng([seed, epoch + 1, rank, j, 7])``.
    """

    def __init__(
        self,
        stream: Any,
        grid: Grid,
        seed: int,
        renderer: PatternRenderer | None = None,
        preparer: Callable[[np.ndarray, Grid, np.random.Generator], np.ndarray] | None = None,
        patterns_per_crystal: int = 1,
    ) -> None:
        super().__init__(stream.source, grid, seed, renderer, preparer)
        self.stream = stream
        self.patterns_per_crystal = patterns_per_crystal

    def crystal_key(self, epoch: int, rank: int, position: int | None) -> tuple[int, ...] | None:
        """The generator seed of the synthetic crystal shared by ``position``'s block."""
        if self.patterns_per_crystal <= 1 or position is None:
            return None
        block = position // self.patterns_per_crystal
        return (self.seed, epoch + 1, rank, block, SHARED_CRYSTAL_TAG)

    def render_item(
        self, epoch: int, index: int, rank: int = 0, position: int | None = None
    ) -> tuple[np.ndarray, int]:
        """(prepared pattern (L,) float32, space group 1-230) of one stream item."""
        rng = pattern_rng(self.seed, epoch, index)
        key = self.crystal_key(epoch, rank, position)
        two_theta, intensity, space_group = self.stream.draw(index, rng, key, epoch)
        counts = self.renderer(two_theta, intensity, self.grid, rng)
        return self.preparer(counts, self.grid, rng), space_group

    def __getitem__(self, item: Item) -> tuple[torch.Tensor, int]:
        values, space_group = self.render_item(*item)
        return torch.from_numpy(values).unsqueeze(0), space_group - 1


class EpochSampler(Sampler[Item]):
    """Wraps an index sampler: yields ``(epoch, index, rank, position)`` and can skip the first
    ``skip`` items (positions count from the epoch's start, skipped ones included).

    ``base`` is typically a ``DistributedSampler`` (also used with one process) whose
    ``set_epoch`` reshuffles deterministically from its seed; ``indices`` maps the sampler's
    positions to dataset indices (the training part of a split).
    """

    def __init__(self, base: Any, indices: np.ndarray, epoch: int, skip: int = 0) -> None:
        self.base = base
        self.indices = np.asarray(indices)
        self.epoch = epoch
        self.skip = skip
        self.rank = int(getattr(base, "rank", 0))
        base.set_epoch(epoch)

    def __iter__(self) -> Iterator[Item]:
        for position, k in enumerate(self.base):
            if position >= self.skip:
                yield self.epoch, int(self.indices[k]), self.rank, position

    def __len__(self) -> int:
        return max(len(self.base) - self.skip, 0)


def render_fixed(
    dataset: RenderedPatterns, indices: Iterable[int], progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded set: (patterns (n, L) float32, space-group indices (n,) int64).

    With ``progress`` a bar with the number of patterns and an ETA runs on standard error
    (on terminals only).
    """
    idx = [int(i) for i in indices]
    rendered = [dataset.render(-1, i) for i in _counted(idx, progress)]
    patterns = np.stack(rendered) if idx else np.zeros((0, dataset.grid.n_points))
    labels = np.array([dataset.source.space_group(i) - 1 for i in idx], dtype=np.int64)
    return patterns.astype(np.float32), labels


def _counted(items: list[int], progress: bool) -> Iterable[int]:
    """``items``, through a tqdm bar of ``len(items)`` patterns when ``progress``."""
    if not progress:
        return items

    return tqdm(items, total=len(items), unit="pattern", disable=None, file=sys.stderr)


class ThreadPrefetcher:
    """Iterates ``loader`` in a background thread, keeping up to ``depth`` batches ready."""

    _DONE = object()

    def __init__(self, loader: Iterable[Any], depth: int = 4) -> None:
        self.loader = loader
        self.depth = depth

    def __iter__(self) -> Iterator[Any]:
        items: queue.Queue[Any] = queue.Queue(self.depth)
        stop = threading.Event()

        def work() -> None:
            try:
                for batch in self.loader:
                    while not stop.is_set():
                        try:
                            items.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as exc:  # handed to the consumer, re-raised there
                items.put(exc)
                return
            items.put(self._DONE)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while True:
                batch = items.get()
                if batch is self._DONE:
                    return
                if isinstance(batch, BaseException):
                    raise batch
                yield batch
        finally:
            stop.set()
            thread.join(timeout=5)
