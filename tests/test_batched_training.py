"""Training from peak lists held in memory with batches drawn by torch (prefetch = batched)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import SMALL_GRID_POINTS, SyntheticPeaks, write_dataset

from xrdsym.patterns.batch_lab import BatchLabRenderer
from xrdsym.patterns.grid import Grid
from xrdsym.training import TrainConfig, train
from xrdsym.training.batched import BatchedPatterns, PeakTable
from xrdsym.training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from xrdsym.training.config import ConfigError


class CellPeaks(SyntheticPeaks):
    """Synthetic peak lists that claim stored cells, so that the run's stream description
    accepts perturbed items; the batched path strains them isotropically (no cell rows)."""

    def has_prototypes(self) -> bool:
        return True


def batched_config(**changes: object) -> TrainConfig:
    values: dict[str, object] = {
        "model": "xrdnet_tiny",
        "tasks": {"space_group": 1.0, "extinction_group": 0.3, "crystal_system": 0.3},
        "batch_size": 8,
        "max_epochs": 2,
        "grid_points": SMALL_GRID_POINTS,
        "renderer": "lab",
        "prefetch": "batched",
        "stream": {"corpus": 0.5, "perturbed": 0.5},
        "truncate_probability": 0.5,
        "eval_interval_s": 0.0,
        "checkpoint_interval_s": 1e9,
        "val_size": 8,
        "precision": "bf16",
        "seed": 2,
    }
    values.update(changes)
    return TrainConfig(**values).validate()  # type: ignore[arg-type]


def test_batches_are_a_function_of_seed_epoch_and_position() -> None:
    table = PeakTable.from_source(SyntheticPeaks(32))
    patterns = BatchedPatterns(
        table, Grid(n_points=SMALL_GRID_POINTS), BatchLabRenderer(), seed=1, mix=(0.5, 0.5, 0.0)
    )
    order = np.arange(32)
    first = list(patterns.epoch(0, order, 8))
    again = list(patterns.epoch(0, order, 8, first_batch=2))
    other = next(iter(patterns.epoch(1, order, 8)))
    assert len(first) == 4 and len(again) == 2
    x, sg = first[2]
    assert x.shape == (8, 1, SMALL_GRID_POINTS) and x.dtype == torch.float32
    assert torch.equal(x, again[0][0]) and torch.equal(sg, again[0][1])
    assert not torch.equal(first[0][0], other[0])
    assert float(x.min()) == 0.0 and float(x.amax(dim=2).min()) == 1.0
    assert sg.tolist() == [table.space_group[i] - 1 for i in range(16, 24)]


def test_peak_table_pads_rows_of_a_dataset_folder(tmp_path: Path) -> None:
    from xrdsym.datasets.store import open_dataset

    source = SyntheticPeaks(12)
    table = PeakTable.from_source(open_dataset(write_dataset(tmp_path / "ds", source)))
    arrays = table.gather(np.array([3, 0]))
    for row, index in enumerate([3, 0]):
        tt, inten = source.peaks(index)
        n = len(tt)
        np.testing.assert_array_equal(arrays["two_theta"][row, :n], tt)
        np.testing.assert_array_equal(arrays["intensity"][row, :n], inten)
        assert not arrays["intensity"][row, n:].any()


def test_batched_training_runs_checkpoints_and_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU smoke test of the batched path (seconds): a run interrupted after two steps and
    resumed ends with the weights of an uninterrupted run, in the worker path's checkpoint
    format."""
    source = CellPeaks(48)
    config = batched_config(max_epochs=1, eval_interval_s=1e9)
    whole = train(config, tmp_path / "whole", source=source, progress=False)
    assert whole.step == int(0.8 * 48) // 8 and np.isfinite(whole.history[-1]["train_loss"])

    real_draw = BatchedPatterns.draw
    calls = {"n": 0}

    def interrupting_draw(self: BatchedPatterns, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return real_draw(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(BatchedPatterns, "draw", interrupting_draw)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "part", source=source, progress=False)
    monkeypatch.setattr(BatchedPatterns, "draw", real_draw)
    saved = load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)
    assert saved["loop"]["step"] == 2 and saved["loop"]["batch_in_epoch"] == 2
    rest = train(config, tmp_path / "part", source=source, progress=False)
    assert rest.step == whole.step
    a = load_checkpoint(tmp_path / "whole" / CHECKPOINT_NAME)
    b = load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)
    assert set(a) == set(saved)
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-4, atol=1e-5)


