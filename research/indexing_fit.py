"""Fit the joined answer on validation outcomes; its reliability beside the network's.

:func:`fit_evidence` fits, on the outcomes of the validation part (:mod:`research.indexing_run`):

1. the evidence weight (a conditional logit on the candidate cells' figures of merit, extinction
   scores and ranks, every pattern where the search found a cell, accepted by its rule or not;
   :func:`xrdsym.classify.joint.fit_cell_weight`), twice: on the cells alone (``xrdsym
   index``) and with the network's probability of each cell's crystal system (the joined
   answer, :data:`xrdsym.classify.joint.JOINED_FEATURES`);
2. out-of-fold w of every cell of the joined weight
   (:func:`xrdsym.classify.joint.cross_fitted_probabilities`), on which the rest is fitted, so
   that it sees probabilities of cells the weight was not fitted on;
3. the extinction temperature T of exp((LL - max LL) / T): the one of
   :data:`EXTINCTION_TEMPERATURES` with the most right joined extinction groups (ties: the
   largest); the likelihood of the true group alone (``fit_temperature``) prefers softer T,
   which leave more of the choice between groups to the network;
4. the confident step: the lowest first-cell w of the cells alone (out of fold) >= 0.5 at
   which confident wrong first cells are at most 2 % of the validation patterns
   (:func:`xrdsym.classify.joint.fit_confident_step`);
5. the exponent b of the space-group frequencies of the training part within each extinction
   group (:func:`xrdsym.classify.joint.sharpened_within_extinction`): the one of
   :data:`FREQUENCY_EXPONENTS` with the most right joined space groups at that T (ties: the
   smallest);
6. one temperature per level of the joined distributions of the indexed patterns
   (:func:`xrdsym.classify.joint.fit_joined_temperatures`);
7. the thresholds of the joined answer's conformal prediction sets, on the same calibrated
   out-of-fold distributions (:func:`xrdsym.classify.joint.fit_joined_set_thresholds`).

:func:`joined_reliability` gives the reliability diagram (confidence bins: mean top-1
probability, accuracy, count) and the ECE of the network alone and of the joined answer.
"""

from __future__ import annotations

from dataclasses import replace
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
    FEATURES,
    MAX_CONFIDENT_WRONG,
    EvidenceWeight,
    candidate_features,
    choice_probabilities,
    cross_fitted_probabilities,
    fit_cell_weight,
    fit_confident_step,
    fit_joined_set_thresholds,
    fit_joined_temperatures,
    join_levels,
    mixed_levels,
    padded_features,
)
from xrdsym.spacegroups import LEVELS
from xrdsym.spacegroups.table import SpaceGroupTable

#: Confidence bins of the reliability tables (equal width over [0, 1]); the ECE uses the same.
RELIABILITY_BINS = 10

#: Fewest indexed validation patterns for the joined temperatures (else the answer stays
#: uncalibrated).
MIN_CALIBRATION_PATTERNS = 20

#: Exponents of the space-group frequencies tried in the fit (0: the network's own ranking).
FREQUENCY_EXPONENTS = (0.0, 0.25, 0.5, 0.75, 1.0)

#: Extinction temperatures tried in the fit.
EXTINCTION_TEMPERATURES = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)


def training_frequencies(dataset: Any, split: str) -> np.ndarray:
    """(230,) space-group frequencies of a split's training part, (count + 1) / (n + 230)
    (one pseudo-count each: every group keeps a weight)."""
    numbers = np.asarray(dataset.space_groups())[np.asarray(dataset.split_indices(split, "train"))]
    counts = np.bincount(numbers, minlength=231)[1:].astype(np.float64)
    return (counts + 1.0) / (counts.sum() + counts.size)


def _confident_counts(w: np.ndarray, right: np.ndarray, step: float) -> dict[str, int]:
    above = w >= step
    return {"cells": int(above.sum()), "wrong": int((above & ~right).sum())}


def weighed(outcomes: list[Outcome], rule_only: bool = False) -> list[Outcome]:
    """The outcomes whose cells enter the joined answer: a first cell with its extinction
    scores (with ``rule_only``, also taken by the search's acceptance rule)."""
    return [
        o
        for o in outcomes
        if o.indexing.first is not None
        and o.indexing.extinction
        and (not rule_only or o.indexing.status == "indexed")
    ]


def cell_feature_array(outcomes: list[Outcome]) -> np.ndarray:
    """(n, K, len(JOINED_FEATURES)) features of each outcome's scored candidates with its
    network crystal-system probabilities (NaN padding; :func:`weighed` outcomes); the first
    len(FEATURES) are the cells' own (:data:`~xrdsym.classify.joint.JOINED_FEATURES`)."""
    return padded_features(
        [candidate_features(o.indexing, o.network["crystal_system"]) for o in outcomes]
    )


