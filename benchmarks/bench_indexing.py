"""Peak search + lattice search: time per pattern and success rate by crystal system, beside the
time of the network alone (no indexing) for the same patterns.

Two sets:

* simulated: lab-rendered patterns (``xrdsym.patterns.renderers.make_renderer("lab")``, impurity
  phases drawn from the same structures, isotropic strain off so that the dataset cell is the
  pattern's cell) of a seeded sample of one part of a dataset split;
* measured: the XRed scans listed in a ``labels.csv`` (file, cif, space_group, ...), Cu K-alpha.

A cell is right when it equals the true primitive lattice after Niggli reduction (lengths within
0.5 %, angles within 0.5 degrees; :func:`xrdsym.indexing.settings.same_lattice`); "near" allows
lengths within LOOSE_LENGTH (1.5 %) for CIF cells of measured samples. The lattice
system compares hP, hR, cP/cI/cF, ... families: trigonal space groups with a primitive lattice
count as hexagonal (a lattice cannot tell them apart).

Columns: indexed (accepted by the classical rule), right@1 (accepted and the first cell right),
first@1 (the first cell right, accepted or not: the cell the joined answer weighs), right@3
(the true cell among the first three candidates, accepted or not), near@3 (the same with
lengths within 1.5 %),
wrong@1 (accepted with a wrong first cell), system (accepted with the right lattice system),
system* (the first candidate's lattice system right, accepted or not), mean seconds of the peak
search and of the lattice search in one worker process, the slowest pattern, and the network's
time (``classify(..., index=False)``, main process, after the pool). Below the table: the wall
time of the indexing pool for the whole batch and per file (the profiles are rendered or read
before it starts).

With ``--fit-acceptance OUT.json`` the figures of the best cell of every pattern (accepted or not)
are written with its rightness, for ``benchmarks/fit_indexing_acceptance.py``.

Usage (2-core CPU):

    python benchmarks/bench_indexing.py --dataset data_cache/mp_gen40 --part test --limit 100 \\
        --output results/indexing_test.json
    python benchmarks/bench_indexing.py --xred ../shared/data/experimental/xred \\
        --output results/indexing_xred.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import spglib

from xrdsym.indexing import settings
from xrdsym.indexing.lattice import IndexingOptions, index_peaks
from xrdsym.indexing.peaks import search_peaks
from xrdsym.indexing.results import IndexingResult
from xrdsym.spacegroups import load_space_group_table

#: Looser length tolerance reported beside the 0.5 % criterion for measured scans, whose CIF
#: cell may come from another temperature or composition (XRed Zr: c 0.8 % longer in the CIF).
LOOSE_LENGTH = 0.015

LATTICE_SYSTEM_OF_PEARSON = {
    "c": "cubic",
    "t": "tetragonal",
    "o": "orthorhombic",
    "m": "monoclinic",
    "a": "triclinic",
}


def lattice_system(pearson: str) -> str:
    """Lattice system of a Pearson symbol: hR rhombohedral, hP hexagonal, else the family."""
    if pearson == "hR":
        return "rhombohedral"
    if pearson.startswith("h"):
        return "hexagonal"
    return LATTICE_SYSTEM_OF_PEARSON[pearson[0]]


def true_lattice_system(space_group: int, symbol: str) -> str:
    """Lattice system of a space group (trigonal P groups are hexagonal lattices)."""
    table = load_space_group_table()
    system = table.crystal_systems[int(table.system_of[space_group - 1])]
    if system == "trigonal":
        return "rhombohedral" if symbol.startswith("R") else "hexagonal"
    return system


def species_numbers(species: Any) -> list[int]:
    """One integer per distinct species (spglib's atom types)."""
    kinds = sorted(set(species))
    return [kinds.index(s) + 1 for s in species]


def primitive_reduced(lattice: np.ndarray, positions: np.ndarray, numbers: list[int]) -> tuple:
    """Niggli cell of the primitive lattice of a crystal (spglib)."""
    dataset = spglib.get_symmetry_dataset((lattice.tolist(), positions.tolist(), numbers), 1e-3)
    primitive = np.asarray(dataset.primitive_lattice) if dataset is not None else lattice
    return settings.cell_of_lattice(settings.niggli(primitive))


def score(result: IndexingResult, true_cell: tuple, true_system: str) -> dict[str, Any]:
    """What one indexing result got right."""
    right = [settings.same_lattice(true_cell, c.reduced_cell) for c in result.candidates]
    near = [
        settings.same_lattice(true_cell, c.reduced_cell, length_tol=LOOSE_LENGTH)
        for c in result.candidates
    ]
    best = result.candidates[0] if result.candidates else None
    accepted = result.status == "indexed"
    return {
        "status": result.status,
        "reason": result.reason,
        "seconds_index": result.seconds,
        "n_peaks": len(result.peaks.peaks),
        "right_top1": bool(accepted and right and right[0]),
        "first_right": bool(right and right[0]),
        "right_top3": bool(any(right[:3])),
        "near_top3": bool(any(near[:3])),
        "confident_wrong": bool(accepted and right and not right[0]),
        "system_right": bool(accepted and best and lattice_system(best.bravais) == true_system),
        "best_system_right": bool(best and lattice_system(best.bravais) == true_system),
        "best": None if best is None else best.to_dict() | {"hkl": None},
        "best_unindexed_height": None if best is None else best.unindexed_height,
        "true_reduced": [round(x, 4) for x in true_cell],
        "true_system": true_system,
    }


def _index_profile(job: tuple) -> dict[str, Any]:
    """Worker: peak search + indexing of one profile."""
    two_theta, counts, wavelength, options, true_cell, system, name = job
    start = time.perf_counter()
    peaks = search_peaks(two_theta, counts, wavelength, source=name)
    found = time.perf_counter()
    result = index_peaks(peaks, options=options)
    row = score(result, true_cell, system)
    row.update(name=name, seconds_peaks=found - start, seconds_total=time.perf_counter() - start)
    return row


def simulated_jobs(args: argparse.Namespace, options: IndexingOptions) -> tuple[list, list]:
    """Lab-rendered profiles of a seeded sample of the dataset part, and their true answers."""
    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.datasets.store import open_dataset
    from xrdsym.patterns.grid import PAPER_GRID
    from xrdsym.patterns.renderers import make_renderer

    dataset = open_dataset(args.dataset)
    part = np.asarray(dataset.split_indices(args.split, args.part))
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.choice(part, size=min(args.limit, part.size), replace=False))
    # Isotropic strain (up to 0.7 %) is off: it changes the true cell of the pattern beyond the
    # 0.5 % of the criterion. Zero shift, displacement, K-alpha2, impurities, texture stay on.
    renderer = make_renderer("lab", impurity_pool=IndexedPeaks(dataset, part), lab_off=("strain",))
    grid = PAPER_GRID
    jobs, profiles = [], []
    for index in chosen:
        proto = dataset.prototype(int(index))
        numbers = species_numbers(proto.species)
        true_cell = primitive_reduced(proto.lattice, proto.positions, numbers)
        sg = int(dataset.data.space_group[index])
        system = true_lattice_system(sg, load_space_group_table().symbols[sg - 1])
        two_theta, intensity = dataset.peaks(int(index))
        counts = renderer(two_theta, intensity, grid, np.random.default_rng([args.seed, index]))
        name = str(dataset.data.ids[index])
        jobs.append((grid.two_theta(), counts, grid.wavelength, options, true_cell, system, name))
        profiles.append((grid.two_theta(), counts, grid.wavelength))
    return jobs, profiles


