"""``xrdsym report``: results file, learning curves and the README results section."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report", help="write results.json, learning curves and the README results section"
    )
    parser.add_argument("runs", nargs="*", type=Path, help="finished run folders")
    parser.add_argument(
        "--recorded",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="start from the runs recorded in a results.json written earlier",
    )
    parser.add_argument(
        "--measured",
        nargs="*",
        type=Path,
        default=[],
        help="JSON files written by 'xrdsym evaluate-measured --output'",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("results"),
        help="folder of results.json and learning_curves.png",
    )
    parser.add_argument(
        "--readme", type=Path, default=None, help="README to update between the results markers"
    )
    parser.add_argument(
        "--model-card",
        type=Path,
        default=None,
        metavar="MODEL_DIR",
        help="end the section with the model card of this model folder",
    )
    parser.add_argument(
        "--section",
        default="results",
        metavar="NAME",
        help="README section between <!-- NAME:start --> and <!-- NAME:end --> (default results)",
    )
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Write the report files."""
    from xrdsym.errors import XrdsymError
    from xrdsym.study.report import write_report

    if not args.runs and args.recorded is None:
        raise XrdsymError("give run folders, --recorded RESULTS_JSON, or both")
    if args.recorded is not None and not args.recorded.is_file():
        raise XrdsymError(f"{args.recorded}: results file not found")
    for run in args.runs:
        if not (run / "model.json").is_file():
            raise XrdsymError(f"{run}: not a finished run (no model.json)")
    write_report(
        list(args.runs),
        list(args.measured),
        args.output_dir,
        args.readme,
        args.model_card,
        recorded=args.recorded,
        section_name=args.section,
    )
    print(f"wrote {args.output_dir / 'results.json'} and {args.output_dir / 'learning_curves.png'}")
    return 0
