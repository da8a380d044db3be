"""``python -m research.indexing_losses``: where lab-rendered profiles lose the right cell.

For each structure of an evenly spread selection of a dataset part (validation by default), the
lattice search (:func:`xrdsym.indexing.lattice.index_peaks`, default options) runs on line
lists made in several ways, and the table counts how often its first candidate is the true cell
(:func:`research.indexing_run.same_reduced_cell`):

* ``true lines``: the structure's reflections in 10-110 degrees merged within 0.03 degrees,
  those of at least ``--floor`` of the strongest, exact positions (no profile at all);
* ``profile``: the lines the peak search finds in the lab-rendered profile (rendered as
  ``python -m research.evaluate_indexing`` renders it);
* ``snapped``: those lines, each moved onto its nearest true reflection (after the median
  offset, a zero shift) when it lies within :data:`MATCH_WINDOW` degrees of it;
* ``matched only``: the found lines without those that match no reflection (impurity phases,
  blends, noise), at their found positions;
* ``snapped, matched only``: both;
* ``profile, no X``: the profile rendered with the laboratory family X switched off as well
  (``--effects``; the other random draws stay the same).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from research.command import run_command
from research.evaluate_indexing import spread_indices
from research.indexing_run import LAB_OFF, same_reduced_cell, true_reduced_cell
from xrdsym.datasets.store import open_dataset

#: A found line matches a reflection within this many degrees (after the median offset).
MATCH_WINDOW = 0.08

#: Reflections closer than this (degrees) make one true line.
MERGE_WINDOW = 0.03

#: Range of the true lines, degrees 2theta (the rendered grid's).
TRUE_RANGE = (10.0, 110.0)

_STATE: dict[str, Any] = {}


def _setup(dataset: str, split: str, part: str, effects: tuple[str, ...]) -> None:
    """Open the dataset and build one renderer per profile variant, once per worker."""
    # deferred until called (in each worker process): imports scipy
    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.patterns.renderers import make_renderer

    data = open_dataset(dataset)
    pool = IndexedPeaks(data, np.asarray(data.split_indices(split, part)))
    _STATE["dataset"] = data
    _STATE["renderers"] = {
        off: make_renderer("lab", impurity_pool=pool, lab_off=LAB_OFF + ((off,) if off else ()))
        for off in ("", *effects)
    }


def true_lines(
    two_theta: np.ndarray, intensity: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, intensities) of the reflections in TRUE_RANGE merged within MERGE_WINDOW
    (intensity-weighted mean position, summed intensity), those of at least ``floor`` x the
    strongest."""
    keep = (two_theta >= TRUE_RANGE[0]) & (two_theta <= TRUE_RANGE[1])
    order = np.argsort(two_theta[keep])
    merged: list[list[float]] = []
    for t, i in zip(two_theta[keep][order], intensity[keep][order], strict=True):
        if merged and t - merged[-1][0] < MERGE_WINDOW:
            t0, i0 = merged[-1]
            merged[-1] = [(t0 * i0 + t * i) / (i0 + i), i0 + i]
        else:
            merged.append([float(t), float(i)])
    lines = np.array(merged).reshape(-1, 2)
    strong = lines[:, 1] >= floor * lines[:, 1].max() if len(lines) else np.zeros(0, bool)
    return lines[strong, 0], lines[strong, 1]


def _right(peaks: Any, lines: Sequence[Any], truth: np.ndarray) -> bool:
    """Whether the lattice search's first cell on ``lines`` is the true cell."""
    # deferred until called (in each worker process): imports spglib
    from xrdsym.indexing.lattice import index_peaks

    first = index_peaks(replace(peaks, peaks=tuple(lines))).first
    return first is not None and same_reduced_cell(first.reduced_cell, truth)


