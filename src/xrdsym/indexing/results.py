"""Typed results of the indexing layer: observed peaks, candidate cells, extinction scores.

Units: 2theta and its uncertainties in degrees, wavelengths and cell lengths in Angstrom, cell
angles in degrees, intensities in counts (heights) or counts x degrees (integrated areas).
Every result is a frozen dataclass with a ``to_dict`` that gives its JSON-ready form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

CellParameters = tuple[float, float, float, float, float, float]
"""(a, b, c, alpha, beta, gamma): lengths in Angstrom, angles in degrees."""

BRAVAIS_LATTICES: tuple[str, ...] = (
    "cP",
    "cI",
    "cF",
    "tP",
    "tI",
    "hP",
    "hR",
    "oP",
    "oC",
    "oI",
    "oF",
    "mP",
    "mC",
    "aP",
)
"""The 14 Bravais lattices in Pearson notation, highest symmetry first (hR on hexagonal axes)."""


@dataclass(frozen=True)
class ObservedPeak:
    """One line found in a measured profile (its K-alpha1 component).

    Attributes:
        two_theta: fitted position, degrees, at the measurement wavelength.
        sigma: standard uncertainty of ``two_theta`` from the fit, degrees.
        height: peak height above the background, counts.
        area: integrated intensity above the background, counts x degrees.
        fwhm: full width at half maximum, degrees.
    """

    two_theta: float
    sigma: float
    height: float
    area: float
    fwhm: float

    def d_spacing(self, wavelength: float) -> float:
        """Bragg's law, d = lambda / (2 sin theta), in Angstrom."""
        return wavelength / (2.0 * math.sin(math.radians(self.two_theta / 2.0)))

    def to_dict(self) -> dict[str, float]:
        return {
            "two_theta": round(self.two_theta, 5),
            "sigma": round(self.sigma, 5),
            "height": round(self.height, 3),
            "area": round(self.area, 4),
            "fwhm": round(self.fwhm, 5),
        }


@dataclass(frozen=True)
class PeakSearchResult:
    """The lines of one profile and what the search did to find them.

    Attributes:
        peaks: lines in increasing 2theta.
        wavelength: K-alpha1 (or single) wavelength the positions refer to, Angstrom.
        kalpha2: ``"absent"`` (monochromatic or not detected) or ``"stripped"``.
        background: the background method, for example ``"pybaselines snip, half window 40"``.
        noise: standard deviation of the background-subtracted counts off the peaks, counts.
        events: what the search did (points dropped, range limited, ...).
    """

    peaks: tuple[ObservedPeak, ...]
    wavelength: float
    kalpha2: Literal["absent", "stripped"]
    background: str
    noise: float
    events: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "wavelength": self.wavelength,
            "kalpha2": self.kalpha2,
            "background": self.background,
            "noise": round(self.noise, 4),
            "events": list(self.events),
            "peaks": [peak.to_dict() for peak in self.peaks],
        }


@dataclass(frozen=True)
class CellCandidate:
    """One cell that indexes the lines, in its conventional and its reduced setting.

    Attributes:
        bravais: Pearson symbol of the lattice (``"cF"``, ``"mC"``, ...), one of
            :data:`BRAVAIS_LATTICES`.
        crystal_system: the crystal family's system (``"cubic"``, ... ``"triclinic"``); an hR
            lattice is ``"trigonal"``, an hP lattice ``"hexagonal"``.
        cell: least-squares conventional cell.
        cell_sigma: standard uncertainties of ``cell`` (0 for parameters fixed by symmetry).
        reduced_cell: Niggli-reduced cell of the primitive lattice.
        volume: conventional cell volume, Angstrom^3.
        zero_shift: refined 2theta zero shift, degrees (observed = calculated + zero_shift).
        m20: de Wolff M20 (computed on the first min(20, n) lines).
        f_n: Smith-Snyder F_N; ``f_n_lines`` is its N.
        n_indexed: number of observed lines the cell indexes within the tolerance.
        n_lines: number of observed lines the search used.
        hkl: for each line used, its conventional Miller indices, or None when unindexed.
        n_calculated: distinct lines the cell allows up to the last of the first
            min(20, n_lines) lines (the N_calc of M20).
        unindexed_height: share of the used lines' summed heights in the lines the cell
            leaves unindexed, 0-1.
    """

    bravais: str
    crystal_system: str
    cell: CellParameters
    cell_sigma: CellParameters
    reduced_cell: CellParameters
    volume: float
    zero_shift: float
    m20: float
    f_n: float
    f_n_lines: int
    n_indexed: int
    n_lines: int
    hkl: tuple[tuple[int, int, int] | None, ...] = field(default=())
    n_calculated: int = 0
    unindexed_height: float = 0.0

    @property
    def centring(self) -> str:
        """Lattice centring letter: P, I, F, C or R."""
        return self.bravais[1].upper()

    @property
    def unindexed(self) -> tuple[int, ...]:
        """Positions (in the used lines) of the lines this cell leaves unindexed."""
        return tuple(i for i, h in enumerate(self.hkl) if h is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bravais": self.bravais,
            "crystal_system": self.crystal_system,
            "cell": [round(x, 5) for x in self.cell],
            "cell_sigma": [round(x, 5) for x in self.cell_sigma],
            "reduced_cell": [round(x, 5) for x in self.reduced_cell],
            "volume": round(self.volume, 3),
            "zero_shift": round(self.zero_shift, 5),
            "m20": round(self.m20, 2),
            "f_n": round(self.f_n, 2),
            "f_n_lines": self.f_n_lines,
            "n_indexed": self.n_indexed,
            "n_lines": self.n_lines,
            "hkl": [None if h is None else list(h) for h in self.hkl],
            "n_calculated": self.n_calculated,
            "unindexed_height": round(self.unindexed_height, 4),
        }


