"""The training loop: one process on CPU by default, PyTorch DDP under ``torchrun``.

Run folder layout::

    config.json         resolved settings, seeds, dataset fingerprint, code version
    checkpoint.pt       last checkpoint (model, optimizer, schedule, counters, RNG state)
    history.csv         one row per evaluation: wall seconds, patterns seen, train loss, ...
    model.safetensors   exported weights (best validation top-1) + model.json
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, DistributedSampler

from xrdsym.datasets.protocol import PeakSource
from xrdsym.errors import ModelFileError
from xrdsym.patterns.grid import CU_KA1, Grid
from xrdsym.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from xrdsym.training.config import ConfigError, TrainConfig
from xrdsym.training.data import (
    EpochSampler,
    PatternPreparer,
    PatternRenderer,
    ProfileRenderer,
    RenderedPatterns,
    StreamedPatterns,
    ThreadPrefetcher,
    render_fixed,
)
from xrdsym.training.evaluate import TASKS, predict_probabilities, task_labels
from xrdsym.training.metrics import top_k_accuracy
from xrdsym.training.schedule import learning_rate

HISTORY_NAME = "history.csv"
CONFIG_NAME = "config.json"
HISTORY_FIELDS = (
    "wall_seconds",
    "epoch",
    "step",
    "patterns_seen",
    "lr",
    "train_loss",
    "train_top1",
    "val_top1_crystal_system",
    "val_top1_extinction_group",
    "val_top1_space_group",
)
#: Fraction of a source without ``split_indices`` held out for validation.
FALLBACK_VAL_FRACTION = 0.2

#: Options a resume may change without ``force_resume``: how the run is executed and how long
#: it goes on (a larger epoch or time budget continues the run). Changes are still recorded
#: in ``config.json``.
RESUMABLE_CHANGES = (
    "num_workers",
    "prefetch",
    "threads",
    "checkpoint_interval_s",
    "eval_interval_s",
    "device",
    "max_epochs",
    "max_minutes",
    "patience",
)


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    run_dir: Path
    epoch: int
    step: int
    patterns_seen: int
    wall_seconds: float
    stop_reason: str
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Distributed:
    """Process-group facts: world size, rank, device; ``active`` when running under DDP."""

    world_size: int = 1
    rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> Distributed:
    """Join the process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl on CUDA)."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if world <= 1:
        return Distributed(1, 0, dev)
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(dev)
    return Distributed(dist.get_world_size(), dist.get_rank(), dev)


def code_version() -> dict[str, str]:
    """``xrdsym.__version__`` and, inside a git checkout, the commit hash."""
    from xrdsym import __version__

    info = {"xrdsym": __version__}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        info["git_commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def split_parts(source: PeakSource, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices: the source's own split, or a seeded 80/20 random split."""
    if hasattr(source, "split_indices"):
        return (
            np.asarray(source.split_indices(split, "train")),
            np.asarray(source.split_indices(split, "val")),
        )
    order = np.random.default_rng(seed).permutation(len(source))
    n_val = max(1, int(round(FALLBACK_VAL_FRACTION * len(source))))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def source_fingerprint(source: PeakSource) -> str:
    """The dataset's fingerprint, or a description of an in-memory source."""
    if hasattr(source, "fingerprint"):
        return str(source.fingerprint())
    return f"in-memory:{type(source).__name__}:{len(source)}"


def model_grid(config: TrainConfig, source: PeakSource) -> Grid:
    """The input grid: configured range and length, the dataset's wavelength."""
    from xrdsym.models import create_model

    n_points = config.grid_points
    if n_points <= 0:
        default = create_model(config.model, **config.model_kwargs)
        n_points = int(getattr(default, "input_length", 10001))
    wavelength = float(getattr(source, "wavelength", CU_KA1))
    return Grid(config.grid_start, config.grid_stop, n_points, wavelength)


class LabelMaps:
    """Label tensors of every output key from space-group indices."""

    def __init__(self, device: torch.device) -> None:
        from xrdsym.symmetry import label_maps

        cs, eg = label_maps()
        self.maps = {
            "crystal_system": torch.as_tensor(cs, device=device),
            "extinction_group": torch.as_tensor(eg, device=device),
        }

    def labels(self, key: str, space_group: torch.Tensor) -> torch.Tensor:
        """Labels of output ``key`` (``aux_`` prefix stripped) for space-group indices."""
        task = key.removeprefix("aux_")
        if task == "space_group":
            return space_group
        return self.maps[task][space_group]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (decoupled decay) or Adam (L2 decay); no decay on biases and norm parameters."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def make_renderer(
    config: TrainConfig, source: PeakSource, train_idx: np.ndarray
) -> PatternRenderer:
    """The training renderer named by ``config.renderer``.

    The ``lab`` renderer draws its impurity phases from the training part only, so that no
    validation or test structure leaks into training patterns; ``config.lab_off`` names the
    families it leaves out.
    """
    if config.renderer == "lab":
        from xrdsym.patterns.lab import lab_renderer

        switches = dict.fromkeys(config.lab_off, False)
        return lab_renderer(impurity_pool=IndexedPeaks(source, train_idx), **switches)
    return ProfileRenderer(dict(config.profile))


