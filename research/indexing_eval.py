"""Indexing joined with the network on lab-rendered patterns of a dataset part.

Each structure of the part is rendered once with the laboratory renderer (seeded by
(seed, -1, index), as ``xrdsym evaluate`` draws its fixed sets), the network classifies the
prepared pattern, and the raw counts are indexed (:func:`xrdsym.indexing.pattern.index_pattern`).
A best cell is right when its Niggli-reduced primitive cell equals the structure's
(:func:`same_reduced_cell`).

On the validation part the evidence weight (probability that a cell is right, from its figures
of merit) and the extinction temperature are fitted (:func:`fit_evidence`); on the test part
the joined answer is scored beside the network alone (:func:`score_outcomes`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from xrdsym.classify.joint import (
    ACCEPT_PROBABILITY,
    EvidenceWeight,
    cell_features,
    fit_cell_weight,
    fit_temperature,
    join_levels,
    network_only,
)
from xrdsym.errors import XrdsymError
from xrdsym.indexing.results import IndexingResult
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, LEVELS, space_group
from xrdsym.spacegroups.table import SpaceGroupTable, level_labels

#: A cell is right when every Niggli length agrees to this relative tolerance ...
LENGTH_TOLERANCE = 0.005
#: ... and every Niggli angle to this many degrees.
ANGLE_TOLERANCE_DEG = 0.5

#: Probabilities of a cell being right at which the wrong cells are also counted (reported).
CONFIDENCE_STEPS = (0.5, 0.7, 0.9, 0.95)


@dataclass(frozen=True)
class Outcome:
    """One rendered structure: its labels, the network's levels and the indexing outcome.

    Attributes:
        index: dataset index.
        space_group: true space-group number.
        true_cell: Niggli-reduced primitive cell (a, b, c, alpha, beta, gamma).
        network: the network's calibrated (7,), (101,), (230,) distributions.
        indexing: the indexing outcome (extinction scores of the best cell included).
        cell_right: the best cell equals the true one (False when nothing indexes).
    """

    index: int
    space_group: int
    true_cell: np.ndarray
    network: dict[str, np.ndarray]
    indexing: IndexingResult
    cell_right: bool


def same_reduced_cell(
    cell_a: Iterable[float],
    cell_b: Iterable[float],
    length_tolerance: float = LENGTH_TOLERANCE,
    angle_tolerance: float = ANGLE_TOLERANCE_DEG,
) -> bool:
    """Whether two Niggli-reduced cells agree (lengths relative, angles in degrees).

    Axes of nearly equal length may come out in either order, and an angle near 90 degrees
    as x or 180 - x, so every axis permutation is tried and an angle matches when x or
    180 - x is within the tolerance.
    """
    a, b = np.asarray(list(cell_a), dtype=np.float64), np.asarray(list(cell_b), dtype=np.float64)
    for order in itertools.permutations(range(3)):
        p = list(order)
        lengths = np.all(np.abs(a[p] - b[:3]) <= length_tolerance * b[:3])
        angles_a = a[3:][p]
        diff = np.minimum(np.abs(angles_a - b[3:]), np.abs(180.0 - angles_a - b[3:]))
        if lengths and np.all(diff <= angle_tolerance):
            return True
    return False


def true_reduced_cell(prototype: Any) -> np.ndarray:
    """Niggli-reduced primitive cell of a stored conventional cell (spglib primitive cell)."""
    import spglib

    from xrdsym.structures.symmetry import cell_parameters, niggli_reduce

    kinds = {name: i + 1 for i, name in enumerate(sorted(set(prototype.species)))}
    numbers = [kinds[s] for s in prototype.species]
    cell: Any = (np.asarray(prototype.lattice), np.asarray(prototype.positions), numbers)
    primitive = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=1e-3)
    lattice = np.asarray(prototype.lattice) if primitive is None else np.asarray(primitive[0])
    return cell_parameters(niggli_reduce(lattice))


def _index_counts(job: tuple[np.ndarray, np.ndarray, float]) -> IndexingResult:
    """Index one rendered profile (a module-level function, so that worker processes can)."""
    from xrdsym.indexing.pattern import index_pattern

    return index_pattern(*job)


def run_part(
    dataset: Any,
    indices: np.ndarray,
    classifier: Any,
    seed: int = 0,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    workers: int = 1,
) -> list[Outcome]:
    """Render, classify and index every structure of ``indices`` (indexing in ``workers``
    processes)."""
    from concurrent.futures import ProcessPoolExecutor

    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.patterns.renderers import make_renderer
    from xrdsym.training.data import PatternPreparer, pattern_rng

    grid = classifier.grid
    renderer = make_renderer("lab", impurity_pool=IndexedPeaks(dataset, indices))
    preparer = PatternPreparer()
    x = grid.two_theta()
    items = [int(i) for i in indices]
    counts, networks = [], []
    for index in items:
        rng = pattern_rng(seed, -1, index)
        two_theta, intensity = dataset.peaks(index)
        counts.append(renderer(two_theta, intensity, grid, rng))
        levels = classifier.predict_levels(preparer(counts[-1], grid, rng)[None, :])
        networks.append({level: p[0] for level, p in levels.items()})
    jobs = [(x, c, grid.wavelength) for c in counts]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_index_counts, jobs, chunksize=4)
            indexings = list(progress(results) if progress is not None else results)
    else:
        results = map(_index_counts, jobs)
        indexings = list(progress(results) if progress is not None else results)
    outcomes = []
    for index, network, indexing in zip(items, networks, indexings, strict=True):
        true_cell = true_reduced_cell(dataset.prototype(index))
        best = indexing.best
        right = best is not None and same_reduced_cell(best.reduced_cell, true_cell)
        outcomes.append(
            Outcome(index, dataset.space_group(index), true_cell, network, indexing, right)
        )
    return outcomes


def fit_evidence(outcomes: list[Outcome], fitted_on: dict[str, Any]) -> EvidenceWeight:
    """Evidence weight (logistic on the best cells' features) and extinction temperature.

    The temperature is fitted on the patterns whose best cell is right; without indexed
    patterns of both kinds (right and wrong) no weight can be fitted (ValueError).
    """
    indexed = [o for o in outcomes if o.indexing.best is not None]
    right = np.array([o.cell_right for o in indexed], dtype=bool)
    if not indexed or right.all() or not right.any():
        raise ValueError(
            f"{len(indexed)} indexed patterns, {int(right.sum())} with the right cell: "
            "a weight needs right and wrong cells"
        )
    features = np.stack([cell_features(o.indexing.best) for o in indexed])  # type: ignore[arg-type]
    beta = fit_cell_weight(features, right)
    good = [o for o in indexed if o.cell_right and o.indexing.extinction]
    temperature = fit_temperature(
        [o.indexing.extinction for o in good],
        [space_group(o.space_group).extinction_group for o in good],
    )
    record = {
        **fitted_on,
        "patterns": len(outcomes),
        "indexed": len(indexed),
        "right_cells": int(right.sum()),
    }
    return EvidenceWeight(tuple(float(b) for b in beta), temperature, record)


def _top1(p: np.ndarray, label: int) -> bool:
    return int(np.argmax(p)) == label


def score_outcomes(
    outcomes: list[Outcome], weight: EvidenceWeight | None, table: SpaceGroupTable
) -> dict[str, Any]:
    """Index rate by crystal system, confident-wrong rate, top-1 of joined and network alone.

    A cell is *confident* when its fitted probability of being right reaches
    ``ACCEPT_PROBABILITY``; the confident-wrong rate is the share of all patterns with a
    confident cell that is wrong. ``cells_at`` and ``wrong_cells_at`` count the cells (all,
    wrong) whose probability reaches each of ``CONFIDENCE_STEPS``.
    """
    n = len(outcomes)
    by_system: dict[str, list[int]] = {s: [0, 0] for s in CRYSTAL_SYSTEMS}
    hits = {source: dict.fromkeys(LEVELS, 0) for source in ("network", "joined")}
    decided = dict.fromkeys(LEVELS, 0)
    decided_right = dict.fromkeys(LEVELS, 0)
    confident = confident_wrong = indexed = 0
    wrong_at = dict.fromkeys(CONFIDENCE_STEPS, 0)
    cells_at = dict.fromkeys(CONFIDENCE_STEPS, 0)
    for o in outcomes:
        info = space_group(o.space_group)
        labels = true_labels(o.space_group)
        by_system[info.crystal_system][1] += 1
        by_system[info.crystal_system][0] += int(o.cell_right)
        indexed += int(o.indexing.best is not None)
        joined = (
            network_only(o.network)
            if weight is None
            else join_levels(o.network, o.indexing, weight, table)
        )
        if joined.cell_probability >= ACCEPT_PROBABILITY:
            confident += 1
            confident_wrong += int(not o.cell_right)
        for step in CONFIDENCE_STEPS:
            cells_at[step] += int(joined.cell_probability >= step)
            wrong_at[step] += int(joined.cell_probability >= step and not o.cell_right)
        for level in LEVELS:
            hits["network"][level] += int(_top1(o.network[level], labels[level]))
            right = _top1(joined.levels[level], labels[level])
            hits["joined"][level] += int(right)
            if joined.decided_by[level] == "indexing":
                decided[level] += 1
                decided_right[level] += int(right)
    return {
        "n": n,
        "indexed": indexed,
        "cell_right": sum(r for r, _ in by_system.values()),
        "index_rate_by_system": {s: tuple(v) for s, v in by_system.items()},
        "confident": confident,
        "confident_wrong": confident_wrong,
        "wrong_cells_at": {str(step): wrong_at[step] for step in CONFIDENCE_STEPS},
        "cells_at": {str(step): cells_at[step] for step in CONFIDENCE_STEPS},
        "top1": {src: {lv: h / max(n, 1) for lv, h in v.items()} for src, v in hits.items()},
        "decided_by_indexing": {lv: (decided[lv], decided_right[lv]) for lv in LEVELS},
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A printed table of :func:`score_outcomes`."""
    n = max(result["n"], 1)
    lines = [
        f"patterns {result['n']}; indexed {result['indexed']}; right cell {result['cell_right']} "
        f"({result['cell_right'] / n:.1%})",
        f"confident cells {result['confident']}; confident and wrong {result['confident_wrong']} "
        f"({result['confident_wrong'] / n:.1%} of all patterns)",
        "index rate (right cell) by true crystal system:",
    ]
    for system, (right, total) in result["index_rate_by_system"].items():
        rate = f"{right / total:.1%}" if total else "-"
        lines.append(f"  {system:<13}{right:>5} / {total:<5} {rate}")
    cells, wrong = result["cells_at"], result["wrong_cells_at"]
    at = ", ".join(f"w >= {t}: {cells[t]} ({wrong[t]})" for t in cells)
    lines.append(f"cells with a fitted probability of being right at least ... (wrong): {at}")
    lines.append(f"{'top-1':<18}{'network':>9}{'joined':>9}   decided by indexing (right)")
    for level in LEVELS:
        net, joint = result["top1"]["network"][level], result["top1"]["joined"][level]
        count, right = result["decided_by_indexing"][level]
        lines.append(f"  {level:<16}{net:>9.1%}{joint:>9.1%}   {count} ({right})")
    return lines


def seconds_per_pattern(outcomes: list[Outcome]) -> float:
    """Mean indexing wall time per pattern, seconds (NaN for none)."""
    return float(np.mean([o.indexing.seconds for o in outcomes])) if outcomes else math.nan


@dataclass(frozen=True)
class MeasuredOutcome:
    """One measured scan: its labels, the answers with and without indexing, the cells.

    Attributes:
        file: the scan's path.
        space_group: true space-group number.
        joined: top-1 label per level of the joined answer (crystal-system index, extinction
            group, space-group index).
        network: the same for the network alone.
        decided_by: the joined answer's source per level.
        indexing: the indexing outcome.
        true_cell_rank: position (0-2) of the first of the top three candidates equal to the
            CIF's reduced cell, None when none is (or there is no CIF).
        has_cif: the labels name a CIF for the scan.
    """

    file: str
    space_group: int
    joined: dict[str, int]
    network: dict[str, int]
    decided_by: dict[str, str]
    indexing: IndexingResult | None
    true_cell_rank: int | None
    has_cif: bool = False


def _top_labels(levels: dict[str, np.ndarray]) -> dict[str, int]:
    return {level: int(np.argmax(levels[level])) for level in LEVELS}


def cif_reduced_cell(path: str) -> np.ndarray:
    """Niggli-reduced primitive cell of a CIF's structure (spglib), Angstrom and degrees."""
    from xrdsym.structures.reader import read_cif_file
    from xrdsym.structures.symmetry import niggli_parameters, symmetry_dataset

    return niggli_parameters(symmetry_dataset(read_cif_file(path)))


def score_measured(
    classifier: Any, labels_csv: str, wavelength: str = "CuKa1", cell_tolerance: float = 0.01
) -> list[MeasuredOutcome]:
    """Classify each scan of a labels CSV (``file``, ``space_group``, optional ``cif``) twice.

    The true cell counts as found when one of the first three candidates matches the CIF's
    reduced cell within ``cell_tolerance`` (relative lengths) and 100 x that many degrees.
    """
    import csv
    from pathlib import Path

    from xrdsym.classify.samples import read_sample

    root = Path(labels_csv).parent
    with open(labels_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    outcomes = []
    for row in rows:
        try:
            sample = read_sample(root / row["file"], classifier.grid, fallback=wavelength)
        except XrdsymError as exc:  # a batch reports a bad scan and goes on
            print(f"  skipped: {exc}")
            continue
        joined = classifier.classify(sample, index=True)[0]
        alone = classifier.classify(sample, index=False)[0]
        rank = None
        best_cells = () if joined.indexing is None else joined.indexing.candidates[:3]
        if row.get("cif") and best_cells:
            truth = cif_reduced_cell(str(root / row["cif"]))
            matches = [
                same_reduced_cell(c.reduced_cell, truth, cell_tolerance, 100 * cell_tolerance)
                for c in best_cells
            ]
            rank = matches.index(True) if any(matches) else None
        outcomes.append(
            MeasuredOutcome(
                file=row["file"],
                space_group=int(row["space_group"]),
                joined=_top_labels(joined.levels),
                network=_top_labels(alone.levels),
                decided_by=dict(joined.decided_by),
                indexing=joined.indexing,
                true_cell_rank=rank,
                has_cif=bool(row.get("cif")),
            )
        )
    return outcomes


def true_labels(space_group_number: int) -> dict[str, int]:
    """The three levels' integer labels of a space group given by its number 1-230."""
    return {level: int(v) for level, v in level_labels(np.asarray(space_group_number - 1)).items()}


def measured_lines(outcomes: list[MeasuredOutcome]) -> list[str]:
    """Per-scan lines and the totals: right at each level (joined, network), cells found."""
    lines = []
    totals = {src: dict.fromkeys(LEVELS, 0) for src in ("network", "joined")}
    for o in outcomes:
        info = space_group(o.space_group)
        truth = true_labels(o.space_group)
        marks = []
        for level in LEVELS:
            for src, top in (("network", o.network), ("joined", o.joined)):
                totals[src][level] += int(top[level] == truth[level])
            marks.append("+" if o.joined[level] == truth[level] else "-")
        best = None if o.indexing is None else o.indexing.best
        cell = "not indexed" if best is None else f"{best.bravais} M20 {best.m20:.0f}"
        rank = "-" if o.true_cell_rank is None else str(o.true_cell_rank + 1)
        decided = "".join(s[0].upper() for s in o.decided_by.values())
        lines.append(
            f"  {o.file:<44}{info.symbol:<10}{''.join(marks)}  {decided}  {cell:<16}"
            f" cell rank {rank}"
        )
    n = len(outcomes)
    found = sum(o.true_cell_rank is not None for o in outcomes)
    with_cif = sum(o.has_cif for o in outcomes)
    lines.append(f"true cell among the first three: {found} of {with_cif} scans with a CIF")
    for level in LEVELS:
        lines.append(
            f"  {level:<18} network {totals['network'][level]:>3} / {n}   "
            f"joined {totals['joined'][level]:>3} / {n}"
        )
    return lines
