"""``xrdsym index FILE...``: unit cells that index the lines of measured patterns.

Each file is read (any supported format) and indexed by
:func:`xrdsym.indexing.pattern.index_profile` (peak search, powder-quality gate, lattice search,
extinction scores: the pipeline ``xrdsym classify`` runs). The ranked candidate cells are
printed (text, JSON lines, CSV), or ``not indexable: <reason>``. A file that cannot be read
is reported with its name and the batch goes on; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xrdsym.cli.csv_out import CsvOut
from xrdsym.cli.progress import (
    add_file_batch_options,
    batch_exit_code,
    checked_jobs,
    progress_bar,
    report_failure,
)
from xrdsym.cli.wavelength_options import (
    add_wavelength_options,
    file_wavelength,
    wavelength_choice,
)
from xrdsym.errors import XrdsymError
from xrdsym.io import read_pattern
from xrdsym.parallel import ordered_map

if TYPE_CHECKING:
    from xrdsym.indexing.results import CellCandidate, IndexingResult

#: CSV columns, one row per candidate (or one row for a file with none).
CSV_FIELDS = (
    "file",
    "status",
    "reason",
    "rank",
    "bravais",
    "crystal_system",
    "a",
    "b",
    "c",
    "alpha",
    "beta",
    "gamma",
    "sigma_a",
    "sigma_b",
    "sigma_c",
    "sigma_alpha",
    "sigma_beta",
    "sigma_gamma",
    "reduced_a",
    "reduced_b",
    "reduced_c",
    "reduced_alpha",
    "reduced_beta",
    "reduced_gamma",
    "volume",
    "zero_shift",
    "m20",
    "f_n",
    "f_n_lines",
    "n_indexed",
    "n_lines",
    "probability",
    "seconds",
)

#: Largest |zero shift| accepted as a start, degrees 2theta (beyond it the scan's angles are
#: miscalibrated rather than offset).
MAX_ZERO_START = 1.0

#: Most zero-shift starts accepted (each costs about one lattice search).
MAX_ZERO_STARTS = 9


def register(subparsers: Any) -> None:
    """Add the ``index`` sub-command."""
    parser = subparsers.add_parser(
        "index",
        help="unit cell of a pattern from its peak positions",
        description="Find the peaks of each pattern file and the unit cells that index them "
        "(cubic to monoclinic from their own trials, every centring, then a zone search for a "
        "cell of any symmetry, triclinic included). Prints the ranked "
        "cells with their uncertainties, reduced cell, zero shift, M20, F_N and lines indexed, "
        "or 'not indexable' with the reason.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="pattern files")
    add_wavelength_options(parser, "is reported as an error and the batch goes on")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument(
        "--csv",
        metavar="OUT.csv",
        default=None,
        help="also write one row per candidate to this CSV file ('-': standard output)",
    )
    parser.add_argument(
        "--no-zone-search",
        dest="zone_search",
        action="store_false",
        help="skip the zone search for a cell of any symmetry (faster; triclinic cells and "
        "lattices the symmetric trials miss are then not found)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="time budget of the lattice search per file, seconds",
    )
    parser.add_argument(
        "--zero-starts",
        type=float,
        nargs="+",
        default=None,
        metavar="DEG",
        help=f"zero shifts (degrees 2theta, each within +-{MAX_ZERO_START:g}) the search "
        "starts from besides its own estimate, e.g. 0 -0.3 -0.45 for an instrument known to "
        "read low; each start costs about one more search (default: 0 0.15 -0.15, chosen on "
        "simulated patterns; the printed probability of a cell was fitted with them)",
    )
    parser.add_argument(
        "--candidates", type=int, default=3, metavar="N", help="cells printed per file"
    )
    add_file_batch_options(parser, "indexed")
    parser.set_defaults(handler=run_index)


def index_file(
    path: str, override: float | None, fallback: float | None, options: Any
) -> tuple[IndexingResult | None, str | None]:
    """(result, None), or (None, the error message naming the file): nothing escapes. The
    wavelength is ``override`` when given, else the file's, else ``fallback``."""
    # deferred until called: imports spglib
    from xrdsym.indexing.pattern import index_profile

    try:
        pattern = read_pattern(path)
        lam, _ = file_wavelength(pattern, override, fallback)
        result = index_profile(
            pattern.two_theta, pattern.intensity, lam, options=options, source=path
        )
        return result, None
    except XrdsymError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one hostile file must not end the batch
        return None, f"{path}: cannot be indexed ({type(exc).__name__}: {exc})"


