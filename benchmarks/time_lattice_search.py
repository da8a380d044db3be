"""The lattice search alone, timed on stored peak lists, so that two versions of the code can be
compared on the same lines in the same conditions.

Three steps:

    # 1. peak lists of lab-rendered patterns (peak search once, stored with the true cells)
    python benchmarks/time_lattice_search.py peaks --dataset data_cache/mp_gen40 --part val \\
        --limit 15 --seed 1 --output results/lattice_val_peaks.json
    # 2. the lattice search of each version on them, one process, one pattern after the other
    PYTHONPATH=/tmp/xrdsym_old/src python benchmarks/time_lattice_search.py run \\
        results/lattice_val_peaks.json --output results/lattice_old.json
    PYTHONPATH=src python benchmarks/time_lattice_search.py run \\
        results/lattice_val_peaks.json --output results/lattice_new.json
    # 3. time ratio and the candidates found by each
    python benchmarks/time_lattice_search.py compare results/lattice_old.json \\
        results/lattice_new.json

``run`` uses only ``index_peaks`` and ``IndexingOptions`` (present in every version), so the old
version's source (``git archive``) runs under this script unchanged. ``--profile`` prints the
cProfile statistics of the run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_indexing import score, simulated_jobs

from xrdsym.indexing import settings
from xrdsym.indexing.lattice import IndexingOptions, index_peaks
from xrdsym.indexing.peaks import search_peaks
from xrdsym.indexing.results import ObservedPeak, PeakSearchResult


def _peak_row(job: tuple) -> dict[str, Any]:
    """Worker: the peak list of one rendered profile with its true answer."""
    two_theta, counts, wavelength, _, true_cell, system, name = job
    peaks = search_peaks(two_theta, counts, wavelength, source=name)
    return {
        "name": name,
        "wavelength": wavelength,
        "true_reduced": list(true_cell),
        "true_system": system,
        "peaks": [p.to_dict() for p in peaks.peaks],
    }


def make_peaks(args: argparse.Namespace) -> None:
    """Render the patterns, search their peaks and store the lists."""
    args.split = "structure_type"
    jobs, _ = simulated_jobs(args, IndexingOptions())
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(_peak_row, jobs))
    args.output.write_text(json.dumps(rows) + "\n")
    print(f"{len(rows)} peak lists written to {args.output}")


def peak_list(row: dict[str, Any]) -> PeakSearchResult:
    """The stored lines of one pattern as the lattice search takes them."""
    fields = ("two_theta", "sigma", "height", "area", "fwhm")
    peaks = tuple(ObservedPeak(*(float(p[f]) for f in fields)) for p in row["peaks"])
    return PeakSearchResult(peaks, float(row["wavelength"]), "absent", row["name"], 0.0)


def run(args: argparse.Namespace) -> None:
    """Index every stored list in this process; rows with time and candidates."""
    rows = json.loads(args.peaks.read_text())
    options = replace(IndexingOptions(max_seconds=args.max_seconds), **_settings(args.set))
    profiler = cProfile.Profile() if args.profile else None
    out = []
    for row in rows:
        peaks = peak_list(row)
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = index_peaks(peaks, options=options)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - start
        scored = score(result, tuple(row["true_reduced"]), row["true_system"])
        out.append(
            {
                "name": row["name"],
                "seconds": seconds,
                "status": result.status,
                "right_top1": scored["right_top1"],
                "right_top3": scored["right_top3"],
                "confident_wrong": scored["confident_wrong"],
                "true_system": row["true_system"],
                "candidates": [
                    {"bravais": c.bravais, "reduced_cell": list(c.reduced_cell), "m20": c.m20}
                    for c in result.candidates
                ],
            }
        )
        print(
            f"{row['name']:24s} {row['true_system']:13s} {seconds:6.2f} s {result.status:13s} "
            f"top1={scored['right_top1']!s:5s} top3={scored['right_top3']!s:5s}",
            flush=True,
        )
    total = sum(r["seconds"] for r in out)
    print(f"{len(out)} lists, {total:.1f} s, {total / max(len(out), 1):.2f} s per list")
    if args.output is not None:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(40)


def _settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as IndexingOptions fields, each value of its default's type."""
    defaults = IndexingOptions()
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = type(getattr(defaults, key))(float(value) if value == "inf" else value)
    return out


def _same_cells(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Whether two candidate lists hold the same cells in the same order (same lattice and
    Bravais symbol)."""
    return len(a) == len(b) and all(
        x["bravais"] == y["bravais"] and settings.same_lattice(x["reduced_cell"], y["reduced_cell"])
        for x, y in zip(a, b, strict=True)
    )


def compare(args: argparse.Namespace) -> None:
    """Time ratio (before / after) and what each run found, pattern by pattern."""
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    t_before = sum(r["seconds"] for r in before)
    t_after = sum(r["seconds"] for r in after)
    print(
        f"{'pattern':24s} {'system':13s} before s  after s  top3 before/after  same first  same all"
    )
    for a, b in zip(before, after, strict=True):
        print(
            f"{a['name']:24s} {a['true_system']:13s} {a['seconds']:8.2f} {b['seconds']:8.2f}  "
            f"{a['right_top3']!s:5s} / {b['right_top3']!s:5s}       "
            f"{_same_cells(a['candidates'][:1], b['candidates'][:1])!s:5s}       "
            f"{_same_cells(a['candidates'], b['candidates'])}"
        )
    for key in ("status", "right_top1", "right_top3", "confident_wrong"):
        count_a = sum(bool(r[key]) if key != "status" else r[key] == "indexed" for r in before)
        count_b = sum(bool(r[key]) if key != "status" else r[key] == "indexed" for r in after)
        label = "indexed" if key == "status" else key
        print(f"{label:16s} before {count_a:3d}  after {count_b:3d}  of {len(before)}")
    print(
        f"lattice search: {t_before:.1f} s before, {t_after:.1f} s after, "
        f"{t_before / max(t_after, 1e-9):.2f} x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    peaks = commands.add_parser("peaks", help="render and peak-search patterns, store the lists")
    peaks.add_argument("--dataset", type=Path, required=True)
    peaks.add_argument("--part", default="val", choices=("train", "val", "test"))
    peaks.add_argument("--limit", type=int, default=15)
    peaks.add_argument("--seed", type=int, default=1)
    peaks.add_argument("--jobs", type=int, default=2)
    peaks.add_argument("--output", type=Path, required=True)
    runs = commands.add_parser("run", help="index stored peak lists in one process")
    runs.add_argument("peaks", type=Path)
    runs.add_argument("--max-seconds", type=float, default=10.0)
    runs.add_argument("--output", type=Path, default=None)
    runs.add_argument("--profile", action="store_true", help="print cProfile statistics")
    runs.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an IndexingOptions field (e.g. min_m20=30); repeatable",
    )
    compared = commands.add_parser("compare", help="time ratio and candidates of two runs")
    compared.add_argument("before", type=Path)
    compared.add_argument("after", type=Path)
    args = parser.parse_args()
    {"peaks": make_peaks, "run": run, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
