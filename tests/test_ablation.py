"""The ablation of the laboratory-pattern families: variants, switches, scoring and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import SMALL_GRID_POINTS, SyntheticPeaks, write_dataset

from research.ablation import (
    ABLATION_FAMILIES,
    PAPER_VARIANT,
    REFERENCE_VARIANT,
    variant_config,
    variant_settings,
)
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.profile import render_pattern
from xrdsym.patterns.profile_params import ProfileParams
from xrdsym.training.config import TrainConfig
from xrdsym.training.parts import make_renderer


def lab_config(**changes: object) -> TrainConfig:
    values: dict[str, object] = {"renderer": "lab", "max_epochs": 1, "truncate_probability": 0.5}
    values.update(changes)
    return TrainConfig(**values).validate()  # type: ignore[arg-type]


def test_variants_switch_off_one_family_each() -> None:
    variants = variant_settings(list(ABLATION_FAMILIES))
    assert list(variants)[0] == REFERENCE_VARIANT and variants[REFERENCE_VARIANT] == {}
    assert list(variants)[-1] == PAPER_VARIANT
    assert len(variants) == len(ABLATION_FAMILIES) + 2
    base = lab_config()
    for family in ABLATION_FAMILIES:
        config = variant_config(base, variants[f"no_{family}"])
        changed = {
            name
            for name, value in config.to_dict().items()
            if value != getattr(base, name) and name != "lab_off"
        }
        # Each variant changes its own switches and nothing else.
        if family == "range":
            assert changed == {"truncate_probability"} and config.truncate_probability == 0.0
        else:
            assert not changed
            assert config.lab_off == sorted(ABLATION_FAMILIES[family]["lab_off"])
    again = variant_settings(["ka2"], paper=False, repeats=["all:7", "no_ka2:2"])
    assert list(again) == [REFERENCE_VARIANT, "no_ka2", "all_seed7", "no_ka2_seed2"]
    assert variant_config(base, again["all_seed7"]).seed == 7
    repeat = variant_config(base, again["no_ka2_seed2"])
    assert repeat.seed == 2 and repeat.lab_off == ["ka2"]
    with pytest.raises(ValueError, match="no variant 'no_range'"):
        variant_settings(["ka2"], repeats=["no_range:1"])
    with pytest.raises(ValueError, match="VARIANT:SEED"):
        variant_settings(["ka2"], repeats=["all"])
    paper = variant_config(base, variants[PAPER_VARIANT])
    assert paper.renderer == "paper" and paper.truncate_probability == 0.0
    with pytest.raises(ValueError, match="unknown ablation families"):
        variant_settings(["colour"])
    with pytest.raises(ValueError, match="renderer = 'lab'"):
        variant_config(TrainConfig(max_epochs=1), {})


def test_lab_off_reaches_the_training_renderer() -> None:
    source = SyntheticPeaks(8)
    train_idx = np.arange(8)
    on = make_renderer(lab_config(), source, train_idx)
    off = make_renderer(lab_config(lab_off=["ka2", "impurity", "humps"]), source, train_idx)
    assert on.ranges.ka2_probability > 0 and off.ranges.ka2_probability == 0.0  # type: ignore[attr-defined]
    assert off.augmentation.impurity_probability == 0.0  # type: ignore[attr-defined]
    assert off.augmentation.hump_probability == 0.0  # type: ignore[attr-defined]
    assert off.augmentation.strain_probability == on.augmentation.strain_probability  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown families"):
        lab_config(lab_off=["colour"])
    with pytest.raises(ValueError, match="needs renderer = 'lab'"):
        TrainConfig(max_epochs=1, lab_off=["ka2"]).validate()


def write_measured_set(folder: Path, source: SyntheticPeaks, indices: list[int]) -> Path:
    """Noise-free renderings of ``source`` structures as .xy files, a bad file and labels.csv."""
    folder.mkdir()
    grid = Grid(n_points=2001)
    background = np.array([1.0, 0, 0, 0, 0, 0, 0])
    params = ProfileParams(
        u=0.01,
        v=-0.005,
        w=0.005,
        eta=0.5,
        background_coeffs=background,
        background_level=0.02,
        counts=1e4,
    )
    rows = ["file,space_group"]
    for i in indices:
        counts = render_pattern(*source.peaks(i), grid, params, None, noise=False)
        name = f"s{i}.xy"
        np.savetxt(folder / name, np.column_stack([grid.two_theta(), counts]))
        rows.append(f"{name},{source.space_group(i)}")
    (folder / "broken.xy").write_bytes(b"\x00\x01\x02 not a pattern")
    rows.append("broken.xy,225")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv"


def test_ablation_command_trains_scores_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from research.ablation import main

    source = SyntheticPeaks(48)
    dataset = write_dataset(tmp_path / "ds", source)
    labels = write_measured_set(tmp_path / "lab1", source, [8, 9, 10, 11])
    config = tmp_path / "base.json"
    config.write_text(
        json.dumps(
            {
                "model": "xrdnet_tiny",
                "renderer": "lab",
                "max_epochs": 1,
                "batch_size": 8,
                "grid_points": SMALL_GRID_POINTS,
                "num_workers": 0,
                "prefetch": "none",
                "eval_interval_s": 1e9,
                "val_size": 8,
                "split": "structure_type",
            }
        )
    )
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- ablation:start -->\nold\n<!-- ablation:end -->\n\nend\n")
    output = tmp_path / "ablation.json"
    args = ["--config", str(config), "--set", f"dataset={dataset}"]
    args += ["--root", str(tmp_path / "runs"), "--families", "ka2", "range", "--quiet"]
    args += ["--measured", str(labels), "--output", str(output), "--readme", str(readme)]
    assert main(args) == 0
    records = json.loads(output.read_text())
    assert [r["variant"] for r in records] == ["all", "no_ka2", "no_range", "paper"]
    assert records[1]["lab_off"] == ["ka2"] and records[3]["renderer"] == "paper"
    for record in records:
        assert record["training"]["patterns_seen"] == 16  # 20 train // 8 = 2 steps of 8
        assert record["simulated"]["n"] == 16
        measured = record["measured"][0]
        assert measured["files"] == 5 and measured["classified"] == 4
        assert "broken.xy" in measured["failed"]
        assert 0.0 <= measured["space_group"]["top1"] <= measured["space_group"]["top5"] <= 1.0
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- ablation:end -->\n\nend\n")
    assert "| no_ka2 | ka2 | 16 |" in text and "| no_range | range truncation | 16 |" in text
    assert "| paper | all (paper protocol) | 16 |" in text and "| floor |" in text
    # A second run finds every variant finished and trains only the one added.
    capsys.readouterr()
    assert main([*args, "--repeat", "all:5", "no_ka2:5"]) == 0
    assert capsys.readouterr().out.count("finished earlier") == 4
    extended = json.loads(output.read_text())
    assert extended[:4] == records
    assert [r["variant"] for r in extended[4:]] == ["all_seed5", "no_ka2_seed5"]
    assert "| all_seed5 | - (seed 5) | 16 |" in readme.read_text()
    assert "| no_ka2_seed5 | ka2 (seed 5) | 16 |" in readme.read_text()
    missing = ["--config", str(tmp_path / "nope.toml")]
    assert main(missing) == 1
    assert "training config file not found" in capsys.readouterr().err
