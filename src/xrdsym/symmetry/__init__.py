"""Space-group labels: crystal system, Laue class, point group and extinction group of all 230.

The table is derived from the symmetry operations in spglib's database when first used and then
cached; see :mod:`xrdsym.symmetry.labels` for the definitions.
"""

from __future__ import annotations

from xrdsym.symmetry.labels import (
    CRYSTAL_SYSTEMS,
    LEVELS,
    N_CRYSTAL_SYSTEMS,
    N_EXTINCTION_GROUPS,
    N_SPACE_GROUPS,
    SpaceGroupInfo,
    extinction_groups,
    label_maps,
    level_labels,
    level_probabilities,
    reconcile_probabilities,
    space_group,
    space_groups,
)

__all__ = [
    "CRYSTAL_SYSTEMS",
    "LEVELS",
    "N_CRYSTAL_SYSTEMS",
    "N_EXTINCTION_GROUPS",
    "N_SPACE_GROUPS",
    "SpaceGroupInfo",
    "extinction_groups",
    "label_maps",
    "level_labels",
    "level_probabilities",
    "reconcile_probabilities",
    "space_group",
    "space_groups",
]
