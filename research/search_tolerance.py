"""Choose the lattice search's line window and zero-shift starts on simulated patterns.

Each structure of an evenly spread selection of a dataset part is rendered with the laboratory
renderer as ``python -m research.evaluate_indexing`` renders it (seed, isotropic strain off),
its lines are searched once, and the lattice search runs once per setting: every tolerance
(``IndexingOptions.tolerance``) with every list of zero-shift starts
(``IndexingOptions.zero_starts``, written as comma-separated degrees), with the zone search
(``IndexingOptions.triclinic``) on, off or both, every number of lines a centring may lose
and still be a candidate (``IndexingOptions.centring_lines_lost``) and every height of the
strong lines of the second pass of trials (``IndexingOptions.base_min_height``) with every
list of supercell indices (``IndexingOptions.supercell_indices``) and every list of the zone
search's index pairs (``IndexingOptions.zone_pair_indices``), every number of lines added to
each family's base lines (``IndexingOptions.base_lines``) and every number of trials kept per
family (``IndexingOptions.keep``). Printed: how often the
first candidate equals the true cell (Niggli-reduced, lengths within 0.5 %, angles within 0.5
degrees), how often one of the first three does, and the mean and largest lattice-search time,
per setting. Run it on the validation part only.

    python -m research.search_tolerance --dataset data_cache/mp_gen40 --part val \
        --limit 600 --tolerances 0.06 0.08 0.10 0.12 0.15 --workers 2
    python -m research.search_tolerance --part val --limit 300 --tolerances 0.1 \
        --zero-starts 0 0,0.15,-0.15 0,0.15,-0.15,0.3,-0.3
    python -m research.search_tolerance --part val --limit 600 --tolerances 0.1 \
        --zone-search off on --workers 2
    python -m research.search_tolerance --part val --limit 600 --tolerances 0.1 \
        --centring-lines-lost 0 1 2 --workers 2
    python -m research.search_tolerance --part val --limit 300 --tolerances 0.1 \
        --base-min-height 0 0.03 0.05 0.1 --workers 2
    python -m research.search_tolerance --part val --limit 300 --tolerances 0.1 \
        --supercells off 2 2,3,4 --workers 2
    python -m research.search_tolerance --part val --limit 300 --tolerances 0.1 \
        --zone-pairs 11 11,12,21 --workers 2
    python -m research.search_tolerance --part val --limit 300 --tolerances 0.1 \
        --base-lines-added -2 0 2 --keep 30 60 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from research.command import run_command
from research.part_study import (
    add_study_arguments,
    map_structures,
    searched_lines,
    true_cell,
    true_cell_rank,
)
from xrdsym.indexing.lattice import IndexingOptions


def parse_starts(text: str) -> tuple[float, ...]:
    """Zero-shift starts from comma-separated degrees, e.g. ``"0,0.15,-0.15"``."""
    return tuple(float(value) for value in text.split(","))


def parse_pairs(text: str) -> tuple[tuple[int, int], ...]:
    """Zone index pairs from comma-separated digit pairs, e.g. ``"11,12,21"``."""
    return tuple((int(pair[0]), int(pair[1])) for pair in text.split(","))


def parse_indices(text: str) -> tuple[int, ...]:
    """Supercell indices from comma-separated integers, e.g. ``"2,3,4"``; ``"off"``: none."""
    return () if text == "off" else tuple(int(value) for value in text.split(","))


def with_base_lines_added(added: int) -> tuple[tuple[str, int], ...]:
    """The search's base lines per family (``IndexingOptions.base_lines``), each plus ``added``."""
    return tuple((family, n + added) for family, n in IndexingOptions().base_lines)


def first_cell_right(index: int, settings: tuple[IndexingOptions, ...], seed: int) -> list[tuple]:
    """(first cell right, true cell among the first three, seconds) of the lattice search with
    each of ``settings`` for one structure."""
    lines = searched_lines(index, seed)
    truth = true_cell(index)
    rows = []
    for options in settings:
        start = time.perf_counter()
        rank = true_cell_rank(lines, truth, options)
        rows.append((rank == 0, 0 <= rank < 3, time.perf_counter() - start))
    return rows