def outcomes_of(index: int, seed: int, floor: float) -> dict[str, bool]:
    """The first cell's rightness for every line list of one structure (module docstring)."""
    # deferred until called (in each worker process): imports scipy and torch
    from xrdsym.indexing.peaks import search_peaks
    from xrdsym.indexing.results import ObservedPeak
    from xrdsym.patterns.grid import PAPER_GRID
    from xrdsym.training.data import pattern_rng

    data, renderers = _STATE["dataset"], _STATE["renderers"]
    truth = true_reduced_cell(data.prototype(index))
    two_theta, intensity = data.peaks(index)
    grid = PAPER_GRID
    rows: dict[str, bool] = {}
    positions, heights = true_lines(two_theta, intensity, floor)
    found: Any = None
    for off, renderer in renderers.items():
        counts = renderer(two_theta, intensity, grid, pattern_rng(seed, -1, index))
        searched = search_peaks(grid.two_theta(), counts, grid.wavelength)
        rows["profile" + (f", no {off}" if off else "")] = _right(searched, searched.peaks, truth)
        found = searched if not off else found
    assert found is not None
    exact = [
        ObservedPeak(float(t), 0.005, float(h), float(h), 0.1)
        for t, h in zip(positions, heights, strict=True)
    ]
    rows["true lines"] = _right(found, exact, truth)
    at = np.array([p.two_theta for p in found.peaks])
    if at.size == 0 or positions.size == 0:
        return rows | dict.fromkeys(("snapped", "matched only", "snapped, matched only"), False)
    nearest = np.abs(at[:, None] - positions[None, :]).argmin(axis=1)
    difference = at - positions[nearest]
    close = np.abs(difference) < 4 * MATCH_WINDOW
    offset = float(np.median(difference[close])) if close.any() else 0.0
    matched = np.abs(difference - offset) < MATCH_WINDOW
    snapped = [
        replace(p, two_theta=float(positions[j] + offset)) if m else p
        for p, j, m in zip(found.peaks, nearest, matched, strict=True)
    ]
    rows["snapped"] = _right(found, snapped, truth)
    rows["matched only"] = _right(
        found, [p for p, m in zip(found.peaks, matched, strict=True) if m], truth
    )
    rows["snapped, matched only"] = _right(
        found, [p for p, m in zip(snapped, matched, strict=True) if m], truth
    )
    return rows


def register(subparsers: Any) -> None:
    """Add the ``indexing-losses`` command."""
    parser = subparsers.add_parser(
        "indexing-losses",
        help="first-cell index rate on true, found, snapped and filtered line lists",
        description=__doc__,
    )
    parser.add_argument("--dataset", default="data_cache/mp_gen40", help="dataset folder")
    parser.add_argument("--split", default="structure_type", help="split name")
    parser.add_argument("--part", default="val", choices=("train", "val"), help="never test")
    parser.add_argument("--limit", type=int, default=300, help="structures spread over the part")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered patterns")
    parser.add_argument("--floor", type=float, default=0.01, help="true lines: relative floor")
    parser.add_argument(
        "--effects",
        nargs="*",
        default=["size_broadening", "impurity", "displacement"],
        help="laboratory families switched off one at a time",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run every line list on every structure and print the counts."""
    data = open_dataset(args.dataset)
    chosen = spread_indices(np.asarray(data.split_indices(args.split, args.part)), args.limit)
    job = partial(outcomes_of, seed=args.seed, floor=args.floor)
    setup = (args.dataset, args.split, args.part, tuple(args.effects))
    with ProcessPoolExecutor(args.workers, initializer=_setup, initargs=setup) as pool:
        rows = list(pool.map(job, [int(i) for i in chosen], chunksize=4))
    print(
        f"{args.part} part of {args.dataset} ({args.split}), {len(rows)} structures, "
        f"seed {args.seed}"
    )
    print("line list                       first cell right")
    for name in rows[0]:
        right = sum(r[name] for r in rows)
        print(f"  {name:<30}{right:>5} ({right / len(rows):.1%})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.indexing_losses`` with ``argv``; the exit code."""
    return run_command(register, "research.indexing_losses", argv)


if __name__ == "__main__":
    sys.exit(main())
