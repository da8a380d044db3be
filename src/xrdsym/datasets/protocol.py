"""What training and evaluation need from a dataset of peak lists."""

from __future__ import annotations

from typing import Protocol

import numpy as np


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
