"""``xrdsym structures``: inspect crystal-structure sources (CIF file, folder, CIF table)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrdsym.cli.progress import progress_bar
from xrdsym.spacegroups import CRYSTAL_SYSTEMS
from xrdsym.structures.labelling import (
    DEFAULT_SYMPREC,
    Rejected,
    StructureRecord,
    crystal_system,
    label_crystal,
    load_records,
    reason_category,
)
from xrdsym.structures.reader import count_sources, read_cif_file

#: Structure ids listed per rejection reason.
EXAMPLES_PER_REASON = 5


@dataclass
class Summary:
    """Counts of a pass over a structure source (only counters and a few ids are kept)."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    crystal_systems: Counter[str] = field(default_factory=Counter)
    space_groups: Counter[int] = field(default_factory=Counter)
    symbols: dict[int, str] = field(default_factory=dict)

    def add(self, item: StructureRecord | Rejected) -> None:
        """Count one accepted record or one rejection."""
        self.read += 1
        if isinstance(item, Rejected):
            self.rejected += 1
            category = reason_category(item.reason)
            self.reasons[category] += 1
            names = self.examples.setdefault(category, [])
            if len(names) < EXAMPLES_PER_REASON:
                names.append(f"{item.id} ({item.reason})")
            return
        self.accepted += 1
        number = item.label.space_group
        self.space_groups[number] += 1
        self.symbols.setdefault(number, item.label.symbol)
        self.crystal_systems[crystal_system(number)] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the summary."""
        return {
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": {
                reason: {"count": count, "examples": self.examples[reason]}
                for reason, count in self.reasons.most_common()
            },
            "crystal_systems": {name: self.crystal_systems[name] for name in CRYSTAL_SYSTEMS},
            "space_groups": {
                str(n): {"symbol": self.symbols[n], "count": self.space_groups[n]}
                for n in sorted(self.space_groups)
            },
        }

    def to_text(self) -> str:
        """Human-readable report."""
        lines = [
            f"structures read: {self.read}",
            f"accepted: {self.accepted}",
            f"rejected: {self.rejected}",
        ]
        for reason, count in self.reasons.most_common():
            lines.append(f"  {reason}: {count}")
            lines.extend(f"    {example}" for example in self.examples[reason])
        lines.append("per crystal system:")
        lines.extend(f"  {name:<12} {self.crystal_systems[name]:>7}" for name in CRYSTAL_SYSTEMS)
        lines.append(f"per space group ({len(self.space_groups)} groups):")
        lines.extend(
            f"  {n:>3} {self.symbols[n]:<12} {self.space_groups[n]:>7}"
            for n in sorted(self.space_groups)
        )
        return "\n".join(lines)


def summarize(items: Iterable[StructureRecord | Rejected]) -> Summary:
    """Count a stream of records and rejections."""
    summary = Summary()
    for item in items:
        summary.add(item)
    return summary


def counted(
    items: Iterable[StructureRecord | Rejected], bar: Any
) -> Iterator[StructureRecord | Rejected]:
    """``items``, advancing ``bar`` by one for each."""
    for item in items:
        yield item
        bar.update(1)


def _single_file(path: Path) -> bool:
    """True when the path is one CIF file (not a folder, not a table)."""
    name = path.name.lower()
    return path.is_file() and not (name.endswith(".csv") or name.endswith(".csv.gz"))


def run_summary(args: argparse.Namespace) -> int:
    """Handler of ``xrdsym structures summary``: a bad single file raises StructureError."""
    path = Path(args.path)
    if _single_file(path):
        crystal = read_cif_file(path)
        label = label_crystal(crystal, args.symprec)
        summary = summarize([StructureRecord(path.stem, str(path), crystal, label)])
    else:
        records = load_records(path, args.symprec, workers=args.workers)
        total = None if args.no_progress else count_sources(path)
        with progress_bar(total, "structure", args.no_progress) as bar:
            summary = summarize(counted(records, bar))
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.to_text())
    return 0


def register(subparsers: Any) -> None:
    """Add the ``structures`` sub-command and its ``summary`` action."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "structures", help="read and label crystal structures (CIF file, folder or CIF table)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    summary = actions.add_parser(
        "summary",
        help="count structures read, accepted, rejected, per crystal system and space group",
    )
    summary.add_argument("path", help="a .cif file, a folder of CIFs, or a .csv/.csv.gz table")
    summary.add_argument(
        "--symprec",
        type=float,
        default=DEFAULT_SYMPREC,
        help=f"spglib distance tolerance in Angstrom (default {DEFAULT_SYMPREC})",
    )
    summary.add_argument(
        "--workers", type=int, default=1, help="processes reading and labelling (default 1)"
    )
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: shown on a terminal, with the number of structures "
        "and an ETA; a table is read once more to count its rows)",
    )
    summary.set_defaults(handler=run_summary)
