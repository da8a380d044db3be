"""Lattice search: the unit cells that index a list of powder lines.

Steps (each family from cubic down to triclinic):

1. trial cells from the low-angle lines and their screening
   (:mod:`xrdsym.indexing.trials`); the triclinic family's trials come from zones of the
   reciprocal lattice (:mod:`xrdsym.indexing.zones`), which assume no symmetry, so its cells
   are promoted to whatever Bravais lattice they have (step 3): a monoclinic or centred
   lattice that its own family's trials missed is found there too;
2. least-squares refinement of the best trials with a zero shift, M20 and F_N
   (:mod:`xrdsym.indexing.refine`);
3. centring, Bravais lattice from the reduced metric with spglib, conventional setting
   (:mod:`xrdsym.indexing.candidates`);
4. ranking (M20 weighted by the indexed fraction, highest symmetry first among equals) and the
   acceptance rule (:data:`IndexingOptions.min_m20`, :data:`IndexingOptions.max_unindexed`).

The search starts from a zero-shift estimate of harmonic line pairs (:mod:`xrdsym.indexing.zero`)
and then from zero. It skips the expensive low-symmetry families once a higher one is accepted
with a high M20 (``IndexingOptions.stop_m20``): they would find the same lattice with more free
parameters. Every loop checks the deadline ``max_seconds``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from xrdsym.indexing import metric
from xrdsym.indexing.candidates import Found, distinct, promotions, supercells, volume
from xrdsym.indexing.refine import Refined, cell_sigma, refine
from xrdsym.indexing.results import CellCandidate, IndexingResult, PeakSearchResult
from xrdsym.indexing.trials import best_trials
from xrdsym.indexing.zero import zero_candidates
from xrdsym.indexing.zones import DIAGONAL_PAIRS, zone_cell_trials

#: Families searched with their symmetric trials by default, highest symmetry first (the
#: triclinic zone search follows them unless ``IndexingOptions.triclinic`` is off).
DEFAULT_SYSTEMS: tuple[str, ...] = tuple(s for s in metric.SYSTEMS if s != "triclinic")


#: Lines whose median spacing is below this many search tolerances cannot be told apart from
#: noise (any cell indexes them): not indexable.
DENSE_GAP = 1.0

#: Distinct cells, best first, whose supercells are tried (IndexingOptions.supercell_indices).
SUPERCELL_PARENTS = 3

#: Factor of ``IndexingOptions.min_m20`` per family (fitted together with it by
#: ``benchmarks/fit_indexing_acceptance.py``).
FAMILY_M20_FACTOR = {
    "cubic": 1.0,
    "tetragonal": 1.2,
    "hexagonal": 1.2,
    "orthorhombic": 1.5,
    "monoclinic": 3.0,
    "triclinic": 4.0,
}

#: A cell must index at least this many lines per free parameter to be reported.
LINES_PER_PARAMETER = 3

#: Acceptance: the best cell indexes at least ``IndexingOptions.min_indexed`` lines plus this
#: many per free parameter beyond the first.
LINES_PER_EXTRA_PARAMETER = 2


@dataclass(frozen=True)
class IndexingOptions:
    """Settings of the lattice search.

    Attributes:
        systems: families searched with their symmetric trials (default cubic to
            monoclinic).
        triclinic: then run the zone search for a primitive cell of any symmetry
            (:mod:`xrdsym.indexing.zones`; default on). Chosen on simulated validation
            patterns (``python -m research.search_tolerance --part val --limit 600
            --tolerances 0.1 --zone-search off on``, docs/indexing.md).
        system_order: families in the order to try (e.g. by the network's probabilities);
            None: highest symmetry first. Families missing from it are tried last.
        max_seconds: wall-time budget of one pattern; the search stops and reports what it has.
        max_lines: lines used (the first ones in 2theta).
        min_lines: fewer lines than this are not indexable.
        tolerance: 2theta window of a line in the search, degrees (refinement narrows it to
            four times the rms residual, at least half of it). The default was chosen by
            ``python -m research.search_tolerance`` on simulated validation patterns: 0.10
            finds the right first cell slightly more often than 0.06 or 0.08 (161 against
            158 and 157 of 300) and as often as 0.12 at less time; 0.15 finds fewer.
        max_volume: largest conventional cell volume tried, Angstrom^3.
        base_lines: trial cells come from the first this many lines, per family. Two more
            per family than before (4, 9, 9, 7, 6, 7) found the right first cell for 406
            instead of 399 of 600 simulated validation patterns (``python -m
            research.evaluate_indexing --part val --limit 600``, docs/indexing.md), the
            search taking a quarter longer (``benchmarks/bench_indexing.py``, side by side).
        keep: best-screened trials refined per family.
        min_m20: acceptance: M20 of the best cell at least this times the family's
            :data:`FAMILY_M20_FACTOR` (more free parameters fit random lines better).
        max_unindexed: acceptance: at most this fraction of the lines left unindexed.
        max_unindexed_height: acceptance: the unindexed lines hold at most this fraction of
            the summed line heights.
        min_height: lines weaker than this fraction of the strongest are not used.
        max_calculated_per_line: acceptance: the best cell allows at most this many distinct
            lines per observed line up to the last of the first min(20, n) lines
            (:func:`calculated_per_line`): a cell that predicts many lines where none is
            seen (a supercell, or a cell fitted to a few lines) is not taken.
        min_indexed: acceptance: the best cell indexes at least this many lines, plus
            LINES_PER_EXTRA_PARAMETER per free parameter beyond the first. The acceptance
            defaults were fitted by ``benchmarks/fit_indexing_acceptance.py`` on simulated
            validation patterns (docs/indexing.md).
        stop_m20: skip the orthorhombic search once an accepted cell reaches this M20, the
            monoclinic and triclinic ones from a third of it (:func:`_gate`); the zero-shift
            starts after the first are skipped once any cell is accepted.
        zero_starts: zero shifts (degrees) the search starts from after the harmonic-pair
            estimate (:func:`zero_list`); a start within half the tolerance of an earlier
            one is dropped. The search window only absorbs a zero error up to the tolerance,
            and laboratory zero errors reach +-0.25 degrees with too few harmonic pairs for
            an estimate in most patterns. The default (0, +-0.15: every shift within
            +-0.25 lies inside 0.10 of a start) was chosen by ``python -m
            research.search_tolerance --zero-starts`` on simulated validation patterns
            (docs/indexing.md, "How the search works").
        centring_lines_lost: a centring of a primitive cell that indexes all but this many
            of its lines with a better M20 is a candidate of its own beside it
            (:func:`xrdsym.indexing.candidates.promotions`); 0: only a centring that keeps
            every line replaces the primitive cell. The default was chosen by ``python -m
            research.search_tolerance --centring-lines-lost 0 1 2 3`` on 300 simulated
            validation patterns: the right first cell for 184, 188, 189 and 189 (the smallest
            of the best).
        base_min_height: when some of a family's base lines are weaker than this fraction of
            the strongest line, the trials are built a second time from the lines at least
            that strong (:func:`trial_bases`); 0: one pass from all lines. The default was
            chosen by ``python -m research.search_tolerance --base-min-height ...`` on
            simulated validation patterns (docs/indexing.md).
        supercell_indices: the supercells of these indices of the first SUPERCELL_PARENTS
            cells that index more of the lines join the candidates
            (:func:`xrdsym.indexing.candidates.supercells`); (): none. The default was chosen
            by ``python -m research.search_tolerance --supercells ...`` on simulated
            validation patterns (docs/indexing.md).
        zone_pair_indices: the zone search fixes a zone's a* . b* (and a cell's b* . c*) by
            taking a line as each of these (h, k) (and (h, -k)) of the zone
            (:mod:`xrdsym.indexing.zones`); (1, 1) alone needs the zone's first diagonal
            line. The default was chosen by ``python -m research.search_tolerance
            --zone-pairs ...`` on simulated validation patterns (docs/indexing.md).
        n_candidates: cells reported.
    """

    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    triclinic: bool = True
    system_order: tuple[str, ...] | None = None
    max_seconds: float = 10.0
    max_lines: int = 25
    min_lines: int = 5
    tolerance: float = 0.1
    max_volume: float = 5000.0
    base_lines: tuple[tuple[str, int], ...] = (
        ("cubic", 6),
        ("tetragonal", 11),
        ("hexagonal", 11),
        ("orthorhombic", 9),
        ("monoclinic", 8),
        ("triclinic", 9),
    )
    keep: int = 30
    min_m20: float = 15.0
    max_unindexed: float = 0.15
    max_unindexed_height: float = 0.05
    min_indexed: int = 14
    max_calculated_per_line: float = 1.75
    min_height: float = 0.01
    stop_m20: float = 60.0
    zero_starts: tuple[float, ...] = (0.0, 0.15, -0.15)
    centring_lines_lost: int = 2
    base_min_height: float = 0.05
    supercell_indices: tuple[int, ...] = (2,)
    zone_pair_indices: tuple[tuple[int, int], ...] = DIAGONAL_PAIRS
    n_candidates: int = 5

    def families(self) -> list[str]:
        """Families to search, in order."""
        enabled = list(self.systems)
        if self.triclinic and "triclinic" not in enabled:
            enabled.append("triclinic")
        order = [s for s in (self.system_order or ()) if s in enabled]
        return order + [s for s in enabled if s not in order]


def used_lines(peaks: PeakSearchResult, options: IndexingOptions | None = None) -> np.ndarray:
    """Positions in ``peaks.peaks`` of the lines the search uses, in the order of
    ``CellCandidate.hkl``: the first ``max_lines`` distinct lines in 2theta of at least
    ``min_height`` times the strongest height."""
    options = options or IndexingOptions()
    two_theta = np.array([p.two_theta for p in peaks.peaks], dtype=np.float64)
    heights = np.array([p.height for p in peaks.peaks], dtype=np.float64)
    good = np.isfinite(two_theta) & (two_theta > 0) & (two_theta < 180) & np.isfinite(heights)
    index = np.flatnonzero(good)
    if index.size == 0:
        return index
    strong = heights[index] >= options.min_height * max(float(heights[index].max()), 0.0)
    index = index[strong]
    index = index[np.argsort(two_theta[index], kind="stable")]
    fresh = np.concatenate([[True], np.diff(two_theta[index]) > 1e-4])
    return index[fresh][: options.max_lines]


def _lines(peaks: PeakSearchResult, options: IndexingOptions) -> tuple[np.ndarray, np.ndarray]:
    """2theta (ascending, degrees) and heights (clipped at 0) of the lines used."""
    index = used_lines(peaks, options)
    two_theta = np.array([peaks.peaks[i].two_theta for i in index], dtype=np.float64)
    heights = np.array([max(peaks.peaks[i].height, 0.0) for i in index], dtype=np.float64)
    return two_theta, heights


def _determined(found: Found) -> bool:
    """Whether the cell indexes enough lines for its free parameters (LINES_PER_PARAMETER
    each): a few lines fit any low-symmetry cell."""
    n_params = len(metric.BASIS[found.refined.system])
    return found.refined.n_indexed >= LINES_PER_PARAMETER * n_params


def min_m20(family: str, options: IndexingOptions) -> float:
    """The acceptance threshold of M20 for a family."""
    return options.min_m20 * FAMILY_M20_FACTOR[family]


def min_indexed(family: str, options: IndexingOptions) -> int:
    """The acceptance threshold of lines indexed for a family."""
    return options.min_indexed + LINES_PER_EXTRA_PARAMETER * (len(metric.BASIS[family]) - 1)


def calculated_per_line(n_calculated: int, n_lines: int) -> float:
    """Distinct calculated lines per observed line over the first min(20, n) lines (the
    N_calc of M20 over its N)."""
    return n_calculated / max(min(20, n_lines), 1)


def _acceptable(found: Found, heights: np.ndarray, options: IndexingOptions) -> bool:
    """The acceptance rule: M20, the lines indexed, the unindexed fraction of the lines by
    count and by height, the calculated lines per observed line."""
    ref = found.refined
    unindexed = 1.0 - ref.n_indexed / ref.indexed.size
    return (
        ref.m20 >= min_m20(ref.system, options)
        and ref.n_indexed >= min_indexed(ref.system, options)
        and unindexed <= options.max_unindexed
        and unindexed_height(ref, heights) <= options.max_unindexed_height
        and calculated_per_line(ref.n_calculated, ref.indexed.size)
        <= options.max_calculated_per_line
    )


def trial_bases(heights: np.ndarray, n_base: int, base_min_height: float) -> list[np.ndarray]:
    """Positions of the lines each pass of trials is built from: all lines, then, when some of
    the first ``n_base`` lines are weaker than ``base_min_height`` times the strongest, the
    strong lines alone (an impurity's weak lines at low angle would otherwise take the places
    of the phase's lines among the base lines and fail the pre-screen); 0 turns that pass off."""
    every = np.arange(heights.shape[0])
    if base_min_height <= 0.0 or heights.size == 0:
        return [every]
    strong = np.flatnonzero(heights >= base_min_height * float(heights.max()))
    if np.array_equal(strong[:n_base], every[:n_base]):
        return [every]
    return [every, strong]


def _family_trials(
    family: str,
    q_windows: tuple[np.ndarray, np.ndarray, np.ndarray],
    base: np.ndarray,
    n_base: int,
    options: IndexingOptions,
    deadline: float,
) -> tuple[np.ndarray, bool]:
    """Trial parameters of one family from the first ``n_base`` of the lines at ``base``
    (:func:`trial_bases`), and whether they finished before the deadline; ``q_windows``:
    (Q, Q low, Q high) of every line."""
    q_obs, q_low, q_high = q_windows
    if family == "triclinic":
        return zone_cell_trials(
            q_obs[base],
            q_low[base],
            q_high[base],
            n_base,
            options.max_volume,
            options.keep,
            deadline,
            options.zone_pair_indices,
        )
    return best_trials(
        q_obs, q_low, q_high, family, n_base, options.max_volume, options.keep, deadline, base
    )


def _search_family(
    family: str,
    lines: tuple[np.ndarray, np.ndarray],
    wavelength: float,
    options: IndexingOptions,
    deadline: float,
    zero: float = 0.0,
) -> tuple[list[Refined], bool]:
    """Refined primitive cells of one family, and whether its search finished in time; the
    trials come from the lines (2theta, heights) corrected by the zero-shift candidate ``zero``
    (degrees), in one pass per :func:`trial_bases`."""
    two_theta, heights = lines
    tol = options.tolerance
    corrected = two_theta - zero
    q_windows = (
        metric.q_from_two_theta(corrected, wavelength),
        metric.q_from_two_theta(corrected - tol, wavelength),
        metric.q_from_two_theta(corrected + tol, wavelength),
    )
    n_base = dict(options.base_lines).get(family, 6)
    refined: list[Refined] = []
    for base in trial_bases(heights, n_base, options.base_min_height):
        trials, finished = _family_trials(family, q_windows, base, n_base, options, deadline)
        for params in trials:
            if time.monotonic() > deadline:
                return refined, False
            result = refine(two_theta, wavelength, params, family, "P", tol, zero)
            if result is not None and result.volume <= options.max_volume:
                refined.append(result)
        if not finished:
            return refined, False
    return refined, True


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


def unindexed_height(refined: Refined, heights: np.ndarray) -> float:
    """Share of the summed line heights in the lines the cell leaves unindexed, 0-1 (the
    unindexed share by count when the heights sum to 0)."""
    total = float(heights.sum())
    if not total > 0.0:
        return 1.0 - refined.n_indexed / max(refined.indexed.size, 1)
    return float(heights[~refined.indexed].sum()) / total


def to_candidate(found: Found, heights: np.ndarray) -> CellCandidate:
    """The typed result of one found lattice (``heights``: of the lines used, in 2theta order)."""
    ref = found.refined
    n_lines = int(heights.size)
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
        n_calculated=ref.n_calculated,
        unindexed_height=unindexed_height(ref, heights),
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
        options = replace(options, system_order=tuple(system_order))
    start = time.monotonic()
    deadline = start + options.max_seconds
    two_theta, heights = _lines(peaks, options)
    n_lines = int(two_theta.size)
    if n_lines < options.min_lines:
        reason = f"{n_lines} lines found; the search needs at least {options.min_lines}"
        return IndexingResult("not indexable", reason, (), peaks, time.monotonic() - start)
    gap = float(np.median(np.diff(two_theta)))
    if gap < DENSE_GAP * options.tolerance:
        reason = (
            f"lines too dense for one phase: median spacing {gap:.3f} deg over the first "
            f"{n_lines} lines, below {DENSE_GAP:g} x the {options.tolerance:g} deg tolerance"
        )
        return IndexingResult("not indexable", reason, (), peaks, time.monotonic() - start)
    found: list[Found] = []
    timed_out = False
    for zero in zero_list(two_theta, options):
        if timed_out or _solved(found, heights, options, 0.0):
            break
        for family in options.families():
            if _solved(found, heights, options, _gate(family, options)):
                break
            refined, finished = _search_family(
                family, (two_theta, heights), peaks.wavelength, options, deadline, zero
            )
            for item in _unique_refined(refined, 8):
                if time.monotonic() > deadline:
                    finished = False
                    break
                found.extend(
                    candidate
                    for candidate in promotions(
                        item,
                        two_theta,
                        peaks.wavelength,
                        options.tolerance,
                        options.centring_lines_lost,
                    )
                    if _determined(candidate)
                )
            timed_out = timed_out or not finished
            if timed_out:
                break
    found.extend(_supercells_of_the_first(found, two_theta, peaks.wavelength, options, deadline))
    ranked = distinct(found)[: options.n_candidates]
    candidates = tuple(to_candidate(f, heights) for f in ranked)
    seconds = time.monotonic() - start
    if ranked and _acceptable(ranked[0], heights, options):
        return IndexingResult("indexed", "", candidates, peaks, seconds)
    return IndexingResult(
        "not indexable", _reason(ranked, options, timed_out), candidates, peaks, seconds
    )


def _supercells_of_the_first(
    found: list[Found],
    two_theta: np.ndarray,
    wavelength: float,
    options: IndexingOptions,
    deadline: float,
) -> list[Found]:
    """The determined supercells (:func:`xrdsym.indexing.candidates.supercells`) of the first
    SUPERCELL_PARENTS distinct cells, while time is left."""
    extra: list[Found] = []
    if not options.supercell_indices:
        return extra
    for item in distinct(found)[:SUPERCELL_PARENTS]:
        if time.monotonic() > deadline:
            break
        extra.extend(
            cell
            for cell in supercells(
                item,
                two_theta,
                wavelength,
                options.tolerance,
                options.supercell_indices,
                options.max_volume,
            )
            if _determined(cell)
        )
    return extra


def zero_list(two_theta: np.ndarray, options: IndexingOptions) -> list[float]:
    """Zero shifts (degrees) the search starts from, in order: the best-supported harmonic-pair
    estimate (:func:`xrdsym.indexing.zero.zero_candidates`) when there is one, then each of
    ``options.zero_starts`` farther than half the tolerance from every earlier start."""
    starts = zero_candidates(two_theta, 1)
    for zero in options.zero_starts:
        if all(abs(zero - s) > options.tolerance / 2.0 for s in starts):
            starts.append(zero)
    return starts or [0.0]


def _gate(family: str, options: IndexingOptions) -> float:
    """M20 of an accepted cell above which ``family`` is not searched: orthorhombic
    ``stop_m20``, monoclinic and triclinic a third of it (they cost most and a lower symmetry
    must index clearly better to outrank an accepted higher one); the cheap families always."""
    if family == "orthorhombic":
        return options.stop_m20
    if family in ("monoclinic", "triclinic"):
        return options.stop_m20 / 3.0
    return math.inf


def _solved(
    found: list[Found], heights: np.ndarray, options: IndexingOptions, threshold: float
) -> bool:
    """Whether some cell is accepted with M20 at least ``threshold``."""
    return any(_acceptable(f, heights, options) and f.refined.m20 >= threshold for f in found)


def _reason(ranked: list[Found], options: IndexingOptions, timed_out: bool) -> str:
    """Why nothing was accepted."""
    budget = f"time budget of {options.max_seconds:g} s exhausted"
    if not ranked:
        return budget if timed_out else "no cell indexes the lines"
    best = ranked[0].refined
    text = (
        f"no cell passes the acceptance rule (best: {ranked[0].pearson}, M20 {best.m20:.1f}, "
        f"{best.n_indexed} of {best.indexed.size} lines indexed; needs M20 >= "
        f"{min_m20(best.system, options):g}, at least {min_indexed(best.system, options)} "
        f"lines indexed, at most "
        f"{math.floor(options.max_unindexed * 100)} % of the lines and "
        f"{math.floor(options.max_unindexed_height * 100)} % of their height unindexed"
        f"{_density_clause(best, options)})"
    )
    return f"{budget}; {text}" if timed_out else text


def _density_clause(best: Refined, options: IndexingOptions) -> str:
    """The calculated-line density part of the reason, when the rule bounds it."""
    if math.isinf(options.max_calculated_per_line):
        return ""
    density = calculated_per_line(best.n_calculated, best.indexed.size)
    return (
        f", at most {options.max_calculated_per_line:g} calculated lines per observed line "
        f"(has {density:.2f})"
    )
