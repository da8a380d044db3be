"""Scores of indexing joined with the network: lab-rendered patterns and measured scans.

The outcomes of a dataset part come from :func:`research.indexing_run.run_part`; on the
validation part the joined answer is fitted (:func:`research.indexing_fit.fit_evidence`), on the
test part it is scored beside the network alone (:func:`score_outcomes`). Measured scans with
labels (and CIFs) are scored by :func:`score_measured`, which also lays each CIF's cell on its
scan's lines (:func:`cif_cell_coverage`): a CIF whose cell explains few of the lines is not the
scan's phase, and the scan's label is doubtful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from research.indexing_run import Outcome, same_reduced_cell, true_labels
from xrdsym.calibration import measured_set_name, prediction_set
from xrdsym.classify.joint import EvidenceWeight, join_levels, network_only
from xrdsym.errors import XrdsymError
from xrdsym.indexing import metric
from xrdsym.indexing.lattice import used_lines
from xrdsym.indexing.refine import indexed_by_metric
from xrdsym.indexing.results import IndexingResult
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, LEVELS, space_group
from xrdsym.spacegroups.table import SpaceGroupTable

#: Isotropic scales of a CIF's cell (a measured cell differs from the CIF's by temperature and
#: composition) and zero shifts (degrees 2theta) tried by :func:`cif_cell_coverage`.
CIF_SCALES = np.linspace(0.98, 1.02, 41)
CIF_ZEROS = np.linspace(-0.5, 0.5, 51)

#: Window of a line in :func:`cif_cell_coverage`, degrees 2theta (the search's default).
CIF_LINE_WINDOW = 0.1

#: Probabilities of a cell being right at which the wrong cells are also counted (reported).
CONFIDENCE_STEPS = (0.5, 0.7, 0.9, 0.95)

#: A first cell within these ratios of the true (primitive) volume is "about the true volume"
#: in :func:`loss_category`; below: smaller (a sub-cell when the ratio is 1/n), above: larger.
SAME_VOLUME_RATIOS = (0.9, 1.1)

#: Where a pattern stands with the true cell (:func:`loss_category`), in the printed order.
LOSS_CATEGORIES = (
    "first cell right, hP (trigonal or hexagonal)",
    "first cell right, other lattices",
    "true cell a later candidate",
    "no true cell; first cell smaller",
    "no true cell; first cell about as large",
    "no true cell; first cell larger",
    "no cell found",
)


def primitive_volume(cell: tuple[float, ...] | np.ndarray) -> float:
    """Volume of a (reduced, primitive) cell (a, b, c in Angstrom, angles in degrees),
    Angstrom^3: |det| of its lattice rows."""
    return float(abs(np.linalg.det(metric.lattice_from_cell(np.asarray(cell, dtype=float)))))


def loss_category(outcome: Outcome) -> str:
    """Where a pattern stands with the true cell (:data:`LOSS_CATEGORIES`): the first cell right
    (hP apart: its lattice carries trigonal and hexagonal groups alike, so only the network
    tells the crystal system), the true cell a later candidate, or not among the candidates,
    then by the first cell's volume V_1 against the true primitive volume V
    (:data:`SAME_VOLUME_RATIOS`: a sub-cell of V / n indexes every line whose superstructure
    lines are too weak to be seen)."""
    first = outcome.indexing.first
    if first is None:
        return LOSS_CATEGORIES[6]
    if outcome.cell_right:
        return LOSS_CATEGORIES[0] if first.bravais == "hP" else LOSS_CATEGORIES[1]
    if any(outcome.ranks_right):
        return LOSS_CATEGORIES[2]
    ratio = primitive_volume(first.reduced_cell) / primitive_volume(outcome.true_cell)
    low, high = SAME_VOLUME_RATIOS
    return LOSS_CATEGORIES[3] if ratio < low else LOSS_CATEGORIES[4 if ratio <= high else 5]


def _top1(p: np.ndarray, label: int) -> bool:
    return int(np.argmax(p)) == label


def answer_set_thresholds(
    joined_cell_probability: float,
    weight: EvidenceWeight | None,
    network_thresholds: dict[str, float],
) -> tuple[dict[str, float], bool]:
    """The thresholds of the answer's prediction sets and whether they are the joined ones:
    the weight's where a cell weighs and it has them (as ``xrdsym classify``), else the
    network's."""
    if weight is not None and weight.set_thresholds and joined_cell_probability > 0.0:
        return weight.set_thresholds, True
    return network_thresholds, False


