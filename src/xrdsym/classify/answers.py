"""Answers of the classifier: scores at the three levels, provenance, the full prediction and its
flat summary row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class Prediction:
    """Top-k answers for one pattern at the three levels, each sorted by probability.

    Attributes:
        prediction_sets: per level, the labels of the conformal prediction set (crystal-system
            names, extinction-group indices, space-group numbers); empty when uncalibrated.
        coverage: the stated coverage of the sets (e.g. 0.9), or None.
        low_confidence: the top space group is more likely wrong than right (calibrated).
        abstained: the levels whose top probability is below ``min_confidence``.
        levels: the full distribution of each level (7, 101 and 230 entries), for figures
            and tables.
        indexing: the indexing outcome (lines, ranked cells, extinction scores of the best
            cell), or None when the pattern was not indexed (``--no-index``, peak lists).
        cell_probability: fitted probability that the best cell is right (0 when none).
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
    abstained: tuple[str, ...] = ()
    provenance: Provenance | None = None
    levels: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    indexing: IndexingResult | None = None
    cell_probability: float = 0.0
    decided_by: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LEVELS, "network"))

    @property
    def probabilities(self) -> np.ndarray | None:
        """The full space-group distribution (230,), or None."""
        return self.levels.get("space_group")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``file``, the three levels (lists of entries), ``prediction_sets``,
        ``coverage``, ``low_confidence``, ``abstained`` and ``provenance``."""
        return {
            "file": self.source,
            "crystal_system": [vars(s) for s in self.crystal_system],
            "extinction_group": [
                {
                    "index": s.index,
                    "symbol": s.symbol,
                    "space_groups": list(s.space_groups),
                    "probability": s.probability,
                }
                for s in self.extinction_group
            ],
            "space_group": [vars(s) for s in self.space_group],
            "prediction_sets": {k: list(v) for k, v in self.prediction_sets.items()},
            "coverage": self.coverage,
            "low_confidence": self.low_confidence,
            "abstained": list(self.abstained),
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
            "decided_by": dict(self.decided_by),
            "cell_probability": round(self.cell_probability, 4),
            "indexing": None if self.indexing is None else self.indexing.to_dict(),
        }

    def summary_row(self) -> dict[str, Any]:
        """One flat row (for CSV files and DataFrames): top answers, sets and provenance."""
        prov = self.provenance
        row: dict[str, Any] = {"file": self.source}
        for level, scores in zip(LEVELS, self._tops(), strict=True):
            row[level] = None if level in self.abstained else scores[0]
            row[f"{level}_probability"] = scores[1]
            members = self.prediction_sets.get(level, ())
            row[f"{level}_set"] = " ".join(str(m) for m in members)
        row["space_group_number"] = self.space_group[0].number
        row["low_confidence"] = self.low_confidence
        if prov is not None:
            row["wavelength"] = prov.wavelength
            row["wavelength_source"] = prov.wavelength_source
            row["grid_coverage"] = round(prov.grid_coverage, 4)
            row["points"] = prov.points
            row["warnings"] = "; ".join(prov.warnings)
            row["model"] = f"{prov.model.get('name')} {prov.model.get('version')}"
        row.update(indexing_columns(self.indexing, self.cell_probability))
        for level in LEVELS:
            row[f"{level}_decided_by"] = self.decided_by.get(level, "network")
        return row

    def _tops(self) -> tuple[tuple[str, float], ...]:
        """(label, probability) of the top answer at each level."""
        cs, eg, sg = self.crystal_system[0], self.extinction_group[0], self.space_group[0]
        return (
            (cs.label, cs.probability),
            (eg.symbol or str(eg.index), eg.probability),
            (f"{sg.symbol} ({sg.number})", sg.probability),
        )


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
    best = None if indexing is None else indexing.best
    row: dict[str, Any] = {
        "indexing": "not run" if indexing is None else indexing.status,
        "indexing_reason": "" if indexing is None else indexing.reason,
    }
    row["bravais"] = None if best is None else best.bravais
    row["cell"] = None if best is None else format_cell(best.cell, best.cell_sigma)
    row["m20"] = None if best is None else round(best.m20, 2)
    row["f_n"] = None if best is None else round(best.f_n, 2)
    row["lines_indexed"] = None if best is None else f"{best.n_indexed}/{best.n_lines}"
    row["zero_shift"] = None if best is None else round(best.zero_shift, 4)
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
    import pandas as pd

    return pd.DataFrame([p.summary_row() for p in predictions])