def right_ranks(outcomes: list[Outcome]) -> np.ndarray:
    """(n,) 0-based rank of the right cell among each outcome's scored candidates, -1 if none."""
    ranks = []
    for o in outcomes:
        scored = len(o.indexing.scored_candidates())
        right = [i for i, r in enumerate(o.ranks_right[:scored]) if r]
        ranks.append(right[0] if right else -1)
    return np.array(ranks, dtype=np.int64)


def outcome_mixture(
    outcome: Outcome,
    w: np.ndarray,
    temperature: float,
    table: SpaceGroupTable,
    network: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray] | None:
    """The joined levels of one outcome before calibration with its cells' w (in rank order,
    NaN padding ignored: the cells beyond the given w do not weigh), on ``network`` (default:
    the outcome's network levels); None as :func:`xrdsym.classify.joint.mixed_levels`."""
    w = w[~np.isnan(w)]
    scores = [s for _, s in outcome.indexing.scored_candidates()][: len(w)]
    return mixed_levels(
        outcome.network if network is None else network, scores, w, temperature, table
    )


def fit_frequency_exponent(
    outcomes: list[Outcome],
    w: np.ndarray,
    temperature: float,
    table: SpaceGroupTable,
    frequencies: np.ndarray,
) -> float:
    """The exponent of :data:`FREQUENCY_EXPONENTS` with the most right top-1 joined space
    groups over the outcomes (their cells' w in ``w``, rows in the outcomes' order); ties go to
    the smallest."""
    weights = {o.index: row for o, row in zip(outcomes, w, strict=True)}

    def hits(exponent: float) -> int:
        trial = EvidenceWeight(
            (), frequency_exponent=exponent, space_group_frequencies=tuple(frequencies)
        )
        return joined_top1_hits(outcomes, weights, temperature, table, trial)["space_group"]

    return max(FREQUENCY_EXPONENTS, key=hits)  # max keeps the first of equal counts


def joined_top1_hits(
    outcomes: list[Outcome],
    w: dict[int, np.ndarray],
    temperature: float,
    table: SpaceGroupTable,
    sharpening: EvidenceWeight | None = None,
) -> dict[str, int]:
    """Right top-1 answers per level of the joined answer before calibration (which keeps
    rankings), with the cells' w of ``w`` (by dataset index; the network alone elsewhere) and,
    where a cell weighs, the network's space groups sharpened by ``sharpening``
    (:meth:`xrdsym.classify.joint.EvidenceWeight.sharpened`; None: the network's own)."""
    hits = dict.fromkeys(LEVELS, 0)
    for o in outcomes:
        network = o.network if sharpening is None else sharpening.sharpened(o.network, table)
        mixed = (
            None
            if o.index not in w
            else outcome_mixture(o, w[o.index], temperature, table, network)
        )
        levels = o.network if mixed is None else mixed
        labels = true_labels(o.space_group)
        for level in LEVELS:
            hits[level] += int(np.argmax(levels[level]) == labels[level])
    return hits


def fit_extinction_temperature(
    outcomes: list[Outcome], w: np.ndarray, table: SpaceGroupTable
) -> float:
    """The T of :data:`EXTINCTION_TEMPERATURES` with the most right top-1 joined extinction
    groups over the outcomes (their cells' w in the rows of ``w``, in the outcomes' order);
    ties go to the largest (the softest)."""
    weights = {o.index: row for o, row in zip(outcomes, w, strict=True)}

    def hits(temperature: float) -> int:
        return joined_top1_hits(outcomes, weights, temperature, table)["extinction_group"]

    # max keeps the first of equal counts: the largest T, the grid being tried downwards
    return max(sorted(EXTINCTION_TEMPERATURES, reverse=True), key=hits)


