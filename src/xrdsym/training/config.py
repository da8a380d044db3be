"""Training settings: a dataclass loadable from TOML or JSON, with ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Optimizers and learning-rate schedules that :func:`xrdsym.training.loop.train` knows.
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "onecycle", "constant")
PRECISIONS = ("fp32", "bf16")
PREFETCH_MODES = ("workers", "thread", "none")
SPLITS = ("random", "structure_type")


#: Pattern renderers selectable by ``TrainConfig.renderer``.
RENDERERS = ("paper", "lab")


@dataclass
class TrainConfig:
    """Everything a training run needs; saved resolved as ``run_dir/config.json``.

    Attributes:
        model: registered architecture name (see ``xrdsym.models.list_models()``).
        model_kwargs: extra keyword arguments of the architecture.
        tasks: loss weight of each output key; the loss is sum_t w_t CE_t. Keys are tasks
            (``space_group``, ``extinction_group``, ``crystal_system``) or auxiliary heads
            (``aux_crystal_system``...), whose label is that of the task after ``aux_``.
        batch_size: patterns per optimisation step (per process under DDP).
        optimizer: ``adamw`` or ``adam``.
        lr: peak learning rate.
        weight_decay: decoupled (adamw) or L2 (adam) weight decay.
        schedule: ``cosine`` (linear warm-up then cosine decay to ``min_lr_ratio`` * lr),
            ``onecycle`` (PyTorch's one-cycle shape: cosine up to lr, then down to lr / 1e4),
            or ``constant`` (warm-up then flat).
        warmup_fraction: fraction of the run spent warming up (cosine, constant) or rising
            (onecycle).
        min_lr_ratio: final learning rate of the cosine schedule relative to ``lr``.
        max_epochs: stop after this many epochs (0: no epoch limit).
        max_minutes: stop after this much training wall time (0: no time limit). The
            schedule follows whichever limit is nearer (progress = max of both fractions).
        seed: seeds the model initialisation, dropout, shuffling and pattern rendering.
        dataset: path of a dataset folder (``xrdsym dataset build``).
        split: ``random`` or ``structure_type``.
        grid_start, grid_stop: 2theta range of the model input, degrees.
        grid_points: input length (0: the architecture's default length).
        renderer: ``paper`` (the protocol of Park et al. 2017: ``PAPER_RANGES``) or ``lab``
            (``xrdsym.patterns.lab.LabRenderer``: measured lab ranges, K-alpha2, shifts,
            strain, texture scatter, impurity phases from the training part, extra background
            families, coarse steps; see docs/augmentations.md).
        profile: overrides of the profile-parameter ranges (fields of
            ``xrdsym.patterns.profile.ProfileRanges``) of the ``paper`` renderer.
        lab_off: families of the ``lab`` renderer switched off (names of
            ``xrdsym.patterns.lab.AUGMENTATION_FAMILIES`` and ``RANGE_FAMILIES``), for
            ablations; empty: every family at its default probability.
        stream: weights of the kinds of training structure (``corpus``, ``perturbed``,
            ``synthetic``; see ``xrdsym.datasets.stream``); default corpus only.
        perturbation: fields of ``xrdsym.structures.perturb.PerturbationConfig`` (bounds of
            strain, displacement and substitution of perturbed structures).
        generator: fields of ``xrdsym.structures.synthetic.GeneratorConfig``.
        synthetic_statistics: statistics file of the synthetic generator ("" for the shipped
            one, fitted on the training part of the Materials Project corpus).
        synthetic_verify: reject synthetic crystals whose spglib group is not the requested one.
        truncate_probability: probability of zero-filling outside a random measured range.
        truncate_min_span: narrowest measured range kept by that augmentation, degrees.
        num_workers: DataLoader worker processes rendering patterns (``prefetch="workers"``).
        prefetch: ``workers`` (DataLoader processes), ``thread`` (one background thread in
            this process) or ``none`` (render in the training loop). On two cores one worker
            process was fastest; the thread contends with the training step for the GIL.
        checkpoint_interval_s: seconds of training between checkpoints (and at each epoch end).
        eval_interval_s: seconds of training between validation passes (history.csv rows).
        val_size: validation patterns evaluated (a seeded random subset of the val part).
        patience: stop after this many evaluations without a better validation top-1
            (0: never).
        precision: ``fp32`` or ``bf16`` (CPU/GPU autocast of the forward pass).
        threads: torch intra-op threads (0: torch's default).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    """

    model: str = "xrdnet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, float] = field(default_factory=lambda: {"space_group": 1.0})
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    schedule: str = "cosine"
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.01
    max_epochs: int = 0
    max_minutes: float = 0.0
    seed: int = 0
    dataset: str = ""
    split: str = "random"
    grid_start: float = 10.0
    grid_stop: float = 110.0
    grid_points: int = 0
    renderer: str = "paper"
    profile: dict[str, Any] = field(default_factory=dict)
    lab_off: list[str] = field(default_factory=list)
    stream: dict[str, float] = field(default_factory=lambda: {"corpus": 1.0})
    perturbation: dict[str, float] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    synthetic_statistics: str = ""
    synthetic_verify: bool = True
    truncate_probability: float = 0.0
    truncate_min_span: float = 40.0
    num_workers: int = 1
    prefetch: str = "workers"
    checkpoint_interval_s: float = 300.0
    eval_interval_s: float = 120.0
    val_size: int = 2000
    patience: int = 0
    precision: str = "fp32"
    threads: int = 0
    device: str = "auto"

    def validate(self) -> TrainConfig:
        """Check choices and ranges; returns self.

        Raises:
            ValueError: an option is out of its allowed set or range.
        """
        choices = {
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "precision": PRECISIONS,
            "prefetch": PREFETCH_MODES,
            "split": SPLITS,
            "renderer": RENDERERS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.max_epochs <= 0 and self.max_minutes <= 0:
            raise ValueError("set max_epochs or max_minutes (or both)")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError("batch_size must be >= 1 and lr > 0")
        if not self.tasks or any(w < 0 for w in self.tasks.values()):
            raise ValueError(f"tasks must map output names to weights >= 0, got {self.tasks!r}")
        if not 0.0 <= self.truncate_probability <= 1.0:
            raise ValueError("truncate_probability must lie in [0, 1]")
        if self.lab_off:
            self._validate_lab_off()
        self._validate_stream()
        return self

    def _validate_stream(self) -> None:
        """``stream``, ``perturbation`` and ``generator`` name known fields with valid values."""
        from xrdsym.datasets.stream import check_mix
        from xrdsym.structures.perturb import PerturbationConfig
        from xrdsym.structures.synthetic import GeneratorConfig

        check_mix(self.stream)
        for name, kind in (("perturbation", PerturbationConfig), ("generator", GeneratorConfig)):
            table = getattr(self, name)
            known = {f.name for f in dataclasses.fields(kind)}
            unknown = sorted(set(table) - known)
            if unknown:
                raise ValueError(f"{name} names unknown fields {unknown}; known: {sorted(known)}")
            try:
                kind(**table).validate()
            except TypeError as exc:
                raise ValueError(f"{name}: {exc}") from None

    def _validate_lab_off(self) -> None:
        """``lab_off`` needs the lab renderer and names only its families."""
        from xrdsym.patterns.lab import AUGMENTATION_FAMILIES, RANGE_FAMILIES

        if self.renderer != "lab":
            raise ValueError(f"lab_off needs renderer = 'lab', got {self.renderer!r}")
        known = [*AUGMENTATION_FAMILIES, *RANGE_FAMILIES]
        unknown = sorted(set(self.lab_off) - set(known))
        if unknown:
            raise ValueError(f"lab_off names unknown families {unknown}; known: {known}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict of all fields."""
        return dataclasses.asdict(self)


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON (numbers, true/false, lists, objects) or else a plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides; dotted keys set nested entries (``tasks.space_group=1``).

    Raises:
        ValueError: an override has no ``=``.
    """
    out = json.loads(json.dumps(values))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not of the form key=value")
        *parents, leaf = key.strip().split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = parse_value(raw.strip())
    return out


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig`; unknown keys raise ``ValueError``."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
    return TrainConfig(**values).validate()


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Raw option dict of a ``.toml`` or ``.json`` file (a ``[train]`` TOML table is accepted).

    Raises:
        ValueError: unreadable file or unsupported extension.
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ValueError(f"{file}: cannot read config ({exc.strerror})") from None
    try:
        if file.suffix.lower() == ".toml":
            values: Any = tomllib.loads(text)
            values = values.get("train", values)
        elif file.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            raise ValueError(f"{file}: config must be a .toml or .json file")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file}: invalid config ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{file}: the config must be a table of options")
    return values


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults, replaced by the file's options, then ``key=value`` overrides; validated.

    A dotted override edits one entry of a table option (``tasks.crystal_system=0.2`` adds a
    task to the configured ones); a table given in the file replaces the default table.
    """
    values = TrainConfig().to_dict()
    if path is not None:
        file_values = read_config_file(path)
        names = set(values)
        unknown = sorted(set(file_values) - names)
        if unknown:
            raise ValueError(
                f"{path}: unknown training option(s) {unknown}; known: {sorted(names)}"
            )
        values.update(file_values)
    return config_from_dict(apply_overrides(values, overrides or []))
