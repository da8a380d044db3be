"""The named steps of a training run: set-up (data, model, resume), one optimisation step,
validation, checkpoint and export of the best weights.

:func:`setup_run` builds a :class:`Run`; :func:`prepare_loop` adds what the loop reads (the
DDP module, the fixed validation set, the sampler and the budget); :func:`train_step`,
:func:`validate`, :func:`save_run_checkpoint` and :func:`export_best` each do one thing to it.
The loop that strings them together is :func:`xrdsym.training.loop.train`.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DistributedSampler

from xrdsym.datasets.protocol import PeakSource
from xrdsym.datasets.store import open_dataset
from xrdsym.errors import ModelFileError
from xrdsym.models import save_pretrained
from xrdsym.models.pretrained import create_sized_model
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.protocols import PatternRenderer
from xrdsym.spacegroups import level_labels
from xrdsym.training.batched import make_batched
from xrdsym.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from xrdsym.training.config import ConfigError, TrainConfig
from xrdsym.training.data import PatternPreparer, RenderedPatterns, StreamedPatterns, render_fixed
from xrdsym.training.distributed import Distributed, setup_distributed, wrap_model
from xrdsym.training.evaluate import predict_probabilities
from xrdsym.training.history import HISTORY_NAME, append_history, rollback_history
from xrdsym.training.metrics import top_k_accuracy
from xrdsym.training.parts import (
    LabelMaps,
    build_optimizer,
    code_version,
    label_names,
    machine_facts,
    main_task,
    make_renderer,
    make_stream,
    model_grid,
    source_fingerprint,
    split_parts,
    stream_summary,
    torch_threads,
    validation_subset,
)
from xrdsym.training.resume import CONFIG_NAME, previous_resolved_config, resume_record
from xrdsym.training.schedule import learning_rate


@dataclass
class LoopState:
    """Counters saved in checkpoints."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    patterns_seen: int = 0
    wall_seconds: float = 0.0
    best_metric: float = -math.inf
    evals_since_best: int = 0
    #: Step and training seconds of the evaluation that chose the kept weights (None: none
    #: yet, or a checkpoint written before they were recorded).
    best_step: int | None = None
    best_wall_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (the ``loop`` entry of a checkpoint)."""
        return dict(self.__dict__)


@dataclass
class Run:
    """Everything a training run is made of.

    Built by :func:`setup_run` (data, model, optimizer, state restored from a checkpoint);
    the fields without defaults after ``resumes`` are set by :func:`prepare_loop`.
    """

    config: TrainConfig
    out: Path
    ddp: Distributed
    source: PeakSource
    train_idx: np.ndarray
    val_idx: np.ndarray
    grid: Grid
    stream: Any
    dataset: RenderedPatterns
    val_dataset: RenderedPatterns
    model: nn.Module
    model_kwargs: dict[str, Any]
    optimizer: torch.optim.Optimizer
    labels: LabelMaps
    fingerprint: str
    state: LoopState = field(default_factory=LoopState)
    best_state: dict[str, torch.Tensor] | None = None
    resumes: list[dict[str, Any]] = field(default_factory=list)
    forced_resume: bool = False
    #: The batch renderer of ``prefetch = "batched"`` (:mod:`xrdsym.training.batched`).
    batched: Any = None
    net: nn.Module = field(init=False)
    val_patterns: np.ndarray = field(init=False)
    val_labels: dict[str, np.ndarray] = field(init=False)
    base_sampler: DistributedSampler[int] = field(init=False)
    steps_per_epoch: int = field(init=False)
    total_steps: int = field(init=False)
    budget: float = field(init=False)
    task: str = field(init=False)

    @property
    def checkpoint_path(self) -> Path:
        """``checkpoint.pt`` of the run folder."""
        return self.out / CHECKPOINT_NAME

    @property
    def history_path(self) -> Path:
        """``history.csv`` of the run folder."""
        return self.out / HISTORY_NAME

    def progress_fraction(self) -> float:
        """Training progress in [0, 1]: the larger of the step and the time fractions."""
        fractions = []
        if self.total_steps:
            fractions.append(self.state.step / self.total_steps)
        if self.budget > 0:
            fractions.append(self.state.wall_seconds / self.budget)
        return max(fractions)

    def current_lr(self) -> float:
        """The learning rate of the schedule at the current progress."""
        c = self.config
        return learning_rate(
            c.schedule, self.progress_fraction(), c.lr, c.warmup_fraction, c.min_lr_ratio
        )


def open_source(config: TrainConfig, source: PeakSource | None) -> PeakSource:
    """``source``, or the dataset folder ``config.dataset``."""
    if source is not None:
        return source

    return open_dataset(config.dataset)


def checked_split(
    config: TrainConfig, source: PeakSource, ddp: Distributed
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices; a training part smaller than one global batch is refused."""
    train_idx, val_idx = split_parts(source, config.split, config.seed)
    if len(train_idx) < config.batch_size * ddp.world_size:
        raise ValueError(
            f"{len(train_idx)} training structures are fewer than one batch "
            f"({config.batch_size} x {ddp.world_size} processes)"
        )
    return train_idx, val_idx


