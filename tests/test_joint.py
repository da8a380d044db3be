"""The joined answer: the network proposes, the indexed cell checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from indexed_cells import candidate_of, generic_structure, levels_of, observed_lines
from pymatgen.core import Lattice

from research.indexing_run import same_reduced_cell
from xrdsym.classify.answers import format_cell, indexing_columns
from xrdsym.classify.joint import (
    EVIDENCE_WEIGHT_NAME,
    FEATURES,
    JOINED_FEATURES,
    MIN_NETWORK_SYSTEM,
    EvidenceWeight,
    cell_features,
    cell_probabilities,
    cross_fitted_probabilities,
    fit_cell_weight,
    fit_confident_step,
    fit_joined_set_thresholds,
    fit_joined_temperatures,
    fit_temperature,
    join_levels,
    network_system_feature,
    read_evidence_weight,
    sharpened_within_extinction,
    write_evidence_weight,
)
from xrdsym.errors import ModelFileError
from xrdsym.indexing.extinction import score_extinction_groups, with_extinction
from xrdsym.indexing.results import IndexingResult
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, LEVELS, space_group
from xrdsym.spacegroups.table import level_probabilities, load_space_group_table

#: Zero coefficients of every cell feature but the intercept (w then does not depend on the cell).
ZERO_SLOPES = (0.0,) * (len(FEATURES) - 1)

TABLE = load_space_group_table()
SURE = EvidenceWeight((20.0, *ZERO_SLOPES))  # w = 1 for every cell
NEVER = EvidenceWeight((-20.0, *ZERO_SLOPES))  # w = 0


def _cubic_f_indexing() -> IndexingResult:
    structure = generic_structure("Fm-3m", Lattice.cubic(5.64), [[0, 0, 0], [0.5, 0.5, 0.5]])
    lines, _ = observed_lines(structure)
    candidate = candidate_of(structure, lines)
    scores = score_extinction_groups(candidate, lines, (10.0, 90.0))
    return IndexingResult("indexed", "", (candidate,), lines, 0.1, scores)


def _network_favouring(number: int) -> dict[str, np.ndarray]:
    p = np.full(230, 0.2 / 229)
    p[number - 1] = 0.8
    return levels_of(p)


def test_nothing_indexed_leaves_the_network_standing():
    network = _network_favouring(62)
    indexing = _cubic_f_indexing()
    failed = IndexingResult("not indexable", "6 lines", (), indexing.peaks, 0.1)
    for result, weight in ((None, SURE), (failed, SURE), (indexing, NEVER)):
        joined = join_levels(network, result, weight, TABLE)
        for level, p in network.items():
            np.testing.assert_allclose(joined.levels[level], p, atol=1e-8)
        assert set(joined.decided_by.values()) == {"network"}


def test_confident_cubic_f_cell_decides_system_and_extinction_group():
    network = _network_favouring(62)  # the network says Pnma
    joined = join_levels(network, _cubic_f_indexing(), SURE, TABLE)
    for p in joined.levels.values():
        assert p.sum() == pytest.approx(1.0)
    system = CRYSTAL_SYSTEMS[int(np.argmax(joined.levels["crystal_system"]))]
    assert system == "cubic"
    assert space_group(int(np.argmax(joined.levels["space_group"])) + 1).centring == "F"
    assert joined.decided_by["crystal_system"] == "indexing"
    assert joined.decided_by["extinction_group"] == "indexing"
    assert joined.decided_by["space_group"] == "network"  # F23 ... Fm-3m share the absences
    assert joined.cell_probability == pytest.approx(1.0)


def test_a_half_trusted_cell_mixes_the_two():
    network = _network_favouring(62)
    half = EvidenceWeight((0.0, *ZERO_SLOPES))
    joined = join_levels(network, _cubic_f_indexing(), half, TABLE)
    cubic = CRYSTAL_SYSTEMS.index("cubic")
    assert joined.levels["crystal_system"][cubic] == pytest.approx(
        0.5 + 0.5 * network["crystal_system"][cubic]
    )
    assert set(joined.decided_by.values()) == {"indexing", "network"}


def test_every_candidate_cell_weighs_by_its_probability():
    # the rock-salt pattern with two candidates: its cF cell first, a tP supercell second;
    # z = 1 for the first cell and 0 for the second: w = (e, 1) / (2 + e)
    structure = generic_structure("Fm-3m", Lattice.cubic(5.64), [[0, 0, 0], [0.5, 0.5, 0.5]])
    lines, _ = observed_lines(structure)
    first = candidate_of(structure, lines)
    second = candidate_of(structure, lines, cell=(5.64, 5.64, 11.28, 90, 90, 90), bravais="tP")
    indexing = with_extinction(
        IndexingResult("indexed", "", (first, second), lines, 0.1), (10.0, 90.0)
    )
    assert [c for c, _ in indexing.scored_candidates()] == [first, second]
    slopes = [0.0] * len(FEATURES)
    slopes[FEATURES.index("first_rank")] = 1.0
    weight = EvidenceWeight(tuple(slopes))
    w = weight.cell_probabilities(indexing)
    np.testing.assert_allclose(w, np.array([np.e, 1.0]) / (2.0 + np.e))
    network = _network_favouring(62)
    joined = join_levels(network, indexing, weight, TABLE)
    assert joined.cell_probability == pytest.approx(w[0])
    assert joined.other_cells_probability == pytest.approx(w[1])
    rest = 1.0 - w.sum()
    for system, share in (("cubic", w[0]), ("tetragonal", w[1])):
        i = CRYSTAL_SYSTEMS.index(system)
        expected = share + rest * network["crystal_system"][i]
        assert joined.levels["crystal_system"][i] == pytest.approx(expected)


def test_the_network_feature_sums_the_systems_a_lattice_carries():
    p = np.array([0.05, 0.1, 0.15, 0.2, 0.25, 0.2, 0.05])  # in the order of CRYSTAL_SYSTEMS
    assert network_system_feature("hP", p) == pytest.approx(np.log(0.45))  # trigonal + hexagonal
    assert network_system_feature("hR", p) == pytest.approx(np.log(0.25))
    assert network_system_feature("mC", p) == pytest.approx(np.log(0.1))
    assert network_system_feature("cF", np.zeros(7)) == pytest.approx(np.log(MIN_NETWORK_SYSTEM))


def test_the_joined_w_weighs_the_network_and_the_cells_own_w_decides():
    """With a slope on the network's probability of the cell's system, the joined answer's w
    follows the network; the printed w and the confident step stay the cells' own."""
    indexing = _cubic_f_indexing()
    own = (20.0, *ZERO_SLOPES)  # the cells alone: w = 1
    joined_slopes = [0.0] * len(JOINED_FEATURES)
    joined_slopes[JOINED_FEATURES.index("log_network_system")] = 1.0
    weight = EvidenceWeight(own, joined_coefficients=tuple(joined_slopes))
    network = _network_favouring(62)  # orthorhombic Pnma: cubic gets little
    cubic_share = float(network["crystal_system"][CRYSTAL_SYSTEMS.index("cubic")])
    w, own_w = weight.joined_and_own_probabilities(indexing, network["crystal_system"])
    np.testing.assert_allclose(w, [cubic_share / (1.0 + cubic_share)])
    assert own_w[0] > 0.999
    np.testing.assert_allclose(own_w, weight.cell_probabilities(indexing))
    joined = join_levels(network, indexing, weight, TABLE)
    assert joined.cell_probability > 0.999 and joined.confident
    cubic = CRYSTAL_SYSTEMS.index("cubic")
    assert joined.levels["crystal_system"][cubic] < 0.5  # the mixture took the network's doubt
    unjoined = join_levels(network, indexing, EvidenceWeight(own), TABLE)
    assert unjoined.levels["crystal_system"][cubic] > 0.99