def make_stream(config: TrainConfig, source: PeakSource) -> Any:
    """The :class:`~xrdsym.datasets.stream.StructureStream` of ``config.stream``, or None when
    the stream is the stored corpus alone."""
    from xrdsym.datasets.stream import StructureStream, check_mix
    from xrdsym.structures.perturb import PerturbationConfig
    from xrdsym.structures.synthetic import GeneratorConfig, SyntheticGenerator, load_statistics

    mix = check_mix(config.stream)
    if not mix.generated:
        return None
    generator = None
    if mix.synthetic > 0:
        statistics = load_statistics(config.synthetic_statistics or None)
        generator = SyntheticGenerator(statistics, GeneratorConfig(**config.generator))
    return StructureStream(
        source,
        mix,
        PerturbationConfig(**config.perturbation),
        generator,
        verify=config.synthetic_verify,
    )


def stream_summary(
    config: TrainConfig, stream: Any, train_idx: np.ndarray, patterns_seen: int
) -> dict[str, Any]:
    """What the model card says of the training stream: kind weights, distinct crystals seen
    (corpus structures + one new crystal per perturbed or synthetic pattern, expected count)
    and the label prior of the stream (for prior correction)."""
    if stream is None:
        return {"stream": {"corpus": 1.0}, "distinct_crystals": int(len(train_idx))}
    p_corpus, p_perturbed, p_synthetic = (float(p) for p in stream.probabilities)
    generated = int(round(patterns_seen * (p_perturbed + p_synthetic)))
    corpus_used = int(len(train_idx)) if p_corpus + p_perturbed > 0 else 0
    return {
        "stream": {"corpus": p_corpus, "perturbed": p_perturbed, "synthetic": p_synthetic},
        "perturbation": dict(config.perturbation),
        "generator": dict(config.generator),
        "synthetic_statistics": config.synthetic_statistics or "shipped",
        "distinct_crystals": corpus_used + generated,
        "label_prior": [round(float(p), 8) for p in stream.label_prior(train_idx)],
    }


@dataclass(frozen=True)
class IndexedPeaks:
    """The structures ``indices`` of a source, re-indexed 0..n-1 (a ``PeakSource``)."""

    source: PeakSource
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def peaks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Peaks of the ``index``-th selected structure."""
        return self.source.peaks(int(self.indices[index]))

    def space_group(self, index: int) -> int:
        """Space group of the ``index``-th selected structure."""
        return self.source.space_group(int(self.indices[index]))


def validation_subset(val_idx: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A seeded random subset of ``size`` validation structures, in index order.

    Random rather than the first ``size``: datasets list corpus structures before generated
    ones, so a prefix would validate on one kind of structure only.
    """
    if size <= 0 or size >= len(val_idx):
        return np.asarray(val_idx)
    chosen = np.random.default_rng(seed).choice(len(val_idx), size=size, replace=False)
    return np.asarray(val_idx)[np.sort(chosen)]


