"""``xrdsym train``: train a registered model on patterns rendered from a peak-list dataset."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xrdsym.errors import XrdsymError

if TYPE_CHECKING:
    from xrdsym.training.config import TrainConfig

#: Parent folder of run folders when ``--run-dir`` is not given.
DEFAULT_RUNS_DIR = Path("runs")


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a CNN on rendered patterns (resumable; torchrun for several processes)",
        description=(
            "Train a registered model. Settings come from a TOML/JSON config, overridden by "
            "--set key=value (dotted keys edit tables, e.g. tasks.crystal_system=0.3). "
            "An existing run folder is resumed from its last checkpoint unless --no-resume."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--run-dir", type=Path, help="run folder (default: runs/<config name or model>)"
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="start afresh even if a checkpoint exists"
    )
    parser.add_argument(
        "--force-resume",
        action="store_true",
        help="resume even though settings or the dataset changed since the checkpoint "
        "(the change is recorded under 'resumes' in config.json)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def add_config_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--config FILE`` and repeatable ``--set KEY=VALUE`` (read by :func:`config_from_args`)."""
    parser.add_argument(
        "--config", type=Path, required=required, help="TOML or JSON training config"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option (repeatable); VALUE is JSON or a plain string",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The validated training config of ``--config`` and ``--set``; it must name a dataset.

    Raises:
        XrdsymError: a missing config file, an invalid option, or no dataset.
    """
    # deferred until called: imports torch, safetensors
    from xrdsym.training import load_config

    if args.config is not None and not args.config.is_file():
        raise XrdsymError(f"{args.config}: training config file not found")
    try:
        config = load_config(args.config, args.overrides)
    except ValueError as exc:
        raise XrdsymError(f"{args.config or 'training options'}: {exc}") from None
    if not config.dataset:
        raise XrdsymError("no dataset: set 'dataset' in the config or --set dataset=PATH")
    return config


def run(args: argparse.Namespace) -> int:
    """Load the config, train, and print where the model and its history are."""
    # deferred until called: imports torch, safetensors
    from xrdsym.training import train

    config = config_from_args(args)
    name = args.config.stem if args.config is not None else config.model
    run_dir = args.run_dir or DEFAULT_RUNS_DIR / name
    try:
        result = train(
            config,
            run_dir,
            resume=not args.no_resume,
            progress=not args.quiet,
            force_resume=args.force_resume,
        )
    except XrdsymError:
        raise
    except ValueError as exc:
        raise XrdsymError(f"{run_dir}: {exc}") from None
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    last = result.history[-1] if result.history else {}
    scores = ", ".join(
        f"{key.removeprefix('val_top1_')} {value:.3f}"
        for key, value in last.items()
        if key.startswith("val_top1_")
    )
    print(
        f"{run_dir}: {result.stop_reason} after {result.step} steps, "
        f"{result.patterns_seen} patterns, {result.wall_seconds:.0f} s; val top-1: {scores}"
    )
    return 0
