"""The 2theta grid a model reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xrdsym.wavelengths import CU_KA1


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