def test_a_cell_below_the_confident_step_is_a_suggestion_that_decides_nothing():
    network = _network_favouring(62)
    sure_but_strict = EvidenceWeight((20.0, *ZERO_SLOPES), confident_at=1.0)
    joined = join_levels(network, _cubic_f_indexing(), sure_but_strict, TABLE)
    assert not joined.confident and set(joined.decided_by.values()) == {"network"}
    cubic = CRYSTAL_SYSTEMS.index("cubic")
    assert joined.levels["crystal_system"][cubic] > 0.99  # it still weighs in the mixture
    assert join_levels(network, _cubic_f_indexing(), SURE, TABLE).confident


def test_level_temperatures_calibrate_the_joined_answer_and_keep_its_ranking():
    network = _network_favouring(62)
    half = EvidenceWeight((0.0, *ZERO_SLOPES))
    soft = EvidenceWeight((0.0, *ZERO_SLOPES), level_temperatures={"crystal_system": 3.0})
    raw = join_levels(network, _cubic_f_indexing(), half, TABLE).levels["crystal_system"]
    tempered = join_levels(network, _cubic_f_indexing(), soft, TABLE).levels["crystal_system"]
    expected = raw ** (1 / 3) / np.sum(raw ** (1 / 3))
    np.testing.assert_allclose(tempered, expected, rtol=1e-9)
    assert np.argmax(tempered) == np.argmax(raw) and tempered.max() < raw.max()