def score_outcomes(
    outcomes: list[Outcome],
    weight: EvidenceWeight | None,
    table: SpaceGroupTable,
    network_thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Index rate by crystal system, confident-wrong rate, top-1 of joined and network alone.

    With the network's conformal ``network_thresholds`` (the model calibration's), also the
    coverage and mean size of the prediction sets of the network alone and of the answer
    (:func:`answer_set_thresholds`), per level.

    A cell is *confident* when its fitted probability of being right reaches the weight's
    fitted step (``confident_at``); the confident-wrong rate is the share of all patterns with a
    confident cell that is wrong. ``cells_at`` and ``wrong_cells_at`` count the cells (all,
    wrong) whose probability reaches each of ``CONFIDENCE_STEPS``.
    """
    n = len(outcomes)
    by_system: dict[str, list[int]] = {s: [0, 0] for s in CRYSTAL_SYSTEMS}
    system_right: dict[str, dict[str, int]] = {
        source: dict.fromkeys(CRYSTAL_SYSTEMS, 0) for source in ("network", "joined")
    }
    hits = {source: dict.fromkeys(LEVELS, 0) for source in ("network", "joined")}
    decided = dict.fromkeys(LEVELS, 0)
    decided_right = dict.fromkeys(LEVELS, 0)
    confident = confident_wrong = indexed = found = top3 = 0
    wrong_at = dict.fromkeys(CONFIDENCE_STEPS, 0)
    cells_at = dict.fromkeys(CONFIDENCE_STEPS, 0)
    losses: dict[str, list[int]] = {c: [0, 0] for c in LOSS_CATEGORIES}
    sets = {src: {lv: [0, 0] for lv in LEVELS} for src in ("network", "answer")}  # held, size
    joined_sets = 0
    for o in outcomes:
        info = space_group(o.space_group)
        labels = true_labels(o.space_group)
        by_system[info.crystal_system][1] += 1
        by_system[info.crystal_system][0] += int(o.cell_right)
        indexed += int(o.indexing.best is not None)
        found += int(o.indexing.first is not None)
        top3 += int(any(o.ranks_right[:3]))
        joined = (
            network_only(o.network)
            if weight is None
            else join_levels(o.network, o.indexing, weight, table)
        )
        if joined.confident:
            confident += 1
            confident_wrong += int(not o.cell_right)
        for step in CONFIDENCE_STEPS:
            cells_at[step] += int(joined.cell_probability >= step)
            wrong_at[step] += int(joined.cell_probability >= step and not o.cell_right)
        system = labels["crystal_system"]
        for source, levels in (("network", o.network), ("joined", joined.levels)):
            system_right[source][info.crystal_system] += int(
                _top1(levels["crystal_system"], system)
            )
        if network_thresholds:
            thresholds, own = answer_set_thresholds(
                joined.cell_probability, weight, network_thresholds
            )
            joined_sets += int(own)
            for source, levels, cut in (
                ("network", o.network, network_thresholds),
                ("answer", joined.levels, thresholds),
            ):
                for level in LEVELS:
                    members = prediction_set(levels[level], cut[level])
                    sets[source][level][0] += int(labels[level] in members)
                    sets[source][level][1] += int(members.size)
        category = losses[loss_category(o)]
        category[0] += 1
        category[1] += int(_top1(joined.levels["crystal_system"], system))
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
        "found": found,
        "right_in_top3": top3,
        "cell_right": sum(r for r, _ in by_system.values()),
        "index_rate_by_system": {s: tuple(v) for s, v in by_system.items()},
        "system_right_by_system": system_right,
        "confident_at": None if weight is None else weight.confident_at,
        "confident": confident,
        "confident_wrong": confident_wrong,
        "wrong_cells_at": {str(step): wrong_at[step] for step in CONFIDENCE_STEPS},
        "cells_at": {str(step): cells_at[step] for step in CONFIDENCE_STEPS},
        "top1": {src: {lv: h / max(n, 1) for lv, h in v.items()} for src, v in hits.items()},
        "decided_by_indexing": {lv: (decided[lv], decided_right[lv]) for lv in LEVELS},
        "system_right_by_category": {c: tuple(v) for c, v in losses.items()},
        "sets": (
            {
                "joined_sets": joined_sets,
                **{
                    src: {lv: (h / max(n, 1), size / max(n, 1)) for lv, (h, size) in v.items()}
                    for src, v in sets.items()
                },
            }
            if network_thresholds
            else {}
        ),
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A printed table of :func:`score_outcomes`."""
    n = max(result["n"], 1)
    lines = [
        f"patterns {result['n']}; a cell found {result['found']} (taken by the search's "
        f"rule {result['indexed']}); first cell right {result['cell_right']} "
        f"({result['cell_right'] / n:.1%}); true cell among the first three "
        f"{result['right_in_top3']} ({result['right_in_top3'] / n:.1%})",
        f"confident cells (w >= {result['confident_at'] or 0:.3f}) {result['confident']}; "
        f"confident and wrong {result['confident_wrong']} "
        f"({result['confident_wrong'] / n:.1%} of all patterns)",
        "index rate (first cell right) and top-1 crystal system (network, joined) by true "
        "crystal system:",
    ]
    by_source = result["system_right_by_system"]
    for system, (right, total) in result["index_rate_by_system"].items():
        rate = f"{right / total:.1%}" if total else "-"
        systems = "".join(
            f"   {source} {by_source[source][system] / total:.1%}" if total else ""
            for source in ("network", "joined")
        )
        lines.append(f"  {system:<13}{right:>5} / {total:<5} {rate}{systems}")
    cells, wrong = result["cells_at"], result["wrong_cells_at"]
    at = ", ".join(f"w >= {t}: {cells[t]} ({wrong[t]})" for t in cells)
    lines.append(f"cells with a fitted probability of being right at least ... (wrong): {at}")
    lines.append(f"{'top-1':<18}{'network':>9}{'joined':>9}   decided by indexing (right)")
    for level in LEVELS:
        net, joint = result["top1"]["network"][level], result["top1"]["joined"][level]
        count, right = result["decided_by_indexing"][level]
        lines.append(f"  {level:<16}{net:>9.1%}{joint:>9.1%}   {count} ({right})")
    if result.get("sets"):
        held = result["sets"]
        lines.append(
            "prediction sets: share holding the truth, mean size; network alone beside the "
            f"answer (joined sets for {held['joined_sets']} patterns with a cell, the "
            "network's for the rest)"
        )
        for level in LEVELS:
            (net_held, net_size), (ans_held, ans_size) = (
                held["network"][level],
                held["answer"][level],
            )
            lines.append(
                f"  {level:<16}{net_held:>9.1%}{net_size:>7.1f}   {ans_held:>9.1%}{ans_size:>7.1f}"
            )
    lines.append("where the crystal system is lost: patterns, joined top-1 crystal system right")
    for category, (total, right) in result.get("system_right_by_category", {}).items():
        lines.append(f"  {category:<46}{total:>6}{right:>6}   {total - right} wrong")
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
        cif_lines: (lines the CIF's cell indexes, lines the search used) by
            :func:`cif_cell_coverage`; None without a CIF or lines.
        system_sets: per source (``network``, ``joined``: the answer's sets, as printed),
            whether the crystal-system prediction set holds the truth and its size; empty when
            the model has no sets.
    """

    file: str
    space_group: int
    joined: dict[str, int]
    network: dict[str, int]
    decided_by: dict[str, str]
    indexing: IndexingResult | None
    true_cell_rank: int | None
    has_cif: bool = False
    cif_lines: tuple[int, int] | None = None
    system_sets: dict[str, tuple[bool, int]] = field(default_factory=dict)


def _top_labels(levels: dict[str, np.ndarray]) -> dict[str, int]:
    return {level: int(np.argmax(levels[level])) for level in LEVELS}


def cif_reduced_cell(path: str) -> np.ndarray:
    """Niggli-reduced primitive cell of a CIF's structure (spglib), Angstrom and degrees."""
    from xrdsym.structures.reader import read_cif_file
    from xrdsym.structures.symmetry import niggli_parameters, symmetry_dataset

    return niggli_parameters(symmetry_dataset(read_cif_file(path)))


def cif_cell_coverage(two_theta: np.ndarray, wavelength: float, cell: np.ndarray) -> int:
    """Most of the lines (2theta, degrees; wavelength in Angstrom) within CIF_LINE_WINDOW of a
    reflection of the cell (a, b, c in Angstrom, angles in degrees; every lattice point, no
    absences) scaled by one of CIF_SCALES and shifted by one of CIF_ZEROS: near all of them when
    the CIF is of the scan's phase."""
    gstar = metric.metric_from_lattice(metric.lattice_from_cell(cell))
    return max(
        int(
            indexed_by_metric(
                two_theta, wavelength, gstar / scale**2, float(zero), CIF_LINE_WINDOW
            ).sum()
        )
        for scale in CIF_SCALES
        for zero in CIF_ZEROS
    )


def _cif_lines(indexing: IndexingResult | None, cell: np.ndarray) -> tuple[int, int] | None:
    """(lines the cell indexes, lines the search used) of a scan, None without lines."""
    if indexing is None or not indexing.peaks.peaks:
        return None
    index = used_lines(indexing.peaks)
    if index.size == 0:
        return None
    two_theta = np.array([indexing.peaks.peaks[i].two_theta for i in index])
    return cif_cell_coverage(two_theta, indexing.peaks.wavelength, cell), int(index.size)


def _system_sets(truth: str, alone: Any, joined: Any) -> dict[str, tuple[bool, int]]:
    """(holds the true crystal system, size) of the network's and the answer's crystal-system
    sets; empty when either answer has none."""
    sets = {
        source: tuple(answer.prediction_sets.get("crystal_system", ()))
        for source, answer in (("network", alone), ("joined", joined))
    }
    if not all(sets.values()):
        return {}
    return {source: (truth in members, len(members)) for source, members in sets.items()}


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
        cif_lines = None
        best_cells = () if joined.indexing is None else joined.indexing.candidates[:3]
        if row.get("cif"):
            truth = cif_reduced_cell(str(root / row["cif"]))
            cif_lines = _cif_lines(joined.indexing, truth)
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
                cif_lines=cif_lines,
                system_sets=_system_sets(
                    space_group(int(row["space_group"])).crystal_system, alone, joined
                ),
            )
        )
    return outcomes