def setup_run(
    config: TrainConfig,
    run_dir: str | Path,
    source: PeakSource | None = None,
    renderer: PatternRenderer | None = None,
) -> Run:
    """A fresh run: data split, grid, renderer, training stream, model (seeded by
    ``config.seed``) and optimizer; nothing is read from or written to ``run_dir``."""
    config.validate()
    ddp = setup_distributed(config.device)
    torch.set_num_threads(torch_threads(config))
    source = open_source(config, source)
    train_idx, val_idx = checked_split(config, source, ddp)
    grid = model_grid(config, source)
    render = renderer if renderer is not None else make_renderer(config, source, train_idx)
    preparer = PatternPreparer(config.truncate_probability, config.truncate_min_span)
    stream = make_stream(config, source)
    dataset: RenderedPatterns = (
        StreamedPatterns(
            stream, grid, config.seed, render, preparer, config.synthetic_patterns_per_crystal
        )
        if stream is not None
        else RenderedPatterns(source, grid, config.seed, render, preparer)
    )
    val_dataset = RenderedPatterns(source, grid, config.seed + 1, render, PatternPreparer())
    batched = None
    if config.prefetch == "batched":
        batched = make_batched(config, source, grid, render, ddp.device, train_idx)
    torch.manual_seed(config.seed)
    model_kwargs = {"input_length": grid.n_points, **config.model_kwargs}
    model = create_sized_model(config.model, model_kwargs, "the training config", ConfigError)
    model = model.to(ddp.device)
    return Run(
        config=config,
        out=Path(run_dir),
        ddp=ddp,
        source=source,
        train_idx=train_idx,
        val_idx=val_idx,
        grid=grid,
        stream=stream,
        dataset=dataset,
        val_dataset=val_dataset,
        model=model,
        model_kwargs=model_kwargs,
        optimizer=build_optimizer(model, config),
        labels=LabelMaps(ddp.device),
        fingerprint=source_fingerprint(source),
        batched=batched,
    )


def restore_checkpoint(run: Run, force_resume: bool = False) -> None:
    """Load model, optimizer, counters, best weights and torch RNG from the run's checkpoint;
    record what changed since it in ``run.resumes``.

    Raises:
        ModelFileError: the checkpoint does not fit the model.
        ConfigError: the settings or the dataset changed and ``force_resume`` is not set.
    """
    previous = previous_resolved_config(run.out)
    run.resumes = list(previous.get("resumes", []))
    ckpt = load_checkpoint(run.checkpoint_path)
    try:
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ModelFileError(
            f"{run.checkpoint_path}: checkpoint does not fit model {run.config.model!r} "
            f"({first_line}); resume with the same settings or start afresh (--no-resume)"
        ) from None
    stored = ckpt.get("config")
    record = resume_record(
        run.out,
        stored if isinstance(stored, dict) else None,
        previous.get("dataset", {}).get("fingerprint"),
        run.config,
        run.fingerprint,
        int(ckpt.get("loop", {}).get("step", 0)),
        force_resume,
    )
    if record is not None:
        run.resumes.append(record)
        run.forced_resume = bool(record["forced"])
    run.state = LoopState(**ckpt["loop"])
    if run.ddp.is_main:  # rows of steps after the checkpoint are trained again
        rollback_history(run.history_path, run.state.step)
    run.best_state = ckpt.get("best_model")
    torch.set_rng_state(ckpt["torch_rng"])