def test_joined_temperatures_recover_a_known_temperature():
    rng = np.random.default_rng(3)
    levels, labels = [], []
    for _ in range(3000):
        p = {
            level: rng.dirichlet(np.full(n, 0.3))
            for level, n in (("crystal_system", 7), ("extinction_group", 101), ("space_group", 230))
        }
        truth = {}
        for level, q in p.items():  # labels drawn from q^(1/2): the calibrated T is 2
            sharp = q**0.5 / np.sum(q**0.5)
            truth[level] = int(rng.choice(len(q), p=sharp))
        levels.append(p)
        labels.append(truth)
    fitted = fit_joined_temperatures(levels, labels)
    for level, t in fitted.items():
        assert t == pytest.approx(2.0, rel=0.12), level


def test_joined_set_thresholds_hold_the_truth_for_the_stated_share_of_new_patterns():
    from xrdsym.calibration import set_membership

    rng = np.random.default_rng(5)

    def draw(n: int) -> tuple[list[dict[str, np.ndarray]], list[dict[str, int]]]:
        levels, labels = [], []
        for _ in range(n):
            p = {
                level: rng.dirichlet(np.full(k, 0.3))
                for level, k in (
                    ("crystal_system", 7),
                    ("extinction_group", 101),
                    ("space_group", 230),
                )
            }
            levels.append(p)  # calibrated: each label drawn from its own distribution
            labels.append({level: int(rng.choice(len(q), p=q)) for level, q in p.items()})
        return levels, labels

    fitted_levels, fitted_labels = draw(1500)
    thresholds = fit_joined_set_thresholds(fitted_levels, fitted_labels, 0.9)
    assert set(thresholds) == set(LEVELS) and all(0.0 < t < 1.0 for t in thresholds.values())
    new_levels, new_labels = draw(1500)
    for level, t in thresholds.items():
        p = np.stack([x[level] for x in new_levels])
        truth = np.array([x[level] for x in new_labels])
        held = set_membership(p, t)[np.arange(len(truth)), truth].mean()
        assert 0.87 <= held <= 0.94, level  # 90 % sets, 1,500 new patterns
    smaller = fit_joined_set_thresholds(fitted_levels, fitted_labels, 0.5)
    assert all(smaller[level] > thresholds[level] for level in LEVELS)


def test_confident_step_is_the_lowest_with_few_enough_wrong_cells():
    w = np.array([0.3, 0.55, 0.6, 0.7, 0.8, 0.9])
    right = np.array([False, False, False, True, False, True])
    assert fit_confident_step(w, right, 100, max_wrong=0.02) == pytest.approx(0.6)
    assert fit_confident_step(w, right, 100, max_wrong=0.01) == pytest.approx(0.7)
    assert fit_confident_step(w, right, 100, max_wrong=0.0) == pytest.approx(0.9)
    assert fit_confident_step(w, right, 100, max_wrong=0.05) == pytest.approx(0.5)
    assert fit_confident_step(w, np.zeros(6, bool), 10, max_wrong=0.0) == pytest.approx(1.0)


