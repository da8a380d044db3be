"""Fit the synthetic generator's statistics on the training part of a dataset split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from xrdsym.datasets.store import PeakDataset
from xrdsym.errors import DatasetError
from xrdsym.structures.synthetic import (
    SyntheticStatistics,
    fit_statistics,
    prototype_wyckoff_letters,
)


def training_corpus_indices(dataset: PeakDataset, split: str) -> np.ndarray:
    """Indices of the training part of ``split`` read from structure files (not ``generated``).

    Only the training part: statistics fitted on test structures would leak them into
    training. Generated crystals are left out because their distributions are the
    generator's, not nature's.
    """
    train = dataset.split_indices(split, "train")
    real = dataset.data.sources[train] != "generated"
    stored = dataset.data.proto_hall[train] > 0
    return train[real & stored]


def fit_dataset_statistics(
    dataset: PeakDataset, split: str, seed: int = 0, progress: bool = True
) -> SyntheticStatistics:
    """:func:`~xrdsym.structures.synthetic.fit_statistics` on the real training structures.

    Raises:
        DatasetError: the dataset stores no cells (format 1) or has no real training structure.
    """
    if not dataset.has_prototypes():
        raise DatasetError(f"{dataset.root}: no stored cells (format 1); rebuild the dataset")
    indices = training_corpus_indices(dataset, split)
    if len(indices) == 0:
        raise DatasetError(f"{dataset.root}: no real structure in the training part of {split!r}")
    prototypes = [dataset.prototype(int(i)) for i in indices]
    letters = [
        prototype_wyckoff_letters(p)
        for p in tqdm(prototypes, desc="wyckoff", unit="structure", disable=not progress)
    ]
    source = {
        "dataset": str(Path(dataset.root).name),
        "fingerprint": dataset.fingerprint(),
        "split": split,
        "part": "train",
        "structures": int(len(indices)),
    }
    return fit_statistics(prototypes, letters, seed=seed, source=source)
