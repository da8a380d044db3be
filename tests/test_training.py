"""Training loop: loss decreases, checkpoints resume exactly, malicious checkpoints are refused."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import SMALL_GRID_POINTS, SyntheticPeaks, write_dataset

from xrdsym.errors import ModelFileError
from xrdsym.models import load_pretrained
from xrdsym.patterns.grid import Grid
from xrdsym.training import TrainConfig, load_config, train
from xrdsym.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from xrdsym.training.config import apply_overrides
from xrdsym.training.data import ProfileRenderer, RenderedPatterns, pattern_rng
from xrdsym.training.schedule import learning_rate


def small_config(**changes: object) -> TrainConfig:
    values: dict[str, object] = {
        "model": "xrdnet_tiny",
        "tasks": {"space_group": 1.0, "crystal_system": 0.5},
        "batch_size": 8,
        "lr": 3e-3,
        "max_epochs": 3,
        "grid_points": SMALL_GRID_POINTS,
        "num_workers": 0,
        "prefetch": "none",
        "eval_interval_s": 0.0,
        "checkpoint_interval_s": 1e9,
        "val_size": 16,
        "seed": 3,
    }
    values.update(changes)
    return TrainConfig(**values).validate()  # type: ignore[arg-type]


def test_rendering_is_seeded_per_epoch_and_index() -> None:
    source = SyntheticPeaks(8)
    grid = Grid(n_points=SMALL_GRID_POINTS)
    data = RenderedPatterns(source, grid, seed=5)
    a, label = data[(0, 3)]
    b, _ = data[(0, 3)]
    c, _ = data[(1, 3)]
    assert label == source.space_group(3) - 1
    assert a.shape == (1, SMALL_GRID_POINTS) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert float(a.min()) == 0.0 and float(a.max()) == 1.0
    assert pattern_rng(5, 0, 3).random() == pattern_rng(5, 0, 3).random()


def test_training_lowers_loss_checkpoints_and_resumes(tmp_path: Path) -> None:
    source = SyntheticPeaks(48)
    run = tmp_path / "run"
    result = train(small_config(), run, source=source, progress=False)
    assert result.stop_reason == "max_epochs"
    steps_per_epoch = int(0.8 * 48) // 8  # 38 training structures, drop_last
    assert result.step == 3 * steps_per_epoch
    assert result.patterns_seen == 3 * steps_per_epoch * 8
    history = result.history
    assert len(history) >= 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    with (run / "history.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header[:6] == ["wall_seconds", "epoch", "step", "patterns_seen", "lr", "train_loss"]
    ckpt = load_checkpoint(run / CHECKPOINT_NAME)
    assert ckpt["loop"]["step"] == result.step and ckpt["loop"]["epoch"] == 3
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["dataset"]["fingerprint"] == "in-memory:SyntheticPeaks:48"
    assert resolved["code_version"]["xrdsym"]

    # Resuming with a larger epoch budget continues the step counter from the checkpoint.
    more = train(small_config(max_epochs=4), run, source=source, progress=False)
    assert more.step == 4 * steps_per_epoch
    # A checkpoint of another architecture is an expected error naming the file.
    with pytest.raises(ModelFileError, match="checkpoint does not fit"):
        train(small_config(model="xrdnet_small"), run, source=source, progress=False)
    model, spec = load_pretrained(run)
    config = spec.record
    assert spec.architecture == "xrdnet_tiny"
    assert spec.grid.n_points == config["grid"]["n_points"] == SMALL_GRID_POINTS
    # Every architecture argument is recorded, so later default changes cannot break loading.
    assert config["model_kwargs"]["widths"] == [16, 32]
    assert config["model_kwargs"]["input_length"] == SMALL_GRID_POINTS
    assert len(config["labels"]["space_group"]) == 230


def test_resume_mid_epoch_reproduces_uninterrupted_run(tmp_path: Path) -> None:
    """Ctrl-C after two steps saves a checkpoint; resuming ends where an uninterrupted run does."""
    source = SyntheticPeaks(40)
    full = tmp_path / "full"
    cfg = small_config(max_epochs=1, eval_interval_s=1e9, tasks={"space_group": 1.0})
    train(cfg, full, source=source, progress=False)
    reference = load_checkpoint(full / CHECKPOINT_NAME)

    part = tmp_path / "part"
    calls = {"n": 0}
    real = ProfileRenderer()
    n_val = 8  # rendered first, then 8 patterns per training batch

    def interrupting_renderer(*args: object) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] > n_val + 2 * 8:
            raise KeyboardInterrupt
        return real(*args)  # type: ignore[arg-type]

    with pytest.raises(KeyboardInterrupt):
        train(cfg, part, source=source, renderer=interrupting_renderer, progress=False)
    saved = load_checkpoint(part / CHECKPOINT_NAME)["loop"]
    assert saved["step"] == 2 and saved["batch_in_epoch"] == 2
    rest = train(cfg, part, source=source, progress=False)
    assert rest.step == reference["loop"]["step"]
    resumed = load_checkpoint(part / CHECKPOINT_NAME)
    for key, value in reference["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    path = tmp_path / CHECKPOINT_NAME
    torch.save({"model": Exploit()}, path)
    with pytest.raises(ModelFileError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    with path.open("wb") as fh:
        pickle.dump({"x": Exploit()}, fh)
    with pytest.raises(ModelFileError, match=str(path.name)):
        load_checkpoint(path)
    assert not marker.exists()


def test_checkpoint_roundtrip_is_atomic(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(3.0), "step": 7})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    state = load_checkpoint(path)
    assert state["step"] == 7 and torch.equal(state["w"], torch.arange(3.0))


def test_config_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[train]\nmodel = "park_space_group"\nlr = 0.0005\nmax_epochs = 2\n')
    config = load_config(
        path, ["batch_size=32", "tasks.crystal_system=0.2", "split=structure_type"]
    )
    assert config.model == "park_space_group" and config.lr == 0.0005
    assert config.batch_size == 32 and config.split == "structure_type"
    assert config.tasks == {"space_group": 1.0, "crystal_system": 0.2}
    assert apply_overrides({}, ["a.b=[1, 2]"]) == {"a": {"b": [1, 2]}}
    with pytest.raises(ValueError, match="unknown training option"):
        load_config(path, ["learning_rate=1"])
    with pytest.raises(ValueError, match="optimizer"):
        load_config(path, ["optimizer=sgd"])


def test_learning_rate_schedules() -> None:
    assert learning_rate("cosine", 0.0, 1.0, 0.1) == pytest.approx(1e-3)
    assert learning_rate("cosine", 0.05, 1.0, 0.1) == pytest.approx(0.5)
    assert learning_rate("cosine", 0.1, 1.0, 0.1) == pytest.approx(1.0)
    assert learning_rate("cosine", 0.55, 1.0, 0.1, 0.0) == pytest.approx(0.5)
    assert learning_rate("cosine", 1.0, 1.0, 0.1, 0.01) == pytest.approx(0.01)
    assert learning_rate("onecycle", 0.0, 1.0, 0.3) == pytest.approx(1 / 25)
    assert learning_rate("onecycle", 0.3, 1.0, 0.3) == pytest.approx(1.0)
    assert learning_rate("onecycle", 1.0, 1.0, 0.3) == pytest.approx(1 / 25 / 1e4)
    assert learning_rate("constant", 0.7, 2.0, 0.1) == 2.0


def test_train_and_evaluate_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xrdsym.cli import main

    dataset = write_dataset(tmp_path / "ds", SyntheticPeaks(48))
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": "xrdnet_tiny", "max_epochs": 2, "batch_size": 8}))
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--config",
            str(config),
            "--run-dir",
            str(run),
            "--quiet",
            "--set",
            f"dataset={dataset}",
            "--set",
            f"grid_points={SMALL_GRID_POINTS}",
            "--set",
            "num_workers=0",
            "--set",
            "eval_interval_s=1e9",
        ]
    )
    assert code == 0
    assert "max_epochs after 4 steps" in capsys.readouterr().out  # 20 train // 8 x 2 epochs
    results_path, plot = tmp_path / "results.json", tmp_path / "cs.png"
    args = ["evaluate", str(run), "--dataset", str(dataset), "--split", "random"]
    code = main([*args, "--output", str(results_path), "--plot", str(plot)])
    assert code == 0
    results = json.loads(results_path.read_text())
    assert results["n"] == 16
    assert set(results["tasks"]) == {"crystal_system", "extinction_group", "space_group"}
    sg = results["tasks"]["space_group"]
    # The most frequent training label is Fm-3m (8 of 20), a quarter of the test structures;
    # its crystal system (cubic) is shared by Pm-3m, so the crystal-system baseline is a half.
    assert sg["majority_baseline"] == pytest.approx(0.25)
    assert results["tasks"]["crystal_system"]["majority_baseline"] == pytest.approx(0.5)
    assert 0.0 <= sg["top1"] <= sg["top5"] <= 1.0
    assert np.asarray(results["crystal_system_confusion"]).sum() == 16
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A missing dataset is an expected error, printed without a traceback.
    assert main(["evaluate", str(run), "--dataset", str(tmp_path / "nope")]) == 1
    assert "no manifest.json" in capsys.readouterr().err


def test_lab_renderer_draws_impurities_from_the_training_part_only() -> None:
    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.patterns.grid import Grid
    from xrdsym.training.config import TrainConfig
    from xrdsym.training.parts import make_renderer

    class Source:
        def __len__(self) -> int:
            return 4

        def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            return (np.array([20.0 + 10 * index], np.float32), np.array([100.0], np.float32))

        def space_group(self, index: int) -> int:
            return 1 + index

    train_idx = np.array([1, 3])
    renderer = make_renderer(TrainConfig(renderer="lab"), Source(), train_idx)
    pool = renderer.impurity_pool
    assert isinstance(pool, IndexedPeaks)
    assert [pool.space_group(i) for i in range(len(pool))] == [2, 4]
    grid = Grid(n_points=2001)
    counts = renderer(*Source().peaks(0), grid, np.random.default_rng(0))
    assert counts.shape == (2001,) and np.all(np.isfinite(counts))
    with pytest.raises(ValueError, match="renderer"):
        TrainConfig(renderer="fancy", max_minutes=1).validate()


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path) -> None:
    """The same ``train`` under torchrun (gloo): each process sees half of every epoch."""
    import os
    import subprocess
    import sys

    dataset = write_dataset(tmp_path / "ds", SyntheticPeaks(96))
    config = tmp_path / "ddp.json"
    options = {"model": "xrdnet_tiny", "max_epochs": 2, "batch_size": 8, "threads": 1}
    config.write_text(json.dumps(options | {"grid_points": SMALL_GRID_POINTS, "num_workers": 0}))
    run = tmp_path / "run"
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"),
        *(str(Path(sys.executable).parent / "xrdsym"), "train", "--config", str(config)),
        *("--run-dir", str(run), "--quiet", "--set", f"dataset={dataset}"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr[-2000:]
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["world_size"] == 2
    # 40 training structures: 20 per process, 2 steps of 8 per epoch, 2 x 8 x 2 patterns a step.
    assert load_checkpoint(run / CHECKPOINT_NAME)["loop"]["step"] == 4
    assert load_checkpoint(run / CHECKPOINT_NAME)["loop"]["patterns_seen"] == 64


def test_validation_subset_is_random_not_a_prefix() -> None:
    from xrdsym.training.loop import validation_subset

    val_idx = np.arange(100, 1100)
    subset = validation_subset(val_idx, 200, seed=0)
    assert len(subset) == 200 and np.all(np.diff(subset) > 0)
    assert set(subset) <= set(val_idx)
    assert subset.max() > 900  # reaches the end of the part, unlike the first 200
    assert np.array_equal(subset, validation_subset(val_idx, 200, seed=0))
    assert np.array_equal(validation_subset(val_idx, 5000, seed=0), val_idx)


def test_export_holds_the_best_weights_not_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation scores that only fall make the first validated step the best: the exported
    weights must be that step's, not those of the last step."""
    from xrdsym.training import steps

    calls: list[int] = []

    def falling_top1(p: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
        calls.append(k)
        return 1.0 / len(calls)

    monkeypatch.setattr(steps, "top_k_accuracy", falling_top1)
    run = tmp_path / "run"
    result = train(small_config(max_epochs=1), run, source=SyntheticPeaks(40), progress=False)
    steps_done = [row["step"] for row in result.history]
    assert steps_done[0] == 1 and steps_done[-1] == result.step > 1
    ckpt = load_checkpoint(run / CHECKPOINT_NAME)
    model, spec = load_pretrained(run)
    config = spec.record
    exported = model.state_dict()
    assert config["metrics"]["best_validation_top1"] == result.history[0]["val_top1_space_group"]
    first = result.history[0]
    assert config["metrics"]["selected_at"] == {
        "step": first["step"],
        "wall_seconds": first["wall_seconds"],
    }
    assert all(torch.equal(exported[k], v) for k, v in ckpt["best_model"].items())
    assert not all(torch.equal(exported[k], v) for k, v in ckpt["model"].items())


def test_training_steps_run_one_by_one(tmp_path: Path) -> None:
    """The steps of ``train`` used on their own: set-up, one step, validation, checkpoint."""
    from xrdsym.training import steps

    run = steps.setup_run(small_config(), tmp_path / "run", SyntheticPeaks(40))
    steps.start_or_resume(run, resume=True)
    steps.prepare_loop(run)
    assert run.steps_per_epoch == 32 // 8 and run.total_steps == 3 * run.steps_per_epoch
    x = torch.stack([run.dataset[(0, int(i))][0] for i in run.train_idx[:8]])
    sg = torch.tensor([run.dataset[(0, int(i))][1] for i in run.train_idx[:8]])
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    loss_sum, lr, correct, n = steps.train_step(run, x, sg)
    assert n == 8 and 0 <= correct <= 8 and loss_sum > 0 and lr > 0
    assert any(not torch.equal(before[k], v) for k, v in run.model.state_dict().items())
    run.out.mkdir(parents=True)
    row = steps.validate(run, loss_sum / n, correct / n, lr)
    assert run.best_state is not None and run.state.best_metric == row["val_top1_space_group"]
    steps.save_run_checkpoint(run)
    assert load_checkpoint(run.checkpoint_path)["loop"]["best_metric"] == run.state.best_metric


def test_training_leaves_the_callers_torch_state_alone(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    train(
        small_config(max_epochs=1, threads=2, seed=9),
        tmp_path / "run",
        source=SyntheticPeaks(24),
        progress=False,
    )
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.random.get_rng_state(), before)


def test_threads_default_to_the_cores_left_by_rendering_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from xrdsym.training import parts

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(parts, "available_cores", lambda: 2)
    assert parts.torch_threads(TrainConfig(threads=0, num_workers=1)) == 1
    assert parts.torch_threads(TrainConfig(threads=0, num_workers=2)) == 1
    assert parts.torch_threads(TrainConfig(threads=3, num_workers=2)) == 3
    monkeypatch.setattr(parts, "available_cores", lambda: 8)
    assert parts.torch_threads(TrainConfig(threads=0, num_workers=2)) == 6
    assert parts.torch_threads(TrainConfig(threads=0, num_workers=2, prefetch="none")) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert parts.torch_threads(TrainConfig(threads=0, num_workers=1)) == 1
