"""The training loop: one process on CPU by default, PyTorch DDP under ``torchrun``.

:func:`train` strings together the steps of :mod:`xrdsym.training.steps`:
:func:`~xrdsym.training.steps.setup_run` -> resume or seed -> ``config.json`` ->
:func:`~xrdsym.training.steps.prepare_loop` -> epochs of
:func:`~xrdsym.training.steps.train_step` with periodic
:func:`~xrdsym.training.steps.validate` and checkpoints -> a final validation and checkpoint
-> :func:`~xrdsym.training.steps.export_best`.

Run folder layout::

    config.json         resolved settings, seeds, dataset fingerprint, code version
    checkpoint.pt       last checkpoint (model, optimizer, schedule, counters, RNG state)
    history.csv         one row per evaluation: wall seconds, patterns seen, train loss, ...
    model.safetensors   exported weights (best validation top-1) + model.json
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from xrdsym.datasets.protocol import IndexedPeaks, PeakSource
from xrdsym.patterns.protocols import PatternRenderer
from xrdsym.training.config import TrainConfig
from xrdsym.training.data import EpochSampler, StreamedPatterns, ThreadPrefetcher
from xrdsym.training.distributed import Distributed, setup_distributed, shared_flags
from xrdsym.training.history import HISTORY_FIELDS, HISTORY_NAME, append_history, read_history
from xrdsym.training.parts import (
    machine_facts,
    make_renderer,
    make_stream,
    stream_summary,
    validation_subset,
)
from xrdsym.training.resume import CONFIG_NAME, RESUMABLE_CHANGES
from xrdsym.training.schedule import learning_rate
from xrdsym.training.steps import (
    LoopState,
    Run,
    export_best,
    prepare_loop,
    rescore_best,
    save_run_checkpoint,
    setup_run,
    start_or_resume,
    train_step,
    validate,
    write_resolved_config,
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
class Window:
    """Training loss and top-1 accumulated since the last validation."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0

    def loss(self) -> float:
        """Mean training loss per pattern (0 when nothing was seen)."""
        return self.loss_sum / max(self.seen, 1)

    def top1(self) -> float:
        """Training top-1 of the main task (0 when nothing was seen)."""
        return self.correct / max(self.seen, 1)


@dataclass
class Session:
    """The state of one call of :func:`train` that checkpoints do not keep: clocks, the
    last learning rate, the running training metrics, the stop reason and the progress bar."""

    t_start: float
    last_eval: float
    last_ckpt: float
    lr: float
    stop_reason: str
    window: Window = field(default_factory=Window)
    bar: Any = None


def finished_reason(state: LoopState, total_steps: int, budget: float) -> str:
    """Why a run resumed from ``state`` has nothing left to train ("" when it has)."""
    if budget > 0 and state.wall_seconds >= budget:
        return "max_minutes"
    if total_steps > 0 and state.step >= total_steps:
        return "max_epochs"
    return ""


def start_session(run: Run, progress: bool) -> Session:
    """Clocks continued from the run's counters, the progress bar (rank 0) and the model in
    training mode."""
    state, config = run.state, run.config
    bar = None
    if progress and run.ddp.is_main:
        bar = tqdm(
            total=run.total_steps or None, initial=state.step, unit="step", dynamic_ncols=True
        )
    lr = learning_rate(config.schedule, run.progress_fraction(), config.lr, config.warmup_fraction)
    session = Session(
        t_start=time.perf_counter() - state.wall_seconds,
        last_eval=state.wall_seconds,
        last_ckpt=state.wall_seconds,
        lr=lr,
        stop_reason=finished_reason(state, run.total_steps, run.budget),
        bar=bar,
    )
    run.model.train()
    return session


def count_step(run: Run, session: Session, loss_sum: float, correct: int, n: int) -> None:
    """Advance the counters and the running metrics by one step of ``n`` patterns."""
    state = run.state
    state.step += 1
    state.batch_in_epoch += 1
    state.patterns_seen += n * run.ddp.world_size
    state.wall_seconds = time.perf_counter() - session.t_start
    session.window.loss_sum += loss_sum
    session.window.correct += correct
    session.window.seen += n
    if session.bar is not None:
        session.bar.update(1)
        session.bar.set_postfix(
            epoch=state.epoch,
            loss=f"{session.window.loss():.3f}",
            acc=f"{session.window.top1():.3f}",
            lr=f"{session.lr:.2e}",
        )


