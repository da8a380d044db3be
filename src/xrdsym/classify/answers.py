"""Answers of the classifier: scores at the three levels, provenance, the full prediction and its
flat summary row."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xrdsym import __version__
from xrdsym.indexing.results import IndexingResult
from xrdsym.spacegroups.table import (
    LEVELS,
    SpaceGroupTable,
    level_probabilities,
    load_space_group_table,
)


@dataclass(frozen=True)
class CrystalSystemScore:
    """One crystal system and its probability."""

    label: str
    probability: float


@dataclass(frozen=True)
class ExtinctionGroupScore:
    """One extinction group: index 0-100, symbol (its member space groups), probability."""

    index: int
    space_groups: tuple[int, ...]
    probability: float
    symbol: str = ""


@dataclass(frozen=True)
class SpaceGroupScore:
    """One space group (number and Hermann-Mauguin symbol) and its probability."""

    number: int
    symbol: str
    probability: float


@dataclass(frozen=True)
class Provenance:
    """Where an answer comes from.

    Attributes:
        model: ``name`` (architecture), ``version``, ``backend``, ``calibrated``.
        wavelength: wavelength of the measurement in Angstrom (None for none).
        wavelength_source: ``file``, ``command line``, ``argument`` or ``simulation``.
        two_theta_range: (first, last) angle read, degrees at the measurement wavelength.
        points: number of points read.
        grid_coverage: share of the model grid's range the measurement covers, 0-1.
        format: the reader that read the file.
        events: what the reader did to the data (rows repaired, scan k of N used, ...).
        warnings: what the user should check.
    """

    model: dict[str, Any]
    wavelength: float | None = None
    wavelength_source: str = ""
    two_theta_range: tuple[float, float] | None = None
    points: int = 0
    grid_coverage: float = 0.0
    format: str = ""
    events: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "xrdsym_version": __version__,
            "model": dict(self.model),
            "wavelength": self.wavelength,
            "wavelength_source": self.wavelength_source,
            "two_theta_range": None if self.two_theta_range is None else list(self.two_theta_range),
            "points": self.points,
            "grid_coverage": round(self.grid_coverage, 4),
            "format": self.format,
            "events": list(self.events),
            "warnings": list(self.warnings),
        }

    def summary(self) -> dict[str, Any]:
        """The flat provenance columns of :meth:`Prediction.summary_row`."""
        return {
            "wavelength": self.wavelength,
            "wavelength_source": self.wavelength_source,
            "grid_coverage": round(self.grid_coverage, 4),
            "points": self.points,
            "warnings": "; ".join(self.warnings),
            "model": f"{self.model.get('name')} {self.model.get('version')}",
            "xrdsym_version": __version__,
        }


@dataclass(frozen=True, repr=False)
class Prediction:
    """Top-k answers for one pattern at the three levels, each sorted by probability.

    ``print(prediction)`` shows the text of ``xrdsym classify``; a notebook shows a small table
    (``_repr_html_``).

    Attributes:
        prediction_sets: per level, the labels of the conformal prediction set (crystal-system
            names, extinction-group symbols, space-group numbers); empty when uncalibrated.
        coverage: the stated coverage of the sets (e.g. 0.9), or None.
        set_guarantee: what that coverage rests on (``90% of simulated lab-rendered
            patterns ...``) and how often the sets held on measured scans.
        low_confidence: the top space group is more likely wrong than right (calibrated).
        low_confidence_levels: every level whose top answer is more likely wrong than right
            (calibrated top probability below ``low_confidence_below``, 0.5).
        abstained: the levels whose top probability is below ``min_confidence``; their answers
            are left out of ``to_dict()``, ``summary_row()`` and the text (their sets stay).
        levels: the full distribution of each level (7, 101 and 230 entries), for figures
            and tables.
        indexing: the indexing outcome (lines, ranked cells, extinction scores of the best
            cell), or None when the pattern was not indexed (``--no-index``, peak lists).
        cell_probability: fitted probability that the first cell is right (0 when none).
        other_cells_probability: fitted probability that one of the later candidates is the
            right cell (they weigh in the answer too).
        cell_confident: that probability reached the fitted confident step, so the cell may
            decide levels; a cell below it is a suggestion only.
        decided_by: per level, ``"indexing"`` or ``"network"`` (see
            :mod:`xrdsym.classify.joint`).
    """

    source: str
    crystal_system: tuple[CrystalSystemScore, ...]
    extinction_group: tuple[ExtinctionGroupScore, ...]
    space_group: tuple[SpaceGroupScore, ...]
    prediction_sets: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    coverage: float | None = None
    low_confidence: bool = False
    low_confidence_levels: tuple[str, ...] = ()
    abstained: tuple[str, ...] = ()
    provenance: Provenance | None = None
    levels: dict[str, np.ndarray] = field(default_factory=dict)
    set_guarantee: str = ""
    indexing: IndexingResult | None = None
    cell_probability: float = 0.0
    other_cells_probability: float = 0.0
    cell_confident: bool = False
    decided_by: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LEVELS, "network"))

    @property
    def probabilities(self) -> np.ndarray | None:
        """The full space-group distribution (230,), or None."""
        return self.levels.get("space_group")

    def answers(self, level: str) -> list[dict[str, Any]]:
        """The top-k entries of one level as JSON-ready dicts; none when it abstained."""
        if level in self.abstained:
            return []
        if level == "crystal_system":
            return [{"label": s.label, "probability": s.probability} for s in self.crystal_system]
        if level == "extinction_group":
            return [
                {
                    "symbol": s.symbol,
                    "space_groups": list(s.space_groups),
                    "probability": s.probability,
                }
                for s in self.extinction_group
            ]
        return [
            {"number": s.number, "symbol": s.symbol, "probability": s.probability}
            for s in self.space_group
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``file``, the three levels (lists of entries, empty where the level
        abstained), ``prediction_sets``, ``coverage``, ``set_guarantee``, ``low_confidence``,
        ``low_confidence_levels``, ``abstained`` and ``provenance``."""
        return {
            "file": self.source,
            **{level: self.answers(level) for level in LEVELS},
            "prediction_sets": {k: list(v) for k, v in self.prediction_sets.items()},
            "coverage": self.coverage,
            "set_guarantee": self.set_guarantee,
            "low_confidence": self.low_confidence,
            "low_confidence_levels": list(self.low_confidence_levels),
            "abstained": list(self.abstained),
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
            "decided_by": dict(self.decided_by),
            "cell_probability": round(self.cell_probability, 4),
            "other_cells_probability": round(self.other_cells_probability, 4),
            "cell_confident": self.cell_confident,
            "indexing": None if self.indexing is None else self.indexing.to_dict(),
        }

    def summary_row(self) -> dict[str, Any]:
        """One flat row (for CSV files and DataFrames): the top-k answers of each level
        (``space_group``, ``space_group_probability``, ``space_group_2``, ...; probabilities
        rounded to 4 digits; empty where the level abstained), the sets (extinction groups
        separated by ``;``) and the provenance."""
        row: dict[str, Any] = {"file": self.source}
        for level in LEVELS:
            for rank, (label, probability) in enumerate(self._labels(level), start=1):
                name = level if rank == 1 else f"{level}_{rank}"
                kept = level not in self.abstained
                row[name] = label if kept else None
                row[f"{name}_probability"] = round(probability, 4) if kept else None
            members = self.prediction_sets.get(level, ())
            separator = "; " if level == "extinction_group" else " "
            row[f"{level}_set"] = separator.join(str(m) for m in members)
        abstained = "space_group" in self.abstained
        row["space_group_number"] = None if abstained else self.space_group[0].number
        row["set_guarantee"] = self.set_guarantee
        row["low_confidence"] = self.low_confidence
        row["low_confidence_levels"] = " ".join(self.low_confidence_levels)
        row["abstained"] = " ".join(self.abstained)
        if self.provenance is not None:
            row.update(self.provenance.summary())
        row.update(indexing_columns(self.indexing, self.cell_probability))
        row["cell_confident"] = self.cell_confident
        for level in LEVELS:
            row[f"{level}_decided_by"] = self.decided_by.get(level, "network")
        return row

    def _labels(self, level: str) -> list[tuple[str, float]]:
        """(label, probability) of each top-k entry of a level."""
        if level == "crystal_system":
            return [(s.label, s.probability) for s in self.crystal_system]
        if level == "extinction_group":
            return [(s.symbol or str(s.index), s.probability) for s in self.extinction_group]
        return [(f"{s.symbol} ({s.number})", s.probability) for s in self.space_group]

    def _shown(self, level: str) -> list[tuple[str, float]]:
        """:meth:`_labels` for reading: an extinction group's members in brackets."""
        if level != "extinction_group":
            return self._labels(level)
        return [(f"[{label}]", p) for label, p in self._labels(level)]

    def __str__(self) -> str:
        return format_prediction(self)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{label} {percent(p)}"
            for level in LEVELS
            if level not in self.abstained
            for label, p in self._shown(level)[:1]
        )
        return f"<Prediction {self.source}: {shown}>"

    def _repr_html_(self) -> str:
        return prediction_html(self)


