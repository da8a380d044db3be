"""``xrdsym simulate STRUCTURE.cif -o pattern.xy``: the powder pattern of a crystal structure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.structures.tolerance import DEFAULT_SYMPREC, MAX_SYMPREC, check_symprec
from xrdsym.wavelengths import WAVELENGTH_HELP, wavelength_from_name


def register(subparsers: Any) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate the powder pattern of a CIF structure",
        description="Compute the peak list of a CIF structure and render it on the model grid "
        "(10-110 degrees 2theta, 10,001 points) at the chosen wavelength. --clean (default): "
        "fixed sharp profile without background or noise. --random: random Caglioti widths, "
        "pseudo-Voigt mixing, sixth-order background and Poisson noise as in Park et al. "
        "(2017), reproducible with --seed.",
    )
    parser.add_argument("structure", metavar="STRUCTURE.cif", help="CIF file")
    parser.add_argument(
        "-o", "--output", required=True, metavar="PATTERN.xy", help="two-column output"
    )
    parser.add_argument(
        "--wavelength",
        default="CuKa1",
        metavar="W",
        help=f"{WAVELENGTH_HELP} (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for --random")
    parser.add_argument(
        "--symprec",
        type=float,
        default=DEFAULT_SYMPREC,
        help=f"spglib tolerance in Angstrom for the systematic absences, in (0, {MAX_SYMPREC:g}] "
        f"(default {DEFAULT_SYMPREC})",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--clean", action="store_true", help="noise-free fixed profile (default)")
    mode.add_argument("--random", action="store_true", help="random profile, background, noise")
    parser.add_argument(
        "--peaks",
        metavar="PEAKS.csv",
        help="also write the peak table (2theta, d, h, k, l, multiplicity, intensity)",
    )
    parser.set_defaults(handler=run_simulate)


def write_pattern(path: Path, two_theta: np.ndarray, counts: np.ndarray, header: str) -> None:
    """Write ``2theta intensity`` columns with a ``#`` header.

    Raises:
        XrdsymError: the file cannot be written.
    """
    table = np.column_stack([two_theta, counts])
    try:
        np.savetxt(path, table, fmt=["%.4f", "%.6g"], header=header)
    except OSError as exc:
        raise XrdsymError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def write_peak_table(path: Path, peaks: Any) -> None:
    """Write the peak list as CSV: two_theta, d_spacing, h, k, l, multiplicity, intensity.

    Raises:
        XrdsymError: the file cannot be written.
    """
    lines = ["two_theta,d_spacing,h,k,l,multiplicity,intensity"]
    for i in range(len(peaks)):
        h, k, ell = (int(v) for v in peaks.hkl[i])
        lines.append(
            f"{peaks.two_theta[i]:.5f},{peaks.d_spacing[i]:.6f},{h},{k},{ell},"
            f"{int(peaks.multiplicity[i])},{peaks.intensity[i]:.4f}"
        )
    try:
        path.write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise XrdsymError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def run_simulate(args: argparse.Namespace) -> int:
    """Simulate the structure's pattern (:func:`xrdsym.simulate.simulate`) and write it."""
    # deferred until called: imports scipy, spglib
    from xrdsym.simulate import simulate

    symprec = check_symprec(args.symprec)
    try:
        wavelength = wavelength_from_name(args.wavelength)
    except ValueError as exc:
        raise XrdsymError(str(exc)) from None
    pattern = simulate(
        args.structure, wavelength=wavelength, random=args.random, seed=args.seed, symprec=symprec
    )
    mode = f"random profile, seed {args.seed}" if args.random else "clean profile"
    header = (
        f"xrdsym simulate {Path(args.structure).name}: wavelength {wavelength} A, {mode}\n"
        "2theta_deg intensity"
    )
    write_pattern(Path(args.output), pattern.two_theta, pattern.counts, header)
    if args.peaks:
        write_peak_table(Path(args.peaks), pattern.peaks)
    n_points = pattern.grid.n_points
    print(f"{args.output}: {len(pattern.peaks)} peaks, {n_points} points at {wavelength} A")
    return 0
