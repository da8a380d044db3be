"""What the user reads: JSON and CSV agree on abstentions, extinction groups by symbol, top-k CSV
columns, the package version, and a Prediction that prints as the command's text.

Runs the bundled model on the bundled example (ONNX Runtime, a fraction of a second).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import xrdsym
from xrdsym.classify import load_model, read_sample
from xrdsym.classify.answers import indexing_lines, percent
from xrdsym.cli import main
from xrdsym.spacegroups.table import LEVELS, load_space_group_table

EXAMPLE = Path(__file__).resolve().parents[1] / "src/xrdsym/examples/PbSO4_CuKa.csv"


def classify_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *options: str
) -> tuple[dict, dict]:
    """(JSON record, CSV row) of the example with the same options (the network alone: the
    output, not the indexing, is under test)."""
    base = ["classify", str(EXAMPLE), "--wavelength", "CuKa", "--no-index", *options]
    assert main([*base, "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    out = tmp_path / "answers.csv"
    assert main([*base, "--csv", str(out)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1
    return record, rows[0]


def test_abstention_empties_the_same_levels_in_json_and_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    classifier = load_model()
    answer = classifier.classify(read_sample(EXAMPLE, classifier.grid, "CuKa"), index=False)[0]
    top_system = answer.crystal_system[0].probability
    top_group = answer.space_group[0].probability
    assert top_system > top_group  # a sum over a crystal system's groups
    threshold = (top_system + top_group) / 2
    record, row = classify_both(capsys, tmp_path, "--min-confidence", f"{threshold:.6f}")
    assert "space_group" in record["abstained"]
    assert "crystal_system" not in record["abstained"]
    assert row["abstained"].split() == record["abstained"]
    for level in LEVELS:
        columns = (row[level], row[f"{level}_probability"])
        if level in record["abstained"]:
            assert record[level] == []
            assert columns == ("", "")
        else:
            assert record[level] and all(columns)
        # the set stays either way, the same in both
        assert record["prediction_sets"][level]
    assert row["space_group_number"] == ""
    assert row["crystal_system"] == record["crystal_system"][0]["label"]


def test_extinction_groups_by_symbol_in_sets_and_answers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    symbols = set(load_space_group_table().extinction_symbols)
    record, row = classify_both(capsys, tmp_path)
    json_set = record["prediction_sets"]["extinction_group"]
    assert json_set and all(isinstance(s, str) and s in symbols for s in json_set)
    assert row["extinction_group_set"].split("; ") == json_set
    assert all("index" not in entry for entry in record["extinction_group"])
    assert row["extinction_group"] == record["extinction_group"][0]["symbol"] in symbols


def test_top_k_columns_rounded(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    record, row = classify_both(capsys, tmp_path, "--top-k", "3")
    for level in LEVELS:
        names = [level, f"{level}_2", f"{level}_3"]
        assert f"{level}_4" not in row
        probabilities = [float(row[f"{name}_probability"]) for name in names]
        assert probabilities == sorted(probabilities, reverse=True)
        for text, entry in zip(
            (row[f"{name}_probability"] for name in names), record[level], strict=True
        ):
            assert len(text.split(".")[-1]) <= 4
            assert float(text) == pytest.approx(entry["probability"], abs=5e-5)
    assert row["space_group_2"] == "{symbol} ({number})".format(**record["space_group"][1])


def test_package_version_in_the_provenance(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record, row = classify_both(capsys, tmp_path)
    assert record["provenance"]["xrdsym_version"] == xrdsym.__version__
    assert row["xrdsym_version"] == xrdsym.__version__


def test_sets_say_what_their_coverage_rests_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record, row = classify_both(capsys, tmp_path)
    assert record["set_guarantee"].startswith("90% of simulated")
    assert "measured scans" in record["set_guarantee"]
    assert row["set_guarantee"] == record["set_guarantee"]


def test_a_prediction_prints_as_the_command_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(EXAMPLE), "--wavelength", "CuKa", "--no-index"]) == 0
    text = capsys.readouterr().out.strip()
    classifier = load_model()
    sample = read_sample(str(EXAMPLE), classifier.grid, fallback="CuKa", origin="command line")
    prediction = classifier.classify(sample, index=False)[0]
    assert str(prediction) == text
    assert len(repr(prediction)) < 200 and prediction.space_group[0].symbol in repr(prediction)
    html = prediction._repr_html_()
    assert html.count("<tr>") == 4 and prediction.space_group[0].symbol in html


def test_figure_bars_on_a_fixed_axis_with_readable_labels() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_hex

    from xrdsym.plotting import extinction_label, mathtext_symbol

    assert mathtext_symbol("P-1") == r"$P\bar{1}$"
    assert mathtext_symbol("P2_1/c") == "$P2_1/c$"
    assert extinction_label("P3, P-3, P312, P321") == r"$P3$, $P\bar{3}$, $P312$ (+1)"
    classifier = load_model()
    sample = read_sample(str(EXAMPLE), classifier.grid, "CuKa")
    prediction = classifier.classify(sample, index=False)[0]
    figure = classifier.figure(prediction, sample)
    panels = figure.axes[1:]
    assert len(panels) == 3
    for panel in panels:
        assert panel.get_xlim() == (0.0, 1.0)
        colours = {to_hex(bar.get_facecolor()) for bar in panel.patches}
        title = panel.get_title(loc="left")
        # two colours only where the panel holds members and non-members of the set
        assert (len(colours) == 2) == ("dark: in the 90% set" in title)
    assert "\u00c5" in figure.axes[0].get_xlabel()


def test_the_indexed_cell_is_printed_in_the_text_and_the_table() -> None:
    classifier = load_model()
    sample = read_sample(str(EXAMPLE), classifier.grid, "CuKa")
    alone = classifier.classify(sample, index=False)[0]
    assert "cell  " not in str(alone)  # the network alone: no cell line
    joined = classifier.classify(sample)[0]
    assert joined.indexing is not None and joined.indexing.candidates
    first = joined.indexing.candidates[0]
    assert first.bravais == "oP"  # the example's orthorhombic cell comes first
    text = str(joined)
    assert f"{first.bravais} " in text and f"M20 {first.m20:.1f}" in text
    assert f"{first.n_indexed}/{first.n_lines} lines indexed" in text
    assert f"right with probability {percent(joined.cell_probability)}" in text
    if joined.indexing.best is None:  # refused by the classical rule: still weighed by w
        assert "the classical acceptance rule refuses it" in text
    assert f"M20 {first.m20:.1f}" in joined._repr_html_()


def test_a_refused_cell_is_weighed_by_its_probability_and_a_missing_one_leaves_the_network() -> (
    None
):
    from dataclasses import replace

    classifier = load_model()
    sample = read_sample(str(EXAMPLE), classifier.grid, "CuKa")
    joined = classifier.classify(sample)[0]
    found = joined.indexing
    assert found is not None and found.candidates
    refused = replace(found, status="not indexable", reason="no cell passes the acceptance rule")
    lines = indexing_lines(replace(joined, indexing=refused))
    assert lines[0].strip().startswith("cell") and "oP" in lines[0]
    assert "the classical acceptance rule refuses it: no cell passes" in "".join(lines)
    empty = replace(found, status="not indexable", reason="3 lines", candidates=())
    network = replace(joined, indexing=empty, cell_probability=0.0)
    assert indexing_lines(network) == [f"  {'cell':<20}not indexable: 3 lines"]


def test_an_hp_cell_says_that_the_network_ranks_trigonal_and_hexagonal() -> None:
    from dataclasses import replace

    classifier = load_model()
    joined = classifier.classify(read_sample(str(EXAMPLE), classifier.grid, "CuKa"))[0]
    found = joined.indexing
    assert found is not None and found.candidates
    note = "carries trigonal and hexagonal groups alike"
    assert note not in "".join(indexing_lines(joined))  # the example's cell is oP
    hexagonal = replace(found.candidates[0], bravais="hP", crystal_system="hexagonal")
    lines = indexing_lines(
        replace(joined, indexing=replace(found, candidates=(hexagonal, *found.candidates[1:])))
    )
    assert lines[0].strip().startswith("cell  ") and " hP " in lines[0]
    assert sum(note in line for line in lines) == 1


def test_low_confidence_names_every_level_below_one_half(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record, row = classify_both(capsys, tmp_path, "--top-k", "1")
    unsure = [
        level
        for level in LEVELS
        if record[level][0]["probability"] < load_model().calibration.low_confidence_below
    ]
    assert record["low_confidence_levels"] == unsure
    assert record["low_confidence"] == ("space_group" in unsure)
    assert row["low_confidence_levels"].split() == unsure


def test_where_a_cell_weighs_the_sets_are_the_joined_answers_own() -> None:
    from dataclasses import replace

    from xrdsym.calibration import prediction_set

    classifier = load_model()
    weight = classifier.evidence_weight
    assert weight is not None and weight.set_thresholds  # the bundled record has them
    sample = read_sample(str(EXAMPLE), classifier.grid, "CuKa")
    joined = classifier.classify(sample)[0]
    assert joined.cell_probability > 0.0
    assert "sets of the joined answer" in joined.set_guarantee
    expected = prediction_set(
        joined.levels["crystal_system"], weight.set_thresholds["crystal_system"]
    )
    table = load_space_group_table()
    assert joined.prediction_sets["crystal_system"] == tuple(
        table.crystal_systems[i] for i in expected
    )
    assert "sets of the joined answer" in str(joined)
    classifier.evidence_weight = replace(weight, measured_set_coverage=(("xred", 17, 0.8235),))
    measured = classifier.classify(sample)[0]
    assert "the crystal-system set for 82% of 17 xred measured scans" in measured.set_guarantee
    assert "with a cell" in measured.set_guarantee
    classifier.evidence_weight = replace(weight, set_thresholds={})
    fallback = classifier.classify(sample)[0]
    assert fallback.set_guarantee.endswith("sets of the network alone")
    alone = classifier.classify(sample, index=False)[0]
    assert fallback.prediction_sets == alone.prediction_sets
