"""``classify`` with indexing: the joined answer in the API, text, JSON, CSV and figure."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_classify import model_dir as plain_model_dir  # noqa: F401 - a fixture

from xrdsym.classify import load_model, read_sample
from xrdsym.classify.joint import FEATURES, EvidenceWeight, write_evidence_weight
from xrdsym.cli import main

#: Coefficients that trust the search's first cell (z = 20, w ~ 1) and no later one (z = 0).
TRUST_FIRST = tuple(20.0 if name == "first_rank" else 0.0 for name in FEATURES)


@pytest.fixture(scope="module")
def spinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated MgAl2O4 spinel scan (Fd-3m, a = 8.08 A, 17 lines to 110 degrees) as .xy."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    from xrdsym.simulate import simulate
    from xrdsym.structures.crystal import crystal_from_pymatgen

    sites = [[0, 0, 0], [0.625, 0.625, 0.625], [0.387, 0.387, 0.387]]
    structure = Structure.from_spacegroup("Fd-3m", Lattice.cubic(8.08), ["Mg", "Al", "O"], sites)
    pattern = simulate(crystal_from_pymatgen(structure, name="spinel"), random=True, seed=1)
    path = tmp_path_factory.mktemp("scan") / "spinel.xy"
    header = f"simulated spinel\nwavelength = {pattern.grid.wavelength} A"
    np.savetxt(path, np.column_stack([pattern.two_theta, pattern.counts]), header=header)
    return path


@pytest.fixture(scope="module")
def model_dir(plain_model_dir: Path) -> Path:  # noqa: F811 - the imported fixture
    """The tiny untrained model of test_classify with an evidence weight that trusts the first
    cell (w ~ 1)."""
    write_evidence_weight(EvidenceWeight(TRUST_FIRST), plain_model_dir)
    return plain_model_dir


def test_spinel_is_indexed_and_the_cell_decides_the_crystal_system(
    model_dir: Path, spinel: Path
) -> None:
    classifier = load_model(model_dir)
    prediction = classifier.classify(read_sample(spinel, classifier.grid))[0]
    best = prediction.indexing.best
    assert best is not None and best.bravais == "cF"
    assert best.cell[0] == pytest.approx(8.08, rel=0.005)
    assert prediction.cell_probability > 0.99
    assert prediction.decided_by["crystal_system"] == "indexing"
    assert prediction.crystal_system[0].label == "cubic"
    assert prediction.space_group[0].symbol.startswith("F")
    assert any(s.symbol.startswith("Fd-3") for s in prediction.indexing.extinction[:2])


def test_no_index_gives_the_network_alone(
    model_dir: Path, spinel: Path, capsys: pytest.CaptureFixture
) -> None:
    classifier = load_model(model_dir)
    alone = classifier.classify(read_sample(spinel, classifier.grid), index=False)[0]
    assert alone.indexing is None and set(alone.decided_by.values()) == {"network"}
    assert main(["classify", str(spinel), "--model", str(model_dir), "--no-index", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["indexing"] is None
    assert record["decided_by"] == dict.fromkeys(
        ("crystal_system", "extinction_group", "space_group"), "network"
    )


def test_text_json_and_csv_carry_the_cell(
    model_dir: Path, spinel: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "answers.csv"
    assert main(["classify", str(spinel), "--model", str(model_dir), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cF 8.0" in text and "M20" in text and "zero shift" in text
    assert "decided by the cell: crystal system" in text
    row = next(csv.DictReader(out.open()))
    assert row["bravais"] == "cF" and row["cell"].startswith("8.0")
    assert row["crystal_system_decided_by"] == "indexing"
    assert row["lines_indexed"].split("/")[0] == row["lines_indexed"].split("/")[1]
    assert main(["classify", str(spinel), "--model", str(model_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["indexing"]["status"] == "indexed"
    assert record["indexing"]["candidates"][0]["bravais"] == "cF"
    assert record["indexing"]["extinction"][0]["forbidden_lines"] == 0


def test_figure_marks_the_cell_reflections(model_dir: Path, spinel: Path) -> None:
    classifier = load_model(model_dir)
    sample = read_sample(spinel, classifier.grid)
    prediction = classifier.classify(sample)[0]
    figure = classifier.figure(prediction, sample)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "cF cell reflections" in labels


def test_a_cell_below_the_confident_step_is_printed_as_a_suggestion(
    model_dir: Path, spinel: Path
) -> None:
    classifier = load_model(model_dir)
    classifier.evidence_weight = EvidenceWeight(TRUST_FIRST, confident_at=1.0)
    prediction = classifier.classify(read_sample(spinel, classifier.grid))[0]
    assert prediction.indexing.best is not None and not prediction.cell_confident
    assert set(prediction.decided_by.values()) == {"network"}
    assert "a suggestion only" in str(prediction)
    assert prediction.to_dict()["cell_confident"] is False
    assert prediction.summary_row()["cell_confident"] is False


def test_indexing_on_two_processes_gives_the_same_answers(
    model_dir: Path, spinel: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    classifier = load_model(model_dir)
    copy = tmp_path / "again.xy"
    shutil.copy(spinel, copy)
    samples = [read_sample(path, classifier.grid) for path in (spinel, copy)]
    serial = classifier.classify(samples)
    parallel = classifier.classify(samples, jobs=2)
    for one, two in zip(serial, parallel, strict=True):
        assert two.indexing is not None and two.indexing.best is not None
        assert two.indexing.candidates == one.indexing.candidates
        assert two.cell_probability == one.cell_probability
        assert two.space_group == one.space_group
    assert main(["classify", str(spinel), "--model", str(model_dir), "--jobs", "0"]) != 0
    assert "--jobs must be at least 1" in capsys.readouterr().err
