"""Small synthetic peak-list sources and dataset folders for the training tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xrdsym.patterns.peaks import compute_peaks
from xrdsym.structures.prototype import Prototype, hall_operations, prototype_crystal

#: Space groups of the synthetic classes: Fm-3m, Pm-3m, P2_1/c, Pnma.
CLASS_SPACE_GROUPS = (225, 221, 14, 62)
#: A 501-point grid keeps the loop tests fast (the architecture is tested elsewhere).
SMALL_GRID_POINTS = 501


class SyntheticPeaks:
    """In-memory peak lists: each class has its own peak-spacing rule, scaled per structure."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.labels = [CLASS_SPACE_GROUPS[i % len(CLASS_SPACE_GROUPS)] for i in range(n)]
        self.lists: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(n):
            kind = i % len(CLASS_SPACE_GROUPS)
            start = rng.uniform(15.0, 25.0)
            step = (4.0, 7.0, 10.0, 14.0)[kind] * rng.uniform(0.9, 1.1)
            positions = np.arange(start, 105.0, step, dtype=np.float32)
            intensity = rng.uniform(10, 100, positions.size).astype(np.float32)
            intensity[0] = 100.0
            self.lists.append((positions, intensity))

    def __len__(self) -> int:
        return len(self.lists)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.lists[index]

    def space_group(self, index: int) -> int:
        return self.labels[index]


def write_dataset(root: Path, source: SyntheticPeaks) -> Path:
    """A finalised dataset folder (one shard, both splits) holding ``source``'s peak lists."""
    from xrdsym.datasets.store import (
        FORMAT_VERSION,
        MANIFEST_NAME,
        SHARD_DIR,
        SPLITS_NAME,
        ShardData,
        empty_prototypes,
        write_shard,
    )

    n = len(source)
    lists = [source.peaks(i) for i in range(n)]
    counts = np.array([len(t) for t, _ in lists])
    m = int(counts.sum())
    shard = ShardData(
        ids=np.array([f"s{i}" for i in range(n)]),
        sources=np.array(["generated"] * n),
        space_group=np.array([source.space_group(i) for i in range(n)], dtype=np.int16),
        requested_space_group=np.zeros(n, dtype=np.int16),
        structure_type=np.array([f"type{i % 6}" for i in range(n)]),
        dedupe_key=np.array([f"key{i}" for i in range(n)]),
        cell=np.ones((n, 6), dtype=np.float32),
        peak_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        two_theta=np.concatenate([t for t, _ in lists]).astype(np.float32),
        intensity=np.concatenate([i for _, i in lists]).astype(np.float32),
        hkl=np.zeros((m, 3), dtype=np.int16),
        multiplicity=np.ones(m, dtype=np.int16),
        **empty_prototypes(n),
    )
    (root / SHARD_DIR).mkdir(parents=True)
    write_shard(root / SHARD_DIR / "000000.npz", shard)
    manifest = {"format_version": FORMAT_VERSION, "wavelength": 1.540562}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    # Period 12: train 0-4 (classes 0, 1, 2, 3, 0), val 5-7, test 8-11 (classes 0, 1, 2, 3).
    parts = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2] * (n // 12), dtype=np.int8)
    np.savez(root / SPLITS_NAME, random=parts, structure_type=parts)
    return root


class PrototypePeaks:
    """A tiny in-memory source with stored cells (PrototypeSource)."""

    def __init__(self, prototypes: list[Prototype]) -> None:
        self.prototypes = prototypes
        self.lists = [
            compute_peaks(prototype_crystal(p), operations=hall_operations(p.hall_number))
            for p in prototypes
        ]
        self.wavelength = 1.540562

    def __len__(self) -> int:
        return len(self.prototypes)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        peaks = self.lists[index]
        return peaks.two_theta.astype(np.float32), peaks.intensity.astype(np.float32)

    def space_group(self, index: int) -> int:
        return self.prototypes[index].space_group

    def prototype(self, index: int) -> Prototype:
        return self.prototypes[index]

    def has_prototypes(self) -> bool:
        return True
