"""Ablation of the laboratory-pattern families: one model trained without each family
(``python -m research.ablation``).

Every variant starts from one base config (``renderer = "lab"``, see
``configs/ablation.toml``) and changes only the settings that switch its family off; all
variants share the model, seed, split and training budget. The budget should be
``max_epochs`` rather than ``max_minutes``, so that every variant sees the same patterns
whatever else runs on the machine. Each trained variant is then scored

* on the test part of the split rendered with every laboratory family on (the same fixed,
  seeded patterns for every variant; impurity phases drawn from the test part), and
* on measured sets with known space groups (``labels.csv`` tables), beside the
  label-frequency floor of the training part.

Variants are trained one after another in ``root/<variant>``; a variant whose
``scores.json`` exists is finished and skipped, and an interrupted training resumes from its
checkpoint, so running the same command again picks up where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from research.command import run_command
from research.report import replace_section
from xrdsym.atomic import atomic_write_json
from xrdsym.cli.train import add_config_arguments, config_from_args
from xrdsym.errors import XrdsymError
from xrdsym.training.config import TrainConfig

#: Ablation family -> the config settings that switch it off. The families follow the
#: measured differences of docs/measured_vs_simulated.md; each groups the ``lab_renderer``
#: switches (``xrdsym.patterns.lab``) that model one physical cause.
ABLATION_FAMILIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "ka2": {"lab_off": ["ka2"]},
        "shifts": {"lab_off": ["zero_shift", "displacement", "strain"]},
        "size_broadening": {"lab_off": ["size_broadening"]},
        "intensities": {"lab_off": ["texture", "trend", "displacement_b"]},
        "impurity": {"lab_off": ["impurity"]},
        "background": {"lab_off": ["air_scatter", "humps"]},
        "coarse_step": {"lab_off": ["coarse_step"]},
        "range": {"truncate_probability": 0.0},
    }
)

#: The variant with every family on (the base config itself).
REFERENCE_VARIANT = "all"
#: The variant with every family off: the protocol of Park et al. (2017), full range.
PAPER_VARIANT = "paper"
PAPER_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {"renderer": "paper", "lab_off": [], "truncate_probability": 0.0}
)
SCORES_NAME = "scores.json"
#: Tasks shown in the ablation table.
TABLE_TASKS = ("crystal_system", "space_group")
#: README markers of the ablation table.
README_START = "<!-- ablation:start -->"
README_END = "<!-- ablation:end -->"


def parse_repeat(text: str) -> tuple[str, int]:
    """``VARIANT:SEED`` -> (variant, seed).

    Raises:
        ValueError: not of that form.
    """
    name, sep, seed = text.rpartition(":")
    if not sep or not name or not seed.strip().lstrip("-").isdigit():
        raise ValueError(f"repeat {text!r} is not of the form VARIANT:SEED (e.g. all:1)")
    return name, int(seed)


def variant_settings(
    families: Sequence[str], paper: bool = True, repeats: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Variant name -> config settings changed from the base.

    ``all`` (the base), ``no_<family>`` for each family, ``paper``, then
    ``<variant>_seed<s>`` for each repeat ``VARIANT:SEED``: that variant trained again with
    another seed (initialisation, shuffling and rendering), which shows how much of a
    difference between variants is training noise.

    Raises:
        ValueError: an unknown family name, or a repeat of an unknown variant.
    """
    unknown = sorted(set(families) - set(ABLATION_FAMILIES))
    if unknown:
        raise ValueError(f"unknown ablation families {unknown}; known: {list(ABLATION_FAMILIES)}")
    variants: dict[str, dict[str, Any]] = {REFERENCE_VARIANT: {}}
    for family in families:
        variants[f"no_{family}"] = dict(ABLATION_FAMILIES[family])
    if paper:
        variants[PAPER_VARIANT] = dict(PAPER_SETTINGS)
    repeated = {}
    for text in repeats:
        name, seed = parse_repeat(text)
        if name not in variants:
            raise ValueError(f"repeat {text!r}: no variant {name!r}; variants: {list(variants)}")
        repeated[f"{name}_seed{seed}"] = {**variants[name], "seed": seed}
    return {**variants, **repeated}


