"""Survey of measured pattern sets: the fit of every pattern with its CIF, and a plain
description (range, step, background, peaks) of patterns without a structure.

Run as ``python -m research.survey xred DIR [--figures DIR] [--json FILE]`` (fits every
row of DIR/labels.csv, prints Markdown tables of the fits and of the ranges) or
``python -m research.survey describe FILE...`` (prints a Markdown table of the scans).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from research.gap.background import estimate_background, median_step
from research.gap.compare import compare
from research.gap.refine import initial_fwhm
from research.gap.result import FitOptions, GapFit
from xrdsym.io import read_pattern
from xrdsym.io.pattern import Pattern

#: A local maximum counts as a peak when it rises, and stands out (prominence), this many
#: noise standard deviations sqrt(g B) above the background B (g: noise gain, see
#: :func:`noise_gain_mad`); smaller bumps are noise at any count level ...
PEAK_SIGMA = 5.0

#: ... and at least this fraction of the strongest peak (hides noise spikes on huge peaks).
PEAK_MIN_FRACTION = 0.01


@dataclass(frozen=True)
class ScanDescription:
    """Plain facts about a measured scan.

    Attributes:
        source: file name.
        two_theta_min, two_theta_max, step: range and median step in degrees.
        n_points: number of points.
        max_counts: largest intensity.
        background_median: median SNIP background / strongest net peak height.
        background_max: largest background / strongest net peak height.
        n_peaks: local maxima PEAK_SIGMA noise standard deviations above the background (in
            height and prominence) and at least PEAK_MIN_FRACTION of the strongest.
        noise_gain: g of :func:`noise_gain_mad`.
        strongest_two_theta: position of the strongest net peak, degrees.
        strongest_fwhm: its full width at half maximum, degrees.
        integer_counts: every intensity is a whole number (raw counts rather than scaled).
    """

    source: str
    two_theta_min: float
    two_theta_max: float
    step: float
    n_points: int
    max_counts: float
    background_median: float
    background_max: float
    n_peaks: int
    strongest_two_theta: float
    strongest_fwhm: float
    integer_counts: bool
    noise_gain: float


def describe_scan(pattern: Pattern) -> ScanDescription:
    """Range, step, background level and peak count of a measured scan (see the attributes)."""
    x, y = pattern.two_theta, pattern.intensity
    background = estimate_background(x, y)
    net = y - background
    top = int(np.argmax(net))
    height = float(net[top])
    sigma = np.sqrt(noise_gain_mad(y) * np.maximum(background, 1.0))
    threshold = np.maximum(PEAK_SIGMA * sigma, PEAK_MIN_FRACTION * height)
    fwhm = initial_fwhm(x, net)
    distance = max(1, int(round(0.5 * fwhm / median_step(x))))
    maxima, _ = find_peaks(net, height=threshold, prominence=threshold, distance=distance)
    return ScanDescription(
        source=Path(pattern.source).name,
        two_theta_min=float(x[0]),
        two_theta_max=float(x[-1]),
        step=median_step(x),
        n_points=len(pattern),
        max_counts=float(y.max()),
        background_median=float(np.median(background)) / height,
        background_max=float(background.max()) / height,
        n_peaks=int(maxima.shape[0]),
        strongest_two_theta=float(x[top]),
        strongest_fwhm=fwhm,
        integer_counts=bool(np.all(y == np.round(y))),
        noise_gain=noise_gain_mad(y),
    )


def noise_gain_mad(counts: np.ndarray) -> float:
    """Noise gain g from the second differences d_i = y_i - (y_{i-1} + y_{i+1}) / 2 of the
    whole scan: Var(d) = 1.5 g y for Poisson counts scaled by g, and the median absolute
    deviation (times 1.4826 for a normal distribution) ignores the few points on peak flanks:
    g = (1.4826 MAD(d))^2 / (1.5 median(y)); 1 for raw counts."""
    y = np.asarray(counts, dtype=np.float64)
    d = y[1:-1] - 0.5 * (y[:-2] + y[2:])
    mad = float(np.median(np.abs(d - np.median(d))))
    level = max(float(np.median(y)), 1.0)
    return max((1.4826 * mad) ** 2 / (1.5 * level), 1e-6)


def read_labels(folder: Path) -> list[tuple[Path, Path]]:
    """(pattern, CIF) paths of every row of ``folder/labels.csv`` (columns ``file``, ``cif``)."""
    with (folder / "labels.csv").open(newline="") as handle:
        return [(folder / row["file"], folder / row["cif"]) for row in csv.DictReader(handle)]


def survey_folder(folder: Path, options: FitOptions | None = None) -> list[GapFit]:
    """Fit every pattern of ``folder/labels.csv`` with its CIF (Cu K-alpha1 unless stated)."""
    chosen = options if options is not None else FitOptions()
    return [compare(cif, pattern, options=chosen) for pattern, cif in read_labels(folder)]


def _cell(value: float | None, spec: str) -> str:
    """A table cell: ``value`` formatted, or ``-`` when missing or not finite."""
    if value is None or not np.isfinite(value):
        return "-"
    return format(value, spec)


def fit_table(fits: Sequence[GapFit]) -> str:
    """Markdown table, one row per fit: scan, shifts, widths, eta, K-alpha2, background,
    counts, Rwp, ratio spread, angle trend, March-Dollase and the number of warnings."""
    header = (
        "| pattern | range (deg) | step | zero (deg) | strain | FWHM 30/60/90 (deg) | eta "
        "| Ka2 ratio | bg max | peak counts | gain | Rwp free / sim / exp | log10 spread "
        "| dB (A^2) | March-Dollase | warnings |"
    )
    lines = [header, "|" + "---|" * 16]
    for fit in fits:
        s = fit.summary()
        md = s["texture"]
        texture = (
            f"{''.join(str(i) for i in md['direction'])} r={md['ratio']:.2f} "
            f"({md['spread_before']:.2f}->{md['spread_after']:.2f})"
            if md
            else "-"
        )
        ka2 = f"{s['ka2_ratio']:.2f}" + ("" if s["ka2_resolved"] else " (unres.)")
        widths = "/".join(_cell(s[f"fwhm_{a}"], ".3f") for a in (30, 60, 90))
        lines.append(
            f"| {Path(fit.source).stem} | {s['two_theta_min']:.0f}-{s['two_theta_max']:.0f} "
            f"| {s['step']:.3f} | {s['zero_shift']:+.3f} | {s['cell_strain']:+.4f} | {widths} "
            f"| {s['eta']:.2f} | {ka2} | {_cell(s['background_level'], '.3f')} "
            f"| {s['peak_counts']:.0f} | {_cell(s['noise_gain'], '.2f')} "
            f"| {_cell(s['rwp_free'], '.3f')} / {_cell(s['rwp_simulated'], '.3f')} / "
            f"{_cell(s['r_expected'], '.3f')} | {_cell(s['ratio_log_spread'], '.2f')} "
            f"| {_cell(s['delta_b'], '+.1f')} | {texture} | {len(s['warnings'])} |"
        )
    return "\n".join(lines)


def describe_table(descriptions: Sequence[ScanDescription]) -> str:
    """Markdown table of scan descriptions."""
    lines = [
        "| file | range (deg) | step | points | max counts | bg median / max | peaks "
        "| strongest at (FWHM) | integer counts | noise gain |",
        "|" + "---|" * 10,
    ]
    for d in descriptions:
        lines.append(
            f"| {d.source} | {d.two_theta_min:.1f}-{d.two_theta_max:.1f} | {d.step:.4f} "
            f"| {d.n_points} | {d.max_counts:.0f} | {d.background_median:.3f} / "
            f"{d.background_max:.3f} | {d.n_peaks} | {d.strongest_two_theta:.2f} "
            f"({d.strongest_fwhm:.3f}) | {'yes' if d.integer_counts else 'no'} "
            f"| {d.noise_gain:.2f} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    """Command line of ``python -m research.survey``."""
    parser = argparse.ArgumentParser(prog="python -m research.survey")
    sub = parser.add_subparsers(dest="mode", required=True)
    xred = sub.add_parser("xred", help="fit every pattern of DIR/labels.csv with its CIF")
    xred.add_argument("folder", type=Path)
    xred.add_argument("--figures", type=Path, help="save a grid figure of the fits here (PNG)")
    xred.add_argument(
        "--select", nargs="+", metavar="NAME", help="pattern stems shown in --figures (default all)"
    )
    xred.add_argument(
        "--summary-figure",
        type=Path,
        help="save FWHM curves vs PAPER_RANGES and the intensity ratios here (PNG)",
    )
    xred.add_argument("--json", type=Path, help="write one JSON summary per line here")
    describe = sub.add_parser("describe", help="describe scans without a structure")
    describe.add_argument("files", nargs="+", type=Path)
    describe.add_argument("--figure", type=Path, help="save the scans as a PNG here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the Markdown tables of a survey; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.mode == "describe":
        patterns = [read_pattern(f) for f in args.files]
        print(describe_table([describe_scan(p) for p in patterns]))
        if args.figure is not None:
            from research.gap.figures import plot_scans

            plot_scans(patterns, args.figure)
        return 0
    fits = survey_folder(args.folder)
    print(fit_table(fits))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text("".join(json.dumps(f.summary()) + "\n" for f in fits))
    if args.figures is not None:
        from research.gap.figures import plot_gap_grid

        shown = [f for f in fits if args.select is None or Path(f.source).stem in args.select]
        plot_gap_grid(shown, args.figures, columns=2)
    if args.summary_figure is not None:
        from research.gap.figures import plot_width_summary
        from xrdsym.patterns.profile_params import PAPER_RANGES

        plot_width_summary(fits, args.summary_figure, PAPER_RANGES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
