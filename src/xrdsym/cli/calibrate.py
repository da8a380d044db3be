"""``xrdsym calibrate MODEL_DIR``: per-level temperatures, conformal sets and ONNX export of a model
folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xrdsym.patterns.renderers import RENDERER_NAMES
from xrdsym.wavelengths import WAVELENGTH_HELP


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` sub-command."""
    parser = subparsers.add_parser(
        "calibrate",
        help="calibrate a model folder on held-out simulated patterns and export it to ONNX",
        description="Fit one temperature per level and the conformal prediction-set thresholds "
        "of a model folder on rendered patterns of the validation part of a dataset split, write "
        "them into its model.json and export model.onnx beside the weights (checked against "
        "torch to 1e-5). Re-run it whenever the weights change.",
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="model folder")
    parser.add_argument("--dataset", type=Path, required=True, help="dataset folder")
    parser.add_argument(
        "--split",
        default="structure_type",
        help="split whose val part is used (default: %(default)s)",
    )
    parser.add_argument(
        "--n-val", type=int, default=4000, help="validation patterns (default: %(default)s; 0: all)"
    )
    parser.add_argument(
        "--n-test",
        type=int,
        default=0,
        help="test patterns scored for the reliability table (default: %(default)s: none)",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.1, help="miscoverage of the sets (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="render seed (default: %(default)s)")
    parser.add_argument(
        "--renderer",
        choices=RENDERER_NAMES,
        default=None,
        help="pattern renderer (default: the one the model was trained with)",
    )
    parser.add_argument(
        "--measured",
        nargs="*",
        type=Path,
        default=[],
        metavar="LABELS.csv",
        help="labelled measured sets to score (file,space_group columns)",
    )
    parser.add_argument(
        "--wavelength",
        default="CuKa1",
        help=f"wavelength of the measured files, {WAVELENGTH_HELP} (overrides their own; "
        "default: %(default)s)",
    )
    parser.add_argument("--no-onnx", action="store_true", help="do not export model.onnx")
    parser.set_defaults(handler=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate, print the record's figures and write the model folder."""
    # deferred until called: imports torch, safetensors
    from xrdsym.training.calibration import calibrate_model, format_reliability

    record = calibrate_model(
        args.model_dir,
        args.dataset,
        split=args.split,
        n_val=args.n_val,
        n_test=args.n_test,
        alpha=args.alpha,
        seed=args.seed,
        renderer=args.renderer,
        measured=list(args.measured),
        measured_wavelength=args.wavelength,
        onnx=not args.no_onnx,
    )
    print("\n".join(format_reliability(record)))
    print(f"wrote {args.model_dir / 'model.json'}" + ("" if args.no_onnx else " and model.onnx"))
    return 0
