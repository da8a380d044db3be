"""The pieces a training run is assembled from: its data split, grid, renderer, stream of
structures, labels, optimizer, and the facts its files record (code, machine, stream)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xrdsym import __version__
from xrdsym.datasets.protocol import IndexedPeaks, PeakSource
from xrdsym.datasets.sources import STREAM_SOURCES
from xrdsym.datasets.stream import StructureStream, check_mix, drawn_kinds
from xrdsym.models.pretrained import create_sized_model
from xrdsym.patterns import renderers
from xrdsym.patterns.grid import PAPER_GRID, Grid
from xrdsym.patterns.protocols import PatternRenderer
from xrdsym.spacegroups import CRYSTAL_SYSTEMS, extinction_groups, label_maps, space_group
from xrdsym.structures.perturb import PerturbationConfig
from xrdsym.structures.synthetic import GeneratorConfig, SyntheticGenerator, load_statistics
from xrdsym.training.config import ConfigError, TrainConfig
from xrdsym.training.distributed import Distributed
from xrdsym.training.evaluate import TASKS
from xrdsym.wavelengths import CU_KA1

#: Fraction of a source without ``split_indices`` held out for validation.
FALLBACK_VAL_FRACTION = 0.2


def code_version() -> dict[str, str]:
    """``xrdsym.__version__`` and, inside a git checkout, the commit hash."""

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


def machine_facts(ddp: Distributed) -> dict[str, Any]:
    """Where the run trained: cores, processor, torch threads, device, torch version."""

    return {
        "cpus": os.cpu_count(),
        "processor": platform.machine(),
        "threads": torch.get_num_threads(),
        "device": str(ddp.device),
        "world_size": ddp.world_size,
        "torch": torch.__version__,
    }


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the platform reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def torch_threads(config: TrainConfig) -> int:
    """Torch intra-op threads of a run: ``config.threads``, or for 0 the cores left by the
    rendering workers, max(1, cores / local processes - workers), local processes being
    torchrun's ``LOCAL_WORLD_SIZE`` (1 without it) and workers ``num_workers`` when
    ``prefetch = "workers"``, 1 (the drawing thread) plus the crystal makers when
    ``prefetch = "batched"`` (``num_workers`` if the stream has synthetic items), else 0."""
    if config.threads > 0:
        return config.threads
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    makers = config.num_workers if config.stream.get("synthetic", 0.0) > 0 else 0
    workers = {"workers": config.num_workers, "batched": 1 + makers}.get(config.prefetch, 0)
    return max(1, available_cores() // local_processes - workers)


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

    n_points = config.grid_points
    if n_points <= 0:
        default = create_sized_model(
            config.model, dict(config.model_kwargs), "the training config", ConfigError
        )
        n_points = int(getattr(default, "input_length", PAPER_GRID.n_points))
    wavelength = float(getattr(source, "wavelength", CU_KA1))
    return Grid(config.grid_start, config.grid_stop, n_points, wavelength)


class LabelMaps:
    """Label tensors of every output key from space-group indices."""

    def __init__(self, device: torch.device) -> None:

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


def label_names() -> dict[str, list[str]]:
    """Names of the classes of the three tasks, in output order."""

    return {
        "crystal_system": list(CRYSTAL_SYSTEMS),
        "extinction_group": [
            "/".join(space_group(n).symbol for n in members) for members in extinction_groups()
        ],
        "space_group": [space_group(n).symbol for n in range(1, 231)],
    }


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
    """The training renderer named by ``config.renderer``, from
    :func:`xrdsym.patterns.renderers.make_renderer`.

    The ``lab`` renderer draws its impurity phases from the training part only, so that no
    validation or test structure leaks into training patterns; ``config.lab_off`` names the
    families it leaves out. The ``paper`` renderer takes ``config.profile``.
    """
    if config.renderer == "lab":
        pool = IndexedPeaks(source, train_idx)
        return renderers.make_renderer("lab", lab_off=config.lab_off, impurity_pool=pool)
    return renderers.make_renderer("paper", profile=config.profile)


def make_stream(config: TrainConfig, source: PeakSource) -> Any:
    """The :class:`~xrdsym.datasets.stream.StructureStream` of ``config.stream``, or None when
    the stream is the stored corpus alone."""

    mix = check_mix(config.stream)
    start = check_mix(config.stream_start) if config.stream_ramp_epochs > 0 else None
    kinds = drawn_kinds(mix, start)
    if kinds <= {"corpus"}:
        return None
    generator = None
    if "synthetic" in kinds:
        statistics = load_statistics(config.synthetic_statistics or None)
        generator = SyntheticGenerator(statistics, GeneratorConfig(**config.generator))
    return StructureStream(
        source,
        mix,
        PerturbationConfig(**config.perturbation),
        generator,
        verify=config.synthetic_verify,
        start=start,
        ramp_epochs=config.stream_ramp_epochs,
    )


def stream_summary(
    config: TrainConfig, stream: Any, train_idx: np.ndarray, patterns_seen: int
) -> dict[str, Any]:
    """What the model card says of the training stream: kind weights, distinct crystals seen
    (expected count: corpus structures, one new crystal per perturbed pattern, and one per
    block of k positions holding a synthetic item, k = patterns per synthetic crystal, with the
    kind weights averaged over the patterns seen when the stream is ramped) and the label prior
    of the stream (for prior correction)."""
    if stream is None:
        return {"stream": {"corpus": 1.0}, "distinct_crystals": int(len(train_idx))}
    seen = stream.mean_probabilities(patterns_seen, len(train_idx))
    p_corpus, p_perturbed, p_synthetic = (float(p) for p in seen)
    k = config.synthetic_patterns_per_crystal
    synthetic_crystals = (patterns_seen / k) * (1.0 - (1.0 - p_synthetic) ** k)
    generated = int(round(patterns_seen * p_perturbed + synthetic_crystals))
    corpus_used = int(len(train_idx)) if p_corpus + p_perturbed > 0 else 0
    ramp = (
        {"stream_start": dict(config.stream_start), "stream_ramp_epochs": config.stream_ramp_epochs}
        if config.stream_ramp_epochs > 0
        else {}
    )
    end = {kind: float(p) for kind, p in zip(STREAM_SOURCES, stream.probabilities, strict=True)}
    return {
        "stream": end,
        **ramp,
        "stream_seen": {kind: float(p) for kind, p in zip(STREAM_SOURCES, seen, strict=True)},
        "perturbation": dict(config.perturbation),
        "generator": dict(config.generator),
        "synthetic_statistics": config.synthetic_statistics or "shipped",
        "synthetic_patterns_per_crystal": k,
        "distinct_crystals": corpus_used + generated,
        "label_prior": [round(float(p), 8) for p in stream.label_prior(train_idx)],
    }


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
