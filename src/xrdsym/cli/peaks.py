"""``xrdsym peaks FILE...``: the lines of measured patterns, K-alpha2 and the powder verdict.

Each file is read with the pattern readers (any supported format); its wavelength comes from
``--override-wavelength``, else the file, else ``--wavelength``. A file that cannot be read
or searched is reported with its name and the batch goes on; the command then ends with
``N of M files failed`` and exit code 1. The powder verdict (:mod:`xrdsym.indexing.quality`)
is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from xrdsym.cli.csv_out import CsvOut
from xrdsym.cli.progress import batch_exit_code, progress_bar, report_failure
from xrdsym.cli.wavelength_options import (
    add_wavelength_options,
    file_wavelength,
    wavelength_choice,
)
from xrdsym.errors import XrdsymError
from xrdsym.io import read_pattern

#: Columns of the CSV output: one row per line of each file.
CSV_COLUMNS = (
    "file",
    "wavelength",
    "kalpha2",
    "verdict",
    "line",
    "two_theta",
    "d",
    "sigma",
    "height",
    "area",
    "fwhm",
)


def register(subparsers: Any) -> None:
    """Add the ``peaks`` sub-command."""
    parser = subparsers.add_parser(
        "peaks",
        help="find the lines of measured powder patterns",
        description="Background (SNIP), K-alpha2 detection and stripping, line positions with "
        "standard uncertainties, heights, areas and widths, and whether the scan is a powder "
        "pattern of a crystalline phase. Any supported format; unreadable files are reported "
        "and skipped (exit code 1).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="pattern files")
    add_wavelength_options(parser, "is reported as an error and the batch goes on")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per file per line (default: text)"
    )
    parser.add_argument(
        "--csv",
        metavar="OUT.csv",
        default=None,
        help="also write one row per line to this CSV file ('-': standard output)",
    )
    parser.add_argument(
        "--max-peaks", type=int, default=150, metavar="N", help="keep the N strongest lines"
    )
    parser.add_argument(
        "--min-snr",
        type=float,
        default=4.0,
        metavar="S",
        help="least line prominence in noise standard deviations",
    )
    parser.add_argument(
        "--kalpha2",
        choices=("auto", "strip", "off"),
        default="auto",
        help="K-alpha2: detect and strip when present, always strip, or leave",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown on a terminal for several files)",
    )
    parser.set_defaults(handler=run_peaks)


def search_file(
    name: str, args: argparse.Namespace, override: float | None, fallback: float | None
) -> dict[str, Any]:
    """Read one file, search its lines and judge it: the JSON-ready record.

    The wavelength is ``override`` when given, else the file's, else ``fallback``.

    Raises:
        XrdsymError: unreadable file, no wavelength, a stick pattern, a bad profile.
    """
    # deferred until called: imports spglib
    from xrdsym.classify.samples import looks_like_peak_list
    from xrdsym.indexing.peaks import PeakSearchOptions
    from xrdsym.indexing.quality import check_powder

    pattern = read_pattern(name)
    wavelength, origin = file_wavelength(pattern, override, fallback)
    if looks_like_peak_list(pattern.two_theta, pattern.intensity):
        raise XrdsymError(
            f"{name}: this looks like a peak list (uneven 2theta steps or isolated spikes), "
            "not a measured profile"
        )
    options = PeakSearchOptions(
        max_peaks=args.max_peaks, min_snr=args.min_snr, kalpha2=args.kalpha2
    )
    result, verdict = check_powder(
        pattern.two_theta, pattern.intensity, wavelength, options=options, source=name
    )
    record: dict[str, Any] = {"source": name, "wavelength_source": origin}
    record.update(result.to_dict())
    for line, peak in zip(record["peaks"], result.peaks, strict=True):
        line["d"] = round(peak.d_spacing(result.wavelength), 5)
    record["points"] = len(pattern)
    record["two_theta_range"] = [float(pattern.two_theta[0]), float(pattern.two_theta[-1])]
    record["powder"] = verdict is None
    record["verdict"] = None if verdict is None else verdict.to_dict()
    return record


def _origin(record: dict[str, Any]) -> str:
    """Where the wavelength came from, in words."""
    source = record["wavelength_source"]
    return "the file" if source == "file" else source


def format_record(record: dict[str, Any]) -> str:
    """The text report of one file: provenance, K-alpha2, verdict and the table of lines."""
    low, high = record["two_theta_range"]
    lines = [
        f"{record['source']}",
        f"  wavelength {record['wavelength']:g} A from {_origin(record)}; "
        f"{record['points']} points, 2theta {low:g}-{high:g} deg",
        f"  K-alpha2 {record['kalpha2']}; background {record['background']}; "
        f"noise {record['noise']:g}",
    ]
    lines += [f"  {event}" for event in record["events"]]
    verdict = record["verdict"]
    lines.append(
        "  powder pattern of a crystalline phase"
        if verdict is None
        else f"  not a powder pattern ({verdict['code']}): {verdict['reason']}"
    )
    lines.append(
        f"  {'#':>4} {'2theta':>9} {'d (A)':>9} {'sigma':>8} {'height':>11} {'area':>11} "
        f"{'fwhm':>7}"
    )
    for i, p in enumerate(record["peaks"], start=1):
        lines.append(
            f"  {i:>4} {p['two_theta']:9.4f} {p['d']:9.5f} {p['sigma']:8.4f} "
            f"{p['height']:11.1f} {p['area']:11.2f} {p['fwhm']:7.4f}"
        )
    lines.append(f"  {len(record['peaks'])} lines")
    return "\n".join(lines)


def csv_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One CSV row per line of a file (one row with empty line columns when none)."""
    verdict = record["verdict"]
    common = {
        "file": record["source"],
        "wavelength": record["wavelength"],
        "kalpha2": record["kalpha2"],
        "verdict": "powder" if verdict is None else verdict["code"],
    }
    rows = [{**common, "line": i, **p} for i, p in enumerate(record["peaks"], start=1)]
    return rows or [common]


def run_peaks(args: argparse.Namespace) -> int:
    """Search every file; report failures and go on."""
    if args.max_peaks < 1:
        raise XrdsymError("--max-peaks must be at least 1")
    if args.min_snr <= 0:
        raise XrdsymError("--min-snr must be positive")
    override, fallback = wavelength_choice(args)
    out = CsvOut(args.csv, CSV_COLUMNS)
    failures = 0
    bar = progress_bar(len(args.files), "file", args.no_progress or len(args.files) < 2)
    try:
        for name in args.files:
            try:
                record = search_file(name, args, override, fallback)
            except XrdsymError as exc:
                record, error = None, str(exc)
            except Exception as exc:  # noqa: BLE001 - one hostile file must not end the batch
                record, error = None, f"{name}: cannot be searched ({type(exc).__name__}: {exc})"
            bar.update(1)
            if record is None:
                failures += 1
                report_failure(bar, error)
                continue
            if args.json:
                print(json.dumps(record, allow_nan=False))
            elif args.csv != "-":
                print(format_record(record))
            out.write(csv_rows(record))
    finally:
        bar.close()
        out.close()
    return batch_exit_code(failures, len(args.files))