def start_or_resume(run: Run, resume: bool, force_resume: bool = False) -> None:
    """Resume from the checkpoint when ``resume`` and it exists, else seed this rank."""
    if resume and run.checkpoint_path.exists():
        restore_checkpoint(run, force_resume)
    else:
        torch.manual_seed(run.config.seed + 1000 * run.ddp.rank)


def write_resolved_config(run: Run) -> None:
    """``config.json``: settings, seeds, grid, dataset, world size, code version, resumes."""
    if not run.ddp.is_main:
        return
    config = run.config
    run.out.mkdir(parents=True, exist_ok=True)
    resolved = {
        "config": config.to_dict(),
        "model_kwargs": run.model_kwargs,
        "seeds": {"seed": config.seed, "val_seed": config.seed + 1},
        "grid": run.grid.__dict__,
        "dataset": {
            "path": config.dataset,
            "fingerprint": run.fingerprint,
            "n_train": int(len(run.train_idx)),
            "n_val": int(len(run.val_idx)),
        },
        "world_size": run.ddp.world_size,
        "code_version": code_version(),
        "resumes": run.resumes,
    }
    (run.out / CONFIG_NAME).write_text(json.dumps(resolved, indent=2) + "\n")


def prepare_loop(run: Run) -> None:
    """The DDP module, the fixed validation set (rank 0 only), the epoch sampler, the step
    and time budgets and the task that selects the best weights."""
    config, ddp = run.config, run.ddp
    run.net = wrap_model(run.model, ddp)
    # Only rank 0 validates, so only it renders the validation set.
    val_idx = run.val_idx
    val_part = (
        validation_subset(val_idx, config.val_size, config.seed) if ddp.is_main else val_idx[:0]
    )
    run.val_patterns, val_sg = render_fixed(run.val_dataset, val_part)
    run.val_labels = level_labels(val_sg)
    run.base_sampler = DistributedSampler(
        range(len(run.train_idx)),  # type: ignore[arg-type]
        num_replicas=ddp.world_size,
        rank=ddp.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=True,
    )
    run.steps_per_epoch = len(run.base_sampler) // config.batch_size
    run.total_steps = config.max_epochs * run.steps_per_epoch if config.max_epochs > 0 else 0
    run.budget = config.max_minutes * 60.0
    run.task = main_task(config)


def batch_loss(
    run: Run, outputs: dict[str, torch.Tensor], space_group: torch.Tensor
) -> torch.Tensor:
    """Weighted sum of the cross-entropies of the trained outputs."""
    return sum(
        (
            weight * F.cross_entropy(outputs[key].float(), run.labels.labels(key, space_group))
            for key, weight in run.config.tasks.items()
            if weight > 0
        ),
        torch.zeros((), device=run.ddp.device),
    )


