"""Throughput of the simulator: peak lists against pymatgen, then pattern rendering.

Usage (from the project root, the shared data folder beside it)::

    python benchmarks/bench_simulator.py --structures 500 --patterns 3000

1. Peak lists of the first N corpus structures with pymatgen's ``XRDCalculator.get_pattern``
   and with ``compute_peaks`` (like for like: plain LP, pymatgen form factors), timed end to end
   (including the spglib symmetry search) and with the symmetry operations given (as when the
   structure is labelled with spglib anyway); the peak lists are checked against each other.
2. Rendering of randomised 10,001-point patterns (paper protocol, Poisson noise) from the
   cached peak lists (default options: IT92 form factors, graphite monochromator).

Targets: peak lists >= 20x pymatgen, rendering >= 1,000 patterns/s.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.patterns.compare import peak_list_mismatches
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.patterns.peaks import compute_peaks, symmetry_operations
from xrdsym.patterns.profile import render_pattern
from xrdsym.patterns.profile_params import sample_profile_params
from xrdsym.structures.crystal import Crystal, crystal_from_pymatgen

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = PROJECT_ROOT.parent / "shared" / "data" / "structures" / "mp_structures.csv.gz"

#: Cu K-alpha1 as given to pymatgen's XRDCalculator.
WAVELENGTH = 1.540562
TWO_THETA_RANGE = (10.0, 110.0)
PEAK_LIST_TARGET = 20.0
RENDER_TARGET = 1000.0

#: Match criterion: ``xrdsym.patterns.compare.peak_list_mismatches`` (as in tests/test_peaks.py):
#: groups >= 1 % of the strongest, linked at 0.005 degrees, relative intensities within 1 % of
#: the larger.
#: pymatgen keeps peaks above 1e-5 of the strongest; the comparison computes the same set.
PYMATGEN_MIN_RELATIVE_INTENSITY = 1e-5


def load_structures(path: Path, count: int) -> list[tuple[str, Any]]:
    """``count`` rows evenly spaced through the corpus, as pymatgen structures."""
    from pymatgen.core import Structure

    csv.field_size_limit(1 << 30)
    with gzip.open(path, "rt") as handle:
        rows = [(row["material_id"], row["cif"]) for row in csv.DictReader(handle)]
    chosen = np.unique(np.linspace(0, len(rows) - 1, min(count, len(rows))).astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(rows[i][0], Structure.from_str(rows[i][1], fmt="cif")) for i in chosen]


def timed(fn: Any, items: list[Any]) -> tuple[float, list[Any]]:
    """Seconds spent calling ``fn`` on every item, and the results."""
    start = time.perf_counter()
    results = [fn(item) for item in items]
    return time.perf_counter() - start, results


def bench_peak_lists(structures: list[tuple[str, Any]]) -> list[Crystal]:
    """Time pymatgen and compute_peaks; print throughputs, ratios and the match count."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    calculator = XRDCalculator(wavelength=WAVELENGTH)
    crystals = [crystal_from_pymatgen(s, name) for name, s in structures]
    compute_peaks(crystals[0], form_factors="pymatgen")  # warm-up: imports, tables
    calculator.get_pattern(structures[0][1], two_theta_range=TWO_THETA_RANGE)
    n = len(structures)

    t_pmg, reference = timed(
        lambda item: calculator.get_pattern(item[1], two_theta_range=TWO_THETA_RANGE), structures
    )

    def ours(crystal: Crystal, operations: Any = None) -> Any:
        return compute_peaks(
            crystal,
            wavelength=WAVELENGTH,
            two_theta_range=TWO_THETA_RANGE,
            polarization="none",
            form_factors="pymatgen",
            min_relative_intensity=PYMATGEN_MIN_RELATIVE_INTENSITY,
            operations=operations,
        )

    t_ours, peaks = timed(ours, crystals)
    t_sym, operations = timed(symmetry_operations, crystals)
    t_given, _ = timed(lambda pair: ours(*pair), list(zip(crystals, operations, strict=True)))
    t_default, _ = timed(compute_peaks, crystals)

    mismatched = []
    for (name, _), pattern, peak_list in zip(structures, reference, peaks, strict=True):
        ref_x, ref_y = np.array(pattern.x), np.array(pattern.y)
        x, y = peak_list.two_theta, peak_list.intensity
        if peak_list_mismatches(ref_x, ref_y, x, y):
            mismatched.append(name)
    matched = n - len(mismatched)

    print(f"peak lists, {n} structures (evenly spaced rows of the corpus)")
    print(f"  pymatgen XRDCalculator.get_pattern   {n / t_pmg:8.1f} structures/s")
    print(
        f"  compute_peaks (spglib included)      {n / t_ours:8.1f} structures/s"
        f"   ratio {t_pmg / t_ours:5.1f}x"
    )
    print(
        f"  compute_peaks (operations given)     {n / t_given:8.1f} structures/s"
        f"   ratio {t_pmg / t_given:5.1f}x"
    )
    print(f"  compute_peaks defaults (IT92, mono)  {n / t_default:8.1f} structures/s")
    print(f"  spglib.get_symmetry alone            {1e3 * t_sym / n:8.2f} ms/structure")
    print(f"  peak lists matching pymatgen         {matched}/{n} {' '.join(mismatched)}")
    best = t_pmg / t_given
    status = "met" if best >= PEAK_LIST_TARGET else f"missed by {PEAK_LIST_TARGET / best:.1f}x"
    print(f"  target {PEAK_LIST_TARGET:.0f}x (operations given): {status}")
    return crystals


