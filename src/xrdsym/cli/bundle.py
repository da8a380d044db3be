"""``xrdsym bundle RUN``: make a finished run the packaged pretrained model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``bundle`` sub-command."""
    parser = subparsers.add_parser(
        "bundle", help="copy a finished run's weights and measured accuracies into a model folder"
    )
    parser.add_argument(
        "run", type=Path, help="finished run folder (model.safetensors, model.json)"
    )
    parser.add_argument("--output", type=Path, required=True, help="model folder to write")
    parser.add_argument(
        "--test",
        nargs="*",
        type=Path,
        default=[],
        help="'xrdsym evaluate --output' files of this model",
    )
    parser.add_argument(
        "--measured",
        nargs="*",
        type=Path,
        default=[],
        help="'xrdsym evaluate-measured --output' files of this model",
    )
    parser.add_argument("--description", default="", help="one-line description")
    parser.add_argument("--licence", default="MIT", help="licence of the weights (default MIT)")
    parser.add_argument(
        "--no-onnx",
        action="store_true",
        help="do not export model.onnx (default: export it and check it against torch to 1e-5)",
    )
    parser.set_defaults(handler=run_bundle)


def run_bundle(args: argparse.Namespace) -> int:
    """Write the bundled model folder."""
    # deferred until called: imports torch, safetensors
    from xrdsym.training.bundle import bundle_model

    bundle_model(
        args.run,
        args.output,
        list(args.test),
        list(args.measured),
        args.description,
        args.licence,
        onnx=not args.no_onnx,
    )
    print(f"wrote {args.output}")
    return 0
