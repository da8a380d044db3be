"""``xrdsym ablation``: train one model without each laboratory-pattern family and score them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from xrdsym.cli.train import add_config_arguments, config_from_args
from xrdsym.errors import XrdsymError

#: README markers of the ablation table.
README_START = "<!-- ablation:start -->"
README_END = "<!-- ablation:end -->"


def register(subparsers: Any) -> None:
    """Add the ``ablation`` sub-command."""
    from xrdsym.study.ablation import ABLATION_FAMILIES

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ablation",
        help="train one model without each lab-pattern family; score on simulated and measured",
        description=(
            "Train the base config (renderer = 'lab') once with every family on, once without "
            "each family, and once with the paper protocol; score every model on the "
            "lab-rendered test part and on measured sets. Variants are trained one after "
            "another in ROOT/<variant>; running the same command again resumes."
        ),
    )
    add_config_arguments(parser, required=True)
    parser.add_argument("--root", type=Path, default=Path("runs/ablation"), help="run folders")
    parser.add_argument(
        "--families",
        nargs="*",
        default=list(ABLATION_FAMILIES),
        choices=list(ABLATION_FAMILIES),
        help="families to switch off one at a time (default: all)",
    )
    parser.add_argument(
        "--no-paper", action="store_true", help="leave out the paper-protocol variant"
    )
    parser.add_argument(
        "--repeat",
        nargs="*",
        default=[],
        metavar="VARIANT:SEED",
        help="train a variant again with another seed, e.g. all:1 (training noise)",
    )
    parser.add_argument(
        "--measured", nargs="*", type=Path, default=[], help="labels CSVs of measured sets"
    )
    parser.add_argument("--test-seed", type=int, default=0, help="seed of the rendered test set")
    parser.add_argument("--test-limit", type=int, default=0, help="first N test structures only")
    parser.add_argument("--output", type=Path, help="write all scores as JSON")
    parser.add_argument("--readme", type=Path, help="put the table between the ablation markers")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Train and score the variants, print the table, write the requested files."""
    from xrdsym.study.ablation import ablation_table, run_ablation
    from xrdsym.study.report import replace_section

    base = config_from_args(args)
    for labels in args.measured:
        if not labels.is_file():
            raise XrdsymError(f"{labels}: measured labels file not found")
    try:
        records = run_ablation(
            base,
            args.root,
            args.families,
            args.measured,
            paper=not args.no_paper,
            repeats=args.repeat,
            test_seed=args.test_seed,
            test_limit=args.test_limit,
            progress=not args.quiet,
        )
    except ValueError as exc:
        raise XrdsymError(f"{args.config}: {exc}") from None
    table = ablation_table(records)
    print("\n".join(table))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(records, indent=1) + "\n")
    if args.readme is not None:
        replace_section(args.readme, table, README_START, README_END)
    return 0