def _cell_text(cell: tuple[float, ...], sigma: tuple[float, ...]) -> str:
    """a b c alpha beta gamma with their uncertainties, e.g. ``a=5.6012(4)``."""
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    return " ".join(f"{n}={_with_sigma(v, s)}" for n, v, s in zip(names, cell, sigma, strict=True))


def _with_sigma(value: float, sigma: float) -> str:
    """Value with its uncertainty in parentheses on the last digits (``5.6012(4)``)."""
    if not sigma > 1e-7 * max(abs(value), 1.0):
        return f"{value:.4f}"
    decimals = max(0, min(6, -math.floor(math.log10(sigma))))
    digits = round(sigma * 10**decimals)
    return f"{value:.{decimals}f}({digits})"


def format_candidate(rank: int, cand: CellCandidate) -> list[str]:
    """Text lines of one candidate."""
    reduced = " ".join(f"{x:.4f}" if i < 3 else f"{x:.3f}" for i, x in enumerate(cand.reduced_cell))
    return [
        f"  {rank}. {cand.bravais} {cand.crystal_system}: {_cell_text(cand.cell, cand.cell_sigma)}",
        f"     V={cand.volume:.2f} A^3  zero shift={cand.zero_shift:+.4f} deg  "
        f"M20={cand.m20:.1f}  F{cand.f_n_lines}={cand.f_n:.1f}  "
        f"{cand.n_indexed}/{cand.n_lines} lines indexed",
        f"     reduced cell: {reduced}",
    ]


def format_result(
    path: str,
    result: IndexingResult,
    n_candidates: int,
    cell_probabilities: Sequence[float] | None = None,
) -> str:
    """The text answer of one file: the ranked cells, or why none was accepted followed by the
    cells the search found (refused by the acceptance rule, shown for the user to check); each
    cell's fitted probability of being the right one when given (in rank order)."""
    n_peaks = len(result.peaks.peaks)
    searched = f"({n_peaks} lines, {result.seconds:.2f} s)"
    if result.status != "indexed":
        lines = [f"{path}: not indexable: {result.reason} {searched}"]
        if result.candidates:
            lines.append(
                "  candidates found, none accepted by the classical rule (check them against "
                "the lines):"
            )
    else:
        lines = [f"{path}: indexed {searched}"]
    probabilities = list(cell_probabilities or [])
    for rank, cand in enumerate(result.candidates[:n_candidates], start=1):
        lines.extend(format_candidate(rank, cand))
        if rank <= len(probabilities):
            note = (
                " (fitted on simulated validation patterns, from the lines alone; 'xrdsym "
                "classify' weighs each cell by it and the network's probability of its crystal "
                "system)"
                if rank == 1
                else ""
            )
            lines.append(f"     right with probability {probabilities[rank - 1]:.0%}{note}")
    return "\n".join(lines)


def bundled_weight() -> Any:
    """The bundled model's evidence weight, or None when it has none or it cannot be read (a
    warning naming the file and the problem goes to stderr; the cells are then printed without
    their probability)."""
    # deferred until called: the classify layer loads the model runtime lazily
    from xrdsym.classify.joint import read_evidence_weight
    from xrdsym.classify.loading import bundled_model_dir
    from xrdsym.errors import ModelFileError

    try:
        return read_evidence_weight(bundled_model_dir())
    except ModelFileError as exc:
        print(f"warning: {exc}; cells are printed without their probability", file=sys.stderr)
        return None


