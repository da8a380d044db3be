"""Calibrate a model folder on held-out simulated patterns and export it to ONNX.

:func:`calibrate_model` (``xrdsym calibrate MODEL_DIR --dataset DATASET``):

1. renders a fixed, seeded set of patterns of the validation part of a split (the renderer the
   model was trained with, ``lab`` or ``paper``), never the training or test part;
2. computes the logits once, splits the set in two random halves, fits one temperature per
   level on the first (:func:`xrdsym.calibration.fit_temperature` on the log of each level's
   distribution, see :mod:`xrdsym.calibration`) and the conformal thresholds of the
   crystal-system, extinction-group and space-group sets on the second
   (:func:`xrdsym.calibration.conformal_threshold`), so the thresholds are computed on
   patterns the temperatures never saw;
3. optionally scores the test part and labelled measured files, uncalibrated beside calibrated
   (top-1, ECE, NLL, set coverage and mean set size);
4. writes the ``calibration`` record into ``model.json`` (atomically, other keys kept) and
   exports ``model.onnx`` beside the weights (:func:`xrdsym.training.onnx_export.export_onnx`).

Re-running it on the same folder replaces the record, so a retrained model is calibrated with
the same command.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.atomic import atomic_write_json
from xrdsym.calibration import (
    DEFAULT_ALPHA,
    LOW_CONFIDENCE_BELOW,
    Calibration,
    conformal_threshold,
    fit_temperature,
    log_probabilities,
    reliability,
    softmax,
)
from xrdsym.classify.samples import read_sample
from xrdsym.datasets.protocol import IndexedPeaks
from xrdsym.datasets.store import open_dataset
from xrdsym.errors import XrdsymError
from xrdsym.inference import TorchBackend, file_sha256
from xrdsym.model_config import CONFIG_NAME, ModelSpec
from xrdsym.models import load_pretrained
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import lab_renderer
from xrdsym.spacegroups import LEVELS, level_labels, level_probabilities
from xrdsym.training.data import RenderedPatterns, render_fixed
from xrdsym.training.measured import read_labels
from xrdsym.training.onnx_export import export_onnx


def fit_calibration(
    logits: np.ndarray, space_group_index: np.ndarray, alpha: float, seed: int
) -> dict[str, Any]:
    """Temperatures (one per level) on one random half, conformal thresholds on the other.

    Returns:
        ``temperatures`` and ``thresholds`` (per level), ``alpha``, ``n_temperature``,
        ``n_conformal``.

    Raises:
        XrdsymError: fewer than 20 patterns.
    """
    n = logits.shape[0]
    if n < 20:
        raise XrdsymError(f"calibration needs at least 20 held-out patterns, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    fit_part, conformal_part = order[: n // 2], order[n // 2 :]
    raw = level_probabilities(softmax(logits))
    labels = level_labels(space_group_index)
    temperatures = {
        level: fit_temperature(log_probabilities(raw[level][fit_part]), labels[level][fit_part])
        for level in LEVELS
    }
    p = Calibration(temperatures=temperatures).levels(
        {level: raw[level][conformal_part] for level in LEVELS}
    )
    thresholds = {
        level: conformal_threshold(p[level], labels[level][conformal_part], alpha)
        for level in LEVELS
    }
    return {
        "temperatures": temperatures,
        "alpha": alpha,
        "thresholds": thresholds,
        "n_temperature": int(fit_part.size),
        "n_conformal": int(conformal_part.size),
    }


def score_reliability(
    logits: np.ndarray, space_group_index: np.ndarray, record: dict[str, Any]
) -> dict[str, Any]:
    """Per level: uncalibrated (T = 1) beside calibrated figures (see ``reliability``).

    Sets of the uncalibrated distributions would need thresholds fitted on those; the
    uncalibrated entry therefore reports top-1, ECE and NLL only. Top-1 is the same in both,
    since each level's temperature keeps its ranking.
    """
    labels = level_labels(space_group_index)
    raw = level_probabilities(softmax(logits))
    calibrated = Calibration(temperatures=record["temperatures"]).levels(raw)
    out: dict[str, Any] = {}
    for level in LEVELS:
        before = reliability(raw[level], labels[level], 1.0)
        out[level] = {
            "uncalibrated": {k: before[k] for k in ("n", "top1", "ece", "nll")},
            "calibrated": reliability(
                calibrated[level], labels[level], record["thresholds"][level]
            ),
        }
    return out


def torch_logits(model: Any, patterns: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Space-group logits (n, 230) of prepared patterns with the torch model."""

    backend = TorchBackend(model)
    chunks = [
        backend.logits(patterns[i : i + batch_size]) for i in range(0, len(patterns), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, 230))


def render_part(
    dataset: Any, indices: np.ndarray, grid: Grid, renderer_name: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded set of rendered patterns (n, L) and space-group indices (n,)."""

    renderer = None
    if renderer_name == "lab":
        renderer = lab_renderer(impurity_pool=IndexedPeaks(dataset, indices))
    return render_fixed(RenderedPatterns(dataset, grid, seed, renderer), indices)


def choose(indices: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, drawn without replacement (all when limit <= 0)."""
    idx = np.asarray(indices)
    if limit <= 0 or idx.size <= limit:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))


