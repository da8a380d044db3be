"""Counts of a dataset per crystal system, extinction group, space group and split part."""

from __future__ import annotations

from typing import Any

import numpy as np

from xrdsym.datasets.store import PART_CODES, PeakDataset
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, label_maps


def dataset_counts(dataset: PeakDataset) -> dict[str, Any]:
    """Structure counts of a dataset, as plain JSON-serialisable dictionaries.

    Keys: ``structures``, ``space_groups_covered``, ``crystal_system``, ``extinction_group``,
    ``space_group`` (label -> count) and ``splits`` (split -> part -> count).
    """

    to_system, to_extinction = label_maps()
    groups = dataset.space_groups()
    systems = to_system[groups - 1]
    extinction = to_extinction[groups - 1]
    return {
        "structures": int(len(groups)),
        "space_groups_covered": int(len(np.unique(groups))),
        "extinction_groups_covered": int(len(np.unique(extinction))),
        "crystal_system": {
            name: int(np.sum(systems == index)) for index, name in enumerate(CRYSTAL_SYSTEMS)
        },
        "extinction_group": {
            int(e): int(c) for e, c in zip(*np.unique(extinction, return_counts=True), strict=True)
        },
        "space_group": {
            int(g): int(c) for g, c in zip(*np.unique(groups, return_counts=True), strict=True)
        },
        "splits": {
            split: {part: int(len(dataset.split_indices(split, part))) for part in PART_CODES}
            for split in dataset.split_names()
        },
    }


def format_counts(counts: dict[str, Any]) -> str:
    """Human-readable table of :func:`dataset_counts`."""
    lines = [
        f"structures: {counts['structures']}",
        f"space groups covered: {counts['space_groups_covered']} / 230",
        f"extinction groups covered: {counts['extinction_groups_covered']} / 101",
        "",
        "crystal system      count",
    ]
    lines += [f"  {name:<16} {n:>7}" for name, n in counts["crystal_system"].items()]
    lines += ["", "split             train     val    test"]
    for split, parts in counts["splits"].items():
        lines.append(f"  {split:<14} {parts['train']:>7} {parts['val']:>7} {parts['test']:>7}")
    lines += ["", "space group: count"]
    items = [f"{g}:{n}" for g, n in counts["space_group"].items()]
    lines += ["  " + " ".join(items[i : i + 12]) for i in range(0, len(items), 12)]
    lines += ["", "extinction group: count"]
    items = [f"{e}:{n}" for e, n in counts["extinction_group"].items()]
    lines += ["  " + " ".join(items[i : i + 12]) for i in range(0, len(items), 12)]
    return "\n".join(lines)