def fit_evidence(
    outcomes: list[Outcome],
    fitted_on: dict[str, Any],
    table: SpaceGroupTable,
    max_wrong: float = MAX_CONFIDENT_WRONG,
    folds: int = 5,
    seed: int = 0,
    frequencies: np.ndarray | None = None,
    set_coverage: float = 0.9,
) -> EvidenceWeight:
    """Weight, extinction temperature, confident step, frequency exponent (when the training
    part's space-group ``frequencies`` are given), level temperatures and the thresholds of
    prediction sets holding the truth for ``set_coverage`` of the patterns (module docstring).

    Raises:
        ValueError: without indexed patterns of both kinds (right and wrong cells).
    """
    indexed = weighed(outcomes)
    rank = right_ranks(indexed)
    right = rank == 0
    if not indexed or right.all() or not right.any():
        raise ValueError(
            f"{len(indexed)} indexed patterns, {int(right.sum())} with the right cell: "
            "a weight needs right and wrong cells"
        )
    features = cell_feature_array(indexed)
    own_features = features[..., : len(FEATURES)]  # the cells alone: without the network term
    beta = fit_cell_weight(own_features, rank)
    own_out_of_fold = cross_fitted_probabilities(own_features, rank, folds, seed)
    joined_beta = fit_cell_weight(features, rank)
    out_of_fold = cross_fitted_probabilities(features, rank, folds, seed)
    temperature = fit_extinction_temperature(indexed, out_of_fold, table)
    step = fit_confident_step(own_out_of_fold[:, 0], right, len(outcomes), max_wrong)
    exponent = (
        0.0
        if frequencies is None
        else fit_frequency_exponent(indexed, out_of_fold, temperature, table, frequencies)
    )
    weight = EvidenceWeight(
        tuple(float(b) for b in beta),
        temperature,
        frequency_exponent=exponent,
        space_group_frequencies=() if frequencies is None else tuple(map(float, frequencies)),
        joined_coefficients=tuple(float(b) for b in joined_beta),
    )
    levels, labels = [], []
    for outcome, w in zip(indexed, out_of_fold, strict=True):
        network = weight.sharpened(outcome.network, table)
        mixed = outcome_mixture(outcome, w, temperature, table, network)
        if mixed is not None:
            levels.append(mixed)
            labels.append(true_labels(outcome.space_group))
    calibrated = len(levels) >= MIN_CALIBRATION_PATTERNS
    level_temperatures = fit_joined_temperatures(levels, labels) if calibrated else {}
    calibrator = replace(weight, level_temperatures=level_temperatures)
    tempered_levels = [calibrator.calibrated(p) for p in levels]
    set_thresholds = (
        fit_joined_set_thresholds(tempered_levels, labels, set_coverage) if calibrated else {}
    )
    in_sample = choice_probabilities(own_features, beta)[:, 0]
    record = {
        **fitted_on,
        "patterns": len(outcomes),
        "indexed": len(indexed),
        "right_cells": int(right.sum()),
        "right_later_cells": int((rank > 0).sum()),
        "max_confident_wrong": max_wrong,
        "folds": folds,
        "confident_out_of_fold": _confident_counts(own_out_of_fold[:, 0], right, step),
        "confident_in_sample": _confident_counts(in_sample, right, step),
        "calibration_patterns": len(levels),
        "set_coverage": set_coverage,
        "frequency_exponents_tried": list(FREQUENCY_EXPONENTS),
    }
    return replace(
        weight,
        fitted_on=record,
        confident_at=step,
        level_temperatures=level_temperatures,
        set_thresholds=set_thresholds,
    )


#: The cells each design weighs: the cells of patterns whose first cell the search's rule
#: takes; the first cell alone of every pattern with a cell (the later candidates left out of
#: the fit and the answer); the cells of every pattern with a cell; and the same with w = 1 for
#: the right cell and 0 for the others (a bound no weight beats).
GATE_DESIGNS = ("rule, then w", "first cell only, w", "every cell, w", "every cell, w = truth")


def compare_gates(
    outcomes: list[Outcome], table: SpaceGroupTable, folds: int = 5, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Top-1 of the joined answer (before calibration, which keeps rankings) per design of
    :data:`GATE_DESIGNS`, with out-of-fold w (the weight fitted on the other folds of the
    design's own patterns; with the network's term of the joined answer), the extinction
    temperature fitted on its right first cells, and the confident step on the out-of-fold w
    of the first cells from the cells alone; also the patterns weighed, the right first cells,
    the confident and the confident wrong ones."""
    result: dict[str, dict[str, Any]] = {}
    for design in GATE_DESIGNS:
        cells = weighed(outcomes, rule_only=design == GATE_DESIGNS[0])
        rank = right_ranks(cells)
        features = cell_feature_array(cells)
        own_features = features[..., : len(FEATURES)]
        if design == GATE_DESIGNS[1]:
            features, own_features = features[:, :1], own_features[:, :1]
            rank = np.where(rank == 0, 0, -1)
        if design == GATE_DESIGNS[3]:
            w = np.where(np.isnan(features[..., 0]), np.nan, 0.0)
            w[rank >= 0, rank[rank >= 0]] = 1.0
            own = w
        else:
            w = cross_fitted_probabilities(features, rank, folds, seed)
            own = cross_fitted_probabilities(own_features, rank, folds, seed)
        right = rank == 0
        step = fit_confident_step(own[:, 0], right, len(outcomes))
        weights = {o.index: p for o, p in zip(cells, w, strict=True)}
        temperature = fit_extinction_temperature(cells, w, table)
        hits = joined_top1_hits(outcomes, weights, temperature, table)
        confident = _confident_counts(own[:, 0], right, step)
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
