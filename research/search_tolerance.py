"""Choose the lattice search's line window (``IndexingOptions.tolerance``) on simulated patterns.

Each structure of an evenly spread selection of a dataset part is rendered with the laboratory
renderer as ``python -m research.evaluate_indexing`` renders it (seed, isotropic strain off),
its lines are searched once, and the lattice search runs once per tolerance. Printed: how often
the first candidate equals the true cell (Niggli-reduced, lengths within 0.5 %, angles within
0.5 degrees) and the mean and largest lattice-search time, per tolerance. Run it on the
validation part only.

    python -m research.search_tolerance --dataset data_cache/mp_gen40 --part val \
        --limit 600 --tolerances 0.06 0.08 0.10 0.12 0.15 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from research.command import run_command
from research.evaluate_indexing import spread_indices
from research.indexing_run import LAB_OFF, same_reduced_cell, true_reduced_cell
from xrdsym.datasets.protocol import IndexedPeaks
from xrdsym.datasets.store import open_dataset
from xrdsym.indexing.lattice import IndexingOptions, index_peaks
from xrdsym.indexing.peaks import search_peaks
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.patterns.renderers import make_renderer
from xrdsym.training.data import pattern_rng

_STATE: dict[str, Any] = {}


def _setup(dataset: str, split: str, part: str) -> None:
    """Open the dataset and build the renderer once per worker process."""
    data = open_dataset(dataset)
    indices = np.asarray(data.split_indices(split, part))
    _STATE["dataset"] = data
    _STATE["renderer"] = make_renderer(
        "lab", impurity_pool=IndexedPeaks(data, indices), lab_off=LAB_OFF
    )


def first_cell_right(index: int, tolerances: tuple[float, ...], seed: int) -> list[tuple]:
    """(right, seconds) of the lattice search at each tolerance for one structure."""
    data, renderer = _STATE["dataset"], _STATE["renderer"]
    grid = PAPER_GRID
    two_theta, intensity = data.peaks(index)
    counts = renderer(two_theta, intensity, grid, pattern_rng(seed, -1, index))
    lines = search_peaks(grid.two_theta(), counts, grid.wavelength)
    truth = true_reduced_cell(data.prototype(index))
    rows = []
    for tolerance in tolerances:
        start = time.perf_counter()
        first = index_peaks(lines, options=IndexingOptions(tolerance=tolerance)).first
        right = first is not None and same_reduced_cell(first.reduced_cell, truth)
        rows.append((right, time.perf_counter() - start))
    return rows


def register(subparsers: Any) -> None:
    """Add the ``search-tolerance`` command."""
    parser = subparsers.add_parser(
        "search-tolerance",
        help="first-cell index rate of the lattice search per line window, simulated patterns",
        description=__doc__,
    )
    parser.add_argument("--dataset", default="data_cache/mp_gen40", help="dataset folder")
    parser.add_argument("--split", default="structure_type", help="split name")
    parser.add_argument("--part", default="val", choices=("train", "val"), help="never test")
    parser.add_argument("--limit", type=int, default=600, help="structures spread over the part")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered patterns")
    parser.add_argument(
        "--tolerances", type=float, nargs="+", default=[0.06, 0.08, 0.1, 0.12], help="degrees"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Render, search the lines once, run the lattice search per tolerance, print the table."""
    data = open_dataset(args.dataset)
    chosen = spread_indices(np.asarray(data.split_indices(args.split, args.part)), args.limit)
    job = partial(first_cell_right, tolerances=tuple(args.tolerances), seed=args.seed)
    with ProcessPoolExecutor(
        args.workers, initializer=_setup, initargs=(args.dataset, args.split, args.part)
    ) as pool:
        rows = np.array(list(pool.map(job, [int(i) for i in chosen], chunksize=4)))
    print(f"{args.part} part of {args.dataset} ({args.split}), {len(chosen)} structures")
    print("tolerance (deg)  first cell right   mean s   max s")
    for k, tolerance in enumerate(args.tolerances):
        right, seconds = rows[:, k, 0], rows[:, k, 1]
        print(
            f"  {tolerance:<14.3g} {int(right.sum()):>5} ({right.mean():6.1%})"
            f"   {seconds.mean():6.2f}  {seconds.max():6.2f}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.search_tolerance`` with ``argv``; the exit code."""
    return run_command(register, "research.search_tolerance", argv)


if __name__ == "__main__":
    sys.exit(main())
