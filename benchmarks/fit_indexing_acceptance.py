"""Fit the acceptance rule of the lattice search on simulated validation patterns.

Input: the rows written by ``bench_indexing.py --fit-acceptance ROWS.json`` (run it on the
validation part, never on the test part or the measured scans). Each row holds the best cell of
one pattern (accepted or not), its M20, lines indexed and the unindexed share of the line heights,
and the true reduced cell.

The rule accepts the best cell when M20 >= base x FAMILY_M20_FACTOR[family], at most ``u`` of the
lines and ``h`` of their summed height are unindexed. The grid search picks (base, u, h) with the
most right cells accepted among those whose confidently wrong cells (accepted, not the true
lattice) stay at most ``--max-wrong`` of the patterns.

    python benchmarks/fit_indexing_acceptance.py ROWS.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from xrdsym.indexing.lattice import FAMILY_M20_FACTOR
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


def features(rows: list[dict]) -> list[tuple[str, float, float, float, bool]]:
    """(family letter, M20, unindexed fraction, unindexed height share, right) per row with a
    best cell."""
    out = []
    for row in rows:
        best = row.get("best")
        if not best:
            continue
        right = same_lattice(row["true_reduced"], best["reduced_cell"])
        unindexed = 1.0 - best["n_indexed"] / max(best["n_lines"], 1)
        height = row.get("best_unindexed_height")
        height = unindexed if height is None else height
        out.append((best["bravais"][0], best["m20"], unindexed, height, right))
    return out


def evaluate(data: list, n_patterns: int, base: float, u: float, h: float) -> tuple[float, float]:
    """(right accepted, wrong accepted) as fractions of all patterns."""
    right = wrong = 0
    for family, m20, unindexed, height, ok in data:
        if m20 >= base * FAMILY_FACTOR[family] and unindexed <= u and height <= h:
            right += ok
            wrong += not ok
    return right / n_patterns, wrong / n_patterns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=Path, nargs="+", help="rows JSON of bench_indexing.py")
    parser.add_argument("--max-wrong", type=float, default=0.02)
    args = parser.parse_args()
    rows = [r for path in args.rows for r in json.loads(path.read_text())]
    data = features(rows)
    n = len(rows)
    best = None
    for base, u, h in itertools.product(BASES, UNINDEXED, UNINDEXED_HEIGHT):
        right, wrong = evaluate(data, n, base, u, h)
        if wrong <= args.max_wrong and (best is None or (right, -wrong) > (best[0], -best[1])):
            best = (right, wrong, base, u, h)
    print(f"{n} patterns, {len(data)} with a best cell")
    if best is None:
        print("no rule keeps the confident wrong cells under the limit")
        return
    right, wrong, base, u, h = best
    print(
        f"fitted: min M20 = {base:g} x {FAMILY_FACTOR}, max unindexed {u:g}, "
        f"max unindexed height {h:g}: right accepted {right:.1%}, wrong accepted {wrong:.1%}"
    )
    for base_i in BASES:
        r, w = evaluate(data, n, base_i, u, h)
        print(f"  base {base_i:5g}: right {r:.1%}  wrong {w:.1%}")


if __name__ == "__main__":
    main()
