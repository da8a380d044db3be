"""Fitting the joined answer on validation outcomes and its reliability tables."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_indexing_run import _cubic_result

from research.indexing_fit import fit_evidence, joined_reliability, reliability_markdown
from research.indexing_run import Outcome
from xrdsym.classify.joint import FEATURES, EvidenceWeight
from xrdsym.spacegroups.table import level_probabilities, load_space_group_table

#: Zero coefficients of every cell feature but the intercept (w then does not depend on the cell).
ZERO_SLOPES = (0.0,) * (len(FEATURES) - 1)

TABLE = load_space_group_table()


def _outcomes(n: int, seed: int) -> list[Outcome]:
    """Cubic P cells whose M20 tells right (high) from wrong (low), true group P23 or Pm-3m;
    a network that spreads its mass over all groups."""
    rng = np.random.default_rng(seed)
    outcomes = []
    for i in range(n):
        m20 = float(rng.uniform(5.0, 80.0))
        right = bool(rng.random() < 1.0 / (1.0 + np.exp(-(m20 - 35.0) / 5.0)))
        result = _cubic_result()
        best = result.candidates[0]
        result = replace(result, candidates=(replace(best, m20=m20, f_n=m20),))
        p = rng.dirichlet(np.full(230, 0.5))
        truth = 195 if right else int(rng.integers(1, 195))
        outcomes.append(Outcome(i, truth, np.zeros(6), level_probabilities(p), result, (right,)))
    return outcomes


def test_fit_keeps_confident_wrong_cells_at_two_percent_of_the_fit_patterns() -> None:
    outcomes = _outcomes(300, 0)
    weight = fit_evidence(outcomes, {"part": "val"}, TABLE)
    fitted = weight.fitted_on
    assert 0.5 <= weight.confident_at < 1.0
    assert fitted["confident_out_of_fold"]["wrong"] <= 0.02 * 300
    assert fitted["confident_out_of_fold"]["cells"] > 50  # the high-M20 cells stay confident
    assert set(weight.level_temperatures) == {"crystal_system", "extinction_group", "space_group"}
    with pytest.raises(ValueError, match="right and wrong"):
        fit_evidence([o for o in outcomes if o.cell_right], {}, TABLE)


def test_reliability_of_a_weight_that_trusts_no_cell_is_the_networks() -> None:
    outcomes = _outcomes(60, 1)
    never = EvidenceWeight((-50.0, *ZERO_SLOPES))
    result = joined_reliability(outcomes, never, TABLE)
    for level in ("crystal_system", "extinction_group", "space_group"):
        net, joint = result[level]["network"], result[level]["joined"]
        assert sum(r["count"] for r in net["bins"]) == 60
        assert net["ece"] == pytest.approx(joint["ece"], abs=1e-6)
        assert net["top1"] == joint["top1"]
    sure = joined_reliability(outcomes, EvidenceWeight((50.0, *ZERO_SLOPES)), TABLE)
    # a cell trusted outright puts the cubic system on top for every pattern
    assert sure["crystal_system"]["joined"]["top1"] == pytest.approx(
        np.mean([o.space_group >= 195 for o in outcomes])
    )
    text = "\n".join(reliability_markdown(sure))
    assert "| top-1 probability | network: confidence" in text and "ECE (all 60" in text
    # w ~ 1 for every cell: one bin of w, whose share of right cells is the share of right ones
    (row,) = sure["cell"]["bins"]
    assert row["count"] == 60 and row["confidence"] == pytest.approx(1.0)
    assert row["accuracy"] == pytest.approx(np.mean([o.cell_right for o in outcomes]))
    assert "| w | mean w | share of right cells | n |" in text


def test_the_model_card_shows_the_recorded_reliability_tables(tmp_path) -> None:
    from research.model_card import joined_answer_lines
    from xrdsym.classify.joint import write_evidence_weight

    weight = EvidenceWeight((50.0, *ZERO_SLOPES), confident_at=0.8)
    write_evidence_weight(weight, tmp_path)
    assert joined_answer_lines(tmp_path) == []  # no tables recorded yet
    tables = joined_reliability(_outcomes(30, 2), weight, TABLE)
    write_evidence_weight(replace(weight, reliability={"part": "test", **tables}), tmp_path)
    text = "\n".join(joined_answer_lines(tmp_path))
    assert "w >= 0.800" in text and "30 patterns of the test part" in text
    assert text.count("| top-1 probability |") == 3


def test_the_frequency_exponent_is_fitted_only_where_frequencies_tell_the_members_apart() -> None:
    # the right cells' group holds P23 (the truth) and Pm-3; the network cannot tell them apart
    outcomes = _outcomes(200, 2)
    telling = np.full(230, 1.0)
    telling[195 - 1] = 20.0
    fitted = fit_evidence(outcomes, {}, TABLE, frequencies=telling / telling.sum())
    assert fitted.frequency_exponent > 0.0
    assert len(fitted.space_group_frequencies) == 230
    flat = fit_evidence(outcomes, {}, TABLE, frequencies=np.full(230, 1 / 230))
    assert flat.frequency_exponent == 0.0  # no exponent changes an answer: the smallest
    assert fit_evidence(outcomes, {}, TABLE).space_group_frequencies == ()


def test_the_extinction_temperature_is_the_softest_that_gets_most_groups_right() -> None:
    # the absences favour P23/Pm-3 (the truth) by one nat over P2_13, the network favours
    # P2_13 two to one: the truth wins while 2 exp(-1 / T) < 1, i.e. for T below 1.44
    from research.indexing_fit import fit_extinction_temperature
    from xrdsym.indexing.results import ExtinctionScore

    result = _cubic_result()
    scores = (result.extinction[0], ExtinctionScore(1, "P2_13", (198,), -4.5, 0, 3))
    result = replace(result, extinction=scores)
    p = np.full(230, 0.4 / 227)
    p[[195 - 1, 200 - 1, 198 - 1]] = 0.1, 0.1, 0.4
    outcomes = [
        Outcome(i, 195, np.zeros(6), level_probabilities(p), result, (True,)) for i in range(3)
    ]
    assert fit_extinction_temperature(outcomes, np.ones((3, 1)), TABLE) == 1.0
