"""``python -m research.evaluate_indexing``: indexing joined with the network, on lab-rendered
patterns.

``--part val --fit`` fits the evidence weight, the extinction temperature, the confident step
and the calibration of the joined answer and writes them beside the model
(``indexing_weight.json``); ``--part test`` scores the joined answer beside the network alone
with the weight the model folder holds, with the reliability tables of both.

``--outcomes FILE.jsonl`` writes each finished pattern as it comes; a rerun with the same file
and options skips the patterns it holds (an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from research.command import run_command
from xrdsym.errors import XrdsymError


def register(subparsers: Any) -> None:
    """Add the ``evaluate-indexing`` command."""
    parser = subparsers.add_parser(
        "evaluate-indexing",
        help="index lab-rendered patterns of a dataset part and score the joined answer",
        description=__doc__,
    )
    parser.add_argument("--dataset", default="data_cache/mp_gen40", help="dataset folder")
    parser.add_argument("--split", default="structure_type", help="split name")
    parser.add_argument(
        "--part", default="test", choices=("train", "val", "test"), help="part of the split"
    )
    parser.add_argument(
        "--limit", type=int, default=200, help="structures (0: the whole part; -1: none)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered patterns")
    parser.add_argument("--model", default=None, help="model folder (default: bundled)")
    parser.add_argument(
        "--fit",
        action="store_true",
        help="fit the evidence weight on these patterns and write it into the model folder",
    )
    parser.add_argument(
        "--measured",
        nargs="*",
        default=None,
        metavar="LABELS.csv",
        help="also (or only, with --limit -1) score measured scans listed in labels CSVs "
        "(columns file, space_group, optional cif), read at --wavelength",
    )
    parser.add_argument("--wavelength", default="CuKa1", help="wavelength of measured scans")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--outcomes",
        type=Path,
        default=None,
        metavar="FILE.jsonl",
        help="write each finished pattern here; rerun with the same file to resume",
    )
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="score (or fit on) the patterns the --outcomes file holds and run no new ones",
    )
    parser.add_argument(
        "--record-measured-sets",
        action="store_true",
        help="store how often the joined answer's crystal-system sets held the truth on each "
        "--measured set in the model folder's weight record (said with every answer's sets)",
    )
    parser.add_argument(
        "--record-reliability",
        action="store_true",
        help="store the test part's reliability tables in the model folder's weight record "
        "(for the model card)",
    )
    parser.add_argument(
        "--compare-gates",
        action="store_true",
        help="also print the joined top-1 of each gate design, out-of-fold (validation only)",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes that index")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def spread_indices(indices: np.ndarray, limit: int) -> np.ndarray:
    """``limit`` indices spread evenly over the part (all when ``limit`` is 0 or larger)."""
    if limit <= 0 or limit >= indices.size:
        return indices
    return indices[np.linspace(0, indices.size - 1, limit).round().astype(np.int64)]


def run(args: argparse.Namespace) -> int:
    """Render, classify, index; then fit or score, print and write."""
    # deferred until called, so that --help stays fast: imports spglib and scipy
    from research.indexing_eval import (
        measured_lines,
        measured_set_coverage,
        score_measured,
        score_outcomes,
        seconds_per_pattern,
        summary_lines,
    )
    from research.indexing_fit import (
        compare_gates,
        fit_evidence,
        gate_lines,
        joined_reliability,
        reliability_markdown,
        training_frequencies,
    )
    from research.indexing_run import LAB_OFF, OutcomeFile
    from xrdsym.classify import load_model
    from xrdsym.classify.joint import write_evidence_weight
    from xrdsym.classify.loading import bundled_model_dir
    from xrdsym.datasets.store import open_dataset
    from xrdsym.training.parts import code_version

    classifier = load_model(args.model)
    folder = Path(args.model) if args.model else bundled_model_dir()
    coverage = []
    for labels in args.measured or ():
        print(
            f"{labels} (read at {args.wavelength}); marks: joined top-1 right per level, "
            "decided by (I indexing, N network)"
        )
        scored = score_measured(classifier, labels, args.wavelength)
        print("\n".join(measured_lines(scored)))
        coverage.append(measured_set_coverage(labels, scored))
    if args.record_measured_sets:
        if classifier.evidence_weight is None or not args.measured:
            raise XrdsymError("--record-measured-sets needs --measured and a fitted weight")
        recorded = replace(
            classifier.evidence_weight,
            measured_set_coverage=tuple(c for c in coverage if c is not None),
        )
        path = write_evidence_weight(recorded, folder)
        print(f"wrote the measured coverage of the sets into {path}")
    if args.limit < 0:
        return 0
    dataset = open_dataset(args.dataset)
    indices = spread_indices(np.asarray(dataset.split_indices(args.split, args.part)), args.limit)
    if indices.size == 0:
        raise XrdsymError(f"{args.dataset}: the {args.split} split has no {args.part} structures")
    described = {
        "dataset": str(args.dataset),
        "dataset_fingerprint": dataset.fingerprint(),
        "split": args.split,
        "part": args.part,
        "renderer": "lab",
        "lab_off": list(LAB_OFF),
        "seed": args.seed,
    }
    store = None
    if args.outcomes is not None:
        run_line = {**described, "limit": args.limit, "model": classifier.version}
        rendered = (float(classifier.grid.start), float(classifier.grid.stop))
        store = OutcomeFile(args.outcomes, run_line, code_version(), rendered)
        print(f"{args.outcomes}: {len(store.finished())} of {indices.size} patterns done before")
        if store.unreadable:
            print(f"  ({store.unreadable} line(s) cut short by an interruption: done again)")
    if args.finished_only:
        if store is None:
            raise XrdsymError("--finished-only scores an --outcomes file: give one")
        done = store.finished()
        outcomes = [done[int(i)] for i in indices if int(i) in done]
    else:
        outcomes = _run_with_bar(args, dataset, indices, classifier, store)
    weight = classifier.evidence_weight
    if args.compare_gates:
        if args.part == "test":
            raise XrdsymError("--compare-gates chooses a design: run it on --part val")
        print("\n".join(gate_lines(compare_gates(outcomes, classifier.table))))
    if args.fit:
        try:
            code = {"code": store.code} if store is not None else {}
            frequencies = training_frequencies(dataset, args.split)
            weight = fit_evidence(
                outcomes,
                {**described, **code},
                classifier.table,
                frequencies=frequencies,
                set_coverage=classifier.calibration.coverage,
            )
        except ValueError as exc:
            raise XrdsymError(
                f"{args.dataset} {args.part}: cannot fit the weight ({exc})"
            ) from None
        print(f"wrote {write_evidence_weight(weight, folder)}")
        print("\n".join(fit_lines(weight)))
    result = score_outcomes(
        outcomes, weight, classifier.table, dict(classifier.calibration.thresholds)
    )
    result.update(described, seconds_per_pattern=seconds_per_pattern(outcomes))
    print(f"{args.part} part of {args.dataset} ({args.split}), lab renderer, seed {args.seed}")
    print("\n".join(summary_lines(result)))
    print(f"indexing time {result['seconds_per_pattern']:.2f} s per pattern")
    if weight is None:
        print("(no fitted weight in the model folder: the joined answer is the network's)")
    else:
        result["reliability"] = joined_reliability(outcomes, weight, classifier.table)
        print("reliability of the top-1 answer, network alone beside joined:")
        print("\n".join(reliability_markdown(result["reliability"])))
        if args.record_reliability:
            record = {**described, **result["reliability"], "sets": result["sets"]}
            path = write_evidence_weight(replace(weight, reliability=record), folder)
            print(f"wrote the reliability tables into {path}")
    if args.output is not None:
        args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def _run_with_bar(
    args: argparse.Namespace, dataset: Any, indices: np.ndarray, classifier: Any, store: Any
) -> list[Any]:
    """:func:`research.indexing_run.run_part` with a progress bar over the whole selection."""
    # deferred until called: imports spglib and tqdm
    from research.indexing_run import run_part
    from xrdsym.cli.progress import progress_bar

    bar = progress_bar(indices.size, "pattern", args.no_progress)
    bar.update(0 if store is None else len(store.finished()))

    def counted(items: Any) -> Any:
        for item in items:
            yield item
            bar.update(1)

    try:
        return run_part(dataset, indices, classifier, args.seed, counted, args.workers, store)
    finally:
        bar.close()


def fit_lines(weight: Any) -> list[str]:
    """What the fit found: coefficients, temperatures, the confident step and its counts."""
    fitted = weight.fitted_on
    out, inside = fitted["confident_out_of_fold"], fitted["confident_in_sample"]
    n = fitted["patterns"]
    temperatures = ", ".join(f"{k} {v:.3f}" for k, v in weight.level_temperatures.items())
    return [
        "coefficients "
        + ", ".join(f"{c:.3f}" for c in weight.coefficients)
        + f"; extinction temperature {weight.temperature}; space-group frequency exponent "
        + f"{weight.frequency_exponent:g} (of {fitted.get('frequency_exponents_tried', [])})",
        f"confident step w >= {weight.confident_at:.3f} (at most "
        f"{fitted['max_confident_wrong']:.0%} of {n} patterns confident and wrong): "
        f"out of fold {out['cells']} cells, {out['wrong']} wrong ({out['wrong'] / n:.1%}); "
        f"in sample {inside['cells']} cells, {inside['wrong']} wrong ({inside['wrong'] / n:.1%})",
        f"joined temperatures ({fitted['calibration_patterns']} patterns with a cell): "
        + (temperatures or "none (too few patterns)"),
        f"joined set thresholds ({fitted.get('set_coverage', 0.9):.0%} sets, same patterns): "
        + (
            ", ".join(f"{k} {v:.4f}" for k, v in weight.set_thresholds.items())
            or "none (the network's own sets stay)"
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.evaluate_indexing`` with ``argv`` (default: the process
    arguments); the exit code."""
    return run_command(register, "research.evaluate_indexing", argv)


if __name__ == "__main__":
    sys.exit(main())
