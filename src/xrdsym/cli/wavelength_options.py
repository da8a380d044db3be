"""The two wavelength options shared by ``classify`` and ``compare``.

``--wavelength W`` fills in where a file states no wavelength (so one command can take
``.xrdml`` files, which state theirs, beside ``.xy`` files, which do not);
``--override-wavelength W`` replaces the wavelength a file states.
"""

from __future__ import annotations

import argparse

from xrdsym.errors import XrdsymError
from xrdsym.wavelengths import WAVELENGTH_HELP, wavelength_from_name


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


def parse_wavelength(value: str | None, option: str) -> float | None:
    """The wavelength in Angstrom of an option's value (None stays None).

    Raises:
        XrdsymError: an unknown line name or a value out of range, naming the option.
    """
    if value is None:
        return None
    try:
        return wavelength_from_name(value)
    except ValueError as exc:
        raise XrdsymError(f"{option}: {exc}") from None


def wavelength_choice(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """(override, fallback) in Angstrom from the parsed options."""
    return (
        parse_wavelength(args.override_wavelength, "--override-wavelength"),
        parse_wavelength(args.wavelength, "--wavelength"),
    )
