"""Render, classify and index the structures of a dataset part, resumably.

Each structure is rendered once with the laboratory renderer (seeded by (seed, -1, index), as
``xrdsym evaluate`` draws its fixed sets; the impurity phases come from the selected structures),
with its isotropic strain off (:data:`LAB_OFF`: a strain of up to 0.7 % changes the pattern's
cell beyond the 0.5 % of a right cell, so a found cell would be scored against another one),
the network classifies the prepared pattern, and the raw counts are indexed
(:func:`xrdsym.indexing.pattern.index_pattern`). A candidate cell is right when its
Niggli-reduced primitive cell equals the structure's (:func:`same_reduced_cell`); the cell
scored is the first candidate, accepted by the search's rule or not, as the joined answer
weighs it.

With an :class:`OutcomeFile` every finished pattern is appended to a JSON-lines file as soon as
it is done, and a rerun with the same file skips the patterns it holds: an interrupted run
resumes without losing work. The structures are processed in a seeded random order, so the
finished ones of an interrupted run are a random sample of the selection.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.datasets.protocol import IndexedPeaks
from xrdsym.errors import XrdsymError
from xrdsym.indexing.extinction import with_extinction
from xrdsym.indexing.results import (
    CellCandidate,
    ExtinctionScore,
    IndexingResult,
    ObservedPeak,
    PeakSearchResult,
)
from xrdsym.parallel import ordered_map
from xrdsym.spacegroups.table import level_labels

#: A cell is right when every Niggli length agrees to this relative tolerance ...
LENGTH_TOLERANCE = 0.005
#: ... and every Niggli angle to this many degrees.
ANGLE_TOLERANCE_DEG = 0.5

#: Laboratory augmentation families off in the evaluation: the dataset cell stays the pattern's.
LAB_OFF = ("strain",)

#: Significant digits of the stored network probabilities (relative, so tiny ones survive).
PROBABILITY_DIGITS = 7


@dataclass(frozen=True)
class Outcome:
    """One rendered structure: its labels, the network's levels and the indexing outcome.

    Attributes:
        index: dataset index.
        space_group: true space-group number.
        true_cell: Niggli-reduced primitive cell (a, b, c, alpha, beta, gamma).
        network: the network's calibrated (7,), (101,), (230,) distributions.
        indexing: the indexing outcome (extinction scores of the first cell included).
        ranks_right: for each candidate, accepted by the search's rule or not, whether it
            equals the true cell.
    """

    index: int
    space_group: int
    true_cell: np.ndarray
    network: dict[str, np.ndarray]
    indexing: IndexingResult
    ranks_right: tuple[bool, ...] = ()

    @property
    def cell_right(self) -> bool:
        """The first candidate (the cell the joined answer weighs) is the true cell."""
        return bool(self.ranks_right and self.ranks_right[0])


def same_reduced_cell(
    cell_a: Iterable[float],
    cell_b: Iterable[float],
    length_tolerance: float = LENGTH_TOLERANCE,
    angle_tolerance: float = ANGLE_TOLERANCE_DEG,
) -> bool:
    """Whether two Niggli-reduced cells agree (lengths relative, angles in degrees).

    Axes of nearly equal length may come out in either order, and an angle near 90 degrees
    as x or 180 - x, so every axis permutation is tried and an angle matches when x or
    180 - x is within the tolerance.
    """
    a, b = np.asarray(list(cell_a), dtype=np.float64), np.asarray(list(cell_b), dtype=np.float64)
    for order in itertools.permutations(range(3)):
        p = list(order)
        lengths = np.all(np.abs(a[p] - b[:3]) <= length_tolerance * b[:3])
        angles_a = a[3:][p]
        diff = np.minimum(np.abs(angles_a - b[3:]), np.abs(180.0 - angles_a - b[3:]))
        if lengths and np.all(diff <= angle_tolerance):
            return True
    return False


def true_reduced_cell(prototype: Any) -> np.ndarray:
    """Niggli-reduced primitive cell of a stored conventional cell (spglib primitive cell)."""
    # deferred until called: imports spglib
    import spglib

    from xrdsym.structures.symmetry import cell_parameters, niggli_reduce

    kinds = {name: i + 1 for i, name in enumerate(sorted(set(prototype.species)))}
    numbers = [kinds[s] for s in prototype.species]
    cell: Any = (np.asarray(prototype.lattice), np.asarray(prototype.positions), numbers)
    primitive = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=1e-3)
    lattice = np.asarray(prototype.lattice) if primitive is None else np.asarray(primitive[0])
    return cell_parameters(niggli_reduce(lattice))


# ---- one JSON line per outcome


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """The JSON-ready form of an outcome: labels, network levels (7 significant digits), and of
    the indexing its status, reason, time, candidate cells (accepted or not, with their
    rightness), the first cell's extinction scores and the peak search's lines."""
    indexing = outcome.indexing
    return {
        "index": outcome.index,
        "space_group": outcome.space_group,
        "true_cell": [round(float(x), 5) for x in outcome.true_cell],
        "ranks_right": list(outcome.ranks_right),
        "network": {
            level: [float(f"{x:.{PROBABILITY_DIGITS}g}") for x in p]
            for level, p in outcome.network.items()
        },
        "status": indexing.status,
        "reason": indexing.reason,
        "seconds": round(indexing.seconds, 3),
        "candidates": [c.to_dict() for c in indexing.candidates],
        "extinction": [e.to_dict() for e in indexing.extinction],
        "later_extinction": [[e.to_dict() for e in scores] for scores in indexing.later_extinction],
        "lines": indexing.peaks.to_dict(),
    }


def _candidate(record: dict[str, Any]) -> CellCandidate:
    """A cell candidate from its ``to_dict`` form."""
    tuples = ("cell", "cell_sigma", "reduced_cell")
    values: dict[str, Any] = {
        k: tuple(v) if k in tuples else v for k, v in record.items() if k != "hkl"
    }
    hkl = tuple(None if h is None else (int(h[0]), int(h[1]), int(h[2])) for h in record["hkl"])
    return CellCandidate(**values, hkl=hkl)


def _lines(record: dict[str, Any] | None) -> PeakSearchResult:
    """The peak search's lines from their ``to_dict`` form (none: a record written before the
    lines were kept)."""
    if record is None:
        return PeakSearchResult((), 0.0, "absent", "not stored", 0.0)
    return PeakSearchResult(
        tuple(ObservedPeak(**peak) for peak in record["peaks"]),
        float(record["wavelength"]),
        record["kalpha2"],
        record["background"],
        float(record["noise"]),
        tuple(record["events"]),
    )


def _scores(records: list[dict[str, Any]]) -> tuple[ExtinctionScore, ...]:
    """Extinction scores from their ``to_dict`` forms."""
    return tuple(
        ExtinctionScore(**{**e, "space_groups": tuple(e["space_groups"])}) for e in records
    )


def outcome_from_record(
    record: dict[str, Any], two_theta_range: tuple[float, float] | None = None
) -> Outcome:
    """The outcome of an :func:`outcome_record`.

    A record written when only the first cell's extinction scores were kept gets the later
    cells' scores computed again from its stored lines over ``two_theta_range`` (the rendered
    range, as :func:`xrdsym.indexing.pattern.index_pattern` scored them); without a range
    they stay absent and only the first cell weighs.
    """
    indexing = IndexingResult(
        record["status"],
        record["reason"],
        tuple(_candidate(c) for c in record["candidates"]),
        _lines(record.get("lines")),
        float(record["seconds"]),
        _scores(record["extinction"]),
        tuple(_scores(scores) for scores in record.get("later_extinction", [])),
    )
    if "later_extinction" not in record and two_theta_range is not None and indexing.extinction:
        later = with_extinction(indexing, two_theta_range).later_extinction
        indexing = replace(indexing, later_extinction=later)
    return Outcome(
        int(record["index"]),
        int(record["space_group"]),
        np.asarray(record["true_cell"], dtype=np.float64),
        {level: np.asarray(p, dtype=np.float64) for level, p in record["network"].items()},
        indexing,
        tuple(bool(r) for r in record["ranks_right"]),
    )


class OutcomeFile:
    """A JSON-lines file of finished outcomes; its first line describes the run.

    A rerun must describe the same run (dataset, split, part, seed, selection, model), or the
    file is refused. A line cut short by an interruption is skipped (and counted in
    :attr:`unreadable`); its pattern is done again. ``code`` (the code version that started
    the file) is stored beside the run and not compared; :attr:`code` is the stored one.
    """

    def __init__(
        self,
        path: str | Path,
        run: dict[str, Any],
        code: dict[str, str] | None = None,
        two_theta_range: tuple[float, float] | None = None,
    ) -> None:
        self.path = Path(path)
        self.two_theta_range = two_theta_range
        self.run = json.loads(json.dumps(run, default=str))
        self.code = dict(code or {})
        self.unreadable = 0
        self._finished: dict[int, Outcome] | None = None

    def finished(self) -> dict[int, Outcome]:
        """The outcomes the file holds, by dataset index (read once).

        Raises:
            XrdsymError: the file describes another run, or is not an outcome file.
        """
        if self._finished is not None:
            return self._finished
        self._finished = {}
        if not self.path.is_file():
            return self._finished
        with self.path.open() as handle:
            header = handle.readline()
            self._check_header(header)
            for line in handle:
                try:
                    outcome = outcome_from_record(json.loads(line), self.two_theta_range)
                except (ValueError, KeyError, TypeError):
                    self.unreadable += 1
                    continue
                self._finished[outcome.index] = outcome
        return self._finished

    def _check_header(self, line: str) -> None:
        try:
            first = json.loads(line)
            stored, self.code = first["run"], dict(first.get("code", {}))
        except (ValueError, KeyError, TypeError):
            raise XrdsymError(f"{self.path}: not an outcome file (no run line first)") from None
        differ = sorted(k for k in set(stored) | set(self.run) if stored.get(k) != self.run.get(k))
        if differ:
            shown = "; ".join(f"{k}: {stored.get(k)} != {self.run.get(k)}" for k in differ)
            raise XrdsymError(
                f"{self.path}: holds the outcomes of another run ({shown}); "
                "give another output file or the same options"
            )

    def append(self, outcome: Outcome) -> None:
        """Write one finished outcome (and the run line first, for a new file), flushed."""
        finished = self.finished()
        new = not self.path.is_file() or self.path.stat().st_size == 0
        cut = False
        if not new:
            with self.path.open("rb") as handle:
                handle.seek(-1, 2)
                cut = handle.read(1) != b"\n"
        with self.path.open("a") as handle:
            if new:
                handle.write(json.dumps({"run": self.run, "code": self.code}) + "\n")
            elif cut:
                handle.write("\n")  # end a line an interruption cut short
            handle.write(json.dumps(outcome_record(outcome)) + "\n")
            handle.flush()
        finished[outcome.index] = outcome


def read_outcomes(path: str | Path) -> list[Outcome]:
    """The outcomes of an existing outcome file, whatever run its first line describes (for
    studies of finished runs; a file to resume or score belongs in :class:`OutcomeFile`)."""
    try:
        with Path(path).open() as handle:
            run = json.loads(handle.readline())["run"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise XrdsymError(f"{path}: not an outcome file ({exc})") from None
    return list(OutcomeFile(path, run).finished().values())


# ---- the run


def lab_renderer(dataset: Any, indices: np.ndarray, off: str = "") -> Any:
    """The evaluation's laboratory renderer: impurity phases drawn from the structures of
    ``indices``, the families of :data:`LAB_OFF` switched off, and ``off`` as well when given
    (an ablation of one family; the other random draws stay the same)."""
    # deferred until called: imports scipy
    from xrdsym.patterns.renderers import make_renderer

    switched_off = LAB_OFF + ((off,) if off else ())
    return make_renderer("lab", impurity_pool=IndexedPeaks(dataset, indices), lab_off=switched_off)


def _index_counts(job: tuple[np.ndarray, np.ndarray, float]) -> IndexingResult:
    """Index one rendered profile (2theta, counts, wavelength)."""
    # deferred until called (in each worker process): imports spglib
    from xrdsym.indexing.pattern import index_pattern

    return index_pattern(*job)


Job = tuple[int, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray, float]]


def _index_job(job: Job) -> IndexingResult:
    """Worker: :func:`_index_counts` of a job's profile (module level, so that worker processes
    can run it)."""
    return _index_counts(job[2])


def run_part(
    dataset: Any,
    indices: np.ndarray,
    classifier: Any,
    seed: int = 0,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    workers: int = 1,
    store: OutcomeFile | None = None,
) -> list[Outcome]:
    """Render, classify and index every structure of ``indices`` not yet in ``store`` (indexing
    in ``workers`` processes); returns the outcomes of all of ``indices`` that are finished, in
    the order of ``indices``. ``progress`` wraps the iterator of new outcomes."""
    # deferred until called: imports torch
    from xrdsym.training.data import PatternPreparer, pattern_rng

    finished = dict(store.finished()) if store is not None else {}
    grid = classifier.grid
    renderer = lab_renderer(dataset, indices)
    preparer = PatternPreparer()
    x = grid.two_theta()
    order = np.random.default_rng(seed).permutation(np.asarray(indices, dtype=np.int64))
    todo = [int(i) for i in order if int(i) not in finished]

    def jobs() -> Iterator[Job]:
        for index in todo:
            rng = pattern_rng(seed, -1, index)
            two_theta, intensity = dataset.peaks(index)
            counts = renderer(two_theta, intensity, grid, rng)
            levels = classifier.predict_levels(preparer(counts, grid, rng)[None, :])
            yield index, {level: p[0] for level, p in levels.items()}, (x, counts, grid.wavelength)

    def outcomes() -> Iterator[Outcome]:
        # each job with its indexing, in order, at most 3 x workers jobs ahead in the pool
        for (index, network, _), indexing in ordered_map(_index_job, jobs(), workers):
            true_cell = true_reduced_cell(dataset.prototype(index))
            ranks = tuple(same_reduced_cell(c.reduced_cell, true_cell) for c in indexing.candidates)
            yield Outcome(index, dataset.space_group(index), true_cell, network, indexing, ranks)

    for outcome in progress(outcomes()) if progress is not None else outcomes():
        if store is not None:
            store.append(outcome)
        finished[outcome.index] = outcome
    return [finished[int(i)] for i in indices if int(i) in finished]


def true_labels(space_group_number: int) -> dict[str, int]:
    """The three levels' integer labels of a space group given by its number 1-230."""
    return {level: int(v) for level, v in level_labels(np.asarray(space_group_number - 1)).items()}
