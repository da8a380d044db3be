"""The study that chooses the extinction analysis's stray-line probability
(``python -m research.extinction_stray``): outcome files read back whatever run they describe,
and a smaller stray-line probability makes a group that forbids an observed line less likely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from research.extinction_stray import main, stray_row
from research.indexing_run import Outcome, OutcomeFile, read_outcomes
from xrdsym.errors import XrdsymError
from xrdsym.indexing.results import IndexingResult
from xrdsym.spacegroups.table import load_space_group_table


def _rock_salt_outcome_file(path: Path) -> Path:
    """An outcome file of one Fm-3m pattern whose first cell is the true cell."""
    from indexed_cells import candidate_of, generic_structure, observed_lines
    from pymatgen.core import Lattice

    structure = generic_structure("Fm-3m", Lattice.cubic(5.64), [[0, 0, 0], [0.5, 0.5, 0.5]])
    lines, _ = observed_lines(structure)
    indexing = IndexingResult("indexed", "", (candidate_of(structure, lines),), lines, 0.1)
    network = {"space_group": np.full(230, 1 / 230)}
    store = OutcomeFile(path, {"dataset": "rock salt", "part": "val"})
    store.append(Outcome(0, 225, np.zeros(6), network, indexing, (True,)))
    return path


def test_an_outcome_file_reads_back_whatever_run_it_describes(tmp_path: Path) -> None:
    path = _rock_salt_outcome_file(tmp_path / "val.jsonl")
    (outcome,) = read_outcomes(path)
    assert outcome.space_group == 225 and outcome.cell_right
    other = tmp_path / "other.jsonl"
    other.write_text("2theta,counts\n")
    with pytest.raises(XrdsymError, match="other.jsonl: not an outcome file"):
        read_outcomes(other)


def test_a_smaller_stray_probability_rules_out_the_groups_that_forbid_a_line(
    tmp_path: Path,
) -> None:
    # F4_132 and Fd-3m forbid the 200 line of rock salt; Fm-3m's group forbids none
    outcomes = read_outcomes(_rock_salt_outcome_file(tmp_path / "val.jsonl"))
    table = load_space_group_table()
    loose, strict = (stray_row(outcomes, p, table) for p in (1e-2, 1e-7))
    assert loose["top1_absences"] == strict["top1_absences"] == 1.0
    assert strict["mean_log_probability"] > loose["mean_log_probability"]


def test_the_study_prints_a_row_per_probability(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _rock_salt_outcome_file(tmp_path / "val.jsonl")
    assert main(["--outcomes", str(path), "--p-stray", "1e-2", "1e-7"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  1e-")]
    assert [row.split()[0] for row in rows] == ["1e-02", "1e-07"]
