"""The 2theta grid a model reads, and X-ray wavelengths of laboratory anodes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: K-alpha1 wavelengths in Angstrom (International Tables for Crystallography, Vol. C, 4.2.2).
ANODE_WAVELENGTHS_KA1: dict[str, float] = {
    "CuKa": 1.540562,
    "MoKa": 0.709300,
    "CoKa": 1.788965,
    "CrKa": 2.289700,
    "FeKa": 1.936042,
    "AgKa": 0.559407,
}

#: K-alpha2 wavelengths in Angstrom (same source).
ANODE_WAVELENGTHS_KA2: dict[str, float] = {
    "CuKa": 1.544398,
    "MoKa": 0.713590,
    "CoKa": 1.792850,
    "CrKa": 2.293606,
    "FeKa": 1.939980,
    "AgKa": 0.563798,
}

CU_KA1 = ANODE_WAVELENGTHS_KA1["CuKa"]

#: Wavelengths accepted anywhere a wavelength is given, Angstrom, both ends included: from
#: 0.1 A (124 keV, high-energy synchrotron beams) to 5 A, beyond the longest anode line in use
#: (Cr K-alpha 2.29 A). Ag K-alpha is 0.56 A.
WAVELENGTH_LIMITS = (0.1, 5.0)


def check_wavelength(value: float) -> float:
    """``value`` as a float when it is finite and inside :data:`WAVELENGTH_LIMITS` (Angstrom).

    Raises:
        ValueError: the wavelength is not finite or outside the limits.
    """
    low, high = WAVELENGTH_LIMITS
    if not (np.isfinite(value) and low <= value <= high):
        raise ValueError(f"wavelength {value!r} Angstrom is outside [{low:g}, {high:g}] Angstrom")
    return float(value)


@dataclass(frozen=True)
class Grid:
    """An evenly spaced 2theta grid.

    Attributes:
        start: first 2theta value, degrees.
        stop: last 2theta value, degrees (included).
        n_points: number of grid points (10,001 for 10-110 degrees in steps of 0.01 degrees).
        wavelength: X-ray wavelength the grid refers to, Angstrom.
    """

    start: float = 10.0
    stop: float = 110.0
    n_points: int = 10001
    wavelength: float = CU_KA1

    @property
    def step(self) -> float:
        """Grid step in degrees: (stop - start) / (n_points - 1)."""
        return (self.stop - self.start) / (self.n_points - 1)

    def two_theta(self) -> np.ndarray:
        """Grid positions in degrees, float64, shape (n_points,)."""
        return np.linspace(self.start, self.stop, self.n_points)


#: The grid of Park et al. (2017): 10,001 points over 10-110 degrees 2theta, Cu K-alpha.
PAPER_GRID = Grid()


def wavelength_from_name(name: str | float) -> float:
    """Return a wavelength in Angstrom from an anode name (``CuKa``, ``MoKa``, ...) or a number.

    Raises:
        ValueError: the name is neither a known anode nor a number inside
            :data:`WAVELENGTH_LIMITS`.
    """
    if isinstance(name, int | float):
        value = float(name)
    else:
        key = name.strip()
        for anode, lam in ANODE_WAVELENGTHS_KA1.items():
            if key.lower() in (anode.lower(), anode.lower() + "1", anode[:2].lower()):
                return lam
        try:
            value = float(key)
        except ValueError:
            known = ", ".join(ANODE_WAVELENGTHS_KA1)
            raise ValueError(
                f"unknown wavelength {name!r}: give one of {known} or a value in Angstrom"
            ) from None
    return check_wavelength(value)
