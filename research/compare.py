"""``python -m research.compare STRUCTURE.cif PATTERN``: fit a measured pattern with its
structure's peaks.

Prints what separates the measurement from the simulation: zero offset, cell change, Caglioti
U, V, W and the FWHM they give, pseudo-Voigt eta, K-alpha2, background level, noise and the
intensity agreement (Rwp, spread of the measured/simulated peak ratios, March-Dollase fit).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from research.command import run_command
from xrdsym.cli.wavelength_options import add_wavelength_options, wavelength_choice
from xrdsym.wavelengths import CU_KA1


def register(subparsers: Any) -> None:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare",
        help="fit a measured pattern with the simulated peaks of its structure",
        description="Fit a measured powder pattern with the simulated peak list of a CIF "
        "(K-alpha1, graphite monochromator): zero offset, cell change, Caglioti widths, "
        "pseudo-Voigt eta, K-alpha2 ratio, background and per-peak intensity ratios.",
    )
    parser.add_argument("structure", metavar="STRUCTURE.cif")
    parser.add_argument("pattern", metavar="PATTERN")
    add_wavelength_options(parser, "is read at CuKa1")
    parser.add_argument("--plot", metavar="OUT.png", help="save measured vs fitted simulation")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--background", choices=("snip", "als"), default="snip", help="background estimator"
    )
    parser.add_argument(
        "--displacement", action="store_true", help="also fit a specimen displacement"
    )
    parser.set_defaults(handler=run_compare)


def _fmt(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``n/a`` for None."""
    return "n/a" if value is None else format(value, spec)


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable report of :meth:`research.gap.result.GapFit.summary`."""
    s = summary
    ka2 = {True: "yes", False: "no", None: "undetermined"}[s["ka2_present"]]
    extrapolated = s["fwhm_extrapolated"]
    lines = [
        f"{s['source']}  vs  {s['structure']}",
        f"  scan             {s['two_theta_min']:.2f}-{s['two_theta_max']:.2f} deg, "
        f"step {s['step']:.4f} deg, {s['n_points']} points, lambda {s['wavelength']:.5f} A",
        f"  zero shift       {s['zero_shift']:+.4f} deg",
        f"  cell strain      {s['cell_strain']:+.4f} (isotropic), anisotropic "
        f"{', '.join(f'{p:+.4f}' for p in s['metric']) or 'none'}",
        f"  Caglioti         U {s['u']:.4g}  V {s['v']:.4g}  W {s['w']:.4g} deg^2",
        f"  FWHM             {_fmt(s['fwhm_30'], '.3f')} / {_fmt(s['fwhm_60'], '.3f')} / "
        f"{_fmt(s['fwhm_90'], '.3f')} deg at 30 / 60 / 90 deg"
        + (
            f" (extrapolated at {', '.join(f'{a:g}' for a in extrapolated)})"
            if extrapolated
            else ""
        ),
        f"  eta              {s['eta']:.3f}",
        f"  K-alpha2         ratio {s['ka2_ratio']:.3f}, present: {ka2}",
        f"  background       max {_fmt(s['background_level'], '.3f')}, start "
        f"{_fmt(s['background_start'], '.3f')}, end {_fmt(s['background_end'], '.3f')} "
        "of the strongest peak",
        f"  counts           strongest peak {s['peak_counts']:.0f}, noise gain "
        f"{_fmt(s['noise_gain'], '.2f')} (1 = Poisson counts), Poisson-equivalent "
        f"{_fmt(s['effective_counts'], '.0f')}",
        f"  Rwp              {_fmt(s['rwp_free'], '.3f')} free intensities, "
        f"{_fmt(s['rwp_simulated'], '.3f')} simulated intensities "
        f"(expected {_fmt(s['r_expected'], '.3f')})",
        f"  intensity ratio  spread {_fmt(s['ratio_log_spread'], '.3f')} in log10 over "
        f"{s['n_strong_groups']} strong peaks; angle trend dB {_fmt(s['delta_b'], '+.2f')} A^2",
    ]
    texture = s["texture"]
    if texture is not None:
        lines.append(
            f"  March-Dollase    {tuple(texture['direction'])} r = {texture['ratio']:.3f}: spread "
            f"{texture['spread_before']:.3f} -> {texture['spread_after']:.3f}"
        )
    for warning in s["warnings"]:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def run_compare(args: argparse.Namespace) -> int:
    """Fit and print the report (or JSON); returns 0."""
    from research.gap.compare import compare
    from research.gap.result import FitOptions

    override, fallback = wavelength_choice(args)
    options = FitOptions(
        background_method=args.background, fit_displacement=bool(args.displacement)
    )
    fit = compare(
        args.structure,
        args.pattern,
        override,
        fallback=fallback if fallback is not None else CU_KA1,
        plot=args.plot,
        options=options,
    )
    summary = fit.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
        if args.plot:
            print(f"  figure           {args.plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.compare`` with ``argv`` (default: the process
    arguments); the exit code."""
    return run_command(register, "research.compare", argv)


if __name__ == "__main__":
    sys.exit(main())
