"""The resumable indexing evaluation: finished patterns are written as they come, a rerun with
the same file skips them, and the stored outcomes read back as they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import PrototypePeaks

from research import indexing_run
from research.indexing_run import OutcomeFile, outcome_from_record, outcome_record, run_part
from xrdsym.errors import XrdsymError
from xrdsym.indexing.results import (
    CellCandidate,
    ExtinctionScore,
    IndexingResult,
    ObservedPeak,
    PeakSearchResult,
)
from xrdsym.patterns.grid import Grid

RUN = {"dataset": "tiny", "part": "test", "seed": 0}


@pytest.fixture(scope="module")
def stored_cells(shared_dir: Path) -> PrototypePeaks:
    """The first 5 structures of the shared Materials Project table, with their cells."""
    from xrdsym.structures.prototype import read_prototypes

    path = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return PrototypePeaks(read_prototypes(path, 5))


class FlatNetwork:
    """A stand-in classifier: the paper grid and uniform levels."""

    grid = Grid()

    def predict_levels(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "crystal_system": np.full((len(x), 7), 1 / 7),
            "extinction_group": np.full((len(x), 101), 1 / 101),
            "space_group": np.full((len(x), 230), 1 / 230),
        }


def _cubic_result(seconds: float = 0.5) -> IndexingResult:
    cell = (5.0, 5.0, 5.0, 90.0, 90.0, 90.0)
    candidate = CellCandidate(
        "cP", "cubic", cell, (1e-3, 0, 0, 0, 0, 0), cell, 125.0, 0.01, 40.0, 55.0, 20, 18, 20,
        ((1, 0, 0), None),
    )  # fmt: skip
    score = ExtinctionScore(0, "P23, Pm-3", (195, 200), -3.5, 0, 2)
    lines = (
        ObservedPeak(17.7, 0.004, 120.0, 30.5, 0.12),
        ObservedPeak(25.2, 0.006, 80.0, 21.0, 0.13),
    )
    peaks = PeakSearchResult(lines, 1.54, "stripped", "snip", 1.0, ("range limited",))
    return IndexingResult("indexed", "", (candidate,), peaks, seconds, (score,))


def test_an_interrupted_run_resumes_and_skips_the_finished_patterns(
    stored_cells: PrototypePeaks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexed: list[float] = []

    def fake_index(job: tuple[np.ndarray, np.ndarray, float]) -> IndexingResult:
        indexed.append(float(job[1].sum()))
        return _cubic_result()

    monkeypatch.setattr(indexing_run, "_index_counts", fake_index)
    indices = np.arange(5)
    store = OutcomeFile(tmp_path / "outcomes.jsonl", RUN)

    def stop_after_two(items):
        for n, item in enumerate(items):
            yield item
            if n == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_part(stored_cells, indices, FlatNetwork(), 0, stop_after_two, 1, store)
    assert len(indexed) == 2
    lines = (tmp_path / "outcomes.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"run": RUN, "code": {}} and len(lines) == 3
    first = {json.loads(line)["index"] for line in lines[1:]}

    indexed.clear()
    again = OutcomeFile(tmp_path / "outcomes.jsonl", RUN)
    outcomes = run_part(stored_cells, indices, FlatNetwork(), 0, None, 1, again)
    assert len(indexed) == 3  # only the three left
    assert [o.index for o in outcomes] == list(indices)
    assert first | {o.index for o in outcomes} == set(range(5))
    assert len((tmp_path / "outcomes.jsonl").read_text().splitlines()) == 6

    indexed.clear()
    third = OutcomeFile(tmp_path / "outcomes.jsonl", RUN)
    assert len(run_part(stored_cells, indices, FlatNetwork(), 0, None, 1, third)) == 5
    assert indexed == []


def test_a_line_cut_short_is_done_again_and_another_run_is_refused(
    stored_cells: PrototypePeaks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexing_run, "_index_counts", lambda job: _cubic_result())
    path = tmp_path / "outcomes.jsonl"
    run_part(stored_cells, np.arange(3), FlatNetwork(), 0, None, 1, OutcomeFile(path, RUN))
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # the last line cut by an interruption
    store = OutcomeFile(path, RUN)
    assert len(store.finished()) == 2 and store.unreadable == 1
    assert len(run_part(stored_cells, np.arange(3), FlatNetwork(), 0, None, 1, store)) == 3
    assert len(OutcomeFile(path, RUN).finished()) == 3
    with pytest.raises(XrdsymError, match="seed: 0 != 1"):
        OutcomeFile(path, {**RUN, "seed": 1}).finished()


def test_a_stored_outcome_reads_back_as_it_was() -> None:
    from research.indexing_run import Outcome

    network = {"space_group": np.array([1e-12, 0.25, 0.75 - 1e-12])}
    outcome = Outcome(7, 195, np.array([5.0, 5, 5, 90, 90, 90]), network, _cubic_result(), (True,))
    back = outcome_from_record(json.loads(json.dumps(outcome_record(outcome))))
    assert back.index == 7 and back.cell_right and back.space_group == 195
    assert back.indexing.candidates == outcome.indexing.candidates
    assert back.ranks_right == (True,)
    assert back.indexing.extinction == outcome.indexing.extinction
    assert back.indexing.peaks == outcome.indexing.peaks  # the lines, to score them again
    np.testing.assert_allclose(back.network["space_group"], network["space_group"], rtol=1e-6)


def test_later_cells_scores_are_stored_or_scored_again_from_the_lines() -> None:
    from indexed_cells import candidate_of, generic_structure, observed_lines
    from pymatgen.core import Lattice

    from research.indexing_run import Outcome
    from xrdsym.indexing.extinction import with_extinction

    structure = generic_structure("Fm-3m", Lattice.cubic(5.64), [[0, 0, 0], [0.5, 0.5, 0.5]])
    lines, _ = observed_lines(structure)
    cells = (
        candidate_of(structure, lines),
        candidate_of(structure, lines, cell=(5.64, 5.64, 11.28, 90, 90, 90), bravais="tP"),
    )
    span = (10.0, 90.0)
    indexing = with_extinction(IndexingResult("indexed", "", cells, lines, 0.1), span)
    assert len(indexing.later_extinction) == 1 and indexing.later_extinction[0]
    network = {"space_group": np.full(230, 1 / 230)}
    outcome = Outcome(3, 225, np.zeros(6), network, indexing, (True, False))
    record = json.loads(json.dumps(outcome_record(outcome)))

    def later(record: dict, span: tuple[float, float] | None = None) -> list[tuple]:
        scores = outcome_from_record(record, span).indexing.later_extinction
        return [
            [(e.group, round(e.log_likelihood, 3), e.forbidden_lines) for e in s] for s in scores
        ]

    expected = later(record)
    assert len(expected) == 1 and len(expected[0]) == len(indexing.later_extinction[0])
    del record["later_extinction"]  # a record of the time only the first cell was scored
    assert later(record, span) == expected
    assert later(record) == []