def render_many(
    cached: list[tuple[np.ndarray, np.ndarray]], n_patterns: int, seed: int, noise: bool
) -> float:
    """Render ``n_patterns`` randomised patterns; returns the elapsed seconds."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for i in range(n_patterns):
        two_theta, intensity = cached[i % len(cached)]
        params = sample_profile_params(rng)
        render_pattern(two_theta, intensity, PAPER_GRID, params, rng, noise=noise)
    return time.perf_counter() - start


def bench_rendering(
    crystals: list[Crystal], n_patterns: int, repeats: int, seed: int, workers: int
) -> None:
    """Time randomised rendering from cached peak lists (best of ``repeats``)."""
    from concurrent.futures import ProcessPoolExecutor

    peak_lists = [compute_peaks(c) for c in crystals]
    cached = [(p.two_theta, p.intensity) for p in peak_lists if len(p)]
    sizes = np.array([len(t) for t, _ in cached])
    print(
        f"rendering, {n_patterns} patterns of {PAPER_GRID.n_points} points from {len(cached)} "
        f"cached peak lists ({sizes.mean():.0f} peaks on average, median {np.median(sizes):.0f})"
    )
    best_noisy = 0.0
    for noise in (True, False):
        rate = max(
            n_patterns / render_many(cached, n_patterns, seed + r, noise) for r in range(repeats)
        )
        label = "Poisson noise" if noise else "noise-free   "
        print(f"  {label} {rate:8.0f} patterns/s (best of {repeats}, one process)")
        best_noisy = max(best_noisy, rate if noise else 0.0)
    if workers > 1:
        share = n_patterns // workers
        with ProcessPoolExecutor(workers) as pool:
            list(
                pool.map(
                    render_many,
                    [cached] * workers,
                    [10] * workers,
                    range(workers),
                    [True] * workers,
                )
            )
            rates = []
            for r in range(repeats):
                start = time.perf_counter()
                seeds = [seed + 1000 * r + w for w in range(workers)]
                list(
                    pool.map(
                        render_many, [cached] * workers, [share] * workers, seeds, [True] * workers
                    )
                )
                rates.append(share * workers / (time.perf_counter() - start))
        print(f"  Poisson noise {max(rates):8.0f} patterns/s ({workers} processes)")
        best_noisy = max(best_noisy, max(rates))
    status = (
        "met" if best_noisy >= RENDER_TARGET else f"missed by {RENDER_TARGET / best_noisy:.2f}x"
    )
    print(f"  target {RENDER_TARGET:.0f} noisy patterns/s: {status}")


def main() -> None:
    """Parse arguments and run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--structures", type=int, default=500)
    parser.add_argument("--patterns", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes for rendering")
    args = parser.parse_args()
    structures = load_structures(args.corpus, args.structures)
    crystals = bench_peak_lists(structures)
    bench_rendering(crystals, args.patterns, args.repeats, args.seed, args.workers)


if __name__ == "__main__":
    main()
