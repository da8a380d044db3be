"""Fit the acceptance rule of the lattice search on simulated validation patterns.

Input: the rows written by ``bench_indexing.py --fit-acceptance ROWS.json`` (run it on the
validation part, never on the test part or the measured scans). Each row holds the best cell of
one pattern (accepted or not), its M20, lines indexed and the unindexed share of the line heights,
and the true reduced cell.

The rule accepts the best cell when M20 >= base x FAMILY_M20_FACTOR[family], at most ``u`` of the
lines and ``h`` of their summed height are unindexed, it indexes at least
``L + LINES_PER_EXTRA_PARAMETER x (parameters - 1)`` lines and it allows at most ``c`` distinct
calculated lines per observed line over the first min(20, n) lines. The grid search picks
(base, u, h, L, c) with the most right cells accepted among those whose confidently wrong cells
(accepted, not the true lattice) stay at most ``--max-wrong`` of the patterns.

    python benchmarks/fit_indexing_acceptance.py ROWS.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

from xrdsym.indexing.lattice import (
    FAMILY_M20_FACTOR,
    LINES_PER_EXTRA_PARAMETER,
    calculated_per_line,
)
from xrdsym.indexing.settings import same_lattice

#: Relative M20 threshold per Pearson family letter.
FAMILY_FACTOR = {
    letter: FAMILY_M20_FACTOR[family]
    for letter, family in zip(
        "cthoma",
        ("cubic", "tetragonal", "hexagonal", "orthorhombic", "monoclinic", "triclinic"),
        strict=True,
    )
}

BASES = (4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0)
UNINDEXED = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
UNINDEXED_HEIGHT = (0.05, 0.1, 0.15, 0.2, 0.3)
MIN_LINES = (5, 6, 7, 8, 9, 10, 12, 14)
CALCULATED_PER_LINE = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, math.inf)

#: Free cell parameters per Pearson family letter.
N_PARAMETERS = {"c": 1, "t": 2, "h": 2, "o": 3, "m": 4, "a": 6}


def features(rows: list[dict]) -> list[tuple[str, float, float, float, bool, int, float]]:
    """(family letter, M20, unindexed fraction, unindexed height share, right, lines indexed,
    calculated lines per observed line) per row with a best cell."""
    out = []
    for row in rows:
        best = row.get("best")
        if not best:
            continue
        right = same_lattice(row["true_reduced"], best["reduced_cell"])
        unindexed = 1.0 - best["n_indexed"] / max(best["n_lines"], 1)
        height = row.get("best_unindexed_height")
        height = unindexed if height is None else height
        density = calculated_per_line(best.get("n_calculated", 0), best["n_lines"])
        out.append(
            (best["bravais"][0], best["m20"], unindexed, height, right, best["n_indexed"], density)
        )
    return out


def evaluate(
    data: list, n_patterns: int, base: float, u: float, h: float, lines: int, calc: float
) -> tuple[float, float]:
    """(right accepted, wrong accepted) as fractions of all patterns."""
    right = wrong = 0
    for family, m20, unindexed, height, ok, n_indexed, density in data:
        needed = lines + LINES_PER_EXTRA_PARAMETER * (N_PARAMETERS[family] - 1)
        if (
            m20 >= base * FAMILY_FACTOR[family]
            and unindexed <= u
            and height <= h
            and n_indexed >= needed
            and density <= calc
        ):
            right += ok
            wrong += not ok
    return right / n_patterns, wrong / n_patterns


def _stricter_key(
    right: float, wrong: float, base: float, u: float, h: float, lines: int, calc: float
) -> tuple[float, ...]:
    """Order of the rules: most right cells, then fewest wrong ones; among rules that accept
    the same cells, the strictest (higher M20 and line thresholds, lower unindexed and
    calculated-line bounds), which is the safest on inputs unlike the validation patterns."""
    return (right, -wrong, base, lines, -u, -h, -calc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=Path, nargs="+", help="rows JSON of bench_indexing.py")
    parser.add_argument("--max-wrong", type=float, default=0.02)
    args = parser.parse_args()
    rows = [r for path in args.rows for r in json.loads(path.read_text())]
    data = features(rows)
    n = len(rows)
    best = None
    grid = itertools.product(BASES, UNINDEXED, UNINDEXED_HEIGHT, MIN_LINES, CALCULATED_PER_LINE)
    for base, u, h, lines, calc in grid:
        right, wrong = evaluate(data, n, base, u, h, lines, calc)
        if wrong <= args.max_wrong and (
            best is None
            or _stricter_key(right, wrong, base, u, h, lines, calc) > _stricter_key(*best)
        ):
            best = (right, wrong, base, u, h, lines, calc)
    print(f"{n} patterns, {len(data)} with a best cell")
    if best is None:
        print("no rule keeps the confident wrong cells under the limit")
        return
    right, wrong, base, u, h, lines, calc = best
    print(
        f"fitted: min M20 = {base:g} x {FAMILY_FACTOR}, max unindexed {u:g}, "
        f"max unindexed height {h:g}, min lines indexed {lines} (+{LINES_PER_EXTRA_PARAMETER} "
        f"per extra parameter), max calculated lines per observed line {calc:g}: "
        f"right accepted {right:.1%}, wrong accepted {wrong:.1%}"
    )
    for lines_i in MIN_LINES:
        r, w = evaluate(data, n, base, u, h, lines_i, calc)
        print(f"  min lines {lines_i:3d}: right {r:.1%}  wrong {w:.1%}")


if __name__ == "__main__":
    main()
