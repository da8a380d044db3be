"""The results report (``python -m research.report``): test accuracies with floors, learning
curves, measured-set accuracies.

Reads finished run folders (``config.json``, ``history.csv``, ``model.json``, the test
evaluation ``test_results.json`` written by ``xrdsym evaluate --output`` and, when present,
the validation-part evaluation ``val_results.json`` of ``xrdsym evaluate --part val``) and
measured-set results (``xrdsym evaluate-measured --output``); writes one machine-readable
``results.json``, a learning-curve figure, and a Markdown section between two markers.

Runs continued from a copy of one another (the same run at 35, 60 and 120 minutes) share the
beginning of their history: the test table lists each, the curves and the budget table the
longest of each name (:func:`longest_per_name`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from research.command import run_command
from research.model_card import TASKS, joined_answer_lines, model_card_lines, pct
from xrdsym.errors import XrdsymError
from xrdsym.training.measured import confidence_table

#: Test accuracies of Park et al. (2017) on a random 80/20 split of 150,000 ICSD patterns.
PAPER_TOP1 = {"crystal_system": 0.9499, "extinction_group": 0.8383, "space_group": 0.8114}
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"
#: Wall-clock budgets (minutes) at which the learning curves are compared.
BUDGETS_MIN = (5.0, 10.0, 15.0, 30.0, 60.0, 120.0)
#: A run counts as having reached a budget if it trained to within this many seconds of it.
BUDGET_SLACK_S = 90.0


def read_history(run: Path) -> list[dict[str, float]]:
    """Rows of ``history.csv`` as floats (empty when the run has none)."""
    path = run / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def _read_optional(path: Path) -> Any:
    """The JSON content of ``path``, or None when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else None


def dataset_changes(config: dict[str, Any], history: list[dict[str, float]]) -> list[float]:
    """Training minutes at which a resume changed the run's dataset (and so its validation
    part): the recorded ``resumes`` with a ``dataset_fingerprint`` change, placed at the
    history row of their step (rows without a ``step`` column place nothing)."""
    minutes = []
    for resume in config.get("resumes", []):
        if "dataset_fingerprint" not in resume.get("changed", {}):
            continue
        rows = [r for r in history if r.get("step", float("inf")) <= resume.get("step", -1)]
        if rows:
            minutes.append(rows[-1]["wall_seconds"] / 60)
    return minutes


def run_summary(run: Path) -> dict[str, Any]:
    """What the report needs of one run folder."""
    model = json.loads((run / "model.json").read_text())
    config = json.loads((run / "config.json").read_text())
    history = read_history(run)
    train_cfg = config.get("config", config)
    return {
        "run": run.name,
        "model": model["architecture"],
        "split": model.get("training_data", {}).get("split", train_cfg.get("split")),
        "dataset": model.get("training_data", {}).get("dataset"),
        "fingerprint": model.get("training_data", {}).get("fingerprint"),
        "n_train": model.get("training_data", {}).get("n_train"),
        "training": model.get("training", {}),
        "test": _read_optional(run / "test_results.json"),
        "validation": _read_optional(run / "val_results.json"),
        "history": history,
        "dataset_changed_min": dataset_changes(config, history),
    }