def csv_rows(
    path: str,
    result: IndexingResult,
    n_candidates: int,
    cell_probabilities: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """CSV rows of one file: one per candidate (with its fitted probability of being the right
    cell, when given), or one empty row when there is none."""
    base: dict[str, Any] = {"file": path, "status": result.status, "reason": result.reason}
    base["seconds"] = round(result.seconds, 3)
    if not result.candidates:
        return [base]
    rows = []
    for rank, cand in enumerate(result.candidates[:n_candidates], start=1):
        row = dict(base, rank=rank, bravais=cand.bravais, crystal_system=cand.crystal_system)
        for i, name in enumerate(("a", "b", "c", "alpha", "beta", "gamma")):
            row[name] = round(cand.cell[i], 5)
            row[f"sigma_{name}"] = round(cand.cell_sigma[i], 5)
            row[f"reduced_{name}"] = round(cand.reduced_cell[i], 5)
        row.update(
            volume=round(cand.volume, 3),
            zero_shift=round(cand.zero_shift, 5),
            m20=round(cand.m20, 2),
            f_n=round(cand.f_n, 2),
            f_n_lines=cand.f_n_lines,
            n_indexed=cand.n_indexed,
            n_lines=cand.n_lines,
        )
        if cell_probabilities is not None and rank <= len(cell_probabilities):
            row["probability"] = round(float(cell_probabilities[rank - 1]), 4)
        rows.append(row)
    return rows


def _index_job(
    job: tuple[str, tuple[float | None, float | None], Any],
) -> tuple[IndexingResult | None, str | None]:
    """Worker: :func:`index_file` of (path, wavelengths, options)."""
    path, wavelengths, options = job
    return index_file(path, *wavelengths, options)


def _results(
    files: list[str], wavelengths: tuple[float | None, float | None], options: Any, jobs: int
) -> Iterator[tuple[str, IndexingResult | None, str | None]]:
    """(file, result, error) in the order of ``files``, on ``jobs`` processes."""
    work = [(path, wavelengths, options) for path in files]
    for (path, _, _), (result, error) in ordered_map(_index_job, work, min(jobs, len(files))):
        yield path, result, error


def checked_zero_starts(starts: Sequence[float]) -> tuple[float, ...]:
    """``--zero-starts`` as given, or XrdsymError naming the problem."""
    if len(starts) > MAX_ZERO_STARTS:
        raise XrdsymError(
            f"--zero-starts takes at most {MAX_ZERO_STARTS} values, got {len(starts)}"
        )
    wrong = [z for z in starts if not math.isfinite(z) or abs(z) > MAX_ZERO_START]
    if wrong:
        raise XrdsymError(
            f"--zero-starts: {wrong[0]:g} is not a zero shift within +-{MAX_ZERO_START:g} degrees"
        )
    return tuple(float(z) for z in starts)


def run_index(args: argparse.Namespace) -> int:
    """Index every file; report failures and go on."""
    # deferred until called: imports spglib
    from xrdsym.indexing.lattice import IndexingOptions

    if args.max_seconds <= 0:
        raise XrdsymError("--max-seconds must be positive")
    if args.candidates < 1:
        raise XrdsymError("--candidates must be at least 1")
    checked_jobs(args.jobs)
    options = IndexingOptions(triclinic=args.zone_search, max_seconds=args.max_seconds)
    if args.zero_starts is not None:
        options = replace(options, zero_starts=checked_zero_starts(args.zero_starts))
    out = CsvOut(args.csv, CSV_FIELDS)
    weight = bundled_weight()
    failures = 0
    bar = progress_bar(len(args.files), "file", args.no_progress or len(args.files) < 2)
    try:
        wavelengths = wavelength_choice(args)
        for path, result, error in _results(list(args.files), wavelengths, options, args.jobs):
            bar.update(1)
            if result is None:
                failures += 1
                report_failure(bar, error)
                continue
            probabilities = None if weight is None else weight.cell_probabilities(result).tolist()
            if args.json:
                first = probabilities[0] if probabilities else None
                record = {"file": path, **result.to_dict(), "cell_probability": first}
                print(json.dumps({**record, "cell_probabilities": probabilities}))
            elif args.csv != "-":
                bar.write(format_result(path, result, args.candidates, probabilities))
            out.write(csv_rows(path, result, args.candidates, probabilities))
    finally:
        bar.close()
        out.close()
    return batch_exit_code(failures, len(args.files))