def measured_logits(
    model: Any, spec: ModelSpec, labels_csv: Path, wavelength: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Logits and space-group indices of the readable labelled files; also the file count."""

    pairs = read_labels(labels_csv)
    values, truths = [], []
    for path, group in pairs:
        try:
            values.append(read_sample(path, spec.grid, wavelength).prepared.values)
        except XrdsymError:
            continue
        truths.append(group - 1)
    if not values:
        return np.zeros((0, 230)), np.zeros(0, np.int64), len(pairs)
    return torch_logits(model, np.stack(values)), np.array(truths, np.int64), len(pairs)


def calibrate_model(
    folder: Path,
    dataset_path: Path,
    split: str = "structure_type",
    n_val: int = 4000,
    n_test: int = 0,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    renderer: str | None = None,
    measured: Sequence[Path] = (),
    measured_wavelength: str = "CuKa1",
    onnx: bool = True,
) -> dict[str, Any]:
    """Calibrate ``folder`` on the validation part of ``split`` (see the module docstring).

    ``measured`` labels files are read at ``measured_wavelength`` (an anode name or Angstrom,
    as ``xrdsym evaluate-measured --wavelength``).

    Returns:
        The ``calibration`` record written into ``model.json``.

    Raises:
        XrdsymError: an empty validation part, too few patterns, or a failed ONNX check.
    """

    if not 0.0 < alpha < 1.0:
        raise XrdsymError(f"--alpha must be in (0, 1), got {alpha}")
    model, spec = load_pretrained(folder)
    grid = spec.grid
    training_data = spec.record.get("training_data", {})
    name = renderer or str(training_data.get("renderer", "paper"))
    dataset = open_dataset(dataset_path)
    val = choose(dataset.split_indices(split, "val"), n_val, seed)
    if val.size == 0:
        raise XrdsymError(f"{dataset_path}: the {split} split has no validation structures")
    patterns, sg = render_part(dataset, val, grid, name, seed)
    record = fit_calibration(torch_logits(model, patterns), sg, alpha, seed)
    record.update(
        {
            "low_confidence_below": LOW_CONFIDENCE_BELOW,
            "method": "temperature scaling per level of the summed distributions; "
            "split-conformal sets {c: p(c) >= threshold}",
            "dataset": str(dataset_path),
            "dataset_fingerprint": dataset.fingerprint(),
            "split": split,
            "part": "val",
            "renderer": name,
            "seed": seed,
            "weights_sha256": file_sha256(folder / "model.safetensors"),
            "training_fingerprint": training_data.get("fingerprint"),
        }
    )
    record["held_out"] = record["training_fingerprint"] in (None, record["dataset_fingerprint"])
    if n_test:
        test = choose(dataset.split_indices(split, "test"), n_test, seed)
        test_patterns, test_sg = render_part(dataset, test, grid, name, seed + 1)
        record["test"] = score_reliability(torch_logits(model, test_patterns), test_sg, record)
    record["measured"] = []
    for labels_csv in measured:
        logits, truth, files = measured_logits(model, spec, Path(labels_csv), measured_wavelength)
        if len(truth):
            scores = score_reliability(logits, truth, record)
            record["measured"].append(
                {
                    "labels": str(labels_csv),
                    "files": files,
                    "wavelength": measured_wavelength,
                    **scores,
                }
            )
    config = spec.to_dict()
    config["calibration"] = record
    if onnx:
        config["onnx"] = export_onnx(model, folder, grid.n_points)
    atomic_write_json(folder / CONFIG_NAME, config)
    return record


def reliability_rows(record: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """(data, level, figures) of a calibration record's test and measured scores, figures
    ``top1``, ``ece_raw``, ``ece_calibrated``, ``coverage`` and ``set_size`` (mean size of the
    sets); data is ``simulated test`` or the labels file of a measured set."""
    sections = [("simulated test", record.get("test"))]
    sections += [(m["labels"], m) for m in record.get("measured", [])]
    rows = []
    for title, scores in sections:
        if not scores:
            continue
        for level in LEVELS:
            raw, cal = scores[level]["uncalibrated"], scores[level]["calibrated"]
            figures = {
                "n": float(cal["n"]),
                "top1": float(cal["top1"]),
                "ece_raw": float(raw["ece"]),
                "ece_calibrated": float(cal["ece"]),
                "coverage": float(cal["coverage"]),
                "set_size": float(cal["mean_set_size"]),
            }
            rows.append((title, level, figures))
    return rows


def format_reliability(record: dict[str, Any]) -> list[str]:
    """Text table of a calibration record's test and measured figures."""
    lines = []
    if not record.get("held_out", True):
        lines.append(
            f"warning: the model was trained on dataset {record['training_fingerprint']}, "
            f"not {record['dataset_fingerprint']}: its validation part may hold training "
            "structures, and the sets may then cover less than stated"
        )
    lines += [
        "temperatures " + ", ".join(f"{k} {v:.3f}" for k, v in record["temperatures"].items()),
        f"{1 - record['alpha']:.0%} set thresholds "
        + ", ".join(f"{k} {v:.4f}" for k, v in record["thresholds"].items()),
    ]
    title = None
    for data, level, f in reliability_rows(record):
        if data != title:
            title = data
            lines.append(f"{data}:")
            lines.append(
                f"  {'level':17s} {'top-1':>6s} {'ECE raw':>8s} {'ECE cal':>8s} "
                f"{'coverage':>9s} {'set size':>9s}"
            )
        lines.append(
            f"  {level:17s} {f['top1']:6.3f} {f['ece_raw']:8.3f} {f['ece_calibrated']:8.3f} "
            f"{f['coverage']:9.3f} {f['set_size']:9.1f}"
        )
    return lines
