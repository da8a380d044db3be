"""Shared scaffolding of the per-structure indexing studies (``research.indexing_losses``,
``research.search_tolerance``).

Each study renders the structures of an evenly spread selection of a dataset part as
``python -m research.evaluate_indexing`` renders them (:func:`research.indexing_run.lab_renderer`,
seed ``(seed, -1, index)``), searches their lines, and runs a job per structure in worker
processes; this module owns the common options, the worker state and the map over the part.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from research.evaluate_indexing import spread_indices
from research.indexing_run import lab_renderer, same_reduced_cell, true_reduced_cell
from xrdsym.datasets.store import open_dataset

_STATE: dict[str, Any] = {}


def add_study_arguments(parser: argparse.ArgumentParser, limit: int) -> None:
    """The options every study takes: dataset, split, part (never test), limit, seed, workers."""
    parser.add_argument("--dataset", default="data_cache/mp_gen40", help="dataset folder")
    parser.add_argument("--split", default="structure_type", help="split name")
    parser.add_argument("--part", default="val", choices=("train", "val"), help="never test")
    parser.add_argument("--limit", type=int, default=limit, help="structures spread over the part")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered patterns")
    parser.add_argument("--workers", type=int, default=2, help="processes")


def setup_worker(dataset: str, split: str, part: str, effects: tuple[str, ...] = ()) -> None:
    """Open the dataset and build the evaluation's renderer, and one more per laboratory family
    of ``effects`` switched off, once per worker process."""
    data = open_dataset(dataset)
    indices = np.asarray(data.split_indices(split, part))
    _STATE["dataset"] = data
    _STATE["renderers"] = {off: lab_renderer(data, indices, off) for off in ("", *effects)}


def searched_lines(index: int, seed: int, off: str = "") -> Any:
    """The peak search of structure ``index`` rendered with family ``off`` switched off
    (``""``: the evaluation's rendering), on the paper grid."""
    # deferred until called (in each worker process): imports scipy
    from xrdsym.indexing.peaks import search_peaks
    from xrdsym.patterns.grid import PAPER_GRID
    from xrdsym.training.data import pattern_rng

    two_theta, intensity = _STATE["dataset"].peaks(index)
    renderer = _STATE["renderers"][off]
    counts = renderer(two_theta, intensity, PAPER_GRID, pattern_rng(seed, -1, index))
    return search_peaks(PAPER_GRID.two_theta(), counts, PAPER_GRID.wavelength)


def worker_dataset() -> Any:
    """The dataset opened by :func:`setup_worker` in this process."""
    return _STATE["dataset"]


def true_cell(index: int) -> np.ndarray:
    """Niggli-reduced primitive cell of structure ``index`` of the worker's dataset."""
    return true_reduced_cell(_STATE["dataset"].prototype(index))


def true_cell_rank(peaks: Any, truth: np.ndarray, options: Any = None) -> int:
    """Rank (0: first) of the cell ``truth`` among the lattice search's candidates on the lines
    ``peaks`` (a :class:`~xrdsym.indexing.results.PeakSearchResult`; ``options``: its
    :class:`~xrdsym.indexing.lattice.IndexingOptions`), -1 when it is not among them."""
    # deferred until called (in each worker process): imports spglib
    from xrdsym.indexing.lattice import index_peaks

    candidates = index_peaks(peaks, options=options).candidates
    for rank, candidate in enumerate(candidates):
        if same_reduced_cell(candidate.reduced_cell, truth):
            return rank
    return -1


def first_cell_is_true(peaks: Any, truth: np.ndarray, options: Any = None) -> bool:
    """Whether the lattice search's first cell on the lines ``peaks`` is the cell ``truth``
    (:func:`true_cell_rank` 0)."""
    return true_cell_rank(peaks, truth, options) == 0


def map_structures(
    args: argparse.Namespace, job: Callable[[int], Any], effects: tuple[str, ...] = ()
) -> list[Any]:
    """``job(index)`` for every structure of the selection (:func:`add_study_arguments`), in
    ``args.workers`` processes set up by :func:`setup_worker`, in selection order."""
    data = open_dataset(args.dataset)
    chosen = spread_indices(np.asarray(data.split_indices(args.split, args.part)), args.limit)
    setup = (args.dataset, args.split, args.part, effects)
    with ProcessPoolExecutor(args.workers, initializer=setup_worker, initargs=setup) as pool:
        return list(pool.map(job, [int(i) for i in chosen], chunksize=4))