def xred_jobs(folder: Path, options: IndexingOptions) -> tuple[list, list]:
    """The scans of a labels.csv with their CIF cells, at Cu K-alpha1."""
    from xrdsym.io import read_pattern
    from xrdsym.structures.reader import read_cif_file
    from xrdsym.wavelengths import CU_KA1

    jobs, profiles = [], []
    with (folder / "labels.csv").open() as handle:
        for row in csv.DictReader(handle):
            crystal = read_cif_file(folder / row["cif"])
            numbers = species_numbers(crystal.elements)
            true_cell = primitive_reduced(crystal.lattice, crystal.frac_coords, numbers)
            system = true_lattice_system(int(row["space_group"]), row["symbol"])
            pattern = read_pattern(folder / row["file"])
            jobs.append(
                (
                    pattern.two_theta,
                    pattern.intensity,
                    CU_KA1,
                    options,
                    true_cell,
                    system,
                    row["file"],
                )
            )
            profiles.append((pattern.two_theta, pattern.intensity, CU_KA1))
    return jobs, profiles


def network_seconds(profiles: list) -> list[float]:
    """Wall time of the network alone per profile: preparation + forward pass, no indexing
    (``classify(..., index=False)``), in the main process after the indexing pool is done."""
    from xrdsym.classify import load_model, sample_from_arrays

    classifier = load_model()
    times = []
    for two_theta, counts, wavelength in profiles:
        start = time.perf_counter()
        sample = sample_from_arrays(two_theta, counts, classifier.grid, wavelength)
        classifier.classify(sample, index=False)
        times.append(time.perf_counter() - start)
    return times


