"""Lattice search: the unit cells that index a list of powder lines.

Steps (each family from cubic down to monoclinic by default, triclinic on request):

1. trial cells from the low-angle lines and their screening
   (:mod:`xrdsym.indexing.trials`);
2. least-squares refinement of the best trials with a zero shift, M20 and F_N
   (:mod:`xrdsym.indexing.refine`);
3. centring, Bravais lattice from the reduced metric with spglib, conventional setting
   (:mod:`xrdsym.indexing.candidates`);
4. ranking (M20 weighted by the indexed fraction, highest symmetry first among equals) and the
   acceptance rule (:data:`IndexingOptions.min_m20`, :data:`IndexingOptions.max_unindexed`).

The search stops early once a cell indexes the lines with M20 at least
``IndexingOptions.stop_m20``: lower families would only find the same lattice with more free
parameters. Every loop checks the deadline ``max_seconds``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xrdsym.indexing import metric
from xrdsym.indexing.candidates import Found, distinct, merit, promote, volume
from xrdsym.indexing.refine import Refined, cell_sigma, refine
from xrdsym.indexing.results import CellCandidate, IndexingResult, PeakSearchResult
from xrdsym.indexing.trials import best_trials

DEFAULT_SYSTEMS: tuple[str, ...] = (
    "cubic",
    "tetragonal",
    "hexagonal",
    "orthorhombic",
    "monoclinic",
)


#: Families searched only while no cell has reached ``IndexingOptions.stop_m20`` (the cheap
#: higher-symmetry families are always searched).
GATED_FAMILIES = ("orthorhombic", "monoclinic", "triclinic")


@dataclass(frozen=True)
class IndexingOptions:
    """Settings of the lattice search.

    Attributes:
        triclinic: also search triclinic cells (slow; bounded by ``max_seconds``).
        system_order: families in the order to try (e.g. by the network's probabilities);
            None: highest symmetry first. Families missing from it are tried last.
        max_seconds: wall-time budget of one pattern; the search stops and reports what it has.
        max_lines: lines used (the first ones in 2theta).
        min_lines: fewer lines than this are not indexable.
        tolerance: 2theta window of a line in the search, degrees.
        max_volume: largest conventional cell volume tried, Angstrom^3.
        base_lines: trial cells come from the first this many lines, per family.
        keep: best-screened trials refined per family.
        min_m20: acceptance: M20 of the best cell at least this.
        max_unindexed: acceptance: at most this fraction of the lines left unindexed.
        stop_m20: stop searching lower families once a cell reaches this M20 with at most
            ``max_unindexed`` lines unindexed.
        n_candidates: cells reported.
    """

    triclinic: bool = False
    system_order: tuple[str, ...] | None = None
    max_seconds: float = 10.0
    max_lines: int = 25
    min_lines: int = 5
    tolerance: float = 0.06
    max_volume: float = 5000.0
    base_lines: tuple[tuple[str, int], ...] = (
        ("cubic", 4),
        ("tetragonal", 6),
        ("hexagonal", 6),
        ("orthorhombic", 6),
        ("monoclinic", 6),
        ("triclinic", 7),
    )
    keep: int = 30
    min_m20: float = 10.0
    max_unindexed: float = 0.15
    stop_m20: float = 30.0
    n_candidates: int = 5

    def families(self) -> list[str]:
        """Families to search, in order."""
        enabled = list(DEFAULT_SYSTEMS) + (["triclinic"] if self.triclinic else [])
        order = [s for s in (self.system_order or ()) if s in enabled]
        return order + [s for s in enabled if s not in order]


def _lines(peaks: PeakSearchResult, max_lines: int) -> np.ndarray:
    """2theta of the first ``max_lines`` distinct lines, ascending, degrees."""
    two_theta = np.sort(np.array([p.two_theta for p in peaks.peaks], dtype=np.float64))
    two_theta = two_theta[np.isfinite(two_theta) & (two_theta > 0) & (two_theta < 180)]
    if two_theta.size:
        two_theta = two_theta[np.concatenate([[True], np.diff(two_theta) > 1e-4])]
    return two_theta[:max_lines]


def _acceptable(found: Found, options: IndexingOptions) -> bool:
    """The acceptance rule: M20 and the unindexed fraction."""
    ref = found.refined
    unindexed = 1.0 - ref.n_indexed / ref.indexed.size
    return ref.m20 >= options.min_m20 and unindexed <= options.max_unindexed


def _search_family(
    family: str,
    two_theta: np.ndarray,
    wavelength: float,
    options: IndexingOptions,
    deadline: float,
) -> tuple[list[Refined], bool]:
    """Refined primitive cells of one family, and whether its search finished in time."""
    tol = options.tolerance
    q_obs = metric.q_from_two_theta(two_theta, wavelength)
    q_low = metric.q_from_two_theta(two_theta - tol, wavelength)
    q_high = metric.q_from_two_theta(two_theta + tol, wavelength)
    n_base = dict(options.base_lines).get(family, 6)
    trials, finished = best_trials(
        q_obs, q_low, q_high, family, n_base, options.max_volume, options.keep, deadline
    )
    refined: list[Refined] = []
    for params in trials:
        if time.monotonic() > deadline:
            return refined, False
        result = refine(two_theta, wavelength, params, family, "P", tol)
        if result is not None and result.volume <= options.max_volume:
            refined.append(result)
    return refined, finished


def _unique_refined(refined: list[Refined], limit: int) -> list[Refined]:
    """The best ``limit`` refinements by M20 x indexed fraction^3, one per parameter set."""
    ordered = sorted(
        refined, key=lambda r: r.m20 * (r.n_indexed / r.indexed.size) ** 3, reverse=True
    )
    kept: list[Refined] = []
    for item in ordered:
        if not any(np.allclose(item.params, k.params, rtol=2e-3) for k in kept):
            kept.append(item)
        if len(kept) >= limit:
            break
    return kept


def to_candidate(found: Found, n_lines: int) -> CellCandidate:
    """The typed result of one found lattice."""
    ref = found.refined
    cell = metric.cell_from_metric(ref.gstar)
    hkl = tuple(
        tuple(int(x) for x in ref.hkl[i]) if ref.indexed[i] else None for i in range(n_lines)
    )
    return CellCandidate(
        bravais=found.pearson,
        crystal_system=found.crystal_system,
        cell=cell,
        cell_sigma=cell_sigma(ref),  # type: ignore[arg-type]
        reduced_cell=found.reduced,
        volume=volume(found),
        zero_shift=ref.zero_shift,
        m20=ref.m20,
        f_n=ref.f_n,
        f_n_lines=ref.f_n_lines,
        n_indexed=ref.n_indexed,
        n_lines=n_lines,
        hkl=hkl,  # type: ignore[arg-type]
    )


def index_peaks(
    peaks: PeakSearchResult,
    *,
    options: IndexingOptions | None = None,
    system_order: Sequence[str] | None = None,
) -> IndexingResult:
    """Index a list of powder lines: ranked candidate cells or "not indexable" with the reason.

    Args:
        peaks: the lines (2theta at ``peaks.wavelength``).
        options: search settings (:class:`IndexingOptions`).
        system_order: families in the order to try, overriding ``options.system_order``.
    """
    options = options or IndexingOptions()
    if system_order is not None:
        options = _with_order(options, tuple(system_order))
    start = time.monotonic()
    deadline = start + options.max_seconds
    two_theta = _lines(peaks, options.max_lines)
    n_lines = int(two_theta.size)
    if n_lines < options.min_lines:
        reason = f"{n_lines} lines found; the search needs at least {options.min_lines}"
        return IndexingResult("not indexable", reason, (), peaks, time.monotonic() - start)
    found: list[Found] = []
    timed_out = False
    for family in options.families():
        if family in GATED_FAMILIES and _solved(found, options):
            break
        refined, finished = _search_family(
            family, two_theta, peaks.wavelength, options, deadline
        )
        for item in _unique_refined(refined, 8):
            if time.monotonic() > deadline:
                finished = False
                break
            found.append(promote(item, two_theta, peaks.wavelength, options.tolerance))
        timed_out = timed_out or not finished
        if timed_out:
            break
    ranked = distinct(found)[: options.n_candidates]
    candidates = tuple(to_candidate(f, n_lines) for f in ranked)
    seconds = time.monotonic() - start
    if ranked and _acceptable(ranked[0], options):
        return IndexingResult("indexed", "", candidates, peaks, seconds)
    return IndexingResult("not indexable", _reason(ranked, options, timed_out), candidates, peaks, seconds)


def _solved(found: list[Found], options: IndexingOptions) -> bool:
    """Whether some cell already indexes the lines so well that lower families are skipped."""
    return any(_acceptable(f, options) and f.refined.m20 >= options.stop_m20 for f in found)


def _reason(ranked: list[Found], options: IndexingOptions, timed_out: bool) -> str:
    """Why nothing was accepted."""
    budget = f"time budget of {options.max_seconds:g} s exhausted"
    if not ranked:
        return budget if timed_out else "no cell indexes the lines"
    best = ranked[0].refined
    text = (
        f"no cell passes the acceptance rule (best: {ranked[0].pearson}, M20 {best.m20:.1f}, "
        f"{best.n_indexed} of {best.indexed.size} lines indexed; needs M20 >= "
        f"{options.min_m20:g} and at most {math.floor(options.max_unindexed * 100)} % unindexed)"
    )
    return f"{budget}; {text}" if timed_out else text


def _with_order(options: IndexingOptions, order: tuple[str, ...]) -> IndexingOptions:
    from dataclasses import replace

    return replace(options, system_order=order)