def register(subparsers: Any) -> None:
    """Add the ``search-tolerance`` command."""
    parser = subparsers.add_parser(
        "search-tolerance",
        help="first-cell index rate of the lattice search per line window and zero-shift starts",
        description=__doc__,
    )
    add_study_arguments(parser, limit=600)
    parser.add_argument(
        "--tolerances", type=float, nargs="+", default=[0.06, 0.08, 0.1, 0.12], help="degrees"
    )
    parser.add_argument(
        "--zero-starts",
        nargs="+",
        default=[",".join(str(z) for z in IndexingOptions().zero_starts)],
        help="lists of zero-shift starts, each comma-separated degrees (default: the search's)",
    )
    parser.add_argument(
        "--zone-search",
        nargs="+",
        choices=("on", "off"),
        default=["on" if IndexingOptions().triclinic else "off"],
        help="run the triclinic zone search after the symmetric families (default: the search's)",
    )
    parser.add_argument(
        "--centring-lines-lost",
        type=int,
        nargs="+",
        default=[IndexingOptions().centring_lines_lost],
        help="lines a centring may lose and still be a candidate (default: the search's)",
    )
    parser.add_argument(
        "--base-min-height",
        type=float,
        nargs="+",
        default=[IndexingOptions().base_min_height],
        help="second pass of trials from the lines at least this fraction of the strongest "
        "when weaker ones are among the base lines; 0: off (default: the search's)",
    )
    parser.add_argument(
        "--supercells",
        nargs="+",
        default=[",".join(str(n) for n in IndexingOptions().supercell_indices) or "off"],
        help="supercell indices tried on the first cells, each comma-separated (2,3,4) or "
        "off (default: the search's)",
    )
    parser.add_argument(
        "--zone-pairs",
        nargs="+",
        default=[",".join(f"{h}{k}" for h, k in IndexingOptions().zone_pair_indices)],
        help="indices (h, k) a line is taken as to fix a zone's a* . b*, each list "
        "comma-separated digit pairs (11,12,21) (default: the search's)",
    )
    parser.add_argument(
        "--base-lines-added",
        type=int,
        nargs="+",
        default=[0],
        help="lines added to every family's base lines (default: 0, the search's)",
    )
    parser.add_argument(
        "--keep",
        type=int,
        nargs="+",
        default=[IndexingOptions().keep],
        help="best-screened trials refined per family (default: the search's)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Render, search the lines once, run the lattice search per setting, print the table."""
    settings = tuple(
        IndexingOptions(
            tolerance=tolerance,
            zero_starts=parse_starts(starts),
            triclinic=zones == "on",
            centring_lines_lost=lost,
            base_min_height=strong,
            supercell_indices=parse_indices(indices),
            zone_pair_indices=parse_pairs(pairs),
            base_lines=with_base_lines_added(added),
            keep=keep,
        )
        for tolerance in args.tolerances
        for starts in args.zero_starts
        for zones in args.zone_search
        for lost in args.centring_lines_lost
        for strong in args.base_min_height
        for indices in args.supercells
        for pairs in args.zone_pairs
        for added in args.base_lines_added
        for keep in args.keep
    )
    job = partial(first_cell_right, settings=settings, seed=args.seed)
    rows = np.array(map_structures(args, job))
    print(f"{args.part} part of {args.dataset} ({args.split}), {len(rows)} structures")
    print(
        "tolerance (deg)  zero starts (deg)      zone search   centring lines lost"
        "   strong base   supercells   zone pairs   base lines   keep"
        "   first cell right   in the first three   mean s   max s"
    )
    for k, options in enumerate(settings):
        right, top3, seconds = rows[:, k, 0], rows[:, k, 1], rows[:, k, 2]
        starts = ",".join(f"{z:g}" for z in options.zero_starts)
        print(
            f"  {options.tolerance:<14.3g} {starts:<22} {'on' if options.triclinic else 'off':<13}"
            f" {options.centring_lines_lost:<21d} {options.base_min_height:<13g}"
            f" {','.join(map(str, options.supercell_indices)) or 'off':<12}"
            f" {','.join(f'{h}{k}' for h, k in options.zone_pair_indices):<12}"
            f" {_base_line_text(options):<12} {options.keep:<6d}"
            f" {int(right.sum()):>5} ({right.mean():6.1%})"
            f"   {int(top3.sum()):>5} ({top3.mean():6.1%})"
            f"       {seconds.mean():6.2f}  {seconds.max():6.2f}"
        )
    return 0


def _base_line_text(options: IndexingOptions) -> str:
    """The base lines per family as lines added to the search's (``+0``: the search's)."""
    default = dict(IndexingOptions().base_lines)
    added = {n - default.get(family, n) for family, n in options.base_lines}
    return f"{added.pop():+d}" if len(added) == 1 else "mixed"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.search_tolerance`` with ``argv``; the exit code."""
    return run_command(register, "research.search_tolerance", argv)


if __name__ == "__main__":
    sys.exit(main())
