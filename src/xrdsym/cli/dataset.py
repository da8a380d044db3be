"""``xrdsym dataset build|summary``: peak-list datasets from CIF sources and generated crystals."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from xrdsym.datasets.sources import BUILD_SOURCES, SOURCES
from xrdsym.errors import XrdsymError
from xrdsym.structures.tolerance import DEFAULT_SYMPREC


def register(subparsers: Any) -> None:
    """Add the ``dataset`` sub-command with ``build`` and ``summary``."""
    parser = subparsers.add_parser("dataset", help="build and inspect training datasets")
    actions = parser.add_subparsers(dest="dataset_command", required=True)

    build = actions.add_parser(
        "build",
        help="build (or resume) a peak-list dataset",
        description="Label structures with spglib, compute their peak lists and write shards; "
        "run again with the same settings to resume an interrupted build.",
    )
    build.add_argument("output", help="dataset folder")
    build.add_argument(
        "--cif",
        action="append",
        default=[],
        metavar="PATH",
        help="CIF file, folder of CIFs or CSV(.gz) table with a 'cif' column (repeatable)",
    )
    build.add_argument(
        "--generated-per-group",
        type=int,
        default=0,
        metavar="N",
        help="generated crystals requested per space group (default 0)",
    )
    build.add_argument(
        "--space-groups",
        default="1-230",
        help="groups to generate, e.g. '1-230' or '14,62,225' (default 1-230)",
    )
    build.add_argument(
        "--generator",
        choices=BUILD_SOURCES,
        default=BUILD_SOURCES[0],
        help="generator of the requested crystals: "
        + "; ".join(f"{name}: {SOURCES[name].summary}" for name in BUILD_SOURCES),
    )
    build.add_argument(
        "--statistics",
        default="",
        metavar="JSON",
        help="statistics file of the synthetic generator (default: the shipped one)",
    )
    build.add_argument(
        "--seed", type=int, default=0, help="seed of the generated crystals and of the splits"
    )
    build.add_argument(
        "--symprec",
        type=float,
        default=DEFAULT_SYMPREC,
        help=f"spglib tolerance in Angstrom (default {DEFAULT_SYMPREC})",
    )
    build.add_argument(
        "--shard-size",
        type=int,
        default=250,
        help="structures per shard, the unit of work and of resumption (default 250)",
    )
    build.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local worker processes (default: all cores)",
    )
    build.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (e.g. tcp://host:8786) to run on a cluster",
    )
    build.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown, with the number of shards and an ETA)",
    )
    build.set_defaults(handler=run_build)

    summary = actions.add_parser("summary", help="counts per label and split")
    summary.add_argument("dataset", help="dataset folder")
    summary.add_argument("--json", action="store_true", help="print JSON")
    summary.set_defaults(handler=run_summary)


def parse_space_groups(text: str) -> tuple[int, ...]:
    """Parse '1-230' or '14,62,200-206' into space-group numbers (validated 1-230)."""
    groups: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                groups.extend(range(low, high + 1))
            else:
                groups.append(int(part))
        except ValueError:
            raise XrdsymError(f"--space-groups: cannot read {part!r}") from None
    if not groups or min(groups) < 1 or max(groups) > 230:
        raise XrdsymError(f"--space-groups: {text!r} is not a set of numbers within 1-230")
    return tuple(groups)


def run_build(args: argparse.Namespace) -> int:
    """Build the dataset and print its report."""
    # deferred until called: imports spglib
    from xrdsym.datasets.build import BuildConfig, build_dataset

    if not args.cif and args.generated_per_group == 0:
        raise XrdsymError("nothing to build: give --cif PATH and/or --generated-per-group N")
    if args.workers < 1:
        raise XrdsymError(f"--workers must be at least 1, got {args.workers}")
    config = BuildConfig(
        cif_sources=tuple(args.cif),
        generated_per_group=args.generated_per_group,
        space_groups=parse_space_groups(args.space_groups),
        seed=args.seed,
        symprec=args.symprec,
        shard_size=args.shard_size,
        generator=args.generator,
        synthetic_statistics=args.statistics,
    )
    report = build_dataset(
        args.output,
        config,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(
        f"structures: {report['structures']}  duplicates: {report['duplicates']}  "
        f"skipped: {report['rejected']}"
    )
    for reason, count in report["rejected_reasons"].items():
        print(f"  skipped {count:>6}  {reason}")
    if report.get("rebuilt_shards"):
        print(f"damaged shards computed again: {', '.join(report['rebuilt_shards'])}")
    print(f"report with every skipped structure: {args.output}/report.json")
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print the counts of a finished dataset."""
    # deferred until called: imports spglib
    from xrdsym.datasets.store import open_dataset
    from xrdsym.datasets.summary import dataset_counts, format_counts

    counts = dataset_counts(open_dataset(args.dataset))
    print(json.dumps(counts, indent=2) if args.json else format_counts(counts))
    return 0
