"""Fit the joined answer on validation outcomes; its reliability beside the network's.

:func:`fit_evidence` fits, on the outcomes of the validation part (:mod:`research.indexing_run`):

1. the evidence weight w (logistic on the first cells' figures of merit and extinction scores,
   every pattern where the search found a cell, accepted by its rule or not);
2. the extinction temperature (patterns whose first cell is right);
3. out-of-fold w of every pattern with a cell
   (:func:`xrdsym.classify.joint.cross_fitted_probabilities`), on which the next two are
   fitted, so that they see probabilities of cells the weight was not fitted on;
4. the confident step: the lowest w >= 0.5 at which confident wrong cells are at most 2 % of
   the validation patterns (:func:`xrdsym.classify.joint.fit_confident_step`);
5. one temperature per level of the joined distributions of the indexed patterns
   (:func:`xrdsym.classify.joint.fit_joined_temperatures`).

:func:`joined_reliability` gives the reliability diagram (confidence bins: mean top-1
probability, accuracy, count) and the ECE of the network alone and of the joined answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from research.indexing_run import Outcome, true_labels
from xrdsym.calibration import (
    binned_reliability,
    calibration_error,
    expected_calibration_error,
    reliability_bins,
)
from xrdsym.classify.joint import (
    MAX_CONFIDENT_WRONG,
    EvidenceWeight,
    cell_features,
    cross_fitted_probabilities,
    fit_cell_weight,
    fit_confident_step,
    fit_joined_temperatures,
    fit_temperature,
    join_levels,
    logistic,
    mixed_levels,
)
from xrdsym.spacegroups import LEVELS, space_group
from xrdsym.spacegroups.table import SpaceGroupTable

#: Confidence bins of the reliability tables (equal width over [0, 1]); the ECE uses the same.
RELIABILITY_BINS = 10

#: Fewest indexed validation patterns for the joined temperatures (else the answer stays
#: uncalibrated).
MIN_CALIBRATION_PATTERNS = 20


def _confident_counts(w: np.ndarray, right: np.ndarray, step: float) -> dict[str, int]:
    above = w >= step
    return {"cells": int(above.sum()), "wrong": int((above & ~right).sum())}


def weighed(outcomes: list[Outcome], rule_only: bool = False) -> list[Outcome]:
    """The outcomes whose first cell enters the joined answer: a cell with its extinction
    scores (with ``rule_only``, also taken by the search's acceptance rule)."""
    return [
        o
        for o in outcomes
        if o.indexing.first is not None
        and o.indexing.extinction
        and (not rule_only or o.indexing.status == "indexed")
    ]


def first_cell_features(outcomes: list[Outcome]) -> np.ndarray:
    """(n, len(FEATURES)) features of each outcome's first cell (:func:`weighed` outcomes)."""
    return np.stack(
        [cell_features(o.indexing.first, o.indexing.extinction) for o in outcomes]  # type: ignore[arg-type]
    )


def right_cell_temperature(outcomes: list[Outcome]) -> float:
    """The extinction temperature fitted on the outcomes whose first cell is right."""
    good = [o for o in outcomes if o.cell_right]
    return fit_temperature(
        [o.indexing.extinction for o in good],
        [space_group(o.space_group).extinction_group for o in good],
    )


def fit_evidence(
    outcomes: list[Outcome],
    fitted_on: dict[str, Any],
    table: SpaceGroupTable,
    max_wrong: float = MAX_CONFIDENT_WRONG,
    folds: int = 5,
    seed: int = 0,
) -> EvidenceWeight:
    """Weight, extinction temperature, confident step and level temperatures (module docstring).

    Raises:
        ValueError: without indexed patterns of both kinds (right and wrong cells).
    """
    indexed = weighed(outcomes)
    right = np.array([o.cell_right for o in indexed], dtype=bool)
    if not indexed or right.all() or not right.any():
        raise ValueError(
            f"{len(indexed)} indexed patterns, {int(right.sum())} with the right cell: "
            "a weight needs right and wrong cells"
        )
    features = first_cell_features(indexed)
    beta = fit_cell_weight(features, right)
    temperature = right_cell_temperature(indexed)
    out_of_fold = cross_fitted_probabilities(features, right, folds, seed)
    step = fit_confident_step(out_of_fold, right, len(outcomes), max_wrong)
    levels, labels = [], []
    for outcome, w in zip(indexed, out_of_fold, strict=True):
        mixed = mixed_levels(outcome.network, outcome.indexing.extinction, w, temperature, table)
        if mixed is not None:
            levels.append(mixed)
            labels.append(true_labels(outcome.space_group))
    level_temperatures = (
        fit_joined_temperatures(levels, labels) if len(levels) >= MIN_CALIBRATION_PATTERNS else {}
    )
    record = {
        **fitted_on,
        "patterns": len(outcomes),
        "indexed": len(indexed),
        "right_cells": int(right.sum()),
        "max_confident_wrong": max_wrong,
        "folds": folds,
        "confident_out_of_fold": _confident_counts(out_of_fold, right, step),
        "confident_in_sample": _confident_counts(logistic(features, beta), right, step),
        "calibration_patterns": len(levels),
    }
    return EvidenceWeight(
        tuple(float(b) for b in beta), temperature, record, step, level_temperatures
    )


#: The cells each design weighs: the first cell when the search's rule takes it, every first
#: cell, and every first cell with w = 1 when right and 0 when wrong (a bound no weight beats).
GATE_DESIGNS = ("rule, then w", "every first cell, w", "every first cell, w = truth")


def compare_gates(
    outcomes: list[Outcome], table: SpaceGroupTable, folds: int = 5, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Top-1 of the joined answer (before calibration, which keeps rankings) per design of
    :data:`GATE_DESIGNS`, with out-of-fold w (the weight fitted on the other folds of the
    design's own cells), the extinction temperature fitted on its right cells, and the
    confident step on the out-of-fold w; also the cells weighed, right, confident and wrong."""
    result: dict[str, dict[str, Any]] = {}
    for design in GATE_DESIGNS:
        cells = weighed(outcomes, rule_only=design == GATE_DESIGNS[0])
        right = np.array([o.cell_right for o in cells], dtype=bool)
        w = (
            right.astype(float)
            if design == GATE_DESIGNS[2]
            else cross_fitted_probabilities(first_cell_features(cells), right, folds, seed)
        )
        step = fit_confident_step(w, right, len(outcomes))
        temperature = right_cell_temperature(cells)
        weights = {o.index: float(p) for o, p in zip(cells, w, strict=True)}
        hits = dict.fromkeys(LEVELS, 0)
        for o in outcomes:
            levels = o.network
            if o.index in weights:
                mixed = mixed_levels(
                    o.network, o.indexing.extinction, weights[o.index], temperature, table
                )
                levels = o.network if mixed is None else mixed
            labels = true_labels(o.space_group)
            for level in LEVELS:
                hits[level] += int(np.argmax(levels[level]) == labels[level])
        confident = _confident_counts(w, right, step)
        result[design] = {
            "cells": len(cells),
            "right": int(right.sum()),
            "step": step,
            "confident": confident["cells"],
            "confident_wrong": confident["wrong"],
            "top1": {level: hits[level] / max(len(outcomes), 1) for level in LEVELS},
        }
    return result


def gate_lines(result: dict[str, dict[str, Any]]) -> list[str]:
    """A printed table of :func:`compare_gates`."""
    lines = [
        "design                        cells  right   step  confident (wrong)  top-1: crystal "
        "system / extinction group / space group"
    ]
    for design, r in result.items():
        top = " / ".join(f"{r['top1'][level]:.1%}" for level in LEVELS)
        confident = f"{r['confident']} ({r['confident_wrong']})"
        lines.append(
            f"  {design:<28}{r['cells']:>5}  {r['right']:>5}  {r['step']:.3f}  "
            f"{confident:<17}  {top}"
        )
    return lines


def _figures(p: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, Any]:
    return {
        "top1": float(np.mean(p.argmax(axis=1) == labels)) if len(labels) else 0.0,
        "ece": expected_calibration_error(p, labels, bins) if len(labels) else 0.0,
        "bins": reliability_bins(p, labels, bins),
    }


def joined_reliability(
    outcomes: list[Outcome],
    weight: EvidenceWeight,
    table: SpaceGroupTable,
    bins: int = RELIABILITY_BINS,
) -> dict[str, Any]:
    """Per level, ``network`` and ``joined`` figures (``top1``, ``ece``, ``bins``: the rows of
    :func:`xrdsym.calibration.reliability_bins`) on all patterns, and the ECE of both on the
    patterns where a cell entered the answer (``ece_with_cell``); ``n`` and ``with_cell``;
    ``cell``: the same bins for w, the probability that the best cell is right, against the
    share of right cells (patterns with a cell)."""
    joined = [join_levels(o.network, o.indexing, weight, table) for o in outcomes]
    with_cell = np.array([j.cell_probability > 0.0 for j in joined], dtype=bool)
    result: dict[str, Any] = {"n": len(outcomes), "with_cell": int(with_cell.sum()), "bins": bins}
    w = np.array([j.cell_probability for j in joined])[with_cell]
    right = np.array([o.cell_right for o in outcomes], dtype=bool)[with_cell]
    rows = binned_reliability(w, right, bins)
    result["cell"] = {"bins": rows, "ece": calibration_error(rows) if rows else 0.0}
    for level in LEVELS:
        truth = np.array([true_labels(o.space_group)[level] for o in outcomes], dtype=np.int64)
        sources = {
            "network": np.stack([o.network[level] for o in outcomes]),
            "joined": np.stack([j.levels[level] for j in joined]),
        }
        result[level] = {}
        for name, p in sources.items():
            figures = _figures(p, truth, bins)
            figures["ece_with_cell"] = _figures(p[with_cell], truth[with_cell], bins)["ece"]
            result[level][name] = figures
    return result


def reliability_markdown(result: dict[str, Any]) -> list[str]:
    """Markdown tables of :func:`joined_reliability`: one per level, a row per confidence bin
    (mean top-1 probability, accuracy, count; network alone beside joined), then the ECE."""
    lines = []
    for level in LEVELS:
        net, joint = result[level]["network"], result[level]["joined"]
        rows = {(r["low"], r["high"]): [r, None] for r in net["bins"]}
        for r in joint["bins"]:
            rows.setdefault((r["low"], r["high"]), [None, None])[1] = r
        lines += [
            f"{level.replace('_', ' ')} (top-1 {net['top1']:.1%} network, "
            f"{joint['top1']:.1%} joined)",
            "",
            "| top-1 probability | network: confidence | accuracy | n | joined: confidence "
            "| accuracy | n |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for (low, high), pair in sorted(rows.items()):
            cells = []
            for r in pair:
                cells += (
                    ["", "", "0"]
                    if r is None
                    else [f"{r['confidence']:.3f}", f"{r['accuracy']:.3f}", str(r["count"])]
                )
            lines.append(f"| {low:.1f}-{high:.1f} | " + " | ".join(cells) + " |")
        lines.append(
            f"| ECE (all {result['n']}; the {result['with_cell']} with a cell) | "
            f"{net['ece']:.3f} ({net['ece_with_cell']:.3f}) | | | "
            f"{joint['ece']:.3f} ({joint['ece_with_cell']:.3f}) | | |"
        )
        lines.append("")
    cell = result.get("cell") or {}
    if cell.get("bins"):
        lines += [
            f"probability that the best cell is right (w; the {result['with_cell']} patterns "
            "with a cell)",
            "",
            "| w | mean w | share of right cells | n |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['low']:.1f}-{r['high']:.1f} | {r['confidence']:.3f} | {r['accuracy']:.3f} | "
            f"{r['count']} |"
            for r in cell["bins"]
        ]
        lines += [f"| ECE | {cell['ece']:.3f} | | |", ""]
    return lines
