"""What renderers read and what they are: the two interfaces shared by patterns, datasets and
training.

:class:`PeakSource` is implemented by the dataset store (``xrdsym.datasets.store``) and by
views of it; :class:`PatternRenderer` by ``xrdsym.patterns.profile.ProfileRenderer`` and
``xrdsym.patterns.lab.LabRenderer``. Both live here, below the datasets, so that a renderer
needs nothing above ``patterns``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from xrdsym.patterns.grid import Grid


class PeakSource(Protocol):
    """Indexed peak lists with space-group labels.

    Peak positions are 2theta in degrees at the dataset's wavelength (Cu K-alpha1 by default);
    intensities are relative (strongest peak 100), Lorentz-polarization and multiplicity
    included, before any profile or noise.
    """

    def __len__(self) -> int:
        """Number of structures."""
        ...

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(two_theta float32 (n_peaks,), intensity float32 (n_peaks,)) of structure ``index``."""
        ...

    def space_group(self, index: int) -> int:
        """Space-group number 1-230 of structure ``index``."""
        ...


class PatternRenderer(Protocol):
    """Turns a peak list into counts on ``grid.two_theta()`` using only ``rng``."""

    def __call__(
        self, two_theta: np.ndarray, intensity: np.ndarray, grid: Grid, rng: np.random.Generator
    ) -> np.ndarray:
        """Counts (grid.n_points,)."""
        ...
