"""Synthetic crystals made by worker processes for the batched training path.

Each batch's synthetic items need new crystals (structure factors of a crystal drawn by
:class:`xrdsym.structures.synthetic.SyntheticGenerator`): the CPU work of the batched path.
:class:`FreshCrystals` hands the crystal keys of the coming batches to a pool of processes
(``num_workers``, one per spare core) a few batches ahead and returns their peak lists in
order, so the device draws profiles while the cores make crystals. A crystal is a function of
its key ``(seed, epoch + 1, batch, crystal, 7)`` alone, so the batches stay reproducible.
Only the results of the batches in flight are held: memory does not grow with the steps.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from xrdsym.datasets.stream import StreamMix, StructureStream
from xrdsym.structures.synthetic import GeneratorConfig, SyntheticGenerator, load_statistics

#: A made crystal: (two_theta, intensity, space group), or None when it could not be made.
Made = tuple[np.ndarray, np.ndarray, int] | None

_STREAM: Any = None


def _start_worker(generator: dict[str, Any], statistics: str, verify: bool, wavelength: float):
    """Build this worker's synthetic-only stream (one torch thread: the cores are the
    workers')."""
    global _STREAM

    torch.set_num_threads(1)
    made = SyntheticGenerator(load_statistics(statistics or None), GeneratorConfig(**generator))
    _STREAM = StructureStream(
        _Wavelength(wavelength), StreamMix(0.0, 0.0, 1.0), generator=made, verify=verify
    )


class _Wavelength:
    """A peak source with no structures, only a wavelength: all a synthetic-only stream
    reads."""

    def __init__(self, wavelength: float) -> None:
        self.wavelength = wavelength

    def __len__(self) -> int:
        return 0

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        raise IndexError(f"structure {index}: a synthetic-only stream stores no structures")

    def space_group(self, index: int) -> int:
        raise IndexError(f"structure {index}: a synthetic-only stream stores no structures")


def _make(keys: list[tuple[int, ...]]) -> list[Made]:
    """The crystals of ``keys`` (in a worker)."""
    return [_STREAM.synthetic_crystal(key) for key in keys]


class FreshCrystals:
    """A pool of ``workers`` processes making synthetic crystals of the run's generator.

    Args:
        config: the run's ``TrainConfig`` (``generator``, ``synthetic_statistics``,
            ``synthetic_verify``).
        wavelength: Angstrom.
        workers: processes (at least 1).
        ahead: batches whose crystals are made in advance.
    """

    def __init__(self, config: Any, wavelength: float, workers: int, ahead: int = 0) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers = max(1, workers)
        self.ahead = ahead if ahead > 0 else 2 * self.workers
        self.pool = context.Pool(
            self.workers,
            initializer=_start_worker,
            initargs=(
                dict(config.generator),
                config.synthetic_statistics,
                config.synthetic_verify,
                wavelength,
            ),
        )

    def made_in_order(self, keys: Iterable[list[tuple[int, ...]]]) -> Iterator[list[Made]]:
        """The crystals of each list of keys, in order, at most ``ahead`` lists in flight."""
        pending: deque[Any] = deque()
        for batch_keys in keys:
            pending.append(self.pool.apply_async(_make, (batch_keys,)))
            if len(pending) > self.ahead:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        """Stop the workers."""
        self.pool.terminate()
        self.pool.join()
