"""Fit and check the thresholds of the powder-quality gate on simulated laboratory patterns.

Powders: the validation part of a dataset split, lab-rendered (``patterns.lab.LabRenderer``,
impurity phases from the same part), pattern i from ``default_rng([seed, i])``.
Scans that are not powder patterns, each rendered with the same lab renderer:

* ``noise``: no lines and no humps, the lab background with its counting noise;
* ``amorphous``: no lines, one or two humps (FWHM 5-15 degrees) on the lab background;
* ``nanocrystalline``: a validation peak list with crystallites of 10-30 Angstrom (Scherrer
  FWHM 3-12 degrees);
* ``single_crystal``: one or two reflections (orders h and 2h of one spacing, or two random
  lines) with instrument widths, plus up to two lines below 2 % (K-beta, tube lines);
* ``textured``: orders n = 1, 2, ... of one spacing d0 (3-15 Angstrom) with decaying
  intensities, plus the lines of a validation powder at 0-2 % of the strongest order.

For each gate statistic the script prints its quantiles on the powders and on each kind, the
share of powders each rule flags with the thresholds of ``xrdsym.indexing.quality``, and the
share of each kind that gets its verdict. A threshold is set at or beyond the 99.5th
percentile of the powders (so that at most about 0.5 % of powders are refused by that rule)
where the kinds allow it.

    python benchmarks/fit_quality_gate.py --dataset data_cache/mp_gen40 --limit 400
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.indexing.peaks import search_profile
from xrdsym.indexing.quality import GateStatistics, gate_statistics, verdict_of
from xrdsym.patterns.bragg import bragg_two_theta
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import LAB_RANGES, LabAugmentation, LabRenderer

KINDS = ("powder", "amorphous", "nanocrystalline", "single_crystal", "textured", "noise")

#: The verdict each kind should get (None: passes the gate).
EXPECTED = {
    "powder": None,
    "noise": "noise",
    "amorphous": "amorphous",
    "nanocrystalline": "amorphous",
    "single_crystal": "single_crystal",
    "textured": "textured",
}


def _renderers(pool: Any) -> dict[str, LabRenderer]:
    """The lab renderer of each kind."""
    no_size = replace(LAB_RANGES, crystallite_size_probability=0.0)
    return {
        "powder": LabRenderer(impurity_pool=pool),
        "noise": LabRenderer(augmentation=replace(LabAugmentation(), hump_probability=0.0)),
        "amorphous": LabRenderer(augmentation=replace(LabAugmentation(), hump_probability=1.0)),
        "nanocrystalline": LabRenderer(
            ranges=replace(
                LAB_RANGES, crystallite_size_probability=1.0, crystallite_size=(10.0, 30.0)
            )
        ),
        "single_crystal": LabRenderer(
            ranges=no_size,
            augmentation=replace(LabAugmentation(), hump_probability=0.0, strain_probability=0.0),
        ),
        "textured": LabRenderer(),
    }


def _lines(
    kind: str, tt: np.ndarray, inten: np.ndarray, grid: Grid, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The peak list a kind renders: (2theta, relative intensity)."""
    if kind in ("powder", "nanocrystalline"):
        return tt, inten
    if kind in ("noise", "amorphous"):
        return np.zeros(0), np.zeros(0)
    if kind == "single_crystal":
        d = rng.uniform(1.0, 6.0)
        pair = bragg_two_theta(np.array([1.0 / d, 2.0 / d]), grid.wavelength)
        if rng.random() < 0.5:
            pair = rng.uniform(grid.start + 2.0, grid.stop - 2.0, 2)
        lines = [pair[0]] if rng.random() < 0.5 or not np.isfinite(pair[1]) else list(pair)
        heights = [100.0, rng.uniform(5.0, 100.0)][: len(lines)]
        extra = int(rng.integers(0, 3))
        lines += list(rng.uniform(grid.start + 1.0, grid.stop - 1.0, extra))
        heights += list(rng.uniform(0.1, 2.0, extra))
        keep = [i for i, c in enumerate(lines) if grid.start < c < grid.stop]
        return np.array(lines)[keep], np.array(heights)[keep]
    d0 = rng.uniform(3.0, 15.0)
    orders = bragg_two_theta(np.arange(1, 40) / d0, grid.wavelength)
    orders = orders[np.isfinite(orders) & (orders > grid.start) & (orders < grid.stop)]
    strength = 100.0 * np.exp(-rng.uniform(0.1, 0.8) * np.arange(orders.size))
    residue = inten / inten.max() * rng.uniform(0.0, 2.0)
    return np.concatenate([orders, tt]), np.concatenate([strength, residue])


def collect(args: argparse.Namespace) -> dict[str, list[GateStatistics]]:
    """Gate statistics of ``--limit`` patterns of each kind."""
    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.datasets.store import open_dataset

    dataset = open_dataset(args.dataset)
    indices = np.asarray(dataset.split_indices(args.split, args.part))[: args.limit]
    renderers = _renderers(IndexedPeaks(dataset, indices))
    grid = Grid(wavelength=dataset.wavelength)
    stats: dict[str, list[GateStatistics]] = {kind: [] for kind in KINDS}
    for k, kind in enumerate(KINDS):
        count = args.limit if kind == "powder" else args.negatives
        for i in range(count):
            rng = np.random.default_rng([args.seed, k, i])
            tt, inten = dataset.peaks(int(indices[i % len(indices)]))
            lines = _lines(kind, tt, inten, grid, rng)
            counts = renderers[kind](*lines, grid, rng)
            searched = search_profile(grid.two_theta(), counts, grid.wavelength)
            stats[kind].append(
                gate_statistics(searched.two_theta, searched.background, searched.result)
            )
    return stats


QUANTILES = (0.5, 5.0, 50.0, 95.0, 99.5)


def report(stats: dict[str, list[GateStatistics]]) -> dict[str, Any]:
    """Verdicts of the current thresholds per kind and quantiles of each statistic."""
    out: dict[str, Any] = {"verdicts": {}, "quantiles": {}}
    for kind, values in stats.items():
        verdicts = Counter(
            (v.code if v is not None else "powder") for v in (verdict_of(s) for s in values)
        )
        expected = EXPECTED[kind] or "powder"
        out["verdicts"][kind] = {
            "n": len(values),
            "correct": round(verdicts[expected] / len(values), 4),
            **dict(verdicts),
        }
        for field in asdict(values[0]):
            column = np.array([getattr(s, field) for s in values], dtype=float)
            column = np.where(np.isfinite(column), column, 1e9)
            out["quantiles"].setdefault(field, {})[kind] = [
                round(float(np.percentile(column, q)), 3) for q in QUANTILES
            ]
    return out


def print_report(results: dict[str, Any]) -> None:
    """The report as a few lines of text."""
    for kind, row in results["verdicts"].items():
        print(f"{kind:16s} {json.dumps(row)}")
    print(f"quantiles {QUANTILES} % (inf shown as 1e9)")
    for field, kinds in results["quantiles"].items():
        print(field)
        for kind, values in kinds.items():
            print(f"  {kind:16s} {values}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="structure_type")
    parser.add_argument(
        "--part",
        default="val",
        choices=("val", "train", "test"),
        help="val to set the thresholds; test to check them on unseen structures",
    )
    parser.add_argument("--limit", type=int, default=400, help="powders rendered")
    parser.add_argument("--negatives", type=int, default=100, help="scans of each other kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    stats = collect(args)
    results = report(stats)
    results["statistics"] = {kind: [asdict(s) for s in values] for kind, values in stats.items()}
    print_report(results)
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