def _one_cell_each(m20: np.ndarray) -> np.ndarray:
    """(n, 1, 5) features of one cell per pattern from its M20."""
    return np.stack([[[1.0, np.log1p(m), 1.0, np.log(20), np.log1p(m)]] for m in m20])


def test_cross_fitted_probabilities_come_from_the_other_folds():
    rng = np.random.default_rng(1)
    m20 = rng.uniform(1, 60, 300)
    right = rng.random(300) < 1 / (1 + np.exp(-(m20 - 20) / 4))
    x, rank = _one_cell_each(m20), np.where(right, 0, -1)
    w = cross_fitted_probabilities(x, rank, folds=5, seed=0)[:, 0]
    assert w.shape == (300,) and np.all((w > 0) & (w < 1))
    assert w[m20 > 40].mean() > 0.8 and w[m20 < 10].mean() < 0.2
    assert not np.allclose(w, cross_fitted_probabilities(x, rank, folds=5, seed=1)[:, 0])


def test_one_cell_gets_the_logistic_and_several_share_one_probability():
    beta = np.array([0.5, -1.0])
    one = cell_probabilities(np.array([[1.0, 2.0]]), beta)
    assert one[0] == pytest.approx(1 / (1 + np.exp(1.5)))
    z = np.array([2.0, 0.0, -1.0])  # three cells: exp(z_i) / (1 + sum exp(z_j))
    several = cell_probabilities(np.stack([[1.0, (0.5 - zi)] for zi in z]), beta)
    np.testing.assert_allclose(several, np.exp(z) / (1 + np.exp(z).sum()))
    assert several.sum() < 1.0  # "none of them" keeps the rest


def test_the_fit_finds_the_right_cell_among_several_whatever_its_rank():
    # each pattern has three cells; the right one (when any) has the highest "quality" feature,
    # its rank is random: the weight learns the feature, and the cells' w rank it first
    rng = np.random.default_rng(2)
    n = 400
    quality = rng.normal(0.0, 1.0, (n, 3))
    rank = np.where(rng.random(n) < 0.8, np.argmax(quality, axis=1), -1)
    quality[rank >= 0, rank[rank >= 0]] += 2.0
    x = np.stack([np.ones((n, 3)), quality], axis=2)
    beta = fit_cell_weight(x, rank)
    assert beta[1] > 1.0
    w = cross_fitted_probabilities(x, rank, folds=5, seed=0)
    has = rank >= 0
    assert np.mean(np.argmax(w[has], axis=1) == rank[has]) > 0.9
    assert np.all(w.sum(axis=1) < 1.0)


def test_frequencies_rerank_the_members_of_an_extinction_group_and_keep_its_total():
    p = np.full(230, 0.4 / 228)
    p[33 - 1], p[62 - 1] = 0.33, 0.27  # the network prefers Pna2_1 to Pnma (one group)
    frequencies = np.full(230, 1 / 230)
    frequencies[62 - 1] *= 10.0  # Pnma is ten times as frequent
    sharp = sharpened_within_extinction(p, frequencies, 1.0, TABLE)
    assert sharp[62 - 1] > sharp[33 - 1]
    assert sharp[33 - 1] + sharp[62 - 1] == pytest.approx(0.6)
    for level in ("crystal_system", "extinction_group"):
        np.testing.assert_allclose(level_probabilities(sharp)[level], levels_of(p)[level])
    np.testing.assert_array_equal(sharpened_within_extinction(p, frequencies, 0.0, TABLE), p)


def test_a_cell_answer_takes_the_frequent_member_of_its_extinction_group():
    # rock salt's cF cell leaves F23, Fm-3, F432, F-43m and Fm-3m (one extinction group) tied
    network = levels_of(np.full(230, 1 / 230))
    frequencies = np.full(230, 1.0)
    frequencies[225 - 1] = 20.0
    plain = join_levels(network, _cubic_f_indexing(), SURE, TABLE)
    sharp = EvidenceWeight(
        SURE.coefficients, frequency_exponent=1.0, space_group_frequencies=tuple(frequencies)
    )
    joined = join_levels(network, _cubic_f_indexing(), sharp, TABLE)
    assert int(np.argmax(joined.levels["space_group"])) + 1 == 225
    assert int(np.argmax(plain.levels["space_group"])) + 1 != 225
    np.testing.assert_allclose(
        joined.levels["extinction_group"], plain.levels["extinction_group"], atol=1e-12
    )
    nothing = join_levels(network, None, sharp, TABLE)  # no cell: the network unchanged
    np.testing.assert_allclose(nothing.levels["space_group"], network["space_group"])


