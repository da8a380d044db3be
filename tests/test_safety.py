"""Safe resumes and clear refusals: dataset builds, training resumes, model files.

Failures are injected (a worker process killed at the rename, bytes flipped in a shard, a
replaced input, a held lock), so that no test depends on timing.
"""

from __future__ import annotations

import csv
import gzip
import json
import multiprocessing
import os
import signal
import sys
from pathlib import Path

import pytest

from xrdsym.datasets.build import BuildConfig, build_dataset, build_shard, plan_tasks
from xrdsym.datasets.store import SHARD_DIR, folder_lock, is_temporary_name, open_dataset
from xrdsym.errors import DatasetError

N_ROWS = 12


def write_table(source: Path, out: Path, rows: int = N_ROWS, skip: int = 0) -> Path:
    """The corpus rows ``skip .. skip + rows`` as a small CSV table."""
    with gzip.open(source, "rt", newline="") as fin, open(out, "w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=["material_id", "cif"])
        writer.writeheader()
        for index, row in enumerate(reader):
            if index >= skip + rows:
                break
            if index >= skip:
                writer.writerow({"material_id": row["material_id"], "cif": row["cif"]})
    return out


@pytest.fixture(scope="module")
def table(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve corpus structures (three shards of four)."""
    source = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    return write_table(source, tmp_path_factory.mktemp("table") / "small.csv")


@pytest.fixture(scope="module")
def config(table: Path) -> BuildConfig:
    """Build settings of three shards."""
    return BuildConfig(cif_sources=(str(table),), shard_size=4, seed=3)


@pytest.fixture(scope="module")
def reference(config: BuildConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted build of ``config``."""
    root = tmp_path_factory.mktemp("reference") / "ds"
    build_dataset(root, config, workers=1, progress=False)
    return root


class StopBuildError(Exception):
    """Raised by a test hook to interrupt a build."""


def interrupted_build(root: Path, config: BuildConfig, after: int) -> None:
    """Run a build that is stopped after ``after`` finished shards."""
    seen: list[str] = []

    def stop(result: object) -> None:
        seen.append(getattr(result, "name", ""))
        if len(seen) == after:
            raise StopBuildError

    with pytest.raises(StopBuildError):
        build_dataset(root, config, workers=1, progress=False, on_shard=stop)


def assert_same_dataset(root: Path, reference: Path) -> None:
    """Same structures in the same order, same fingerprint (labels, peaks and splits)."""
    built, expected = open_dataset(root), open_dataset(reference)
    assert list(built.data.ids) == list(expected.data.ids)
    assert built.fingerprint() == expected.fingerprint()


def temporary_files(root: Path) -> list[str]:
    """Names of temporary files anywhere in a dataset folder."""
    return [p.name for p in root.rglob("*") if is_temporary_name(p.name)]


def _killed_at_rename(task: object, config: BuildConfig, shard_dir: Path) -> None:
    """Child process: write a shard and die (exit 137) just before its ``.npz`` is renamed."""

    rename = os.replace

    def replace(tmp: Path, path: Path) -> None:
        if Path(path).suffix == ".npz":
            os._exit(137)
        rename(tmp, path)

    os.replace = replace  # type: ignore[assignment]  # this forked child only (xrdsym.atomic)
    build_shard(task, config, shard_dir)  # type: ignore[arg-type]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_worker_killed_at_rename_leaves_nothing_a_resume_adopts(
    config: BuildConfig, reference: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    interrupted_build(root, config, after=1)
    shard_dir = root / SHARD_DIR
    indexed = json.loads((shard_dir / "index.json").read_text())["shards"]
    task = next(t for t in plan_tasks(config) if t.name not in indexed)
    child = multiprocessing.get_context("fork").Process(
        target=_killed_at_rename, args=(task, config, shard_dir)
    )
    child.start()
    child.join()
    assert child.exitcode == 137
    left = temporary_files(root)
    assert left and all(name.startswith(".") and not name.endswith(".npz") for name in left)
    # What the old naming left behind: a complete shard under a temporary name ending in .npz.
    finished = next(iter(indexed))
    (shard_dir / f"{task.name}.npz.tmp4242.npz").write_bytes(
        (shard_dir / f"{finished}.npz").read_bytes()
    )
    report = build_dataset(root, config, workers=1, progress=False)
    assert temporary_files(root) == []
    assert report["structures"] == len(open_dataset(reference))
    assert_same_dataset(root, reference)


def test_half_written_temporary_shard_is_removed_on_resume(
    config: BuildConfig, reference: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    interrupted_build(root, config, after=1)
    shard_dir = root / SHARD_DIR
    half = (reference / SHARD_DIR / "cif00-00001.npz").read_bytes()[:300]
    (shard_dir / ".cif00-00001.npz.tmp-4242").write_bytes(half)
    (shard_dir / "cif00-00001.npz.tmp4242.npz").write_bytes(half)  # earlier naming
    build_dataset(root, config, workers=1, progress=False)
    assert temporary_files(root) == []
    assert_same_dataset(root, reference)


def test_damaged_shards_are_named_and_rebuilt(
    config: BuildConfig, reference: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    build_dataset(root, config, workers=1, progress=False)
    shard_dir = root / SHARD_DIR
    flipped = bytearray((shard_dir / "cif00-00000.npz").read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    (shard_dir / "cif00-00000.npz").write_bytes(bytes(flipped))
    (shard_dir / "cif00-00002.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetError, match=r"cif00-00000 .*cif00-00002 ") as caught:
        open_dataset(root)
    assert "run the build again" in str(caught.value)
    rebuilt: list[str] = []
    report = build_dataset(
        root, config, workers=1, progress=False, on_shard=lambda r: rebuilt.append(r.name)
    )
    assert report["rebuilt_shards"] == ["cif00-00000", "cif00-00002"]
    assert sorted(rebuilt) == ["cif00-00000", "cif00-00002"]
    assert_same_dataset(root, reference)


def test_resume_with_replaced_input_is_refused(
    shared_dir: Path, config: BuildConfig, tmp_path: Path
) -> None:
    source = shared_dir / "data" / "structures" / "mp_structures.csv.gz"
    table = write_table(source, tmp_path / "input.csv")
    moved = BuildConfig(cif_sources=(str(table),), shard_size=4, seed=3)
    root = tmp_path / "ds"
    interrupted_build(root, moved, after=1)
    write_table(source, table, skip=5)  # same path, other structures
    with pytest.raises(DatasetError, match=r"content of .*input\.csv differs"):
        build_dataset(root, moved, workers=1, progress=False)


def test_second_build_on_a_locked_folder_is_refused(config: BuildConfig, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with folder_lock(root), pytest.raises(DatasetError, match="another build"):
        build_dataset(root, config, workers=1, progress=False)
    assert not (root / SHARD_DIR).exists()  # refused before any work


def test_unindexed_folder_of_an_earlier_version_is_adopted(
    config: BuildConfig, reference: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(reference, root)
    (root / SHARD_DIR / "index.json").unlink()
    (root / SHARD_DIR / "cif00-00001.npz.tmp77.npz").write_bytes(b"partial")
    assert len(open_dataset(root)) == len(open_dataset(reference))  # listing skips temporaries
    computed: list[str] = []
    build_dataset(
        root, config, workers=1, progress=False, on_shard=lambda r: computed.append(r.name)
    )
    assert computed == []
    assert (root / SHARD_DIR / "index.json").is_file()
    assert_same_dataset(root, reference)


def _death_signal() -> int:
    """The signal this process gets when its parent ends (Linux prctl PR_GET_PDEATHSIG)."""
    import ctypes

    value = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)
    return value.value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_local_workers_end_with_the_build_process() -> None:
    from xrdsym.datasets.build import make_executor

    with make_executor(1, None) as executor:
        assert executor.submit(_death_signal).result() == int(signal.SIGTERM)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"shard_size": 0}, r"shard_size \(--shard-size\)"),
        ({"shard_size": 2.5}, "shard_size"),
        ({"generated_per_group": -1}, "generated_per_group"),
        ({"space_groups": (0, 14)}, "space_groups"),
        ({"symprec": -1.0}, "symprec"),
        ({"symprec": float("nan")}, "symprec"),
        ({"symprec": 5.0}, "symprec"),
        ({"wavelength": 0.0}, "wavelength"),
        ({"two_theta_range": (100.0, 10.0)}, "two_theta_range"),
        ({"polarization": "circular"}, "polarization"),
        ({"seed": -3}, "seed"),
    ],
)
def test_bad_build_settings_are_refused(settings: dict[str, object], named: str) -> None:
    with pytest.raises(DatasetError, match=named):
        BuildConfig(cif_sources=("x.csv",), **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (["--shard-size", "0"], "--shard-size"),
        (["--symprec", "-1"], "--symprec"),
        (["--symprec", "nan"], "--symprec"),
        (["--workers", "0"], "--workers"),
        (["--generated-per-group", "-2"], "--generated-per-group"),
    ],
)
def test_dataset_cli_bad_numbers_exit_cleanly(
    table: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    named: str,
) -> None:
    from xrdsym.cli import main

    out = tmp_path / "ds"
    assert main(["dataset", "build", str(out), "--cif", str(table), "--no-progress", *option]) == 1
    error = capsys.readouterr().err
    assert error.startswith("xrdsym: error: ") and named in error
    assert "Traceback" not in error


# ----------------------------------------------------------------------------------------------
# Training resumes and configs.


def tiny_config(**changes: object) -> object:
    """A training config of a few seconds on a synthetic source."""
    from synthetic import SMALL_GRID_POINTS

    from xrdsym.training import TrainConfig

    values: dict[str, object] = {
        "model": "xrdnet_tiny",
        "batch_size": 8,
        "max_epochs": 1,
        "grid_points": SMALL_GRID_POINTS,
        "num_workers": 0,
        "prefetch": "none",
        "eval_interval_s": 1e9,
        "checkpoint_interval_s": 1e9,
        "val_size": 8,
        "seed": 3,
    }
    values.update(changes)
    return TrainConfig(**values).validate()  # type: ignore[arg-type]


def test_training_resume_refuses_changed_settings_unless_forced(tmp_path: Path) -> None:
    from synthetic import SyntheticPeaks

    from xrdsym.training import train
    from xrdsym.training.config import ConfigError
    from xrdsym.training.loop import read_history

    source = SyntheticPeaks(40)
    run = tmp_path / "run"
    first = train(tiny_config(), run, source=source, progress=False)  # type: ignore[arg-type]
    rows = len(read_history(run / "history.csv"))
    again = train(tiny_config(), run, source=source, progress=False)  # type: ignore[arg-type]
    assert again.step == first.step
    assert len(read_history(run / "history.csv")) == rows  # no duplicate row
    with pytest.raises(ConfigError, match=r"lr: 0\.001 -> 0\.01.*--force-resume"):
        train(tiny_config(lr=1e-2, max_epochs=2), run, source=source, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dataset_fingerprint"):
        train(tiny_config(), run, source=SyntheticPeaks(48), progress=False)  # type: ignore[arg-type]
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["config"]["lr"] == 1e-3 and resolved["resumes"] == []
    forced = train(
        tiny_config(lr=1e-2, max_epochs=2),  # type: ignore[arg-type]
        run,
        source=source,
        progress=False,
        force_resume=True,
    )
    assert forced.step == 2 * first.step
    resolved = json.loads((run / "config.json").read_text())
    assert resolved["config"]["lr"] == 1e-2
    (record,) = resolved["resumes"]
    assert record["forced"] and record["step"] == first.step
    assert record["changed"] == {"lr": [1e-3, 1e-2], "max_epochs": [1, 2]}


def test_an_option_newer_than_the_checkpoint_is_read_as_its_default() -> None:
    """A checkpoint written before an option existed resumes without --force-resume while
    the option keeps its default; any other value is a change."""
    from xrdsym.training.resume import config_changes

    current = tiny_config().to_dict()
    stored = {k: v for k, v in current.items() if k != "synthetic_patterns_per_crystal"}
    assert config_changes(stored, current) == {}
    changed = {**current, "synthetic_patterns_per_crystal": 4}
    assert config_changes(stored, changed) == {"synthetic_patterns_per_crystal": [1, 4]}


def test_refused_checkpoint_never_suggests_unsafe_loading(tmp_path: Path) -> None:
    import torch

    from xrdsym.errors import ModelFileError
    from xrdsym.training.checkpoint import load_checkpoint

    path = tmp_path / "checkpoint.pt"
    torch.save({"x": __import__("fractions").Fraction(1, 2)}, path)
    with pytest.raises(ModelFileError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "fractions.Fraction" in message and "refused" in message
    assert "weights_only" not in message and "safe_globals" not in message


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ('batch_size="32"', "batch_size"),
        ("lr=fast", "lr"),
        ("num_workers=-1", "num_workers"),
        ("max_minutes=-5", "max_minutes"),
        ("device=tpu", "device"),
        ("grid_points=-5", "grid_points"),
        ("model=nope", "model"),
        ("synthetic_verify=1", "synthetic_verify"),
        ("tasks.space_group=-1", "tasks"),
        ("grid_start=120", "grid_start"),
    ],
)
def test_train_cli_bad_option_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, named: str
) -> None:
    from xrdsym.cli import main
    from xrdsym.training.config import load_config

    with pytest.raises(ValueError, match=named):
        load_config(None, ["dataset=x", "max_minutes=1", override])
    argv = ["train", "--set", "dataset=x", "--set", "max_minutes=1", "--set", override]
    assert main([*argv, "--run-dir", str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("xrdsym: error: ") and named in error and "Traceback" not in error


# ----------------------------------------------------------------------------------------------
# Model folders.


def saved_model(folder: Path, **config: object) -> Path:
    """An ``xrdnet_tiny`` model folder whose ``model.json`` carries ``config``."""
    from xrdsym.models import create_model, save_pretrained

    model = create_model("xrdnet_tiny", input_length=256, widths=(8, 16))
    base = {
        "architecture": "xrdnet_tiny",
        "model_kwargs": dict(model.init_kwargs),  # type: ignore[arg-type]
        "grid": {"start": 10.0, "stop": 110.0, "n_points": 256, "wavelength": 1.5406},
    }
    base.update(config)
    save_pretrained(model, base, folder)
    return folder


def test_model_folder_schema_is_checked_against_the_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from xrdsym.errors import ModelFileError
    from xrdsym.models import load_pretrained

    load_pretrained(saved_model(tmp_path / "good"))
    grid = {"start": 10.0, "stop": 110.0, "n_points": 5001, "wavelength": 1.5406}
    with pytest.raises(ModelFileError, match="5001 points but the network reads 256"):
        load_pretrained(saved_model(tmp_path / "grid", grid=grid))
    folder = saved_model(tmp_path / "huge")
    config = json.loads((folder / "model.json").read_text())
    config["model_kwargs"]["head_hidden"] = 2_000_000_000
    (folder / "model.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="above the limit"):
        load_pretrained(folder)
    for bad_grid, named in (({"n_points": -5}, "n_points"), ({"start": 200.0}, "start")):
        with pytest.raises(ModelFileError, match=named):
            load_pretrained(saved_model(tmp_path / named, grid={**grid, **bad_grid}))
    folder = saved_model(tmp_path / "nan")
    state = load_file(str(folder / "model.safetensors"))
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].clone().fill_(float("nan"))
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelFileError, match=f"NaN or infinite values: \\['{name}'\\]"):
        load_pretrained(folder)


def test_forced_resume_scores_the_best_weights_on_the_new_validation_set(tmp_path: Path) -> None:
    from synthetic import SyntheticPeaks

    from xrdsym.training import train

    source = SyntheticPeaks(60)
    run = tmp_path / "run"
    train(tiny_config(val_size=8), run, source=source, progress=False)  # type: ignore[arg-type]
    best = json.loads((run / "model.json").read_text())["metrics"]["best_validation_top1"]
    # Same validation set, another learning rate: the rescored best is the stored one.
    train(tiny_config(val_size=8, lr=2e-3), run, source=source, progress=False, force_resume=True)  # type: ignore[arg-type]
    same = json.loads((run / "config.json").read_text())["resumes"][-1]["best_rescored"]
    assert same == [pytest.approx(best), pytest.approx(best)]
    # Another validation set: the old best is replaced by the score on the new one.
    train(tiny_config(val_size=5, lr=2e-3), run, source=source, progress=False, force_resume=True)  # type: ignore[arg-type]
    record = json.loads((run / "config.json").read_text())["resumes"][-1]
    assert record["changed"] == {"val_size": [8, 5]}
    old, new = record["best_rescored"]
    assert old == pytest.approx(best) and new in {k / 5 for k in range(6)}
    card = json.loads((run / "model.json").read_text())["metrics"]
    assert card["best_validation_top1"] == pytest.approx(new)
