"""``xrdsym classify FILE...``: crystal system, extinction group and space group of patterns."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from xrdsym.errors import XrdsymError


def register(subparsers: Any) -> None:
    """Add the ``classify`` sub-command."""
    parser = subparsers.add_parser(
        "classify",
        help="classify measured powder patterns",
        description="Classify powder patterns (.xy, .xye, .dat, .csv, .xrdml, .ras, .brml, "
        ".raw, .gsa/.fxye). Files that cannot be read are reported and skipped; the exit "
        "code is 1 when any file failed.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--top-k", type=int, default=3, metavar="K")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        help="save a figure of the pattern and the top predictions "
        "(with several files: OUT-<stem>.png)",
    )
    parser.add_argument(
        "--wavelength",
        default=None,
        metavar="W",
        help="CuKa, MoKa, CoKa, CrKa, FeKa, AgKa or Angstrom; "
        "default: from the file, else an error",
    )
    parser.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="model folder (default: the bundled pretrained model)",
    )
    parser.set_defaults(handler=run_classify)


def format_prediction(prediction: Any) -> str:
    """A short human-readable table of one prediction."""
    lines = [f"{prediction.source}"]
    lines.append(
        "  crystal system      "
        + "  ".join(f"{s.label} {s.probability:.2f}" for s in prediction.crystal_system)
    )
    lines.append(
        "  extinction group    "
        + "  ".join(
            f"#{s.index} (SG {','.join(map(str, s.space_groups[:4]))}"
            f"{',...' if len(s.space_groups) > 4 else ''}) {s.probability:.2f}"
            for s in prediction.extinction_group
        )
    )
    lines.append(
        "  space group         "
        + "  ".join(f"{s.number} {s.symbol} {s.probability:.2f}" for s in prediction.space_group)
    )
    return "\n".join(lines)


def plot_path(option: str, source: Path, several: bool) -> Path:
    """Where to save the figure of ``source``."""
    out = Path(option)
    return out.with_name(f"{out.stem}-{source.stem}{out.suffix or '.png'}") if several else out


def run_classify(args: argparse.Namespace) -> int:
    """Classify every file; report failures and go on."""
    from xrdsym.classify import load_model

    if args.top_k < 1:
        raise XrdsymError("--top-k must be at least 1")
    classifier = load_model(args.model)
    failures = 0
    for name in args.files:
        path = Path(name)
        try:
            prepared, p_space_group = classify_one(classifier, path, args.wavelength)
        except XrdsymError as exc:
            failures += 1
            print(f"xrdsym: error: {exc}", file=sys.stderr)
            continue
        prediction = classifier.predict(p_space_group, args.top_k, str(path))
        if args.json:
            print(json.dumps(prediction.to_dict()))
        else:
            print(format_prediction(prediction))
        if args.plot:
            from xrdsym.plotting import plot_prediction

            plot_prediction(
                prepared,
                classifier.grid,
                prediction,
                plot_path(args.plot, path, len(args.files) > 1),
            )
    if failures:
        print(f"xrdsym: {failures} of {len(args.files)} files failed", file=sys.stderr)
    return 1 if failures else 0


def classify_one(classifier: Any, path: Path, wavelength: str | None) -> tuple[Any, Any]:
    """Read, prepare and classify one file: (prepared pattern, space-group probabilities)."""
    prepared = classifier.prepare_file(path, wavelength)
    return prepared, classifier.predict_proba_prepared(prepared.values)[0]
