"""The two wavelength options shared by ``classify`` and ``compare``.

``--wavelength W`` fills in where a file states no wavelength (so one command can take
``.xrdml`` files, which state theirs, beside ``.xy`` files, which do not);
``--override-wavelength W`` replaces the wavelength a file states.
"""

from __future__ import annotations

import argparse

from xrdsym.io import Pattern
from xrdsym.patterns.prepare import measurement_wavelength
from xrdsym.wavelengths import WAVELENGTH_HELP, wavelength_given


def add_wavelength_options(parser: argparse.ArgumentParser, otherwise: str) -> None:
    """Add ``--wavelength`` and ``--override-wavelength``; ``otherwise`` says what happens
    to a file that states none when ``--wavelength`` is not given."""
    parser.add_argument(
        "--wavelength",
        default=None,
        metavar="W",
        help=f"wavelength of files that state none: {WAVELENGTH_HELP} "
        f"(default: none; such a file {otherwise})",
    )
    parser.add_argument(
        "--override-wavelength",
        default=None,
        metavar="W",
        help="wavelength of every file, replacing the one a file states (default: the file's)",
    )


def wavelength_choice(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """(override, fallback) in Angstrom from the parsed options."""
    return (
        wavelength_given(args.override_wavelength, "--override-wavelength"),
        wavelength_given(args.wavelength, "--wavelength"),
    )


def file_wavelength(
    pattern: Pattern, override: float | None, fallback: float | None
) -> tuple[float, str]:
    """(wavelength in Angstrom, where it came from) of a read pattern, by the one rule of
    :func:`xrdsym.patterns.prepare.measurement_wavelength`: ``override`` when given, else the
    file's, else ``fallback``.

    Raises:
        PatternFileError: none of the three is known, or the value is out of range (names the
            file).
    """
    lam, stated = measurement_wavelength(pattern, override, fallback)
    if stated:
        return lam, "file"
    return lam, "--override-wavelength" if override is not None else "--wavelength"