def measured_set_coverage(
    labels_csv: str, outcomes: list[MeasuredOutcome]
) -> tuple[str, int, float] | None:
    """(name: the folder of the labels file, scans, share) of the scans whose answer's
    crystal-system set holds the truth; None when no scan has sets."""
    with_sets = [o.system_sets["joined"] for o in outcomes if o.system_sets]
    if not with_sets:
        return None
    held = sum(inside for inside, _ in with_sets)
    return (measured_set_name(str(labels_csv)), len(with_sets), held / len(with_sets))


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
        first = None if o.indexing is None else o.indexing.first
        cell = "no cell" if first is None else f"{first.bravais} M20 {first.m20:.0f}"
        rank = "-" if o.true_cell_rank is None else str(o.true_cell_rank + 1)
        decided = "".join(s[0].upper() for s in o.decided_by.values())
        cif = (
            ""
            if o.cif_lines is None
            else f"   CIF cell indexes {o.cif_lines[0]} / {o.cif_lines[1]}"
        )
        lines.append(
            f"  {o.file:<44}{info.symbol:<10}{''.join(marks)}  {decided}  {cell:<16}"
            f" cell rank {rank}{cif}"
        )
    n = len(outcomes)
    found = sum(o.true_cell_rank is not None for o in outcomes)
    with_cif = sum(o.has_cif for o in outcomes)
    lines.append(f"true cell among the first three: {found} of {with_cif} scans with a CIF")
    with_sets = [o.system_sets for o in outcomes if o.system_sets]
    if with_sets:
        held = {
            src: (sum(s[src][0] for s in with_sets), np.mean([s[src][1] for s in with_sets]))
            for src in ("network", "joined")
        }
        lines.append(
            "crystal-system set holds the truth (mean size): network "
            f"{held['network'][0]} / {len(with_sets)} ({held['network'][1]:.1f}), answer "
            f"{held['joined'][0]} / {len(with_sets)} ({held['joined'][1]:.1f})"
        )
    doubtful = [o.file for o in outcomes if o.cif_lines and 2 * o.cif_lines[0] < o.cif_lines[1]]
    if doubtful:
        lines.append(
            "  the CIF's cell (scaled within 2 %, zero within 0.5 deg) indexes under half of the"
            f" scan's lines, so the label is doubtful: {', '.join(doubtful)}"
        )
    for level in LEVELS:
        lines.append(
            f"  {level:<18} network {totals['network'][level]:>3} / {n}   "
            f"joined {totals['joined'][level]:>3} / {n}"
        )
    return lines