@dataclass(frozen=True)
class ExtinctionScore:
    """How well one extinction group of the indexed cell's crystal system fits the lines.

    Attributes:
        group: extinction-group index 0-100 of the project's table.
        symbol: its symbol (member space groups, for example ``"Pna2_1, Pnma"``).
        space_groups: member space-group numbers.
        log_likelihood: log-likelihood of the observed lines under the group (higher is better).
        forbidden_lines: unambiguous observed lines the group forbids.
        explained_absences: expected-but-absent reflections that the group forbids.
        unexplained_absences: calculated positions the group allows where no line is seen.
    """

    group: int
    symbol: str
    space_groups: tuple[int, ...]
    log_likelihood: float
    forbidden_lines: int
    explained_absences: int
    unexplained_absences: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "symbol": self.symbol,
            "space_groups": list(self.space_groups),
            "log_likelihood": round(self.log_likelihood, 3),
            "forbidden_lines": self.forbidden_lines,
            "explained_absences": self.explained_absences,
            "unexplained_absences": self.unexplained_absences,
        }


@dataclass(frozen=True)
class IndexingResult:
    """The outcome of indexing one pattern.

    Attributes:
        status: ``"indexed"`` when at least one candidate passed the acceptance test, else
            ``"not indexable"``.
        reason: why it is not indexable (empty when indexed), for example
            ``"8 lines found; the search needs at least 10"``.
        candidates: cells ranked best first (may be non-empty for ``"not indexable"``: the
            best rejected cells, for inspection).
        peaks: the peak search it started from.
        seconds: wall time spent searching.
        extinction: extinction-group scores of the first candidate (accepted or not), best
            first.
        later_extinction: the same for each later candidate, in rank order (empty when only
            the first was scored).
    """

    status: Literal["indexed", "not indexable"]
    reason: str
    candidates: tuple[CellCandidate, ...]
    peaks: PeakSearchResult
    seconds: float
    extinction: tuple[ExtinctionScore, ...] = ()
    later_extinction: tuple[tuple[ExtinctionScore, ...], ...] = ()

    def scored_candidates(self) -> list[tuple[CellCandidate, tuple[ExtinctionScore, ...]]]:
        """Each candidate with its extinction scores, in rank order, up to the first one
        without scores (empty when the first has none)."""
        scores = (self.extinction, *self.later_extinction)
        pairs = []
        for candidate, scored in zip(self.candidates, scores, strict=False):
            if not scored:
                break
            pairs.append((candidate, scored))
        return pairs

    @property
    def first(self) -> CellCandidate | None:
        """The first-ranked candidate, accepted or not (None when no cell was found)."""
        return self.candidates[0] if self.candidates else None

    @property
    def best(self) -> CellCandidate | None:
        """The first candidate when indexed, else None."""
        return self.first if self.status == "indexed" else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "candidates": [c.to_dict() for c in self.candidates],
            "extinction": [e.to_dict() for e in self.extinction],
            "later_extinction": [[e.to_dict() for e in scores] for scores in self.later_extinction],
            "peaks": self.peaks.to_dict(),
        }