def format_cell(values: tuple[float, ...], sigmas: tuple[float, ...]) -> str:
    """Cell parameters with standard uncertainties: ``5.3970(4) 6.9590(6) ... 90 90 90``.

    A parameter fixed by symmetry (sigma 0) is printed without brackets; the others with the
    uncertainty in units of their last digit, rounded up to one significant digit (two when
    the first is a 1).
    """
    parts = []
    for value, sigma in zip(values, sigmas, strict=True):
        if not sigma > 0.0:
            parts.append(f"{value:.4f}".rstrip("0").rstrip("."))
            continue
        decimals = -int(np.floor(np.log10(sigma)))
        if int(sigma * 10**decimals + 1e-9) == 1:
            decimals += 1  # a leading 1 keeps a second digit: 0.0012 -> (12)
        decimals = max(decimals, 0)
        digits = int(np.ceil(sigma * 10**decimals - 1e-9))
        parts.append(f"{value:.{decimals}f}({digits})")
    return " ".join(parts)


def indexing_columns(indexing: IndexingResult | None, cell_probability: float) -> dict[str, Any]:
    """Flat columns of an indexing outcome: status, cell, figures of merit, extinction groups."""
    first = None if indexing is None else indexing.first
    row: dict[str, Any] = {
        "indexing": "not run" if indexing is None else indexing.status,
        "indexing_reason": "" if indexing is None else indexing.reason,
    }
    row["bravais"] = None if first is None else first.bravais
    row["cell"] = None if first is None else format_cell(first.cell, first.cell_sigma)
    row["m20"] = None if first is None else round(first.m20, 2)
    row["f_n"] = None if first is None else round(first.f_n, 2)
    row["lines_indexed"] = None if first is None else f"{first.n_indexed}/{first.n_lines}"
    row["zero_shift"] = None if first is None else round(first.zero_shift, 4)
    row["cell_probability"] = round(cell_probability, 4)
    extinction = () if indexing is None else indexing.extinction
    row["extinction_candidates"] = "; ".join(e.symbol for e in extinction[:3])
    return row


