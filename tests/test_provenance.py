"""Answers carry provenance; batches survive bad files; the API takes batches, structures, peaks."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import torch

from xrdsym.classify import (
    load_model,
    predictions_frame,
    read_sample,
    reader_events,
    sample_from_arrays,
    sample_from_peaks,
    sample_from_structure,
)
from xrdsym.cli import main
from xrdsym.errors import PatternFileError, XrdsymError
from xrdsym.io import read_pattern
from xrdsym.models import create_model, save_pretrained

PATTERNS = Path(__file__).parent / "data" / "patterns"
VENDOR = Path(__file__).parent / "data" / "vendor"
MESH = VENDOR / "m82762_rc1mm_1_16dg_src_slit_phi-101_3dg_-420_mesh_long.xrdml"
GRID_POINTS = 1001
PROVENANCE_KEYS = {
    "xrdsym_version",
    "model",
    "wavelength",
    "wavelength_source",
    "two_theta_range",
    "points",
    "grid_coverage",
    "format",
    "events",
    "warnings",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    config = {
        "architecture": "xrdnet_tiny",
        "model_kwargs": {"input_length": GRID_POINTS},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": GRID_POINTS, "wavelength": 1.540562},
    }
    save_pretrained(create_model("xrdnet_tiny", input_length=GRID_POINTS), config, folder)
    return folder


def _classify_json(model_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[Any]:
    code = main(["classify", *args, "--json", "--model", str(model_dir)])
    out = capsys.readouterr()
    return [code, [json.loads(line) for line in out.out.splitlines()], out.err]


def test_json_provenance_of_a_file_stated_wavelength_and_events(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor = VENDOR / "XRD-918-16_10.xrdml"
    code, records, _ = _classify_json(model_dir, capsys, str(vendor), str(PATTERNS / "si.ras"))
    assert code == 0
    first, ras = records
    assert set(first["provenance"]) == PROVENANCE_KEYS
    assert first["provenance"]["wavelength_source"] == "file"
    assert first["provenance"]["wavelength"] == pytest.approx(1.540598)
    assert first["provenance"]["two_theta_range"] == pytest.approx([4.00656514, 69.99936587])
    assert 0.55 < first["provenance"]["grid_coverage"] < 0.62
    assert ras["provenance"]["points"] == 601 and ras["provenance"]["format"] == "ras"
    assert reader_events(read_pattern(MESH).metadata) == ["scan 1 of 101 used"]


def test_repaired_rows_and_coarse_short_scans_are_reported(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    glued = tmp_path / "glued.xy"
    rows = [f"{10 + 0.05 * i:7.4f} {100 + i % 7:5d}" for i in range(1400)]
    rows[300] = f"{10 + 0.05 * 300:7.4f}10228"
    glued.write_text("\n".join(rows) + "\n")
    coarse = tmp_path / "coarse.xy"
    coarse.write_text("".join(f"{10 + 5.0 * i} {100 + 50 * (i % 3)}\n" for i in range(20)))
    code, records, _ = _classify_json(
        model_dir, capsys, str(glued), str(coarse), "--wavelength", "CuKa1"
    )
    assert code == 0
    assert "1 rows with glued columns repaired" in records[0]["provenance"]["events"]
    warnings = " ".join(records[1]["provenance"]["warnings"])
    assert "coarse scan" in warnings and "short scan" in warnings


def test_negative_two_theta_and_peak_lists_are_refused(model_dir: Path, tmp_path: Path) -> None:
    negative = tmp_path / "negative.xy"
    negative.write_text("".join(f"{-5 + 0.05 * i} {100 + i % 5}\n" for i in range(2000)))
    classifier = load_model(model_dir)
    with pytest.raises(PatternFileError, match="a powder scan lies within 0-180"):
        read_sample(negative, classifier.grid, "CuKa1")
    sticks_x = np.sort(np.random.default_rng(0).uniform(10, 100, 60))
    with pytest.raises(PatternFileError, match="looks like a peak list"):
        sample_from_arrays(sticks_x, np.ones(60), classifier.grid, "CuKa1")


def test_batch_survives_hostile_files(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.brml"
    data = bytearray((PATTERNS / "si.brml").read_bytes())
    data[len(data) // 3] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    encoding = tmp_path / "encoding.xrdml"
    text = (PATTERNS / "si_v15.xrdml").read_text()
    encoding.write_text(text.replace('encoding="UTF-8"', 'encoding="no-such-codec"', 1))
    bomb = tmp_path / "bomb.brml"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Experiment0/RawData0.xml", b"\0" * (64 * 2**20))
    fifo = tmp_path / "pipe.xy"
    os.mkfifo(fifo)
    good = [str(PATTERNS / "si_v15.xrdml"), str(PATTERNS / "si_reference.xy")]
    files = [good[0], str(corrupt), str(encoding), str(bomb), str(fifo), "/dev/zero", good[1]]
    code, records, err = _classify_json(model_dir, capsys, *files, "--wavelength", "CuKa1")
    assert code == 1
    assert [r["file"] for r in records] == good
    assert "5 of 7 files failed" in err
    for name in (corrupt, encoding, bomb, fifo):
        assert str(name) in err
    assert "possible zip bomb" in err and "named pipe" in err and "character device" in err


def test_csv_min_confidence_and_figure(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = matplotlib.get_backend()
    out = tmp_path / "answers.csv"
    args = ["classify", str(PATTERNS / "si_reference.xy"), "--model", str(model_dir)]
    args += ["--csv", str(out), "--min-confidence", "0.99", "--plot", str(tmp_path / "f.png")]
    assert main([*args, "--sqrt"]) == 0
    assert "no answer (below --min-confidence)" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["space_group"] == rows[0]["space_group_probability"] == ""
    assert rows[0]["space_group_number"] == ""
    assert (tmp_path / "f.png").stat().st_size > 10_000
    assert matplotlib.get_backend() == before


def test_api_batches_structures_and_peak_lists(model_dir: Path, shared_dir: Path) -> None:
    from matplotlib.figure import Figure
    from pymatgen.core import Lattice, Structure

    classifier = load_model(model_dir)
    batch = np.random.default_rng(0).uniform(0, 1, (4, GRID_POINTS))
    assert classifier.predict_proba(batch).shape == (4, 230)
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    from_structure = classifier.classify(sample_from_structure(nacl, classifier.grid))[0]
    assert from_structure.provenance is not None
    assert from_structure.provenance.wavelength_source == "simulation"
    cif_path = shared_dir / "data" / "experimental" / "xred" / "PbSe.cif"
    cif = classifier.classify(sample_from_structure(cif_path, classifier.grid))[0]
    assert len(cif.space_group) == 3
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    sticks = XRDCalculator("CuKa1").get_pattern(nacl)
    peaks = classifier.classify(sample_from_peaks(sticks.x, sticks.y, classifier.grid, "CuKa1"))[0]
    assert peaks.to_dict()["provenance"]["format"] == "peak list"
    with pytest.raises(XrdsymError, match="peak list"):
        sample_from_arrays(sticks.x, sticks.y, classifier.grid, "CuKa1")
    sample = read_sample(PATTERNS / "si_reference.xy", classifier.grid, "CuKa1")
    frame = predictions_frame(classifier.classify([sample]))
    assert list(frame["file"]) == [str(PATTERNS / "si_reference.xy")]
    figure = classifier.figure(classifier.classify(sample)[0], sample)
    assert isinstance(figure, Figure) and len(figure.axes) == 4
