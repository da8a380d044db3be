"""The classifier API and the ``classify`` command, on a small saved model and real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xrdsym.classify import (
    Classifier,
    load_model,
    read_sample,
    sample_from_arrays,
    top_k_prediction,
)
from xrdsym.cli import main
from xrdsym.errors import ModelFileError
from xrdsym.models import create_model, save_pretrained
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, label_maps, space_group

PATTERNS = Path(__file__).parent / "data" / "patterns"
GRID_POINTS = 1001


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained model saved like a trained one (safetensors + JSON)."""
    torch.manual_seed(0)
    model = create_model("xrdnet_tiny", input_length=GRID_POINTS)
    folder = tmp_path_factory.mktemp("model")
    config = {
        "architecture": "xrdnet_tiny",
        "model_kwargs": {"input_length": GRID_POINTS},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": GRID_POINTS, "wavelength": 1.540562},
    }
    save_pretrained(model, config, folder)
    return folder


def test_top_k_levels_are_consistent() -> None:
    p = np.zeros(230)
    p[[13, 61, 224]] = [0.5, 0.3, 0.2]  # P2_1/c, Pnma, Fm-3m
    prediction = top_k_prediction(p, k=3)
    assert [s.number for s in prediction.space_group] == [14, 62, 225]
    assert prediction.space_group[0].symbol == space_group(14).symbol
    systems = {s.label: s.probability for s in prediction.crystal_system}
    assert systems == pytest.approx({"monoclinic": 0.5, "orthorhombic": 0.3, "cubic": 0.2})
    assert prediction.extinction_group[0].space_groups == (14,)
    assert prediction.extinction_group[0].probability == pytest.approx(0.5)


def test_predict_proba_sums_to_one_and_reads_files(model_dir: Path) -> None:
    classifier = load_model(model_dir)
    assert isinstance(classifier, Classifier)
    p_file = classifier.predict_proba(
        read_sample(PATTERNS / "si_reference.xy", classifier.grid, "CuKa1")
    )
    assert p_file.shape == (1, 230) and p_file.sum() == pytest.approx(1.0, abs=1e-5)
    data = np.loadtxt(PATTERNS / "si_reference.xy", comments="#")
    arrays = sample_from_arrays(data[:, 0], data[:, 1], classifier.grid, wavelength=1.540562)
    assert np.allclose(p_file, classifier.predict_proba([arrays]), atol=1e-6)
    assert list(classifier.predict([arrays, arrays])) == [int(np.argmax(p_file)) + 1] * 2
    assert list(classifier.classes_) == list(range(1, 231))


def test_wavelength_conversion_moves_the_prediction_input(model_dir: Path) -> None:
    """A Mo K-alpha pattern converted to Cu positions gives the Cu pattern's input."""
    from xrdsym.io import Pattern
    from xrdsym.patterns.prepare import convert_two_theta, prepare_pattern
    from xrdsym.wavelengths import K_ALPHA1 as KA1

    classifier = load_model(model_dir)
    d_spacings = np.array([3.1356, 1.9201, 1.6375, 1.3577, 1.2459])

    def pattern(wavelength: float) -> Pattern:
        x = np.linspace(5.0, 120.0, 11501)
        centres = np.degrees(2 * np.arcsin(wavelength / (2 * d_spacings)))
        y = 10 + 1000 * np.exp(-0.5 * ((x[:, None] - centres) / 0.08) ** 2).sum(axis=1)
        return Pattern(x, y, wavelength, "synthetic", {})

    cu = prepare_pattern(pattern(KA1["Cu"]), classifier.grid)
    mo = prepare_pattern(pattern(KA1["Mo"]), classifier.grid)
    covered = cu.mask & mo.mask
    assert covered.sum() > 0.5 * len(covered)
    assert np.argmax(cu.values) == np.argmax(mo.values)
    assert convert_two_theta(np.array([20.0]), KA1["Mo"], KA1["Cu"])[0] > 40.0


def test_cli_json_lines_with_consistent_levels(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(PATTERNS / "si_reference.xy"), str(PATTERNS / "si_v21_counts.xrdml")]
    code = main(
        [
            "classify",
            *files,
            "--json",
            "--top-k",
            "230",
            "--model",
            str(model_dir),
            "--wavelength",
            "CuKa1",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    to_system, _ = label_maps()
    for line, name in zip(lines, files, strict=True):
        record = json.loads(line)
        assert record["file"] == name
        assert set(record) == {
            "file",
            "crystal_system",
            "extinction_group",
            "space_group",
            "prediction_sets",
            "coverage",
            "set_guarantee",
            "low_confidence",
            "low_confidence_levels",
            "abstained",
            "provenance",
            "decided_by",
            "cell_probability",
            "other_cells_probability",
            "cell_confident",
            "indexing",
        }
        provenance = record["provenance"]
        assert provenance["model"]["name"] == "xrdnet_tiny"
        assert provenance["model"]["version"].startswith("sha256:")
        # both files state their wavelength: --wavelength fills in only where a file has none
        assert provenance["wavelength"] == pytest.approx(1.540598)
        assert provenance["wavelength_source"] == "file"
        assert provenance["points"] > 500 and provenance["grid_coverage"] > 0.5
        assert len(provenance["two_theta_range"]) == 2
        assert all(e["symbol"] for e in record["extinction_group"])
        groups = record["space_group"]
        assert len(groups) == 230
        assert [g["probability"] for g in groups] == sorted(
            (g["probability"] for g in groups), reverse=True
        )
        p = np.zeros(230)
        for g in groups:
            p[g["number"] - 1] = g["probability"]
        for entry in record["crystal_system"]:
            index = CRYSTAL_SYSTEMS.index(entry["label"])
            assert entry["probability"] == pytest.approx(p[to_system == index].sum(), abs=1e-9)
        for entry in record["extinction_group"]:
            members = np.array(entry["space_groups"]) - 1
            assert entry["probability"] == pytest.approx(p[members].sum(), abs=1e-9)


def test_cli_skips_bad_files_and_reports(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "scan.raw"
    binary.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.xy"
    empty.write_text("")
    nan = tmp_path / "nan.xy"
    nan.write_text("".join(f"{10 + 0.1 * i} {'nan' if i == 5 else 100}\n" for i in range(500)))
    short = tmp_path / "short.xy"
    short.write_text("".join(f"{20 + 0.02 * i} {100 + i}\n" for i in range(500)))
    good = str(PATTERNS / "si_reference.xy")
    code = main(
        [
            "classify",
            str(binary),
            good,
            str(empty),
            str(nan),
            str(short),
            "--json",
            "--model",
            str(model_dir),
            "--wavelength",
            "CuKa1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert [json.loads(line)["file"] for line in captured.out.strip().splitlines()] == [good]
    for bad in (binary, empty, nan, short):
        assert str(bad) in captured.err
    assert "4 of 5 files failed" in captured.err


def test_cli_unknown_wavelength_and_missing_model(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(PATTERNS / "si_reference.xy")
    assert main(["classify", good, "--model", str(model_dir), "--wavelength", "XyKa"]) == 1
    assert "unknown wavelength" in capsys.readouterr().err
    assert main(["classify", good, "--model", str(tmp_path / "nowhere")]) == 1
    assert "model folder not found" in capsys.readouterr().err
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "nowhere")


def test_cli_plot_writes_png(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    assert (
        main(
            [
                "classify",
                str(PATTERNS / "si_reference.xy"),
                "--model",
                str(model_dir),
                "--wavelength",
                "CuKa1",
                "--plot",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