def test_weight_record_round_trip_and_bad_record(tmp_path):
    weight = EvidenceWeight(
        (1.0, 2.0, 3.0, -1.0, 0.5, -2.0, -0.5, -0.3, -1.0, -0.7, 0.6, -2.0),
        2.0,
        {"part": "val"},
        confident_at=0.75,
        level_temperatures={"crystal_system": 1.5, "space_group": 0.8},
        reliability={"n": 3},
        frequency_exponent=0.5,
        space_group_frequencies=tuple(round(f, 8) for f in np.linspace(1.0, 2.0, 230) / 345.0),
        joined_coefficients=(0.5,) * len(JOINED_FEATURES),
        set_thresholds={"crystal_system": 0.14, "space_group": 0.0026},
        measured_set_coverage=(("xred", 17, 0.8235),),
    )
    write_evidence_weight(weight, tmp_path)
    assert read_evidence_weight(tmp_path) == weight
    (tmp_path / EVIDENCE_WEIGHT_NAME).write_text(json.dumps({"features": ["x"]}))
    with pytest.raises(ModelFileError, match=EVIDENCE_WEIGHT_NAME):
        read_evidence_weight(tmp_path)
    assert read_evidence_weight(tmp_path / "missing") is None
    good = weight.to_dict()
    for field, value in (
        ("confident_at", 0.2),
        ("level_temperatures", {"space_group": 0.0}),
        ("frequency_exponent", -1.0),
        ("space_group_frequencies", [0.1] * 229),
        ("joined_coefficients", [0.5] * len(FEATURES)),
        ("set_thresholds", {"space_group": 1.5}),
        ("set_thresholds", {"lattice": 0.1}),
        ("measured_set_coverage", [["xred", 0, 0.5]]),
        ("measured_set_coverage", [["xred", 17, 1.2]]),
    ):
        (tmp_path / EVIDENCE_WEIGHT_NAME).write_text(json.dumps({**good, field: value}))
        with pytest.raises(ModelFileError, match=field):
            read_evidence_weight(tmp_path)
    older = {k: v for k, v in good.items() if k not in ("confident_at", "level_temperatures")}
    (tmp_path / EVIDENCE_WEIGHT_NAME).write_text(json.dumps(older))
    assert read_evidence_weight(tmp_path).confident_at == 0.5  # the step before it was fitted


def test_fitted_weight_rises_with_the_figure_of_merit():
    rng = np.random.default_rng(0)
    m20 = rng.uniform(1, 60, 400)
    right = rng.random(400) < 1 / (1 + np.exp(-(m20 - 20) / 4))
    x = _one_cell_each(m20)
    beta = fit_cell_weight(x, np.where(right, 0, -1))
    low = cell_probabilities(x[np.argmin(m20)], beta)[0]
    high = cell_probabilities(x[np.argmax(m20)], beta)[0]
    assert low < 0.2 and high > 0.8
    indexing = _cubic_f_indexing()
    assert cell_features(indexing.candidates[0], indexing.extinction).shape == (len(FEATURES),)
    later = cell_features(indexing.candidates[0], indexing.extinction, rank=2)
    assert later[FEATURES.index("first_rank")] == 0.0
    assert later[FEATURES.index("log1p_rank")] == pytest.approx(np.log(3))


def test_temperature_fit_prefers_sharp_scores_when_they_are_right():
    scores = [_cubic_f_indexing().extinction] * 3
    true = [scores[0][0].group] * 3
    assert fit_temperature(scores, true) == 0.25
    wrong = [scores[0][-1].group] * 3
    assert fit_temperature(scores, wrong) == 8.0


