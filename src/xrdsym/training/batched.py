"""Training batches drawn whole by torch from peak lists held in memory (``prefetch = "batched"``).

The stored peak lists stay in flat arrays (:class:`PeakTable`); a batch gathers its rows into
padded (B, P) tensors, makes the ``perturbed`` items of the stream in the batch (cell strained
within its crystal family and intensities jittered, :mod:`xrdsym.patterns.batch_strain`),
draws the laboratory profiles of all B patterns at once
(:class:`xrdsym.patterns.batch_lab.BatchLabRenderer`, on the training device) and prepares
them as ``training.data.PatternPreparer`` does (normalisation, random range truncation). No
worker process and no per-pattern Python loop is involved.

Reproducibility: batch j of epoch e draws everything from ``torch.Generator`` seeded by
``numpy.random.SeedSequence([seed, e + 1, j])``, so a resumed run continues with the same
batches. The order of the structures is that of the run's epoch sampler.

Memory: the table holds the dataset's peaks (8 bytes per peak), the conventional hkl of each
peak (6 bytes, found once per structure on first use) and a flag per structure; nothing grows
with the number of steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch

from xrdsym.datasets.protocol import PeakSource
from xrdsym.datasets.sources import STREAM_INDEX, STREAM_SOURCES
from xrdsym.patterns.batch_lab import BatchLabRenderer, normalize_batch, truncation_mask
from xrdsym.patterns.batch_strain import (
    conventional_hkl,
    jittered_intensities,
    metric_coordinates,
    strained_cells,
    strained_two_theta,
)
from xrdsym.patterns.grid import Grid
from xrdsym.structures.perturb import PerturbationConfig
from xrdsym.structures.symmetry import cell_parameters
from xrdsym.training.data import SHARED_CRYSTAL_TAG
from xrdsym.training.fresh import FreshCrystals
from xrdsym.training.parts import available_cores

#: Tags the generator of a batch's item kinds apart from the other seeds of the batch.
KIND_TAG = 11

#: Kind index of an item (its stream source's place in ``STREAM_SOURCES``).
CORPUS, PERTURBED, SYNTHETIC = (STREAM_INDEX[k] for k in ("corpus", "perturbed", "synthetic"))

#: Default spread of the intensity jitter of perturbed items: sigma of log10(I) uniform in
#: this range (see ``docs/training_speed.md`` for its measurement on perturbed structures).
JITTER_LOG10_SIGMA = (0.01, 0.3)


@dataclass
class PeakTable:
    """Peak lists of a source in flat arrays (CSR), with each structure's conventional cell.

    Attributes:
        offsets: (n + 1,) int64; structure i owns peaks offsets[i]:offsets[i + 1].
        two_theta, intensity: (m,) float32 peak positions (degrees) and intensities.
        space_group: (n,) int64, 1-230.
        lattice: (n, 9) float64 conventional cell rows, or None (no cells: strain isotropic).
        wavelength: Angstrom.
        hkl: (m, 3) int16 conventional hkl, filled by :meth:`prepare_rows`.
        matched: (m,) bool, True where ``hkl`` was found.
        ready: (n,) bool, structures whose hkl were looked for.
        cells: (n, 6) float64 conventional a, b, c (Angstrom), alpha, beta, gamma (degrees).
    """

    offsets: np.ndarray
    two_theta: np.ndarray
    intensity: np.ndarray
    space_group: np.ndarray
    lattice: np.ndarray | None
    wavelength: float
    hkl: np.ndarray = field(init=False)
    matched: np.ndarray = field(init=False)
    ready: np.ndarray = field(init=False)
    cells: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        m, n = self.two_theta.shape[0], self.space_group.shape[0]
        self.hkl = np.zeros((m, 3), dtype=np.int16)
        self.matched = np.zeros(m, dtype=bool)
        self.ready = np.zeros(n, dtype=bool) if self.lattice is not None else np.ones(n, bool)
        self.cells = np.tile(np.array([1.0, 1.0, 1.0, 90.0, 90.0, 90.0]), (n, 1))
        if self.lattice is not None:
            for i in range(n):
                rows = self.lattice[i].reshape(3, 3)
                if np.all(np.isfinite(rows)) and abs(np.linalg.det(rows)) > 1e-6:
                    self.cells[i] = cell_parameters(rows)
                else:
                    self.ready[i] = True  # no cell: isotropic strain

    @classmethod
    def from_source(cls, source: PeakSource, wavelength: float | None = None) -> PeakTable:
        """The table of every structure of ``source``: the arrays of a dataset folder as they
        are (``PeakDataset.data``), or the peaks of any other source read one by one."""
        data = getattr(source, "data", None)
        if data is not None and hasattr(data, "peak_offsets"):
            lattice = data.proto_lattice if np.any(data.proto_hall > 0) else None
            return cls(
                np.asarray(data.peak_offsets, dtype=np.int64),
                np.asarray(data.two_theta, dtype=np.float32),
                np.asarray(data.intensity, dtype=np.float32),
                np.asarray(data.space_group, dtype=np.int64),
                None if lattice is None else np.asarray(lattice, dtype=np.float64),
                float(getattr(source, "wavelength", wavelength or 1.540562)),
            )
        peaks = [source.peaks(i) for i in range(len(source))]
        lengths = np.array([len(p[0]) for p in peaks], dtype=np.int64)
        return cls(
            np.concatenate([[0], np.cumsum(lengths)]),
            np.concatenate([p[0] for p in peaks]).astype(np.float32),
            np.concatenate([p[1] for p in peaks]).astype(np.float32),
            np.array([source.space_group(i) for i in range(len(source))], dtype=np.int64),
            None,
            float(getattr(source, "wavelength", wavelength or 1.540562)),
        )

    def prepare_rows(self, rows: np.ndarray) -> None:
        """Find the conventional hkl of the structures ``rows`` not done yet (once each)."""
        assert self.lattice is not None or bool(self.ready[rows].all())
        for i in np.unique(rows[~self.ready[rows]]):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            hkl, matched = conventional_hkl(
                self.two_theta[lo:hi],
                self.lattice[i],  # type: ignore[index]
                self.wavelength,
            )
            self.hkl[lo:hi], self.matched[lo:hi] = hkl, matched
            self.ready[i] = True

    def prepare_all(self, rows: np.ndarray, workers: int) -> None:
        """:meth:`prepare_rows` of ``rows`` in ``workers`` processes (chunks of structures)."""
        todo = np.unique(np.asarray(rows)[~self.ready[np.asarray(rows)]])
        if todo.size == 0 or self.lattice is None:
            return
        if workers <= 1:
            self.prepare_rows(todo)
            return

        chunks = np.array_split(todo, workers * 4)
        tasks = [
            (
                [self.two_theta[self.offsets[i] : self.offsets[i + 1]] for i in chunk],
                self.lattice[chunk],
                self.wavelength,
            )
            for chunk in chunks
        ]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for chunk, found in zip(chunks, pool.map(_conventional_chunk, tasks), strict=True):
                for i, (hkl, matched) in zip(chunk, found, strict=True):
                    lo, hi = self.offsets[i], self.offsets[i + 1]
                    self.hkl[lo:hi], self.matched[lo:hi] = hkl, matched
                    self.ready[i] = True

    def gather(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Padded arrays of structures ``rows`` (B,): two_theta, intensity (B, P) with
        intensity 0 as padding, hkl (B, P, 3), matched (B, P), cells (B, 6), space_group."""
        lo, hi = self.offsets[rows], self.offsets[rows + 1]
        width = max(int((hi - lo).max(initial=1)), 1)
        position = lo[:, None] + np.arange(width)[None, :]
        inside = position < hi[:, None]
        position = np.where(inside, position, 0)
        return {
            "two_theta": np.where(inside, self.two_theta[position], 0.0).astype(np.float32),
            "intensity": np.where(inside, self.intensity[position], 0.0).astype(np.float32),
            "hkl": self.hkl[position],
            "matched": self.matched[position] & inside,
            "cells": self.cells[rows],
            "space_group": self.space_group[rows],
        }