def after_step(run: Run, session: Session) -> None:
    """Validate, checkpoint and stop when their time has come (rank 0 decides for all)."""
    state, config = run.state, run.config
    out_of_time = run.budget > 0 and state.wall_seconds >= run.budget
    out_of_steps = run.total_steps > 0 and state.step >= run.total_steps
    do_eval, do_ckpt, stop = shared_flags(
        run.ddp,
        state.wall_seconds - session.last_eval >= config.eval_interval_s,
        state.wall_seconds - session.last_ckpt >= config.checkpoint_interval_s,
        out_of_time or out_of_steps,
    )
    if do_eval and not stop:
        if run.ddp.is_main:
            validate(run, session.window.loss(), session.window.top1(), session.lr)
        session.window = Window()
        session.last_eval = state.wall_seconds
        patience_over = config.patience > 0 and state.evals_since_best >= config.patience
        if shared_flags(run.ddp, patience_over)[0]:
            session.stop_reason = "early_stopping"
    if do_ckpt:
        save_run_checkpoint(run)
        session.last_ckpt = state.wall_seconds
    if stop:
        session.stop_reason = "max_minutes" if out_of_time else "max_epochs"


def epoch_loader(run: Run) -> Iterable[Any]:
    """Batches of the current epoch from its current position (resumes inside an epoch)."""
    config, state = run.config, run.state
    if config.prefetch == "batched":
        # One thread draws the next batches (torch releases the GIL) while this one trains.
        order = [item[1] for item in EpochSampler(run.base_sampler, run.train_idx, state.epoch)]
        batches = run.batched.epoch(state.epoch, order, config.batch_size, state.batch_in_epoch)
        return ThreadPrefetcher(batches, depth=2)
    sampler = EpochSampler(
        run.base_sampler, run.train_idx, state.epoch, state.batch_in_epoch * config.batch_size
    )
    workers = config.num_workers if config.prefetch == "workers" else 0
    loader: Iterable[Any] = DataLoader(
        run.dataset,
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
    return loader


def run_epoch(run: Run, session: Session) -> None:
    """Train the rest of the current epoch, or until a stop reason; a completed epoch
    advances the epoch counter and is checkpointed."""
    for x, sg in epoch_loader(run):
        loss_sum, session.lr, correct, n = train_step(run, x, sg)
        count_step(run, session, loss_sum, correct, n)
        after_step(run, session)
        if session.stop_reason:
            return
    run.state.epoch += 1
    run.state.batch_in_epoch = 0
    save_run_checkpoint(run)
    session.last_ckpt = run.state.wall_seconds


def train_epochs(run: Run, session: Session) -> None:
    """Epochs until a stop reason; Ctrl-C writes a checkpoint before re-raising."""
    try:
        while not session.stop_reason:
            if run.config.max_epochs > 0 and run.state.epoch >= run.config.max_epochs:
                session.stop_reason = "max_epochs"
                break
            run_epoch(run, session)
    except KeyboardInterrupt:
        run.state.wall_seconds = time.perf_counter() - session.t_start
        save_run_checkpoint(run)
        raise
    finally:
        if session.bar is not None:
            session.bar.close()


def finish(run: Run, session: Session) -> None:
    """Close the epoch of a run that ended at its boundary; on rank 0 validate the last step
    (unless a finished run run again validated it already), checkpoint and export."""
    state = run.state
    if session.stop_reason == "max_epochs" and state.batch_in_epoch >= run.steps_per_epoch:
        state.epoch += 1
        state.batch_in_epoch = 0
    if not run.ddp.is_main:
        return
    history = read_history(run.history_path)
    if history and history[-1].get("step") == state.step:
        final = history[-1]  # a finished run run again: this step is validated already
    else:
        final = validate(run, session.window.loss(), session.window.top1(), session.lr)
    save_run_checkpoint(run)
    export_best(run, final)


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
    with preserved_torch_state():
        run = setup_run(config, run_dir, source, renderer)
        try:
            start_or_resume(run, resume, force_resume)
            prepare_loop(run)
            rescore_best(run)
            write_resolved_config(run)
            session = start_session(run, progress)
            train_epochs(run, session)
            finish(run, session)
        finally:
            if run.batched is not None and run.batched.fresh is not None:
                run.batched.fresh.close()
    state = run.state
    return TrainResult(
        run.out,
        state.epoch,
        state.step,
        state.patterns_seen,
        state.wall_seconds,
        session.stop_reason,
        read_history(run.history_path) if run.ddp.is_main else [],
    )


@contextlib.contextmanager
def preserved_torch_state() -> Iterator[None]:
    """Restore torch's intra-op thread count and global random state on exit.

    Training sets both (``threads``, ``seed``) for its own reproducibility; a caller's process
    gets them back as they were, whether training ends, fails or is interrupted.
    """
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.random.set_rng_state(rng_state)


def _single_thread_worker(worker_id: int) -> None:
    """DataLoader workers render with NumPy; one torch thread each leaves the cores to training."""
    torch.set_num_threads(1)


__all__ = [
    "CONFIG_NAME",
    "HISTORY_FIELDS",
    "HISTORY_NAME",
    "RESUMABLE_CHANGES",
    "Distributed",
    "IndexedPeaks",
    "StreamedPatterns",
    "TrainResult",
    "append_history",
    "machine_facts",
    "make_renderer",
    "make_stream",
    "read_history",
    "setup_distributed",
    "stream_summary",
    "train",
    "validation_subset",
]