def test_batched_prefetch_refuses_what_it_cannot_draw() -> None:
    with pytest.raises(ConfigError, match="renderer"):
        batched_config(renderer="paper")
    with pytest.raises(ConfigError, match="num_workers"):
        batched_config(stream={"corpus": 0.5, "synthetic": 0.5}, num_workers=0)
    with pytest.raises(ConfigError, match="ramp"):
        batched_config(stream_start={"corpus": 1.0}, stream_ramp_epochs=2)


def test_synthetic_items_come_from_crystal_making_workers(tmp_path: Path) -> None:
    """With synthetic items in the stream, a worker process makes their crystals: the batches
    are the same on a second pass (crystals are functions of their keys) and carry the
    crystals' space groups."""
    config = batched_config(
        stream={"corpus": 0.5, "synthetic": 0.5}, num_workers=1, synthetic_patterns_per_crystal=2
    )
    from xrdsym.training.batched import make_batched
    from xrdsym.training.parts import make_renderer

    source = SyntheticPeaks(16)
    grid = Grid(n_points=SMALL_GRID_POINTS)
    renderer = make_renderer(config, source, np.arange(16))
    patterns = make_batched(config, source, grid, renderer, torch.device("cpu"))
    try:
        first = list(patterns.epoch(0, np.arange(16), 8))
        second = list(patterns.epoch(0, np.arange(16), 8))
    finally:
        patterns.fresh.close()
    kinds = patterns.kinds(0, 0, 8)
    assert (kinds == 2).any()
    labels = first[0][1].numpy() + 1
    corpus = [source.space_group(i) for i in range(8)]
    assert all(labels[k] == corpus[k] for k in np.flatnonzero(kinds == 0))
    assert any(labels[k] != corpus[k] for k in np.flatnonzero(kinds == 2))
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_gpu_script_continues_a_worker_run_on_the_batched_path(tmp_path: Path) -> None:
    """The GPU script's CPU smoke test (seconds): a run trained on the worker path is copied
    and continued on the batched path; the original folder is left as it was."""
    import importlib.util
    import json

    dataset = write_dataset(tmp_path / "ds", SyntheticPeaks(48))
    original = tmp_path / "original"
    config = batched_config(
        dataset=str(dataset),
        prefetch="none",
        num_workers=0,
        stream={"corpus": 1.0},
        max_epochs=0,
        max_minutes=0.03,
        eval_interval_s=1e9,
    )
    before = train(config, original, progress=False)
    spec = importlib.util.spec_from_file_location(
        "train_gpu", Path(__file__).resolve().parents[1] / "scripts" / "train_gpu.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = tmp_path / "gpu"
    script.main(
        ["--minutes", "0.03", "--run-dir", str(run), "--continue-from", str(original)]
        + ["--device", "cpu", "--workers", "1", "--checkpoint-minutes", "0.01"]
    )
    assert load_checkpoint(original / CHECKPOINT_NAME)["loop"]["step"] == before.step
    after = load_checkpoint(run / CHECKPOINT_NAME)
    assert after["loop"]["step"] > before.step
    assert after["config"]["prefetch"] == "batched" and after["config"]["model"] == "xrdnet_tiny"
    resumes = json.loads((run / "config.json").read_text())["resumes"]
    assert "prefetch" in resumes[-1]["changed"] and not resumes[-1]["forced"]


def test_level_losses_are_cross_entropies_of_summed_space_group_probabilities() -> None:
    """The crystal-system and extinction-group outputs are sums of the space-group head, so
    the loss of those tasks is -log of the summed probability of the true level."""
    from torch.nn import functional as F  # noqa: N812

    from xrdsym.models import create_model
    from xrdsym.training.parts import LabelMaps

    torch.manual_seed(0)
    model = create_model("xrdnet_tiny", input_length=SMALL_GRID_POINTS).eval()
    with torch.no_grad():
        outputs = model(torch.rand(4, 1, SMALL_GRID_POINTS))
    sg = torch.tensor([0, 13, 61, 224])
    labels = LabelMaps(torch.device("cpu"))
    probabilities = outputs["space_group"].softmax(dim=1)
    for level in ("crystal_system", "extinction_group"):
        target = labels.labels(level, sg)
        members = labels.maps[level][None, :] == target[:, None]  # (4, 230)
        expected = -torch.log((probabilities * members).sum(dim=1)).mean()
        loss = F.cross_entropy(outputs[level].float(), target)
        torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)
