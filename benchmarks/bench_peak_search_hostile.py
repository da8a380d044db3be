"""CPU and wall seconds of the peak search and powder gate on hostile profiles of 100,000 points.

Pure Poisson noise, a flat line, a single spike, 5,000 sharp lines and noise scaled by 1e300,
each over 5-120 degrees; prints a Markdown table (CPU seconds of this process, wall seconds,
lines kept, gate verdict).

    python benchmarks/bench_peak_search_hostile.py
"""

from __future__ import annotations

import time

import numpy as np

from xrdsym.indexing.quality import check_powder
from xrdsym.wavelengths import CU_KA1


def cases(rng: np.random.Generator, x: np.ndarray) -> dict[str, np.ndarray]:
    """The hostile profiles, counts at ``x``."""
    forest = np.full(x.size, 50.0)
    for c in rng.uniform(6.0, 119.0, 5000):
        lo, hi = np.searchsorted(x, [c - 0.1, c + 0.1])
        forest[lo:hi] += 1000.0 * np.exp(-(((x[lo:hi] - c) / 0.02) ** 2))
    return {
        "pure Poisson noise": rng.poisson(100.0, x.size).astype(float),
        "flat line": np.full(x.size, 7.0),
        "single spike": np.where(np.arange(x.size) == 50_000, 1e6, 10.0),
        "5,000 sharp lines": rng.poisson(forest).astype(float),
        "Poisson noise x 1e300": rng.poisson(100.0, x.size) * 1e300,
    }


def main() -> None:
    x = np.linspace(5.0, 120.0, 100_000)
    print("| profile | CPU s | wall s | lines | verdict |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, counts in cases(np.random.default_rng(1), x).items():
        cpu, wall = time.process_time(), time.perf_counter()
        result, verdict = check_powder(x, counts, CU_KA1)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        code = verdict.code if verdict else "powder"
        print(f"| {name} | {cpu:.2f} | {wall:.2f} | {len(result.peaks)} | {code} |")


if __name__ == "__main__":
    main()