def train_step(
    run: Run, x: torch.Tensor, space_group: torch.Tensor
) -> tuple[float, float, int, int]:
    """One optimisation step on a batch at the scheduled learning rate.

    Returns:
        (summed loss over the batch, learning rate, correct top-1 answers of the main task,
        batch size).
    """
    x = x.to(run.ddp.device, non_blocking=True)
    sg = space_group.to(run.ddp.device, non_blocking=True)
    lr = run.current_lr()
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    use_bf16 = run.config.precision == "bf16"
    with torch.autocast(run.ddp.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        outputs = run.net(x)
    loss = batch_loss(run, outputs, sg)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    pred = outputs[run.task].detach().argmax(dim=-1)
    correct = int((pred == run.labels.labels(run.task, sg)).sum())
    return float(loss.detach()) * len(sg), lr, correct, len(sg)


def validate(run: Run, train_loss: float, train_top1: float, lr: float) -> dict[str, float]:
    """Score the fixed validation set, keep the best weights, append a ``history.csv`` row."""
    state = run.state
    probs = predict_probabilities(run.model, run.val_patterns)
    row = {
        "wall_seconds": round(state.wall_seconds, 3),
        "epoch": state.epoch,
        "step": state.step,
        "patterns_seen": state.patterns_seen,
        "lr": lr,
        "train_loss": train_loss,
        "train_top1": train_top1,
    }
    for name, p in probs.items():
        row[f"val_top1_{name}"] = top_k_accuracy(p, run.val_labels[name], 1)
    metric = row.get(f"val_top1_{run.task}", -math.inf)
    if metric > state.best_metric:
        state.best_metric = metric
        state.evals_since_best = 0
        state.best_step, state.best_wall_seconds = state.step, row["wall_seconds"]
        run.best_state = {k: v.detach().clone().cpu() for k, v in run.model.state_dict().items()}
    else:
        state.evals_since_best += 1
    append_history(run.history_path, row)
    return row


def rescore_best(run: Run) -> None:
    """Score the kept best weights again on this session's validation set (rank 0), after a
    forced resume.

    A forced change (dataset, split, validation size, rendering) can change what validation
    measures; the best top-1 of the checkpoint came from the old set and would otherwise be
    compared with scores of the new one. The old and new values are recorded in the resume's
    entry under ``best_rescored``.
    """
    if not (run.forced_resume and run.ddp.is_main and run.best_state is not None):
        return
    probs = predict_probabilities(best_model(run), run.val_patterns)
    if run.task not in probs:
        return
    rescored = top_k_accuracy(probs[run.task], run.val_labels[run.task], 1)
    run.resumes[-1]["best_rescored"] = [run.state.best_metric, rescored]
    run.state.best_metric = rescored
    run.state.evals_since_best = 0


def save_run_checkpoint(run: Run) -> None:
    """Write ``checkpoint.pt`` (rank 0): weights, optimizer, schedule, counters, best
    weights, torch RNG and config."""
    if not run.ddp.is_main:
        return
    save_checkpoint(
        run.checkpoint_path,
        {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "schedule": {"name": run.config.schedule, "progress": run.progress_fraction()},
            "loop": run.state.to_dict(),
            "best_model": run.best_state,
            "torch_rng": torch.get_rng_state(),
            "config": run.config.to_dict(),
        },
    )


def best_model(run: Run) -> nn.Module:
    """A copy of the model in eval mode holding the best validation weights (the current
    ones when no validation has run)."""
    export = copy.deepcopy(run.model).eval()
    if run.best_state is not None:
        export.load_state_dict(run.best_state)
    return export


def model_card(run: Run, output_keys: list[str], final: dict[str, float]) -> dict[str, Any]:
    """The ``model.json`` of the exported weights: architecture, input contract, labels,
    training data and stream, validation metrics, training facts and code version."""
    config, grid, state = run.config, run.grid, run.state
    return {
        "architecture": config.model,
        "model_kwargs": dict(getattr(run.model, "init_kwargs", run.model_kwargs)),
        "grid": {
            "start": grid.start,
            "stop": grid.stop,
            "n_points": grid.n_points,
            "wavelength": grid.wavelength,
        },
        "wavelength": grid.wavelength,
        "normalisation": "xrdsym.patterns.prepare.normalize_intensity",
        "labels": label_names(),
        "outputs": output_keys,
        "training_data": {
            "dataset": config.dataset,
            "fingerprint": source_fingerprint(run.source),
            "split": config.split,
            "n_train": int(len(run.train_idx)),
            "renderer": config.renderer,
            "profile": dict(config.profile),
            "lab_off": list(config.lab_off),
            **stream_summary(config, run.stream, run.train_idx, state.patterns_seen),
        },
        "metrics": {
            "validation": {k: v for k, v in final.items() if k.startswith("val_")},
            "best_validation_top1": state.best_metric,
            "selected_by": f"val_top1_{run.task}",
            "selected_at": {"step": state.best_step, "wall_seconds": state.best_wall_seconds},
        },
        "training": {
            "patterns_seen": state.patterns_seen,
            "wall_seconds": state.wall_seconds,
            "steps": state.step,
            "machine": machine_facts(run.ddp),
        },
        "code_version": code_version(),
    }


def export_best(run: Run, final: dict[str, float]) -> Path:
    """Save the best validation weights with their ``model.json`` into the run folder."""
    export = best_model(run)
    with torch.no_grad():
        zeros = torch.zeros(1, 1, run.grid.n_points, device=run.ddp.device)
        output_keys = sorted(export(zeros))
    return save_pretrained(export, model_card(run, output_keys, final), run.out)