def test_reduced_cells_compare_within_tolerances():
    cell = (3.0, 4.0, 5.0, 90.0, 95.0, 90.0)
    assert same_reduced_cell(cell, (3.01, 4.0, 5.0, 90.0, 95.3, 90.0))
    assert same_reduced_cell(cell, (4.0, 3.0, 5.0, 95.0, 90.0, 90.0))  # a, b swapped
    assert not same_reduced_cell(cell, (3.03, 4.0, 5.0, 90.0, 95.0, 90.0))  # 1 % off
    assert not same_reduced_cell(cell, (3.0, 4.0, 5.0, 90.0, 96.0, 90.0))


def test_cell_text_and_columns():
    assert format_cell((5.39712, 6.9591, 8.4801, 90, 90, 90), (4e-4, 6e-4, 1.2e-3, 0, 0, 0)) == (
        "5.3971(4) 6.9591(6) 8.4801(12) 90 90 90"
    )
    row = indexing_columns(_cubic_f_indexing(), 0.97)
    assert row["indexing"] == "indexed" and row["bravais"] == "cF"
    assert row["extinction_candidates"].startswith("F23, Fm-3")
    assert indexing_columns(None, 0.0)["indexing"] == "not run"


def test_measured_lines_count_right_levels_and_cells():
    from dataclasses import replace

    from research.indexing_eval import MeasuredOutcome, measured_lines, measured_set_coverage

    info = space_group(62)
    truth = {
        "crystal_system": info.crystal_system_index,
        "extinction_group": info.extinction_group,
        "space_group": 61,
    }
    wrong = {"crystal_system": 0, "extinction_group": 0, "space_group": 0}
    sets = {"network": (False, 3), "joined": (True, 2)}
    outcomes = [
        MeasuredOutcome("a.xy", 62, truth, wrong, {}, None, 0, True, system_sets=sets),
        MeasuredOutcome("b.xy", 62, wrong, truth, {}, None, None, False, system_sets=sets),
    ]
    text = "\n".join(measured_lines(outcomes))
    assert "true cell among the first three: 1 of 1 scans with a CIF" in text
    assert "holds the truth (mean size): network 0 / 2 (3.0), answer 2 / 2 (2.0)" in text
    assert measured_set_coverage("data/xred/labels.csv", outcomes) == ("xred", 2, 1.0)
    assert measured_set_coverage("labels.csv", [replace(outcomes[0], system_sets={})]) is None
    assert "crystal_system     network   1 / 2   joined   1 / 2" in text


def test_a_cifs_cell_covers_its_own_scaled_shifted_lines_and_not_another_cells():
    from research.indexing_eval import MeasuredOutcome, cif_cell_coverage, measured_lines
    from xrdsym.indexing import metric

    cell = np.array([5.1, 6.3, 7.7, 90.0, 97.0, 90.0])
    gstar = metric.metric_from_lattice(
        metric.lattice_from_cell(cell * np.array([1.01] * 3 + [1.0] * 3))
    )
    r = np.arange(-3, 4)
    hkl = np.array(np.meshgrid(r, r, r)).reshape(3, -1).T
    q = np.unique(np.round(np.einsum("ni,ij,nj->n", hkl, gstar, hkl), 9))[1:16]
    two_theta = metric.two_theta_from_q(q, 1.5406) + 0.2  # 1 % larger cell, zero +0.2 deg
    assert cif_cell_coverage(two_theta, 1.5406, cell) == 15
    other = np.array([3.9, 3.9, 6.3, 90.0, 90.0, 120.0])
    assert cif_cell_coverage(two_theta, 1.5406, other) < 8
    wrong = {"crystal_system": 0, "extinction_group": 0, "space_group": 0}
    doubtful = MeasuredOutcome("x.xy", 62, wrong, wrong, {}, None, None, True, (5, 15))
    sound = MeasuredOutcome("y.xy", 62, wrong, wrong, {}, None, None, True, (15, 15))
    text = "\n".join(measured_lines([doubtful, sound]))
    assert "CIF cell indexes 5 / 15" in text
    assert text.splitlines()[-4].endswith("the label is doubtful: x.xy")


