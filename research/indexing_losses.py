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
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from research.command import run_command
from research.part_study import (
    add_study_arguments,
    first_cell_is_true,
    map_structures,
    searched_lines,
    true_cell,
    worker_dataset,
)
from xrdsym.indexing.results import ObservedPeak

#: A found line matches a reflection within this many degrees (after the median offset).
MATCH_WINDOW = 0.08

#: Reflections closer than this (degrees) make one true line.
MERGE_WINDOW = 0.03

#: Range of the true lines, degrees 2theta (the rendered grid's).
TRUE_RANGE = (10.0, 110.0)


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
    """Whether the lattice search's first cell on ``lines`` (in place of the lines of
    ``peaks``) is the true cell."""
    return first_cell_is_true(replace(peaks, peaks=tuple(lines)), truth)


def outcomes_of(index: int, seed: int, floor: float, effects: tuple[str, ...]) -> dict[str, bool]:
    """The first cell's rightness for every line list of one structure (module docstring)."""
    truth = true_cell(index)
    found = searched_lines(index, seed)
    rows = {"profile": _right(found, found.peaks, truth)}
    for off in effects:
        searched = searched_lines(index, seed, off)
        rows[f"profile, no {off}"] = _right(searched, searched.peaks, truth)
    two_theta, intensity = worker_dataset().peaks(index)
    positions, heights = true_lines(two_theta, intensity, floor)
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
    add_study_arguments(parser, limit=300)
    parser.add_argument("--floor", type=float, default=0.01, help="true lines: relative floor")
    parser.add_argument(
        "--effects",
        nargs="*",
        default=["size_broadening", "impurity", "displacement"],
        help="laboratory families switched off one at a time",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run every line list on every structure and print the counts."""
    effects = tuple(args.effects)
    job = partial(outcomes_of, seed=args.seed, floor=args.floor, effects=effects)
    rows = map_structures(args, job, effects)
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
