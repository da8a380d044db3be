"""Continue a training run with the batched path: a copy of a run folder, trained further on
the device with profiles drawn in batches (``prefetch = "batched"``).

:func:`continue_batched` copies ``checkpoint.pt``, ``config.json`` and ``history.csv`` of a
run (for instance ``training_state/xrdnet_small_stream``) into a new run folder once, then
resumes there with the checkpoint's own settings, changing only how the run is executed
(``prefetch``, ``device``, ``num_workers``, ``threads``, checkpoint and evaluation intervals:
options a resume may change) and extending ``max_minutes`` by the minutes asked for. The
checkpoint format and the model stay those of the original run, so the folder can be copied
back or continued by ``xrdsym train`` on either path. Calling it again on the same folder
continues from its last checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from xrdsym.errors import XrdsymError
from xrdsym.training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from xrdsym.training.config import apply_overrides, config_from_dict, read_config_file
from xrdsym.training.history import HISTORY_NAME
from xrdsym.training.loop import TrainResult, train
from xrdsym.training.parts import available_cores
from xrdsym.training.resume import CONFIG_NAME

#: Files of a run folder that a continued run starts from.
RUN_FILES = (CHECKPOINT_NAME, CONFIG_NAME, HISTORY_NAME)


def copy_run(source: Path, target: Path) -> None:
    """Copy the checkpoint, config and history of run ``source`` into ``target`` (created).

    Raises:
        XrdsymError: ``source`` has no checkpoint.
    """
    if not (source / CHECKPOINT_NAME).is_file():
        raise XrdsymError(f"{source}: no {CHECKPOINT_NAME} to continue from")
    target.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)


def stored_settings(run_dir: Path) -> tuple[dict[str, Any], float]:
    """(settings of the run's checkpoint, training seconds it holds)."""
    ckpt = load_checkpoint(run_dir / CHECKPOINT_NAME)
    settings = ckpt.get("config")
    if not isinstance(settings, dict):
        raise XrdsymError(f"{run_dir / CHECKPOINT_NAME}: the checkpoint holds no settings")
    return settings, float(ckpt.get("loop", {}).get("wall_seconds", 0.0))


def continue_batched(
    run_dir: str | Path,
    minutes: float,
    *,
    continue_from: str | Path | None = None,
    config_path: str | Path | None = None,
    device: str = "auto",
    workers: int | None = None,
    checkpoint_minutes: float = 3.0,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train run ``run_dir`` ``minutes`` more on the batched path (see the module docstring).

    Args:
        run_dir: the run folder (made from ``continue_from`` when it has no checkpoint).
        minutes: training minutes to add.
        continue_from: a run folder to copy when ``run_dir`` has no checkpoint yet.
        config_path: settings of a fresh run (neither folder has a checkpoint).
        device: ``auto``, ``cpu`` or ``cuda``.
        workers: processes making synthetic crystals (default: all cores but two).
        checkpoint_minutes: minutes between checkpoints (and validations).
        overrides: further ``key=value`` settings (a change a resume may not make is
            refused, as by ``xrdsym train``).
    """
    run = Path(run_dir)
    if not (run / CHECKPOINT_NAME).is_file() and continue_from is not None:
        copy_run(Path(continue_from), run)
    if (run / CHECKPOINT_NAME).is_file():
        settings, done = stored_settings(run)
    elif config_path is not None:
        settings, done = read_config_file(config_path), 0.0
    else:
        raise XrdsymError(f"{run}: no checkpoint, and neither a run to continue nor a config")
    makers = workers if workers is not None else max(1, available_cores() - 2)
    interval = 60.0 * checkpoint_minutes
    changes = [
        "prefetch=batched",
        f"device={device}",
        f"num_workers={makers}",
        "threads=0",
        f"checkpoint_interval_s={interval}",
        f"eval_interval_s={interval}",
        f"max_minutes={done / 60.0 + minutes}",
        *(overrides or []),
    ]
    config = config_from_dict(apply_overrides(settings, changes))
    return train(config, run, resume=True, progress=progress)
