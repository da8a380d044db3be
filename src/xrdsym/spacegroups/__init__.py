"""Space groups: the shipped table of the 230 (symbol, crystal system, extinction group), the
sums from space-group probabilities to the coarser levels (:mod:`.table`), and the spglib
derivation the table comes from (:mod:`.derive`: Laue class, point group, absences).

A leaf package: it imports nothing else of xrdsym.
"""

from __future__ import annotations

from xrdsym.spacegroups.derive import (
    CRYSTAL_SYSTEMS,
    N_CRYSTAL_SYSTEMS,
    N_EXTINCTION_GROUPS,
    N_SPACE_GROUPS,
    SpaceGroupInfo,
    space_group,
    space_groups,
)
from xrdsym.spacegroups.table import (
    LEVELS,
    SpaceGroupTable,
    extinction_groups,
    label_maps,
    level_labels,
    level_probabilities,
    load_space_group_table,
    reconcile_probabilities,
    space_group_table_data,
)

__all__ = [
    "CRYSTAL_SYSTEMS",
    "LEVELS",
    "N_CRYSTAL_SYSTEMS",
    "N_EXTINCTION_GROUPS",
    "N_SPACE_GROUPS",
    "SpaceGroupInfo",
    "SpaceGroupTable",
    "extinction_groups",
    "label_maps",
    "level_labels",
    "level_probabilities",
    "load_space_group_table",
    "reconcile_probabilities",
    "space_group",
    "space_group_table_data",
    "space_groups",
]
