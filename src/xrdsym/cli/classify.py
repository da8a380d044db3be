"""``xrdsym classify FILE...``: crystal system, extinction group and space group of patterns.

Each file is read and prepared on its own: whatever goes wrong with one (an unreadable or
hostile file, an unexpected exception in a reader) is reported with its name and the batch goes
on; the command then ends with ``N of M files failed`` and exit code 1. Files are classified in
chunks of :data:`CHUNK` with one batched forward pass each.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from xrdsym.classify import load_model
from xrdsym.classify.samples import read_sample
from xrdsym.cli.progress import (
    add_file_batch_options,
    batch_exit_code,
    checked_jobs,
    progress_bar,
    report_failure,
)
from xrdsym.cli.wavelength_options import add_wavelength_options, wavelength_choice
from xrdsym.errors import XrdsymError
from xrdsym.plotting import require_matplotlib, save_figure

#: Files read and classified per forward pass.
CHUNK = 64


def register(subparsers: Any) -> None:
    """Add the ``classify`` sub-command."""
    parser = subparsers.add_parser(
        "classify",
        help="classify measured powder patterns",
        description="Classify powder patterns (.xy, .xye, .dat, .txt, .csv, .xrdml, .ras, "
        ".rasx, .uxd, .brml, .raw, .gsa/.fxye). Files that cannot be read are reported and "
        "skipped; the exit code is 1 when any file failed.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="pattern files")
    parser.add_argument(
        "--top-k", type=int, default=3, metavar="K", help="answers per level (default: 3)"
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per file per line (default: text)"
    )
    parser.add_argument(
        "--csv",
        metavar="OUT.csv",
        default=None,
        help="also write one row per file to this CSV file ('-': standard output)",
    )
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        help="save a figure of the scan and the answers (with several files: OUT-<stem>.png)",
    )
    parser.add_argument(
        "--sqrt", action="store_true", help="square-root intensity scale in the figure"
    )
    add_wavelength_options(parser, "is reported and skipped")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="P",
        help="abstain at each level whose top probability is below P (default: never)",
    )
    parser.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="model folder (default: the bundled pretrained model)",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="inference backend (default: auto, ONNX Runtime when model.onnx is current)",
    )
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="the network alone: no peak search, indexing or extinction analysis",
    )
    add_file_batch_options(parser, "indexed")
    parser.set_defaults(handler=run_classify)


def plot_path(option: str, source: Path, several: bool) -> Path:
    """Where to save the figure of ``source``."""
    out = Path(option)
    return out.with_name(f"{out.stem}-{source.stem}{out.suffix or '.png'}") if several else out


def read_isolated(
    classifier: Any, name: str, override: float | None, fallback: float | None
) -> tuple[Any, str | None]:
    """(sample, None) or (None, the error message naming the file): nothing escapes.

    ``override`` replaces the file's wavelength; ``fallback`` is used where it states none.
    """
    try:
        sample = read_sample(name, classifier.grid, override, fallback, origin="command line")
        return sample, None
    except XrdsymError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one hostile file must not end the batch
        return None, f"{name}: cannot be read ({type(exc).__name__}: {exc})"


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Outputs:
    """Where answers go: standard output (text or JSON lines), a CSV file, figures."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.csv_handle: TextIO | None = None
        self.csv_writer: Any = None

    def write(self, classifier: Any, sample: Any, prediction: Any) -> None:
        """Print one answer and save its CSV row and figure."""
        if self.args.json:
            print(json.dumps(prediction.to_dict(), allow_nan=False))
        elif self.args.csv != "-":
            print(prediction)
        if self.args.csv:
            self._csv_row(prediction.summary_row())
        if self.args.plot:
            figure = classifier.figure(prediction, sample, sqrt=self.args.sqrt)
            out = plot_path(self.args.plot, Path(prediction.source), len(self.args.files) > 1)
            save_figure(figure, out)

    def _csv_row(self, row: dict[str, Any]) -> None:
        """Append a row, opening the file (and writing the header) on the first."""
        if self.csv_writer is None:
            if self.args.csv == "-":
                self.csv_handle = sys.stdout
            else:
                try:
                    # kept open across chunks, closed in close()
                    self.csv_handle = Path(self.args.csv).open("w", newline="")  # noqa: SIM115
                except OSError as exc:
                    raise XrdsymError(f"{self.args.csv}: cannot write ({exc.strerror})") from None
            self.csv_writer = csv.DictWriter(self.csv_handle, fieldnames=list(row))
            self.csv_writer.writeheader()
        self.csv_writer.writerow(row)

    def close(self) -> None:
        """Close the CSV file."""
        if self.csv_handle is not None and self.csv_handle is not sys.stdout:
            self.csv_handle.close()


def run_classify(args: argparse.Namespace) -> int:
    """Classify every file; report failures and go on."""
    if args.top_k < 1:
        raise XrdsymError("--top-k must be at least 1")
    checked_jobs(args.jobs)
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise XrdsymError("--min-confidence must be between 0 and 1")
    if args.plot:
        require_matplotlib()
    override, fallback = wavelength_choice(args)
    classifier = load_model(args.model, backend=args.backend)
    outputs = _Outputs(args)
    failures = 0
    bar = progress_bar(len(args.files), "file", args.no_progress or len(args.files) < 2)
    try:
        for names in chunks(list(args.files), CHUNK):
            samples = []
            for name in names:
                sample, error = read_isolated(classifier, name, override, fallback)
                bar.update(1)
                if error is not None:
                    failures += 1
                    report_failure(bar, error)
                    continue
                samples.append(sample)
            answers = classifier.classify_each(
                samples, args.top_k, args.min_confidence, not args.no_index, args.jobs
            )
            for sample, prediction in zip(samples, answers, strict=True):
                if isinstance(prediction, XrdsymError):
                    failures += 1
                    report_failure(bar, prediction)
                    continue
                outputs.write(classifier, sample, prediction)
    finally:
        bar.close()
        outputs.close()
    return batch_exit_code(failures, len(args.files))
