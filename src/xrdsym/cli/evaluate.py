"""``xrdsym evaluate``: score a trained model on a dataset split (fixed, seeded test set)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.datasets.protocol import IndexedPeaks
from xrdsym.datasets.store import open_dataset
from xrdsym.errors import XrdsymError
from xrdsym.patterns.renderers import RENDERER_NAMES, make_renderer
from xrdsym.spacegroups import CRYSTAL_SYSTEMS


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="accuracy of a trained model on a dataset split",
        description=(
            "Render a fixed, seeded set of patterns of one part of a split and report top-1, "
            "top-5 and macro accuracy, accuracy per crystal system and the majority-class "
            "baseline for the crystal system, extinction group and space group."
        ),
    )
    parser.add_argument("model_dir", type=Path, help="run folder or model folder (model.json)")
    parser.add_argument("--dataset", type=Path, required=True, help="dataset folder")
    parser.add_argument(
        "--split",
        choices=("random", "structure_type"),
        default="random",
        help="split of the dataset whose part is scored",
    )
    parser.add_argument(
        "--part",
        choices=("test", "val", "train"),
        default="test",
        help="part of the split that is scored",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered test set")
    parser.add_argument(
        "--renderer",
        choices=RENDERER_NAMES,
        default="paper",
        help="how test patterns are rendered: the paper protocol or lab-like "
        "(impurity phases drawn from the same test part)",
    )
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N (0: all)")
    parser.add_argument("--output", type=Path, help="write the results as JSON")
    parser.add_argument("--plot", type=Path, help="write the crystal-system confusion PNG")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown on a terminal, with the patterns and an ETA)",
    )
    parser.set_defaults(handler=run)


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A small text table of the headline numbers."""
    lines = [f"{'task':18s} {'top-1':>7s} {'top-5':>7s} {'macro':>7s} {'baseline':>9s}"]
    for task, r in results["tasks"].items():
        base = r.get("majority_baseline", float("nan"))
        lines.append(f"{task:18s} {r['top1']:7.3f} {r['top5']:7.3f} {r['macro']:7.3f} {base:9.3f}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Load the model and dataset, evaluate, print, and write the requested files."""
    # deferred until called: imports torch, safetensors
    from xrdsym.models import load_pretrained
    from xrdsym.training.evaluate import evaluate, plot_confusion

    model, spec = load_pretrained(args.model_dir)
    grid = spec.grid
    dataset = open_dataset(args.dataset)
    indices = np.asarray(dataset.split_indices(args.split, args.part))
    if args.limit > 0:
        indices = indices[: args.limit]
    if indices.size == 0:
        raise XrdsymError(f"{args.dataset}: the {args.split} split has no {args.part} structures")
    train_indices = np.asarray(dataset.split_indices(args.split, "train"))
    # A lab test set draws its impurity phases from the evaluated structures themselves.
    pool = IndexedPeaks(dataset, indices) if args.renderer == "lab" else None
    renderer = make_renderer(args.renderer, impurity_pool=pool)
    results = evaluate(
        model,
        dataset,
        indices,
        grid,
        args.seed,
        train_indices=train_indices,
        renderer=renderer,
        progress=not args.no_progress,
    )
    results.update(
        {
            "model": str(args.model_dir),
            "architecture": spec.architecture,
            "dataset": str(args.dataset),
            "dataset_fingerprint": dataset.fingerprint(),
            "split": args.split,
            "part": args.part,
            "renderer": args.renderer,
        }
    )
    print(f"{args.model_dir} on {args.dataset} ({args.split} split, {args.part}, n={results['n']})")
    print("\n".join(summary_lines(results)))
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    if args.plot is not None:
        if "crystal_system_confusion" not in results:
            raise XrdsymError(f"{args.model_dir}: the model predicts no crystal system to plot")
        matrix = np.asarray(results["crystal_system_confusion"])
        plot_confusion(matrix, tuple(CRYSTAL_SYSTEMS), args.plot)
    return 0