def longest_per_name(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run per (name, model, split): the one trained longest (last history row), in
    first-seen order (continued copies of a run repeat its history's beginning)."""

    def trained_s(run: dict[str, Any]) -> float:
        return float(run["history"][-1].get("wall_seconds", 0.0)) if run["history"] else 0.0

    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run in runs:
        key = (run["run"], run["model"], str(run["split"]))
        if key not in best or trained_s(run) > trained_s(best[key]):
            best[key] = run
    return list(best.values())


def accuracy_at_budget(history: list[dict[str, float]], minutes: float, task: str) -> float:
    """Validation top-1 of ``task`` at the last evaluation within ``minutes`` of training."""
    key = f"val_top1_{task}"
    if not history or history[-1].get("wall_seconds", 0) < minutes * 60 - BUDGET_SLACK_S:
        return float("nan")  # the run stopped before this budget
    rows = [r for r in history if r.get("wall_seconds", 0) <= minutes * 60 + 1 and key in r]
    return rows[-1][key] if rows else float("nan")


def plot_learning_curves(runs: list[dict[str, Any]], output: Path) -> Path:
    """Validation top-1 (space group and crystal system) and training top-1 of the main task
    (on the training stream, since the last evaluation) against training minutes, per split."""
    from matplotlib.figure import Figure

    splits = sorted({r["split"] for r in runs})
    figure = Figure(figsize=(5.5 * len(splits), 3.8))
    axes = figure.subplots(1, len(splits), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        for number, run in enumerate(r for r in runs if r["split"] == split):
            minutes = [h["wall_seconds"] / 60 for h in run["history"]]
            curves = (
                ("val_top1_space_group", "-", "space group"),
                ("val_top1_crystal_system", "--", "crystal system"),
                ("train_top1", ":", "training (main task)"),
            )
            for key, style, name in curves:
                values = [h.get(key, np.nan) for h in run["history"]]
                ax.plot(
                    minutes,
                    values,
                    style,
                    marker="o",
                    ms=3,
                    color=f"C{number}",
                    label=f"{run['run']}: {name}",
                )
            for changed in run.get("dataset_changed_min", []):
                ax.axvline(changed, color=f"C{number}", lw=0.8, alpha=0.5)
        changed = any(r.get("dataset_changed_min") for r in runs if r["split"] == split)
        note = "; thin lines: validation part changed" if changed else ""
        ax.set_title(f"{split} split (validation part{note})", fontsize=9)
        ax.set_xlabel("training wall time (minutes)")
        ax.set_ylabel("top-1 accuracy")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    return output


def test_table(runs: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: test top-1 / top-5 per task, with the majority-class floor."""
    lines = [
        "| run | model | split | trained (min) | patterns seen | test n | "
        "crystal system top-1 / top-5 (floor) | extinction group top-1 / top-5 (floor) | "
        "space group top-1 / top-5 (floor) | space group macro |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]
    for run in runs:
        test = run["test"]
        if not test:
            continue
        cells = []
        for task in TASKS:
            t = test["tasks"].get(task, {})
            cells.append(
                f"{pct(t.get('top1'))} / {pct(t.get('top5'))} ({pct(t.get('majority_baseline'))})"
            )
        sg = test["tasks"].get("space_group", {})
        lines.append(
            f"| {run['run']} | {run['model']} | {run['split']} | "
            f"{run['training'].get('wall_seconds', 0) / 60:.0f}"
            f" | {run['training'].get('patterns_seen', 0):,} | {test['n']:,} | "
            + " | ".join(cells)
            + f" | {pct(sg.get('macro'))} |"
        )
    lines.append(
        "| Park et al. (2017) | paper CNNs | random (ICSD) | - | - | 30,000 | "
        f"{pct(PAPER_TOP1['crystal_system'])} | {pct(PAPER_TOP1['extinction_group'])} | "
        f"{pct(PAPER_TOP1['space_group'])} | - |"
    )
    return lines


def validation_change_note(runs: list[dict[str, Any]]) -> str:
    """A sentence naming the runs whose validation part changed on a resume, and when ("" when
    none did): their budget columns before that minute score the earlier part."""
    changed = [
        f"{run['run']} (minute {', '.join(f'{m:.0f}' for m in run['dataset_changed_min'])})"
        for run in runs
        if run.get("dataset_changed_min")
    ]
    if not changed:
        return ""
    return (
        " The dataset of these runs changed on a resume, and with it the validation part: "
        + ", ".join(changed)
        + "; the columns before that minute score the earlier validation part, those after "
        "it the new one, so the two are not comparable."
    )


def budget_table(runs: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: validation space-group / crystal-system top-1 at equal wall-clock budgets."""
    budgets = [
        b
        for b in BUDGETS_MIN
        if any(
            r["history"] and r["history"][-1]["wall_seconds"] >= b * 60 - BUDGET_SLACK_S
            for r in runs
        )
    ]
    header = " | ".join(f"{b:.0f} min" for b in budgets)
    lines = [
        f"| run | model | split | patterns/s | {header} |",
        "| --- | --- | --- | ---: |" + " ---: |" * len(budgets),
    ]
    for run in runs:
        if not run["history"]:
            continue
        last = run["history"][-1]
        rate = last["patterns_seen"] / max(last["wall_seconds"], 1e-9)
        cells = [
            f"{pct(accuracy_at_budget(run['history'], b, 'space_group'))} / "
            f"{pct(accuracy_at_budget(run['history'], b, 'crystal_system'))}"
            for b in budgets
        ]
        lines.append(
            f"| {run['run']} | {run['model']} | {run['split']} | {rate:.0f} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def top1(evaluation: dict[str, Any] | None, task: str) -> float:
    """Top-1 of ``task`` in an evaluation (``xrdsym evaluate --output``), NaN when absent."""
    if not evaluation:
        return float("nan")
    return float(evaluation["tasks"].get(task, {}).get("top1", float("nan")))


def side_by_side_table(runs: list[dict[str, Any]]) -> list[str]:
    """Markdown rows of the runs with a validation evaluation: training top-1 of the main task
    at the end (on the training stream, since the last evaluation), validation and test top-1
    (space group / crystal system) and the gap, training minus validation space group."""
    lines = [
        "| run | trained (min) | patterns seen | training top-1 | validation SG / CS | "
        "test SG / CS | gap (points) |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for run in runs:
        if not run.get("validation") or not run["history"]:
            continue
        train = run["history"][-1].get("train_top1", float("nan"))
        val_sg = top1(run["validation"], "space_group")
        lines.append(
            f"| {run['run']} | {run['training'].get('wall_seconds', 0) / 60:.0f} | "
            f"{run['training'].get('patterns_seen', 0):,} | {pct(train)} | "
            f"{pct(val_sg)} / {pct(top1(run['validation'], 'crystal_system'))} | "
            f"{pct(top1(run['test'], 'space_group'))} / "
            f"{pct(top1(run['test'], 'crystal_system'))} | {pct(train - val_sg)} |"
        )
    return lines


def measured_table(measured: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: measured-set top-1 / top-5 with the label-frequency floor."""
    lines = [
        "| measured set | files classified | crystal system top-1 / top-5 (floor) | "
        "space group top-1 / top-5 (floor) |",
        "| --- | ---: | --- | --- |",
    ]
    for result in measured:
        cells = []
        for task in ("crystal_system", "space_group"):
            r = result.get(task, {})
            cells.append(
                f"{pct(r.get('top1'))} / {pct(r.get('top5'))} "
                f"({pct(r.get('floor_top1'))} / {pct(r.get('floor_top5'))})"
            )
        model = (
            result.get("name") or Path(result.get("model_dir", "")).name or result.get("model", "")
        )
        name = f"{Path(result['labels']).parent.name}, {model}"
        lines.append(
            f"| {name} | {result['classified']} / {result['files']} | " + " | ".join(cells) + " |"
        )
    return lines


def figure_link(figure: Path, document: Path | None) -> str:
    """The figure's path as a Markdown link from ``document`` (from the working folder)."""
    start = document.resolve().parent if document is not None else Path.cwd()
    return Path(os.path.relpath(figure.resolve(), start)).as_posix()


def write_report(
    run_dirs: list[Path],
    measured_files: list[Path],
    output_dir: Path,
    readme: Path | None = None,
    model_dir: Path | None = None,
    recorded: Path | None = None,
    section_name: str = "results",
) -> dict[str, Any]:
    """Write ``results.json``, ``learning_curves.png`` and (optionally) the README section.

    The README section lies between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` for
    ``section_name`` NAME. With ``model_dir`` the section ends with the model card of that
    (bundled) model. With ``recorded`` (a ``results.json`` written earlier) its runs come
    first, before those of ``run_dirs``: the report can then be rebuilt, with new measured
    figures, after the run folders themselves are gone.
    """
    runs = json.loads(recorded.read_text())["runs"] if recorded is not None else []
    runs += [run_summary(run) for run in run_dirs]
    measured = [item for path in measured_files for item in json.loads(path.read_text())]
    output_dir.mkdir(parents=True, exist_ok=True)
    curves = longest_per_name(runs)
    figure = plot_learning_curves(curves, output_dir / "learning_curves.png")
    results = {"paper_top1": PAPER_TOP1, "runs": runs, "measured": measured}
    (output_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    section = [
        "### Held-out simulated test sets",
        "",
        "Top-1 / top-5 accuracy in %, with the majority-class floor in brackets (always "
        "answering the most frequent training label). Test patterns are rendered once with a "
        "fixed seed from the test part of the split; the structure-type split keeps every "
        "structure type (space group, Wyckoff sites, stoichiometry) on one side.",
        "",
        *test_table(runs),
        "",
        "### Accuracy per CPU time",
        "",
        "Validation top-1 (space group / crystal system, %) after equal training wall time; "
        "patterns/s is the training throughput with rendering included."
        + validation_change_note(curves),
        "",
        *budget_table(curves),
        "",
        f"![learning curves]({figure_link(figure, readme)})",
        "",
    ]
    if any(run.get("validation") for run in runs):
        section += [
            "### Training against validation",
            "",
            "Top-1 in %: training top-1 of the space group on the training stream (since the "
            "last evaluation), validation and test top-1 of the kept weights (the whole "
            "validation part, `xrdsym evaluate --part val`), and the gap between training and "
            "validation.",
            "",
            *side_by_side_table(runs),
            "",
        ]
    if measured:
        section += [
            "### Measured patterns",
            "",
            "Top-1 / top-5 accuracy in % on the measured sets of `../shared` (floor in "
            "brackets: the training label frequencies, ranked). One row per model and set, in "
            "the order of the files given to `python -m research.report --measured`.",
            "",
            *measured_table(measured),
            "",
            *([] if model_dir else confidence_table(measured)),
        ]
    if model_dir is not None:  # the card ends with the measured confidence figures
        card = json.loads((model_dir / "model.json").read_text())
        section += [*model_card_lines(card), "", *confidence_table(measured)]
        joined = joined_answer_lines(model_dir)
        section += ([""] if joined and section[-1] else []) + joined
    if readme is not None:
        replace_section(
            readme, section, f"<!-- {section_name}:start -->", f"<!-- {section_name}:end -->"
        )
    return results


def replace_section(readme: Path, lines: list[str], start_marker: str, end_marker: str) -> None:
    """Put ``lines`` between ``start_marker`` and ``end_marker`` in ``readme``, in place of what
    stood there, or append markers and lines when the markers are absent."""
    text = readme.read_text()
    start, end = text.find(start_marker), text.find(end_marker)
    block = "\n".join([start_marker, *lines, end_marker])
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len(end_marker) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(text)


def register(subparsers: Any) -> None:
    """Add the ``report`` command."""
    parser = subparsers.add_parser(
        "report", help="write results.json, learning curves and the README results section"
    )
    parser.add_argument("runs", nargs="*", type=Path, help="finished run folders")
    parser.add_argument(
        "--recorded",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="start from the runs recorded in a results.json written earlier",
    )
    parser.add_argument(
        "--measured",
        nargs="*",
        type=Path,
        default=[],
        help="JSON files written by 'xrdsym evaluate-measured --output'",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("results"),
        help="folder of results.json and learning_curves.png",
    )
    parser.add_argument(
        "--readme", type=Path, default=None, help="README to update between the results markers"
    )
    parser.add_argument(
        "--model-card",
        type=Path,
        default=None,
        metavar="MODEL_DIR",
        help="end the section with the model card of this model folder",
    )
    parser.add_argument(
        "--section",
        default="results",
        metavar="NAME",
        help="README section between <!-- NAME:start --> and <!-- NAME:end --> (default results)",
    )
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Write the report files."""
    if not args.runs and args.recorded is None:
        raise XrdsymError("give run folders, --recorded RESULTS_JSON, or both")
    if args.recorded is not None and not args.recorded.is_file():
        raise XrdsymError(f"{args.recorded}: results file not found")
    for run in args.runs:
        if not (run / "model.json").is_file():
            raise XrdsymError(f"{run}: not a finished run (no model.json)")
    write_report(
        list(args.runs),
        list(args.measured),
        args.output_dir,
        args.readme,
        args.model_card,
        recorded=args.recorded,
        section_name=args.section,
    )
    print(f"wrote {args.output_dir / 'results.json'} and {args.output_dir / 'learning_curves.png'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m research.report`` with ``argv`` (default: the process
    arguments); the exit code."""
    return run_command(register, "research.report", argv)


if __name__ == "__main__":
    sys.exit(main())