def main_task(config: TrainConfig) -> str:
    """The task whose validation top-1 selects the best weights (space group if trained)."""
    for task in ("space_group", "extinction_group", "crystal_system"):
        if task in config.tasks:
            return task
    raise ValueError(f"tasks {sorted(config.tasks)} name none of {TASKS}")


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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def append_history(path: Path, row: dict[str, float]) -> None:
    """Append one row to ``history.csv`` (header written with the first row)."""
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in HISTORY_FIELDS})


def read_history(path: Path) -> list[dict[str, float]]:
    """Rows of ``history.csv`` as floats (empty cells skipped)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def _plain(value: Any) -> Any:
    """A JSON round trip of ``value`` (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def config_changes(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, list[Any]]:
    """Options whose value differs between a stored and a current config: key -> [old, new]."""
    old, new = _plain(stored), _plain(current)
    return {
        key: [old.get(key), new.get(key)]
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def resume_record(
    run_dir: Path,
    stored: dict[str, Any] | None,
    previous_fingerprint: str | None,
    config: TrainConfig,
    fingerprint: str,
    step: int,
    force: bool,
) -> dict[str, Any] | None:
    """What changed since the run's checkpoint, or None when nothing did.

    Raises:
        ConfigError: an option other than ``RESUMABLE_CHANGES``, or the dataset's content,
            differs and ``force`` is not set; the message lists every change.
    """
    changes = config_changes(stored, config.to_dict()) if stored is not None else {}
    if previous_fingerprint is not None and previous_fingerprint != fingerprint:
        changes["dataset_fingerprint"] = [previous_fingerprint, fingerprint]
    if not changes:
        return None
    blocking = [key for key in changes if key not in RESUMABLE_CHANGES]
    if blocking and not force:
        listed = "; ".join(f"{k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in blocking)
        raise ConfigError(
            f"{run_dir}: its checkpoint was trained with other settings ({listed}); resume "
            "with the same settings, start afresh (--no-resume), or continue with the new "
            "ones (--force-resume; the change is recorded in config.json)"
        )
    return {"step": step, "changed": changes, "forced": bool(blocking)}


def previous_resolved_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of an earlier session of a run ({} when none or unreadable)."""
    try:
        resolved = json.loads((run_dir / CONFIG_NAME).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return resolved if isinstance(resolved, dict) else {}


def label_names() -> dict[str, list[str]]:
    """Names of the classes of the three tasks, in output order."""
    from xrdsym.symmetry import CRYSTAL_SYSTEMS, extinction_groups, space_group

    return {
        "crystal_system": list(CRYSTAL_SYSTEMS),
        "extinction_group": [
            "/".join(space_group(n).symbol for n in members) for members in extinction_groups()
        ],
        "space_group": [space_group(n).symbol for n in range(1, 231)],
    }


def train(
    config: TrainConfig,
    run_dir: str | Path,
    resume: bool = True,
    source: PeakSource | None = None,
    renderer: PatternRenderer | None = None,
    progress: bool = True,
    force_resume: bool = False,
) -> TrainResult:
    """Train ``config.model`` on patterns rendered from ``source`` (or ``config.dataset``).

    Resumes from ``run_dir/checkpoint.pt`` when ``resume`` and it exists (same step, schedule,
    RNG state and position inside the epoch). The checkpoint's config and the dataset's
    fingerprint must match the current ones (options of ``RESUMABLE_CHANGES`` aside) unless
    ``force_resume``; every change is appended to ``resumes`` in ``config.json``. Running a
    finished run again trains no further step and adds no history row. Ctrl-C writes a
    checkpoint before re-raising.
    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains on its shard of each epoch
    (``DistributedSampler``) and only rank 0 writes files.
    """
    from xrdsym.models import create_model, save_pretrained

    config.validate()
    out = Path(run_dir)
    ddp = setup_distributed(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    if source is None:
        from xrdsym.datasets.store import open_dataset

        source = open_dataset(config.dataset)
    train_idx, val_idx = split_parts(source, config.split, config.seed)
    if len(train_idx) < config.batch_size * ddp.world_size:
        raise ValueError(
            f"{len(train_idx)} training structures are fewer than one batch "
            f"({config.batch_size} x {ddp.world_size} processes)"
        )
    grid = model_grid(config, source)
    render = renderer if renderer is not None else make_renderer(config, source, train_idx)
    preparer = PatternPreparer(config.truncate_probability, config.truncate_min_span)
    stream = make_stream(config, source)
    dataset: RenderedPatterns = (
        StreamedPatterns(stream, grid, config.seed, render, preparer)
        if stream is not None
        else RenderedPatterns(source, grid, config.seed, render, preparer)
    )
    val_dataset = RenderedPatterns(source, grid, config.seed + 1, render, PatternPreparer())

    torch.manual_seed(config.seed)
    model_kwargs = {"input_length": grid.n_points, **config.model_kwargs}
    model = create_model(config.model, **model_kwargs).to(ddp.device)
    optimizer = build_optimizer(model, config)
    labels = LabelMaps(ddp.device)
    state = LoopState()
    best_state: dict[str, torch.Tensor] | None = None
    ckpt_path = out / CHECKPOINT_NAME
    fingerprint = source_fingerprint(source)
    previous: dict[str, Any] = {}
    resumes: list[dict[str, Any]] = []
    if resume and ckpt_path.exists():
        previous = previous_resolved_config(out)
        resumes = list(previous.get("resumes", []))
        ckpt = load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise ModelFileError(
                f"{ckpt_path}: checkpoint does not fit model {config.model!r} "
                f"({first_line}); resume with the same settings or start afresh (--no-resume)"
            ) from None
        stored = ckpt.get("config")
        record = resume_record(
            out,
            stored if isinstance(stored, dict) else None,
            previous.get("dataset", {}).get("fingerprint"),
            config,
            fingerprint,
            int(ckpt.get("loop", {}).get("step", 0)),
            force_resume,
        )
        if record is not None:
            resumes.append(record)
        state = LoopState(**ckpt["loop"])
        best_state = ckpt.get("best_model")
        torch.set_rng_state(ckpt["torch_rng"])
    else:
        torch.manual_seed(config.seed + 1000 * ddp.rank)
    if ddp.is_main:
        out.mkdir(parents=True, exist_ok=True)
        resolved = {
            "config": config.to_dict(),
            "model_kwargs": model_kwargs,
            "seeds": {"seed": config.seed, "val_seed": config.seed + 1},
            "grid": grid.__dict__,
            "dataset": {
                "path": config.dataset,
                "fingerprint": fingerprint,
                "n_train": int(len(train_idx)),
                "n_val": int(len(val_idx)),
            },
            "world_size": ddp.world_size,
            "code_version": code_version(),
            "resumes": resumes,
        }
        (out / CONFIG_NAME).write_text(json.dumps(resolved, indent=2) + "\n")

    net: nn.Module = model
    if ddp.active:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[ddp.device.index] if ddp.device.type == "cuda" else None
        )
    # Only rank 0 validates, so only it renders the validation set.
    val_part = (
        validation_subset(val_idx, config.val_size, config.seed) if ddp.is_main else val_idx[:0]
    )
    val_patterns, val_sg = render_fixed(val_dataset, val_part)
    val_labels = task_labels(val_sg)
    base_sampler: DistributedSampler[int] = DistributedSampler(
        range(len(train_idx)),  # type: ignore[arg-type]
        num_replicas=ddp.world_size,
        rank=ddp.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=True,
    )
    steps_per_epoch = len(base_sampler) // config.batch_size
    total_steps = config.max_epochs * steps_per_epoch if config.max_epochs > 0 else 0
    budget = config.max_minutes * 60.0
    task = main_task(config)
    history_path = out / HISTORY_NAME
    use_bf16 = config.precision == "bf16"

    def progress_fraction() -> float:
        fractions = []
        if total_steps:
            fractions.append(state.step / total_steps)
        if budget > 0:
            fractions.append(state.wall_seconds / budget)
        return max(fractions)

    def checkpoint() -> None:
        if not ddp.is_main:
            return
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": {"name": config.schedule, "progress": progress_fraction()},
                "loop": state.to_dict(),
                "best_model": best_state,
                "torch_rng": torch.get_rng_state(),
                "config": config.to_dict(),
            },
        )

    def validate(train_loss: float, train_top1: float, lr: float) -> dict[str, float]:
        nonlocal best_state
        probs = predict_probabilities(model, val_patterns)
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
            row[f"val_top1_{name}"] = top_k_accuracy(p, val_labels[name], 1)
        metric = row.get(f"val_top1_{task}", -math.inf)
        if metric > state.best_metric:
            state.best_metric = metric
            state.evals_since_best = 0
            best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        else:
            state.evals_since_best += 1
        append_history(history_path, row)
        return row

    def flags(*values: bool) -> list[bool]:
        """Rank 0's decisions, shared by every process."""
        if not ddp.active:
            return list(values)
        import torch.distributed as dist

        tensor = torch.tensor([float(v) if ddp.is_main else 0.0 for v in values], device=ddp.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [bool(v) for v in tensor.tolist()]

    bar = None
    if progress and ddp.is_main:
        from tqdm import tqdm

        bar = tqdm(total=total_steps or None, initial=state.step, unit="step", dynamic_ncols=True)
    t_start = time.perf_counter() - state.wall_seconds
    last_eval = state.wall_seconds
    last_ckpt = state.wall_seconds
    loss_sum, correct, seen_since = 0.0, 0, 0
    lr = learning_rate(config.schedule, progress_fraction(), config.lr, config.warmup_fraction)
    stop_reason = finished_reason(state, total_steps, budget)
    model.train()
    try:
        while not stop_reason:
            if config.max_epochs > 0 and state.epoch >= config.max_epochs:
                stop_reason = "max_epochs"
                break
            sampler = EpochSampler(
                base_sampler, train_idx, state.epoch, state.batch_in_epoch * config.batch_size
            )
            workers = config.num_workers if config.prefetch == "workers" else 0
            loader: Any = DataLoader(
                dataset,
                batch_size=config.batch_size,
                sampler=sampler,
                num_workers=workers,
                drop_last=True,
                persistent_workers=False,
                worker_init_fn=_single_thread_worker if workers else None,
                # Its own generator: creating the iterator must not draw from the global RNG
                # (that would shift dropout masks after a resume inside an epoch).
                generator=torch.Generator().manual_seed(config.seed + state.epoch),
            )
            if config.prefetch == "thread":
                loader = ThreadPrefetcher(loader)
            for x, sg in loader:
                x = x.to(ddp.device, non_blocking=True)
                sg = sg.to(ddp.device, non_blocking=True)
                lr = learning_rate(
                    config.schedule,
                    progress_fraction(),
                    config.lr,
                    config.warmup_fraction,
                    config.min_lr_ratio,
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with torch.autocast(ddp.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    outputs = net(x)
                loss = sum(
                    (
                        weight * F.cross_entropy(outputs[key].float(), labels.labels(key, sg))
                        for key, weight in config.tasks.items()
                        if weight > 0
                    ),
                    torch.zeros((), device=ddp.device),
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                state.step += 1
                state.batch_in_epoch += 1
                state.patterns_seen += len(sg) * ddp.world_size
                state.wall_seconds = time.perf_counter() - t_start
                loss_sum += float(loss.detach()) * len(sg)
                pred = outputs[task].detach().argmax(dim=-1)
                correct += int((pred == labels.labels(task, sg)).sum())
                seen_since += len(sg)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        epoch=state.epoch,
                        loss=f"{loss_sum / seen_since:.3f}",
                        acc=f"{correct / seen_since:.3f}",
                        lr=f"{lr:.2e}",
                    )
                out_of_time = budget > 0 and state.wall_seconds >= budget
                out_of_steps = total_steps > 0 and state.step >= total_steps
                do_eval, do_ckpt, stop = flags(
                    state.wall_seconds - last_eval >= config.eval_interval_s,
                    state.wall_seconds - last_ckpt >= config.checkpoint_interval_s,
                    out_of_time or out_of_steps,
                )
                if do_eval and not stop:
                    if ddp.is_main:
                        validate(loss_sum / seen_since, correct / seen_since, lr)
                    loss_sum, correct, seen_since = 0.0, 0, 0
                    last_eval = state.wall_seconds
                    patience_over = (
                        config.patience > 0 and state.evals_since_best >= config.patience
                    )
                    if flags(patience_over)[0]:
                        stop_reason = "early_stopping"
                if do_ckpt:
                    checkpoint()
                    last_ckpt = state.wall_seconds
                if stop:
                    stop_reason = "max_minutes" if out_of_time else "max_epochs"
                if stop_reason:
                    break
            else:
                state.epoch += 1
                state.batch_in_epoch = 0
                checkpoint()
                last_ckpt = state.wall_seconds
    except KeyboardInterrupt:
        state.wall_seconds = time.perf_counter() - t_start
        checkpoint()
        raise
    finally:
        if bar is not None:
            bar.close()
    if stop_reason == "max_epochs" and state.batch_in_epoch >= steps_per_epoch:
        state.epoch += 1
        state.batch_in_epoch = 0
    if ddp.is_main:
        history = read_history(history_path)
        if history and history[-1].get("step") == state.step:
            final = history[-1]  # a finished run run again: this step is validated already
        else:
            final = validate(loss_sum / max(seen_since, 1), correct / max(seen_since, 1), lr)
        checkpoint()
        export = copy.deepcopy(model).eval()
        if best_state is not None:
            export.load_state_dict(best_state)
        with torch.no_grad():
            output_keys = sorted(export(torch.zeros(1, 1, grid.n_points, device=ddp.device)))
        model_config = {
            "architecture": config.model,
            "model_kwargs": dict(getattr(model, "init_kwargs", model_kwargs)),
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
                "fingerprint": source_fingerprint(source),
                "split": config.split,
                "n_train": int(len(train_idx)),
                "renderer": config.renderer,
                "profile": dict(config.profile),
                "lab_off": list(config.lab_off),
                **stream_summary(config, stream, train_idx, state.patterns_seen),
            },
            "metrics": {
                "validation": {k: v for k, v in final.items() if k.startswith("val_")},
                "best_validation_top1": state.best_metric,
                "selected_by": f"val_top1_{task}",
            },
            "training": {
                "patterns_seen": state.patterns_seen,
                "wall_seconds": state.wall_seconds,
                "steps": state.step,
                "machine": machine_facts(ddp),
            },
            "code_version": code_version(),
        }
        save_pretrained(export, model_config, out)
    return TrainResult(
        out,
        state.epoch,
        state.step,
        state.patterns_seen,
        state.wall_seconds,
        stop_reason,
        read_history(history_path) if ddp.is_main else [],
    )


def finished_reason(state: LoopState, total_steps: int, budget: float) -> str:
    """Why a run resumed from ``state`` has nothing left to train ("" when it has)."""
    if budget > 0 and state.wall_seconds >= budget:
        return "max_minutes"
    if total_steps > 0 and state.step >= total_steps:
        return "max_epochs"
    return ""


def machine_facts(ddp: Distributed) -> dict[str, Any]:
    """Where the run trained: cores, processor, torch threads, device, torch version."""
    import platform

    return {
        "cpus": os.cpu_count(),
        "processor": platform.machine(),
        "threads": torch.get_num_threads(),
        "device": str(ddp.device),
        "world_size": ddp.world_size,
        "torch": torch.__version__,
    }


def _single_thread_worker(worker_id: int) -> None:
    """DataLoader workers render with NumPy; one torch thread each leaves the cores to training."""
    torch.set_num_threads(1)


__all__ = ["TrainResult", "train"]