def classify_batch_seconds(profiles: list, jobs: int) -> float:
    """Wall seconds of ``Classifier.classify`` (network + peak search + indexing + joined
    answer) of the whole batch, indexing on ``jobs`` processes: what ``xrdsym classify FILES
    --jobs N`` spends after reading the files."""
    from xrdsym.classify import load_model, sample_from_arrays

    classifier = load_model()
    samples = [sample_from_arrays(x, y, classifier.grid, lam) for x, y, lam in profiles]
    start = time.perf_counter()
    classifier.classify(samples, jobs=jobs)
    return time.perf_counter() - start


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates and times by lattice system and overall."""
    groups: dict[str, list] = defaultdict(list)
    for row in rows:
        groups[row["true_system"]].append(row)
        groups["all"].append(row)
    table = {}
    for name, items in groups.items():
        n = len(items)
        table[name] = {
            "n": n,
            "indexed": sum(r["status"] == "indexed" for r in items) / n,
            "right_top1": sum(r["right_top1"] for r in items) / n,
            "first_right": sum(r["first_right"] for r in items) / n,
            "right_top3": sum(r["right_top3"] for r in items) / n,
            "near_top3": sum(r["near_top3"] for r in items) / n,
            "confident_wrong": sum(r["confident_wrong"] for r in items) / n,
            "system_right": sum(r["system_right"] for r in items) / n,
            "best_system_right": sum(r["best_system_right"] for r in items) / n,
            "seconds_peaks": float(np.mean([r["seconds_peaks"] for r in items])),
            "seconds_index": float(np.mean([r["seconds_index"] for r in items])),
            "seconds_max": float(np.max([r["seconds_total"] for r in items])),
            "seconds_network": float(np.mean([r.get("seconds_network", np.nan) for r in items])),
        }
    return table


def print_table(title: str, table: dict[str, Any]) -> None:
    print(title)
    print(
        "system           n  indexed  right@1  first@1  right@3  near@3  wrong@1  system  system*  "
        "peaks s  index s  max s  network s"
    )
    order = [k for k in table if k != "all"] + ["all"]
    for name in order:
        t = table[name]
        print(
            f"{name:14s} {t['n']:3d}  {t['indexed']:7.1%}  {t['right_top1']:7.1%}  "
            f"{t['first_right']:7.1%}  {t['right_top3']:7.1%}  {t['near_top3']:6.1%}  "
            f"{t['confident_wrong']:7.1%}  "
            f"{t['system_right']:6.1%}  {t['best_system_right']:6.1%}  "
            f"{t['seconds_peaks']:7.2f}  {t['seconds_index']:7.2f}  {t['seconds_max']:5.1f}  "
            f"{t['seconds_network']:9.3f}"
        )


def run_set(
    jobs: list, profiles: list, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], float]:
    """Index every job on ``args.jobs`` processes, then time the network on the same profiles.

    Returns the rows and the wall seconds of the indexing pool alone (start of the pool to its
    last result: the batch time of ``xrdsym index FILES --jobs N`` less the file reading)."""
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(_index_profile, jobs))
    pool_seconds = time.perf_counter() - start
    if not args.no_network:
        for row, seconds in zip(rows, network_seconds(profiles), strict=True):
            row["seconds_network"] = seconds
    if args.classify:
        seconds = classify_batch_seconds(profiles, args.jobs)
        print(
            f"classify (network + indexing + joined answer): {seconds:.0f} s wall for "
            f"{len(profiles)} files, indexing on {args.jobs} processes = "
            f"{seconds / len(profiles):.2f} s per file"
        )
    return rows, pool_seconds


def batch_line(n_files: int, pool_seconds: float, jobs: int) -> str:
    """Peak search + lattice search of the batch: wall seconds on ``jobs`` processes and per
    file (wall / files)."""
    return (
        f"peak search + lattice search: {pool_seconds:.0f} s wall for {n_files} files on {jobs} "
        f"processes = {pool_seconds / n_files:.2f} s per file"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=None, help="dataset folder")
    parser.add_argument("--split", default="structure_type")
    parser.add_argument("--part", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, default=100, help="simulated patterns")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--xred", type=Path, default=None, help="folder with labels.csv")
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument(
        "--no-zone-search", dest="zone_search", action="store_false", help="skip the zone search"
    )
    parser.add_argument(
        "--jobs", "--workers", dest="jobs", type=int, default=2, help="worker processes"
    )
    parser.add_argument("--no-network", action="store_true", help="skip the network timing")
    parser.add_argument(
        "--classify",
        action="store_true",
        help="also time the whole classify of the batch (indexing on --workers processes)",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON with every row")
    parser.add_argument("--fit-acceptance", type=Path, default=None, help="rows for the fit")
    args = parser.parse_args()
    options = IndexingOptions(max_seconds=args.max_seconds, triclinic=args.zone_search)
    report: dict[str, Any] = {"options": repr(options), "jobs": args.jobs}
    if args.dataset is not None:
        rows, pool_seconds = run_set(*simulated_jobs(args, options), args)
        report["simulated"] = {
            "rows": rows,
            "table": summarise(rows),
            "pool_seconds": pool_seconds,
        }
        title = (
            f"simulated: {len(rows)} lab-rendered patterns of {args.dataset} "
            f"({args.split} split, {args.part}, seed {args.seed}), rendered before the timing"
        )
        print_table(title, report["simulated"]["table"])
        print(batch_line(len(rows), pool_seconds, args.jobs))
        if args.fit_acceptance is not None:
            args.fit_acceptance.write_text(json.dumps(rows, indent=1) + "\n")
    if args.xred is not None:
        rows, pool_seconds = run_set(*xred_jobs(args.xred, options), args)
        report["xred"] = {"rows": rows, "table": summarise(rows), "pool_seconds": pool_seconds}
        print_table(f"XRed: {len(rows)} measured scans of {args.xred}", report["xred"]["table"])
        print(batch_line(len(rows), pool_seconds, args.jobs))
        for row in rows:
            best = row["best"] or {}
            print(
                f"  {row['name']:16s} {row['status']:13s} top1={row['right_top1']!s:5s} "
                f"top3={row['right_top3']!s:5s} best={best.get('bravais')} "
                f"M20={best.get('m20')} idx={best.get('n_indexed')}/{best.get('n_lines')} "
                f"true={row['true_system']} {row['reason'][:60]}"
            )
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
