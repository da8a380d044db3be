"""Choose the extinction analysis's stray-line probability on simulated validation outcomes.

The extinction groups of a cell are scored by the likelihood of its lines
(:mod:`xrdsym.indexing.extinction`): log p_seen per observed line a group allows, log p_stray
per line it forbids, log (1 - p_seen) per allowed position left unseen; the joined answer
weighs the groups by exp((LL - max LL) / T), and here T is fitted for each p_stray by the
likelihood of the true group (:func:`xrdsym.classify.joint.fit_temperature`; the weight's own
T is chosen afterwards by the joined answer, :mod:`research.indexing_fit`). Between two groups
only the counts of
forbidden lines F and of unexplained absences U differ, so LL / T ranks them by

    - F ln(p_seen / p_stray) / T - U ln(1 / (1 - p_seen)) / T:

p_stray sets how much one forbidden line costs against one unexplained absence, and T scales
both. For each ``--p-stray`` the first cells of an outcome file (``python -m
research.evaluate_indexing --outcomes ...``) that equal the true cell are scored again, T is
fitted, and the table gives the mean log-probability of the true extinction group under
softmax(LL / T) (the criterion T is fitted by; the p_stray of the highest is chosen) and the
extinction group top-1 given the right cell, by the absences alone and joined with the
network's space-group probabilities as the joined answer joins them. Validation outcomes
only.

    python -m research.extinction_stray --outcomes runs/indexing/val600.jsonl \
        --p-stray 1e-2 1e-3 1e-4 1e-5 1e-6 1e-7 1e-8
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from research.command import run_command
from research.indexing_run import Outcome, read_outcomes
from xrdsym.classify.joint import (
    extinction_evidence,
    fit_temperature,
    true_group_log_probability,
)
from xrdsym.errors import XrdsymError
from xrdsym.indexing.extinction import P_STRAY, score_extinction_groups
from xrdsym.indexing.results import ExtinctionScore
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.spacegroups import space_group
from xrdsym.spacegroups.table import load_space_group_table


def rescored(outcome: Outcome, p_stray: float) -> tuple[ExtinctionScore, ...]:
    """The extinction scores of an outcome's first cell with ``p_stray`` (paper grid range)."""
    assert outcome.indexing.first is not None
    return score_extinction_groups(
        outcome.indexing.first,
        outcome.indexing.peaks,
        (PAPER_GRID.start, PAPER_GRID.stop),
        p_stray=p_stray,
    )


def stray_row(outcomes: list[Outcome], p_stray: float, table: Any) -> dict[str, float]:
    """Fitted T, mean log-probability of the true group, and top-1 by the absences alone and
    joined with the network, over the outcomes (first cells right) for one p_stray."""
    scores = [rescored(o, p_stray) for o in outcomes]
    truth = [space_group(o.space_group).extinction_group for o in outcomes]
    temperature = fit_temperature(scores, truth)
    logs = [
        true_group_log_probability(s, g, temperature) for s, g in zip(scores, truth, strict=True)
    ]
    alone = joined = 0
    for outcome, score, group in zip(outcomes, scores, truth, strict=True):
        alone += int(bool(score) and score[0].group == group)
        evidence = extinction_evidence(score, table, temperature)
        product = np.asarray(outcome.network["space_group"], dtype=np.float64) * evidence
        if product.sum() > 0.0:
            joined += int(table.extinction_of[int(np.argmax(product))] == group)
    known = [v for v in logs if v is not None]
    return {
        "temperature": temperature,
        "mean_log_probability": float(np.mean(known)) if known else -math.inf,
        "top1_absences": alone / max(len(outcomes), 1),
        "top1_joined": joined / max(len(outcomes), 1),
    }


def register(subparsers: Any) -> None:
    """Add the ``extinction-stray`` command."""
    parser = subparsers.add_parser(
        "extinction-stray",
        help="likelihood and top-1 of the true extinction group per stray-line probability",
        description=__doc__,
    )
    parser.add_argument("--outcomes", type=Path, required=True, help="validation outcome file")
    parser.add_argument(
        "--p-stray", type=float, nargs="+", default=[P_STRAY], help="stray-line probabilities"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Score the right first cells once per p_stray and print the table."""
    outcomes = [o for o in read_outcomes(args.outcomes) if o.cell_right]
    if not outcomes:
        raise XrdsymError(f"{args.outcomes}: no outcome whose first cell is right")
    table = load_space_group_table()
    print(f"{args.outcomes}: {len(outcomes)} patterns whose first cell is the true cell")
    print(
        "p_stray     T     mean ln p(true group)   top-1 by the absences   top-1 joined "
        "with the network"
    )
    for p_stray in args.p_stray:
        row = stray_row(outcomes, p_stray, table)
        print(
            f"  {p_stray:<9.0e} {row['temperature']:<5g} {row['mean_log_probability']:>12.3f}"
            f"          {row['top1_absences']:>8.1%}                {row['top1_joined']:>8.1%}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.extinction_stray`` with ``argv``; the exit code."""
    return run_command(register, "research.extinction_stray", argv)


if __name__ == "__main__":
    sys.exit(main())
