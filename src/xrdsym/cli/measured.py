"""``xrdsym evaluate-measured LABELS.csv``: accuracy on labelled measured patterns."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from xrdsym.wavelengths import WAVELENGTH_HELP


def register(subparsers: Any) -> None:
    """Add the ``evaluate-measured`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate-measured",
        help="accuracy on measured patterns listed in a labels CSV (file, space_group)",
    )
    parser.add_argument("labels", nargs="+", help="CSV files with columns file, space_group")
    parser.add_argument("--model", default=None, help="model folder (default: bundled)")
    parser.add_argument(
        "--dataset",
        required=True,
        help="dataset whose training part gives the label-frequency floor",
    )
    parser.add_argument(
        "--split", default=None, help="split of that dataset (default: the model's training split)"
    )
    parser.add_argument(
        "--wavelength",
        default="CuKa1",
        help=f"wavelength of the measured files, {WAVELENGTH_HELP} (overrides their own)",
    )
    parser.add_argument("--output", default=None, help="write the results as JSON")
    parser.add_argument(
        "--name", default=None, help="the model's name in reports (default: its folder name)"
    )
    parser.set_defaults(handler=run_measured)


def run_measured(args: argparse.Namespace) -> int:
    """Classify every labelled file and print accuracies beside the floor."""
    # deferred until called: imports spglib
    from xrdsym.classify import load_model
    from xrdsym.datasets.store import open_dataset
    from xrdsym.training.measured import format_measured, score_measured_sets

    classifier = load_model(args.model)
    split = args.split or classifier.spec.record.get("training_data", {}).get("split", "random")
    dataset = open_dataset(args.dataset)
    results = score_measured_sets(classifier, args.labels, dataset, split, args.wavelength)
    for result in results:
        result["floor_split"] = split
        result["model"] = classifier.spec.architecture
        result["model_dir"] = str(args.model) if args.model else "bundled"
        result["name"] = args.name or Path(result["model_dir"]).name
        print(format_measured(result))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0