def _best(p: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest entries, largest first (ties in index order)."""
    return [int(i) for i in np.argsort(-p, kind="stable")[: max(1, k)]]


def top_k_prediction(
    p_space_group: np.ndarray,
    k: int,
    source: str = "",
    table: SpaceGroupTable | None = None,
) -> Prediction:
    """Top-k entries at the three levels from one 230-way space-group distribution (sums)."""
    tab = table if table is not None else load_space_group_table()
    return top_k_levels(level_probabilities(p_space_group), k, source, tab)


def top_k_levels(
    levels: dict[str, np.ndarray], k: int, source: str, table: SpaceGroupTable
) -> Prediction:
    """Top-k entries of the three levels' distributions of one pattern."""
    p_system, p_extinction, p = (np.asarray(levels[level], np.float64) for level in LEVELS)
    return Prediction(
        source=source,
        crystal_system=tuple(
            CrystalSystemScore(table.crystal_systems[i], float(p_system[i]))
            for i in _best(p_system, k)
        ),
        extinction_group=tuple(
            ExtinctionGroupScore(
                i, table.extinction_members[i], float(p_extinction[i]), table.extinction_symbols[i]
            )
            for i in _best(p_extinction, k)
        ),
        space_group=tuple(
            SpaceGroupScore(i + 1, table.symbols[i], float(p[i])) for i in _best(p, k)
        ),
        levels={"crystal_system": p_system, "extinction_group": p_extinction, "space_group": p},
    )


def predictions_frame(predictions: Iterable[Prediction]) -> Any:
    """A pandas DataFrame with one :meth:`Prediction.summary_row` per prediction."""
    # deferred until called: imports pandas
    import pandas as pd

    return pd.DataFrame([p.summary_row() for p in predictions])


# ---- text and HTML


#: Smallest summed probability of the later candidate cells that the text answer mentions.
MIN_SHOWN_PROBABILITY = 0.01


def percent(p: float) -> str:
    """A probability as a percentage with sensible digits."""
    return f"{p:.0%}" if p >= 0.1 else f"{p:.1%}"


def format_prediction(prediction: Prediction) -> str:
    """The text answer of ``xrdsym classify``: the three levels, the sets and provenance."""
    lines = [prediction.source]
    for level in LEVELS:
        if level in prediction.abstained:
            body = "no answer (below --min-confidence)"
        else:
            body = "  ".join(f"{label} {percent(p)}" for label, p in prediction._shown(level))
        lines.append(f"  {level.replace('_', ' '):<20}{body}")
    lines += indexing_lines(prediction)
    lines += set_lines(prediction)
    lines += [f"  {line}" for line in low_confidence_line(prediction)]
    lines += provenance_lines(prediction.provenance)
    return "\n".join(lines)


def low_confidence_line(prediction: Prediction) -> list[str]:
    """The levels whose answer is more likely wrong than right (calibrated top probability
    below 0.5), or nothing."""
    unsure = prediction.low_confidence_levels or (
        ("space_group",) if prediction.low_confidence else ()
    )
    if not unsure:
        return []
    names = ", ".join(level.replace("_", " ") for level in unsure)
    return [f"low confidence ({names}): more likely wrong than right"]


#: Lattices whose line positions leave the crystal system open, with what the answer says.
SYSTEM_OPEN_LATTICES = {
    "hP": "an hP lattice carries trigonal and hexagonal groups alike (the same line positions): "
    "the network ranks the two crystal systems",
}


def indexing_lines(prediction: Prediction) -> list[str]:
    """The first cell of the lattice search (Bravais lattice, cell with uncertainties, M20,
    lines indexed, the fitted probability that it is right, the search's own verdict) and the
    levels it decided, or why no cell was found; nothing when indexing was not run."""
    indexing = prediction.indexing
    if indexing is None:
        return []
    first = indexing.first
    if first is None or prediction.cell_probability <= 0.0:
        return [f"  {'cell':<20}not indexable: {indexing.reason or 'no cell found'}"]
    lines = [
        f"  {'cell':<20}{first.bravais} {format_cell(first.cell, first.cell_sigma)}; "
        f"M20 {first.m20:.1f}, {first.n_indexed}/{first.n_lines} lines indexed; "
        f"right with probability {percent(prediction.cell_probability)}",
        f"  {'':<20}zero shift {first.zero_shift:+.4f} deg; extinction groups by the absences: "
        + "  ".join(f"[{e.symbol}]" for e in indexing.extinction[:3]),
    ]
    if indexing.status != "indexed":
        lines.append(f"  {'':<20}the classical acceptance rule refuses it: {indexing.reason}")
    if prediction.other_cells_probability >= MIN_SHOWN_PROBABILITY:
        lines.append(
            f"  {'':<20}the later candidates (xrdsym index) weigh in with "
            f"{percent(prediction.other_cells_probability)}"
        )
    if first.bravais in SYSTEM_OPEN_LATTICES:
        lines.append(f"  {'':<20}{SYSTEM_OPEN_LATTICES[first.bravais]}")
    decided = [level for level in LEVELS if prediction.decided_by.get(level) == "indexing"]
    if decided:
        lines.append(f"  {'':<20}decided by the cell: {', '.join(decided).replace('_', ' ')}")
    elif not prediction.cell_confident:
        lines.append(
            f"  {'':<20}a suggestion only: its probability is below the confident step, "
            "so the cell decides no level"
        )
    return lines


def set_lines(prediction: Prediction) -> list[str]:
    """The prediction sets with what their coverage rests on, or a note that the model is
    not calibrated."""
    if not prediction.prediction_sets:
        return ["  (model not calibrated: no prediction sets; run 'xrdsym calibrate')"]
    sets = prediction.prediction_sets
    systems = ", ".join(sets.get("crystal_system", ()))
    groups = sets.get("space_group", ())
    shown = ", ".join(str(g) for g in groups[:12]) + (", ..." if len(groups) > 12 else "")
    guarantee = prediction.set_guarantee or f"{prediction.coverage:.0%}"
    return [
        f"  sets: crystal system {{{systems}}}; {len(sets.get('extinction_group', ()))} "
        f"extinction groups; {len(groups)} space groups {{{shown}}}",
        f"    (a set holds the truth for {guarantee})",
    ]


def provenance_lines(provenance: Provenance | None) -> list[str]:
    """Model, package version, wavelength, range, coverage, reader events and warnings."""
    if provenance is None:
        return []
    model = provenance.model
    lam = "?" if provenance.wavelength is None else f"{provenance.wavelength:g} A"
    lines = [
        f"  model {model['name']} {model['version']} ({model['backend']}"
        f"{', calibrated' if model['calibrated'] else ', uncalibrated'}); xrdsym {__version__}"
    ]
    read = ""
    if provenance.two_theta_range is not None:
        low, high = provenance.two_theta_range
        read = f"; read {provenance.points} points, 2theta {low:g}-{high:g} deg"
    lines.append(
        f"  wavelength {lam} from the {provenance.wavelength_source}{read}; "
        f"covers {provenance.grid_coverage:.0%} of the model range"
    )
    lines += [f"  reader: {event}" for event in provenance.events]
    lines += [f"  warning: {warning}" for warning in provenance.warnings]
    return lines


def prediction_html(prediction: Prediction) -> str:
    """A small HTML table of an answer (one row per level, its set size) for notebooks."""
    rows = []
    for level in LEVELS:
        if level in prediction.abstained:
            answer = "<i>no answer (below min_confidence)</i>"
        else:
            answer = "; ".join(
                f"{html.escape(label)} {percent(p)}" for label, p in prediction._shown(level)
            )
        members = prediction.prediction_sets.get(level)
        size = "" if members is None else str(len(members))
        rows.append(f"<tr><td>{level.replace('_', ' ')}</td><td>{answer}</td><td>{size}</td></tr>")
    notes = [html.escape(line.strip()) for line in indexing_lines(prediction)]
    if prediction.set_guarantee:
        notes.append(f"a set holds the truth for {html.escape(prediction.set_guarantee)}")
    notes += low_confidence_line(prediction)
    if prediction.provenance is not None:
        notes += [f"warning: {html.escape(w)}" for w in prediction.provenance.warnings]
    return (
        f"<b>{html.escape(prediction.source)}</b>"
        "<table><tr><th>level</th><th>top answers</th><th>set size</th></tr>"
        + "".join(rows)
        + "</table>"
        + "".join(f"<div>{note}</div>" for note in notes)
    )