def variant_config(base: TrainConfig, settings: Mapping[str, Any]) -> TrainConfig:
    """The base config with ``settings`` applied (``lab_off`` lists are joined, not replaced).

    Raises:
        ValueError: the base does not use the lab renderer, or a setting is invalid.
    """
    if base.renderer != "lab":
        raise ValueError(f"the ablation base config needs renderer = 'lab', got {base.renderer!r}")
    changes = dict(settings)
    if changes.get("renderer", "lab") == "lab" and "lab_off" in changes:
        changes["lab_off"] = sorted({*base.lab_off, *changes["lab_off"]})
    return dataclasses.replace(base, **changes).validate()


def score_variant(
    run_dir: Path,
    dataset: Any,
    split: str,
    measured_labels: Sequence[Path],
    test_seed: int = 0,
    test_limit: int = 0,
    wavelength: str = "CuKa1",
) -> dict[str, Any]:
    """Accuracies of the model in ``run_dir`` on the lab-rendered test part and measured sets.

    Returns ``{"simulated": evaluate(...) result, "measured": [evaluate_measured(...)...]}``.
    """
    from xrdsym.classify import load_model
    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.patterns.renderers import make_renderer
    from xrdsym.training.evaluate import evaluate
    from xrdsym.training.measured import score_measured_sets

    classifier = load_model(run_dir)
    test_idx = np.asarray(dataset.split_indices(split, "test"))
    if test_limit > 0:
        test_idx = test_idx[:test_limit]
    train_idx = np.asarray(dataset.split_indices(split, "train"))
    simulated = evaluate(
        classifier.model,
        dataset,
        test_idx,
        classifier.grid,
        test_seed,
        train_indices=train_idx,
        renderer=make_renderer("lab", impurity_pool=IndexedPeaks(dataset, test_idx)),
    )
    simulated.pop("crystal_system_confusion", None)
    measured = score_measured_sets(classifier, measured_labels, dataset, split, wavelength)
    for result in measured:
        result.pop("per_file", None)
    return {"simulated": simulated, "measured": measured}