def _conventional_chunk(
    task: tuple[list[np.ndarray], np.ndarray, float],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`conventional_hkl` of a chunk of structures (in a worker process)."""
    positions, lattices, wavelength = task
    return [
        conventional_hkl(tt, lat, wavelength) for tt, lat in zip(positions, lattices, strict=True)
    ]


def batch_generator(seed: int, epoch: int, batch: int, device: torch.device) -> torch.Generator:
    """The generator of batch ``batch`` of ``epoch``: seeded by SeedSequence([seed, epoch + 1,
    batch]) (a function of the three numbers only)."""
    state = np.random.SeedSequence([seed, epoch + 1, batch]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


@dataclass
class BatchedPatterns:
    """Prepared training batches drawn in torch (see the module docstring).

    Attributes:
        table: the peak lists.
        grid: the model grid.
        renderer: the batch renderer (ranges and families of the run's lab renderer).
        seed: the run's seed.
        mix: probabilities of the kinds corpus, perturbed, synthetic (the stream's weights).
        fresh: the workers making synthetic crystals (needed when ``mix[SYNTHETIC]`` > 0).
        per_crystal: synthetic items sharing one crystal (``synthetic_patterns_per_crystal``).
        perturbation: strain and angle bounds of the cell (``PerturbationConfig``).
        jitter: range of sigma of log10 of the intensity factors of perturbed items.
        truncate_probability, truncate_min_span: ``PatternPreparer``'s range truncation.
        device: where the patterns are drawn (the training device).
    """

    table: PeakTable
    grid: Grid
    renderer: BatchLabRenderer
    seed: int
    mix: tuple[float, float, float] = (1.0, 0.0, 0.0)
    fresh: Any = None
    per_crystal: int = 1
    perturbation: PerturbationConfig = field(default_factory=PerturbationConfig)
    jitter: tuple[float, float] = JITTER_LOG10_SIGMA
    truncate_probability: float = 0.0
    truncate_min_span: float = 40.0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def kinds(self, epoch: int, batch: int, n: int) -> np.ndarray:
        """Kind index of each item of a batch (CORPUS, PERTURBED, SYNTHETIC), from
        SeedSequence([seed, epoch + 1, batch, KIND_TAG])."""
        rng = np.random.default_rng([self.seed, epoch + 1, batch, KIND_TAG])
        p = np.asarray(self.mix, dtype=np.float64)
        return rng.choice(len(STREAM_SOURCES), size=n, p=p / p.sum())

    def crystal_blocks(self, epoch: int, batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(blocks of the batch's synthetic crystals, block of each synthetic item) (B,).

        As in the worker path, the items of epoch positions k b ... k b + k - 1 (k =
        ``per_crystal``) share the crystal of key (seed, epoch + 1, 0, b, 7).
        """
        slots = np.flatnonzero(self.kinds(epoch, batch, n) == SYNTHETIC)
        blocks, which = np.unique((batch * n + slots) // self.per_crystal, return_inverse=True)
        return blocks, which

    def crystal_keys(self, epoch: int, batch: int, n: int) -> list[tuple[int, ...]]:
        """Keys of the synthetic crystals of a batch (see :meth:`crystal_blocks`)."""
        blocks, _ = self.crystal_blocks(epoch, batch, n)
        return [(self.seed, epoch + 1, 0, int(b), SHARED_CRYSTAL_TAG) for b in blocks]

    def draw(
        self,
        rows: np.ndarray,
        g: torch.Generator,
        kinds: np.ndarray | None = None,
        made: list[Any] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(patterns (B, 1, L) float32 in [0, 1], space-group indices (B,) 0-229) of the
        structures ``rows`` with item ``kinds`` (corpus when None); the synthetic items take
        the crystals ``made``, one per item in order (None: not made, the row's own structure
        is drawn)."""
        n, dev = len(rows), self.device
        rows = np.asarray(rows)
        kinds = np.full(n, CORPUS, dtype=np.int64) if kinds is None else np.asarray(kinds).copy()
        chosen = rows[kinds == PERTURBED]
        if chosen.size:
            self.table.prepare_rows(chosen)
        arrays = self.table.gather(rows)
        slots = np.flatnonzero(kinds == SYNTHETIC)
        if slots.size:
            lists = list(made) if made is not None else [None] * slots.size
            kinds[slots[[m is None for m in lists]]] = CORPUS
            arrays = with_crystals(arrays, slots, lists)
        tt = torch.from_numpy(arrays["two_theta"]).to(dev)
        inten = torch.from_numpy(arrays["intensity"]).to(dev)
        sg = torch.from_numpy(arrays["space_group"]).to(dev)
        if chosen.size:
            perturbed = torch.from_numpy(kinds == PERTURBED).to(dev)
            tt, inten = self.perturb(arrays, tt, inten, sg, perturbed, g)
        counts = self.renderer(tt, inten, self.grid, g)
        keep = truncation_mask(
            g, n, self.grid, self.truncate_probability, self.truncate_min_span, dev
        )
        return normalize_batch(counts, keep).unsqueeze(1), sg - 1

    def perturb(
        self,
        arrays: dict[str, np.ndarray],
        tt: torch.Tensor,
        inten: torch.Tensor,
        sg: torch.Tensor,
        perturbed: torch.Tensor,
        g: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Strained positions and jittered intensities on the rows ``perturbed``."""
        dev = self.device
        cells = torch.from_numpy(arrays["cells"]).to(dev)
        after = strained_cells(g, cells, sg, self.perturbation)
        metric = torch.from_numpy(metric_coordinates(arrays["hkl"].reshape(-1, 3)))
        metric = metric.reshape(*arrays["hkl"].shape[:2], 6).to(dev)
        matched = torch.from_numpy(arrays["matched"]).to(dev)
        new_tt, kept = strained_two_theta(tt, metric, matched, cells, after, self.table.wavelength)
        new_inten = jittered_intensities(g, torch.where(kept, inten, 0.0), self.jitter)
        rows = perturbed[:, None]
        return torch.where(rows, new_tt, tt), torch.where(rows, new_inten, inten)

    def epoch(
        self, epoch: int, order: np.ndarray, batch_size: int, first_batch: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``first_batch``, ... of an epoch whose structures come in ``order`` (dataset
        indices); the last incomplete batch is dropped."""
        order = np.asarray(order, dtype=np.int64)
        batches = range(first_batch, len(order) // batch_size)
        made: Iterator[list[Any] | None] = iter(lambda: None, 0)  # no synthetic items
        if self.mix[SYNTHETIC] > 0:
            if self.fresh is None:
                raise ValueError("synthetic items need the workers of FreshCrystals")
            keys = (self.crystal_keys(epoch, j, batch_size) for j in batches)
            made = self.fresh.made_in_order(keys)
        for j, crystals in zip(batches, made, strict=False):
            rows = order[j * batch_size : (j + 1) * batch_size]
            g = batch_generator(self.seed, epoch, j, self.device)
            items = None
            if crystals is not None:
                items = [crystals[b] for b in self.crystal_blocks(epoch, j, batch_size)[1]]
            yield self.draw(rows, g, self.kinds(epoch, j, batch_size), items)


def with_crystals(
    arrays: dict[str, np.ndarray], slots: np.ndarray, lists: list[Any]
) -> dict[str, np.ndarray]:
    """``arrays`` of :meth:`PeakTable.gather` with the rows ``slots`` replaced by made crystals
    ((two_theta, intensity, space group), or None to keep the row), widened as needed; the
    replaced rows have no conventional hkl."""
    width = max([arrays["two_theta"].shape[1]] + [len(m[0]) for m in lists if m is not None])
    out = {key: value.copy() for key, value in arrays.items()}
    for key in ("two_theta", "intensity", "hkl", "matched"):
        pad = [(0, 0), (0, width - out[key].shape[1])] + [(0, 0)] * (out[key].ndim - 2)
        out[key] = np.pad(out[key], pad)
    for slot, made in zip(slots, lists, strict=True):
        if made is None:
            continue
        tt, inten, space_group = made
        out["two_theta"][slot] = 0.0
        out["intensity"][slot] = 0.0
        out["two_theta"][slot, : len(tt)] = tt
        out["intensity"][slot, : len(tt)] = inten
        out["matched"][slot] = False
        out["space_group"][slot] = space_group
    return out


def make_batched(
    config: Any,
    source: PeakSource,
    grid: Grid,
    renderer: Any,
    device: torch.device,
    train_idx: np.ndarray | None = None,
) -> BatchedPatterns:
    """The batch renderer of a run: the ranges and families of its lab renderer
    (``renderer``, a ``LabRenderer``; impurities when it has an impurity pool), the stream's
    kind weights and perturbation bounds, ``num_workers`` processes making synthetic crystals
    when the stream has them, the range truncation. With perturbed items, the conventional hkl
    of the training structures ``train_idx`` are found first, on every core."""
    weights = [float(config.stream.get(kind, 0.0)) for kind in STREAM_SOURCES]
    total = sum(weights)
    fresh = None
    if weights[SYNTHETIC] > 0:
        fresh = FreshCrystals(config, grid.wavelength, config.num_workers)
    table = PeakTable.from_source(source, grid.wavelength)
    if weights[PERTURBED] > 0 and train_idx is not None:
        table.prepare_all(np.asarray(train_idx), available_cores())
    return BatchedPatterns(
        table=table,
        grid=grid,
        renderer=BatchLabRenderer(
            ranges=renderer.ranges,
            augmentation=renderer.augmentation,
            impurities=renderer.impurity_pool is not None,
        ),
        seed=config.seed,
        mix=(weights[CORPUS] / total, weights[PERTURBED] / total, weights[SYNTHETIC] / total),
        fresh=fresh,
        per_crystal=config.synthetic_patterns_per_crystal,
        perturbation=PerturbationConfig(**config.perturbation),
        truncate_probability=config.truncate_probability,
        truncate_min_span=config.truncate_min_span,
        device=device,
    )
