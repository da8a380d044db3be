"""Training settings: a dataclass loadable from TOML or JSON, with ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrdsym.datasets.stream import check_mix
from xrdsym.errors import XrdsymError
from xrdsym.models.registry import TASK_CLASSES, list_models
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.patterns.lab import AUGMENTATION_FAMILIES, RANGE_FAMILIES
from xrdsym.patterns.renderers import RENDERER_NAMES
from xrdsym.structures.perturb import PerturbationConfig
from xrdsym.structures.synthetic import GeneratorConfig

#: Optimizers and learning-rate schedules that :func:`xrdsym.training.loop.train` knows.
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "onecycle", "constant")
PRECISIONS = ("fp32", "bf16")
PREFETCH_MODES = ("workers", "thread", "none", "batched")
SPLITS = ("random", "structure_type")
DEVICES = ("auto", "cpu", "cuda")

#: Python type of each kind of option, from the annotation's first word.
_TYPE_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "dict": dict, "list": list}

#: (low, high) inclusive bounds of numeric options; None: unbounded on that side.
_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "batch_size": (1, 1 << 16),
    "lr": (None, 10.0),
    "weight_decay": (0.0, 10.0),
    "warmup_fraction": (0.0, 1.0),
    "min_lr_ratio": (0.0, 1.0),
    "max_epochs": (0, None),
    "max_minutes": (0.0, None),
    "seed": (0, None),
    "grid_start": (0.0, 180.0),
    "grid_stop": (0.0, 180.0),
    "grid_points": (0, 1 << 20),
    "truncate_probability": (0.0, 1.0),
    "truncate_min_span": (0.0, 180.0),
    "num_workers": (0, 256),
    "checkpoint_interval_s": (0.0, None),
    "eval_interval_s": (0.0, None),
    "val_size": (0, None),
    "patience": (0, None),
    "threads": (0, 4096),
    "synthetic_patterns_per_crystal": (1, 8),
    "stream_ramp_epochs": (0, 100_000),
}

#: Options that must be strictly positive (beyond their bounds).
_POSITIVE = ("lr", "truncate_min_span")

#: Smallest non-default input length (grid_points): the networks need a few cells per stage.
MIN_GRID_POINTS = 64


class ConfigError(XrdsymError, ValueError):
    """A training option has the wrong type or value; the message names the option."""


def _type_of(field_type: Any) -> type:
    """The Python type of an option from its annotation (a string under postponed
    annotations: ``"int"``, ``"dict[str, float]"``, ...)."""
    name = field_type if isinstance(field_type, str) else getattr(field_type, "__name__", "")
    return _TYPE_NAMES.get(name.split("[", 1)[0].strip(), object)


def _check_type(name: str, value: Any, expected: type) -> None:
    """Refuse a value of another type: bools are not numbers, ints are accepted as floats.

    Raises:
        ConfigError: naming the option, the expected type and the value.
    """
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(float(value))
    else:
        ok = isinstance(value, expected)
    if not ok:
        kind = "a finite number" if expected is float else f"of type {expected.__name__}"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")


def _check_bounds(name: str, value: float) -> None:
    """Refuse a number outside the option's bounds (see ``_BOUNDS`` and ``_POSITIVE``)."""
    low, high = _BOUNDS.get(name, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{'-inf' if low is None else low} to {'inf' if high is None else high}"
        raise ConfigError(f"{name} must lie within {span}, got {value!r}")
    if name in _POSITIVE and value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")


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
            ``xrdsym.patterns.profile_params.ProfileRanges``) of the ``paper`` renderer.
        lab_off: families of the ``lab`` renderer switched off (names of
            ``xrdsym.patterns.lab.AUGMENTATION_FAMILIES`` and ``RANGE_FAMILIES``), for
            ablations; empty: every family at its default probability.
        stream: weights of the kinds of training structure (the stream sources of
            ``xrdsym.datasets.sources.STREAM_SOURCES``: ``corpus``, ``perturbed``,
            ``synthetic``; see ``xrdsym.datasets.stream``); default corpus only. With a ramp,
            the weights at its end.
        stream_start: weights of the kinds at epoch 0 of a ramp (empty: no ramp).
        stream_ramp_epochs: epochs over which the weights move linearly from ``stream_start``
            to ``stream`` (0: no ramp; needs ``stream_start``).
        perturbation: fields of ``xrdsym.structures.perturb.PerturbationConfig`` (bounds of
            strain, displacement and substitution of perturbed structures).
        generator: fields of ``xrdsym.structures.synthetic.GeneratorConfig``.
        synthetic_statistics: statistics file of the synthetic generator ("" for the shipped
            one, fitted on the training part of the Materials Project corpus).
        synthetic_verify: reject synthetic crystals with more symmetry than the requested group
            (``xrdsym.structures.synthetic_checks.keeps_its_group``).
        synthetic_patterns_per_crystal: patterns rendered of each synthetic crystal (1-8; the
            synthetic items of a block of that many consecutive positions share a crystal,
            each with its own profile, background and noise).
        truncate_probability: probability of zero-filling outside a random measured range.
        truncate_min_span: narrowest measured range kept by that augmentation, degrees.
        num_workers: DataLoader worker processes rendering patterns (``prefetch="workers"``),
            or processes making synthetic crystals (``prefetch="batched"``).
        prefetch: ``workers`` (DataLoader processes), ``thread`` (one background thread in
            this process), ``none`` (render in the training loop) or ``batched`` (whole
            batches drawn by torch on the training device from peak lists held in memory,
            :mod:`xrdsym.training.batched`; lab renderer, fixed stream weights, synthetic
            crystals made by ``num_workers`` processes).
        checkpoint_interval_s: seconds of training between checkpoints (and at each epoch end).
        eval_interval_s: seconds of training between validation passes (history.csv rows).
        val_size: validation patterns evaluated (a seeded random subset of the val part).
        patience: stop after this many evaluations without a better validation top-1
            (0: never).
        precision: ``fp32`` or ``bf16`` (CPU/GPU autocast of the forward pass).
        threads: torch intra-op threads; 0 (default) takes the cores left by the rendering
            workers (:func:`xrdsym.training.parts.torch_threads`). On two cores, one thread and
            two workers trained 1.7-1.9x the patterns per second of two threads and one worker
            (``benchmarks/bench_stream.py``), which oversubscribes the cores.
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
    grid_start: float = PAPER_GRID.start
    grid_stop: float = PAPER_GRID.stop
    grid_points: int = 0
    renderer: str = "paper"
    profile: dict[str, Any] = field(default_factory=dict)
    lab_off: list[str] = field(default_factory=list)
    stream: dict[str, float] = field(default_factory=lambda: {"corpus": 1.0})
    stream_start: dict[str, float] = field(default_factory=dict)
    stream_ramp_epochs: int = 0
    perturbation: dict[str, float] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    synthetic_statistics: str = ""
    synthetic_verify: bool = True
    synthetic_patterns_per_crystal: int = 1
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
            ConfigError: (a ``ValueError``) an option of the wrong type, out of its allowed set
                or range; the message names the option.
        """
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            _check_type(item.name, value, _type_of(item.type))
            if isinstance(value, int | float) and not isinstance(value, bool):
                _check_bounds(item.name, value)
        self._validate_shapes()
        choices = {
            "device": DEVICES,
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "precision": PRECISIONS,
            "prefetch": PREFETCH_MODES,
            "split": SPLITS,
            "renderer": RENDERER_NAMES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.max_epochs <= 0 and self.max_minutes <= 0:
            raise ConfigError("set max_epochs or max_minutes (or both)")
        self._validate_model()
        if self.prefetch == "batched":
            self._validate_batched()
        if self.lab_off:
            self._validate_lab_off()
        try:
            self._validate_stream()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return self

    def _validate_shapes(self) -> None:
        """Tables and lists hold what they must: task weights, a grid range, family names.

        Raises:
            ConfigError: naming the option.
        """
        known = {*TASK_CLASSES, *(f"aux_{task}" for task in TASK_CLASSES)}
        if not self.tasks or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
            for w in self.tasks.values()
        ):
            raise ConfigError(f"tasks must map output names to weights >= 0, got {self.tasks!r}")
        unknown = sorted(set(self.tasks) - known)
        if unknown:
            raise ConfigError(f"tasks names unknown outputs {unknown}; known: {sorted(known)}")
        if not any(task in self.tasks for task in TASK_CLASSES):
            raise ConfigError(f"tasks must include one of {sorted(TASK_CLASSES)}")
        if self.grid_start >= self.grid_stop:
            raise ConfigError(
                f"grid_start must be below grid_stop, got {self.grid_start} and {self.grid_stop}"
            )
        if 0 < self.grid_points < MIN_GRID_POINTS:
            raise ConfigError(
                f"grid_points must be 0 (the model's default) or >= {MIN_GRID_POINTS}, "
                f"got {self.grid_points}"
            )
        if not all(isinstance(name, str) for name in self.lab_off):
            raise ConfigError(f"lab_off must be a list of names, got {self.lab_off!r}")

    def _validate_model(self) -> None:
        """``model`` names a registered architecture.

        Raises:
            ConfigError: listing the registered names.
        """
        if self.model not in list_models():
            raise ConfigError(
                f"model must be a registered architecture ({', '.join(list_models())}), "
                f"got {self.model!r}"
            )

    def _validate_stream(self) -> None:
        """``stream``, ``perturbation`` and ``generator`` name known fields with valid values."""
        check_mix(self.stream)
        if bool(self.stream_start) != (self.stream_ramp_epochs > 0):
            raise ConfigError(
                "a ramp of the stream needs both stream_start and stream_ramp_epochs > 0, got "
                f"stream_start={self.stream_start!r}, stream_ramp_epochs={self.stream_ramp_epochs}"
            )
        if self.stream_start:
            check_mix(self.stream_start)
        for name, kind in (("perturbation", PerturbationConfig), ("generator", GeneratorConfig)):
            table = getattr(self, name)
            known = {f.name for f in dataclasses.fields(kind)}
            unknown = sorted(set(table) - known)
            if unknown:
                raise ConfigError(f"{name} names unknown fields {unknown}; known: {sorted(known)}")
            try:
                kind(**table).validate()
            except TypeError as exc:
                raise ConfigError(f"{name}: {exc}") from None

    def _validate_batched(self) -> None:
        """``prefetch = "batched"`` draws lab patterns of a stream with fixed kind weights.

        Raises:
            ConfigError: another renderer, a ramp of the stream, or synthetic structures
                without a worker to make them.
        """
        if self.renderer != "lab":
            raise ConfigError(f"prefetch = 'batched' needs renderer = 'lab', got {self.renderer!r}")
        if self.stream_ramp_epochs > 0:
            raise ConfigError("prefetch = 'batched' draws a stream with fixed weights (no ramp)")
        if self.stream.get("synthetic", 0.0) > 0 and self.num_workers < 1:
            raise ConfigError(
                "prefetch = 'batched' makes synthetic crystals in num_workers processes; "
                "set num_workers >= 1"
            )

    def _validate_lab_off(self) -> None:
        """``lab_off`` needs the lab renderer and names only its families."""
        if self.renderer != "lab":
            raise ConfigError(f"lab_off needs renderer = 'lab', got {self.renderer!r}")
        known = [*AUGMENTATION_FAMILIES, *RANGE_FAMILIES]
        unknown = sorted(set(self.lab_off) - set(known))
        if unknown:
            raise ConfigError(f"lab_off names unknown families {unknown}; known: {known}")

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
        raise ConfigError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
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