def run_ablation(
    base: TrainConfig,
    root: Path,
    families: Sequence[str] = tuple(ABLATION_FAMILIES),
    measured_labels: Sequence[Path] = (),
    paper: bool = True,
    repeats: Sequence[str] = (),
    test_seed: int = 0,
    test_limit: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train and score every variant (skipping finished ones); returns their score records.

    Each record: ``variant``, ``settings``, ``lab_off``, ``training`` (patterns seen, steps,
    wall seconds, stop reason), ``simulated`` and ``measured`` (see :func:`score_variant`).
    """
    from xrdsym.datasets.store import open_dataset
    from xrdsym.training.loop import train

    dataset = open_dataset(base.dataset)
    records = []
    for name, settings in variant_settings(families, paper, repeats).items():
        config = variant_config(base, settings)
        run_dir = root / name
        scores_path = run_dir / SCORES_NAME
        if scores_path.is_file():
            log(f"{name}: finished earlier ({scores_path})")
            records.append(json.loads(scores_path.read_text()))
            continue
        log(f"{name}: training with {settings or 'every family on'}")
        result = train(config, run_dir, resume=True, source=dataset, progress=progress)
        record = {
            "variant": name,
            "settings": dict(settings),
            "lab_off": list(config.lab_off),
            "renderer": config.renderer,
            "training": {
                "patterns_seen": result.patterns_seen,
                "steps": result.step,
                "epochs": result.epoch,
                "wall_seconds": round(result.wall_seconds, 1),
                "stop_reason": result.stop_reason,
            },
            **score_variant(run_dir, dataset, config.split, measured_labels, test_seed, test_limit),
        }
        # Its presence marks the variant finished.
        atomic_write_json(scores_path, record, sort_keys=True)
        records.append(record)
        log(f"{name}: {summary_line(record)}")
    return records


def summary_line(record: dict[str, Any]) -> str:
    """One line of headline figures of a scored variant (space-group top-1, %)."""
    sim = record["simulated"]["tasks"]["space_group"]["top1"]
    parts = [f"simulated lab test SG top-1 {100 * sim:.1f} %"]
    for result in record["measured"]:
        name = Path(result["labels"]).parent.name
        if "space_group" in result:
            parts.append(f"{name} SG top-1 {100 * result['space_group']['top1']:.1f} %")
    return ", ".join(parts)


def _pct(top1: float, top5: float) -> str:
    return f"{100 * top1:.1f} / {100 * top5:.1f}"


def _measured_cells(result: dict[str, Any], key: str = "") -> list[str]:
    """Top-1 / top-5 cells (``key`` ""), or floor cells (``key`` "floor_"), of a measured set."""
    if "space_group" not in result:
        return ["-"] * len(TABLE_TASKS)
    return [_pct(result[t][f"{key}top1"], result[t][f"{key}top5"]) for t in TABLE_TASKS]


def switched_off(record: dict[str, Any]) -> str:
    """What a variant leaves out, in words (with its seed when it is a repeat)."""
    settings = record["settings"]
    if record["renderer"] == "paper":
        words = "all (paper protocol)"
    elif "truncate_probability" in settings:
        words = "range truncation"
    else:
        words = ", ".join(record["lab_off"]) or "-"
    return f"{words} (seed {settings['seed']})" if "seed" in settings else words


def ablation_table(records: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table: one row per variant, then the label-frequency floors (top-1 / top-5, %)."""
    if not records:
        return []
    names = [t.replace("_", " ") for t in TABLE_TASKS]
    header = ["variant", "switched off", "patterns seen"]
    header += [f"simulated {name}" for name in names]
    for result in records[0]["measured"]:
        header += [f"{Path(result['labels']).parent.name} {name}" for name in names]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for record in records:
        tasks = record["simulated"]["tasks"]
        row = [record["variant"], switched_off(record), f"{record['training']['patterns_seen']:,}"]
        row += [_pct(tasks[t]["top1"], tasks[t]["top5"]) for t in TABLE_TASKS]
        for result in record["measured"]:
            row += _measured_cells(result)
        lines.append("| " + " | ".join(row) + " |")
    first = records[0]
    simulated = first["simulated"]["tasks"]
    floor = ["floor", "", ""]
    floor += [f"{100 * simulated[t]['majority_baseline']:.1f}" for t in TABLE_TASKS]
    for result in first["measured"]:
        floor += _measured_cells(result, "floor_")
    lines.append("| " + " | ".join(floor) + " |")
    return lines


def register(subparsers: Any) -> None:
    """Add the ``ablation`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ablation",
        help="train one model without each lab-pattern family; score on simulated and measured",
        description=(
            "Train the base config (renderer = 'lab') once with every family on, once without "
            "each family, and once with the paper protocol; score every model on the "
            "lab-rendered test part and on measured sets. Variants are trained one after "
            "another in ROOT/<variant>; running the same command again resumes."
        ),
    )
    add_config_arguments(parser, required=True)
    parser.add_argument("--root", type=Path, default=Path("runs/ablation"), help="run folders")
    parser.add_argument(
        "--families",
        nargs="*",
        default=list(ABLATION_FAMILIES),
        choices=list(ABLATION_FAMILIES),
        help="families to switch off one at a time (default: all)",
    )
    parser.add_argument(
        "--no-paper", action="store_true", help="leave out the paper-protocol variant"
    )
    parser.add_argument(
        "--repeat",
        nargs="*",
        default=[],
        metavar="VARIANT:SEED",
        help="train a variant again with another seed, e.g. all:1 (training noise)",
    )
    parser.add_argument(
        "--measured", nargs="*", type=Path, default=[], help="labels CSVs of measured sets"
    )
    parser.add_argument("--test-seed", type=int, default=0, help="seed of the rendered test set")
    parser.add_argument("--test-limit", type=int, default=0, help="first N test structures only")
    parser.add_argument("--output", type=Path, help="write all scores as JSON")
    parser.add_argument("--readme", type=Path, help="put the table between the ablation markers")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Train and score the variants, print the table, write the requested files."""
    base = config_from_args(args)
    for labels in args.measured:
        if not labels.is_file():
            raise XrdsymError(f"{labels}: measured labels file not found")
    try:
        records = run_ablation(
            base,
            args.root,
            args.families,
            args.measured,
            paper=not args.no_paper,
            repeats=args.repeat,
            test_seed=args.test_seed,
            test_limit=args.test_limit,
            progress=not args.quiet,
        )
    except ValueError as exc:
        raise XrdsymError(f"{args.config}: {exc}") from None
    table = ablation_table(records)
    print("\n".join(table))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(records, indent=1) + "\n")
    if args.readme is not None:
        replace_section(args.readme, table, README_START, README_END)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.ablation`` with ``argv`` (default: the process
    arguments); the exit code."""
    return run_command(register, "research.ablation", argv)


if __name__ == "__main__":
    sys.exit(main())