def test_cells_and_wrong_cells_are_counted_at_each_probability():
    from research.indexing_eval import score_outcomes, summary_lines
    from research.indexing_run import Outcome

    indexing = _cubic_f_indexing()
    cell = np.array([3.988, 3.988, 3.988, 60.0, 60.0, 60.0])
    outcomes = [
        Outcome(0, 225, cell, _network_favouring(225), indexing, (True,)),
        Outcome(1, 62, cell, _network_favouring(62), indexing, (False,)),
    ]
    sure = score_outcomes(outcomes, SURE, TABLE)
    assert sure["cells_at"] == {"0.5": 2, "0.7": 2, "0.9": 2, "0.95": 2}
    assert sure["wrong_cells_at"] == {"0.5": 1, "0.7": 1, "0.9": 1, "0.95": 1}
    assert "w >= 0.9: 2 (1)" in "\n".join(summary_lines(sure))
    # the sure wrong cubic cell turns the orthorhombic pattern's right network answer cubic
    by_system = sure["system_right_by_system"]
    assert (by_system["network"]["cubic"], by_system["joined"]["cubic"]) == (1, 1)
    assert (by_system["network"]["orthorhombic"], by_system["joined"]["orthorhombic"]) == (1, 0)
    assert "network 100.0%   joined 0.0%" in "\n".join(summary_lines(sure))
    assert sure["confident"] == 2 and sure["confident_wrong"] == 1
    strict = score_outcomes(outcomes, EvidenceWeight(SURE.coefficients, confident_at=1.0), TABLE)
    assert strict["confident"] == 0 and strict["cells_at"]["0.95"] == 2
    never = score_outcomes(outcomes, NEVER, TABLE)
    assert set(never["cells_at"].values()) == {0}
    assert set(never["wrong_cells_at"].values()) == {0}


def test_patterns_are_sorted_by_where_the_true_cell_stands():
    from research.indexing_eval import LOSS_CATEGORIES, loss_category, score_outcomes
    from research.indexing_run import Outcome

    indexing = _cubic_f_indexing()
    reduced = np.asarray(indexing.first.reduced_cell)
    doubled = reduced * np.array([1, 1, 2, 1, 1, 1])  # the true cell twice the first's volume
    halved = reduced * np.array([1, 1, 0.5, 1, 1, 1])
    network = _network_favouring(225)
    cases = {
        LOSS_CATEGORIES[1]: Outcome(0, 225, reduced, network, indexing, (True,)),
        LOSS_CATEGORIES[2]: Outcome(1, 225, reduced, network, indexing, (False, True)),
        LOSS_CATEGORIES[3]: Outcome(2, 225, doubled, network, indexing, (False,)),
        LOSS_CATEGORIES[4]: Outcome(3, 225, reduced * 1.01, network, indexing, (False,)),
        LOSS_CATEGORIES[5]: Outcome(4, 225, halved, network, indexing, (False,)),
    }
    for category, outcome in cases.items():
        assert loss_category(outcome) == category
    result = score_outcomes(list(cases.values()), SURE, TABLE)
    counts = result["system_right_by_category"]
    assert counts[LOSS_CATEGORIES[3]] == (1, 1)  # the cubic network and the cubic cell agree
    assert counts[LOSS_CATEGORIES[0]] == (0, 0) and counts[LOSS_CATEGORIES[6]] == (0, 0)


def test_a_doubled_cell_leaves_more_absences_unexplained_than_the_true_one():
    # rock salt indexed by its own cell and by a cell with c doubled (a primitive tetragonal
    # supercell indexes every line too, but predicts many positions where no line is seen)
    structure = generic_structure("Fm-3m", Lattice.cubic(5.64), [[0, 0, 0], [0.5, 0.5, 0.5]])
    lines, _ = observed_lines(structure)
    true = candidate_of(structure, lines)
    doubled = candidate_of(structure, lines, cell=(5.64, 5.64, 11.28, 90, 90, 90), bravais="tP")
    unexplained = FEATURES.index("unexplained_per_line")
    features = {
        name: cell_features(c, score_extinction_groups(c, lines, (10.0, 90.0)))
        for name, c in (("true", true), ("doubled", doubled))
    }
    assert features["true"][unexplained] == 0.0  # Fm-3m explains every absence of its cell
    assert features["doubled"][unexplained] > 0.5
    assert features["doubled"][FEATURES.index("free_parameters")] == 2.0
