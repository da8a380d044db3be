"""What training and evaluation need from a dataset of peak lists, and views of a dataset.

:class:`PeakSource` is defined once, in :mod:`xrdsym.patterns.protocols` (renderers read it
too); it is re-exported here for the users of the datasets. :class:`IndexedPeaks` is the view
of some structures of a source as a source of their own (a split part, an impurity pool).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xrdsym.patterns.protocols import PeakSource


@dataclass(frozen=True)
class IndexedPeaks:
    """The structures ``indices`` of a source, re-indexed 0..n-1 (a ``PeakSource``)."""

    source: PeakSource
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Peaks of the ``index``-th selected structure."""
        return self.source.peaks(int(self.indices[index]))

    def space_group(self, index: int) -> int:
        """Space group of the ``index``-th selected structure."""
        return self.source.space_group(int(self.indices[index]))


__all__ = ["IndexedPeaks", "PeakSource"]
