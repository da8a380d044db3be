"""``xrdsym simulate STRUCTURE.cif -o pattern.xy``: the powder pattern of a crystal structure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError


def clean_params() -> Any:
    """Profile of ``--clean`` patterns: a sharp laboratory instrument (FWHM 0.06 degrees at
    low angle, 0.13 degrees at 110 degrees: U = 0.01, V = -0.005, W = 0.004 degrees^2),
    pseudo-Voigt eta 0.5, no background, strongest peak 10,000 counts, no noise."""
    from xrdsym.patterns.profile import ProfileParams

    flat = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return ProfileParams(
        u=0.01,
        v=-0.005,
        w=0.004,
        eta=0.5,
        background_coeffs=flat,
        background_level=0.0,
        counts=1e4,
    )


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
        default="CuKa",
        metavar="W",
        help="CuKa (default), MoKa, CoKa, CrKa, FeKa, AgKa (K-alpha1) or a value in Angstrom",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for --random")
    parser.add_argument(
        "--symprec",
        type=float,
        default=0.01,
        help="spglib tolerance in Angstrom for the systematic absences, in (0, 1] (default 0.01)",
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
    """Read the structure, compute its peaks, render and write the pattern."""
    from xrdsym.patterns.grid import PAPER_GRID, Grid, wavelength_from_name
    from xrdsym.patterns.peaks import compute_peaks
    from xrdsym.patterns.profile import PAPER_RANGES, render_pattern, sample_profile_params
    from xrdsym.patterns.scattering import graphite_monochromator_two_theta
    from xrdsym.structures.labelling import check_symprec
    from xrdsym.structures.reader import read_cif_file

    symprec = check_symprec(args.symprec)
    try:
        wavelength = wavelength_from_name(args.wavelength)
    except ValueError as exc:
        raise XrdsymError(str(exc)) from None
    grid = Grid(PAPER_GRID.start, PAPER_GRID.stop, PAPER_GRID.n_points, wavelength)
    crystal = read_cif_file(args.structure)
    peaks = compute_peaks(
        crystal,
        wavelength=wavelength,
        two_theta_range=(grid.start, grid.stop),
        monochromator_two_theta=graphite_monochromator_two_theta(wavelength),
        symprec=symprec,
    )
    if len(peaks) == 0:
        raise XrdsymError(f"{args.structure}: no reflection between 10 and 110 degrees 2theta")
    rng = np.random.default_rng(args.seed)
    if args.random:
        params = sample_profile_params(rng, PAPER_RANGES)
        counts = render_pattern(peaks.two_theta, peaks.intensity, grid, params, rng)
    else:
        params = clean_params()
        counts = render_pattern(peaks.two_theta, peaks.intensity, grid, params, None, noise=False)
    mode = f"random profile, seed {args.seed}" if args.random else "clean profile"
    header = (
        f"xrdsym simulate {Path(args.structure).name}: wavelength {wavelength} A, {mode}\n"
        "2theta_deg intensity"
    )
    write_pattern(Path(args.output), grid.two_theta(), counts, header)
    if args.peaks:
        write_peak_table(Path(args.peaks), peaks)
    print(f"{args.output}: {len(peaks)} peaks, {grid.n_points} points at {wavelength} A")
    return 0
