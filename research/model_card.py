"""The model card of a bundled model (its ``model.json``) as Markdown: architecture, input,
training data and stream, the test and measured accuracies, and the reliability table of its
calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.model_config import model_spec
from xrdsym.spacegroups import LEVELS as TASKS
from xrdsym.training.calibration import reliability_rows


def pct(value: Any) -> str:
    """A fraction as a percentage with one decimal, or a dash."""
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def stream_description(data: dict[str, Any]) -> str:
    """The kinds of training structure and the number of distinct crystals, from model.json."""
    stream = data.get("stream", {"corpus": 1.0})
    kinds = ", ".join(f"{kind} {100 * float(w):.0f} %" for kind, w in stream.items() if w)
    distinct = data.get("distinct_crystals")
    seen = f"; about {int(distinct):,} distinct crystals seen" if distinct else ""
    return f"{kinds}{seen}"


def machine_description(machine: dict[str, Any]) -> str:
    """Where a run trained, as recorded in model.json (``training.machine``)."""
    if not machine:
        return "machine not recorded"
    return (
        f"{machine.get('cpus')} CPU cores ({machine.get('processor') or 'unknown processor'}), "
        f"{machine.get('threads')} torch threads, {machine.get('device')}, "
        f"torch {machine.get('torch')}"
    )


def reliability_lines(record: dict[str, Any]) -> list[str]:
    """Markdown reliability table of a ``model.json`` calibration record (``xrdsym calibrate``):
    top-1, expected calibration error before (T = 1) and after calibration, coverage and mean
    size of the prediction sets, per data set and level."""
    temperatures = ", ".join(f"{k} {v:.3f}" for k, v in record["temperatures"].items())
    lines = [
        "Reliability (`xrdsym calibrate`; ECE: expected calibration error of the top-1 "
        f"probability over 15 bins, raw: T = 1; coverage and mean size of the "
        f"{1 - record['alpha']:.0%} sets). Temperatures {temperatures}, fitted on "
        f"{record['n_temperature']:,} and set thresholds on {record['n_conformal']:,} "
        f"{record['renderer']}-rendered patterns of the {record['part']} part of the "
        f"`{record['split']}` split of `{record['dataset_fingerprint']}`.",
        "",
        "| data | n | level | top-1 | ECE raw | ECE calibrated | set coverage | mean set size |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for data, level, f in reliability_rows(record):
        name = data if data == "simulated test" else f"measured: {Path(data).parent.name}"
        lines.append(
            f"| {name} | {f['n']:.0f} | {level.replace('_', ' ')} | {f['top1']:.3f} | "
            f"{f['ece_raw']:.3f} | {f['ece_calibrated']:.3f} | {f['coverage']:.3f} | "
            f"{f['set_size']:.1f} |"
        )
    return lines


def model_card_lines(config: dict[str, Any]) -> list[str]:
    """Markdown model card of a bundled model from its ``model.json``."""
    data = config.get("training_data", {})
    training = config.get("training", {})
    spec = model_spec(config)
    grid = spec.grid
    kwargs = ", ".join(f"{k}={v}" for k, v in sorted(spec.kwargs.items()))
    lines = [
        "### Model card: the bundled model",
        "",
        f"- Architecture: `{spec.architecture}` ({kwargs}).",
        f"- Input: {grid.n_points} points over {grid.start}-{grid.stop} "
        f"degrees 2theta at {grid.wavelength} A, normalised to [0, 1] by "
        "`xrdsym.patterns.prepare.normalize_intensity`; outside a measured range the input is 0.",
        f"- Training data: {data.get('sources', data.get('dataset'))}; dataset fingerprint "
        f"`{data.get('fingerprint')}`, {data.get('n_train')} training structures of the "
        f"`{data.get('split')}` split, patterns rendered with the "
        f"`{data.get('renderer', 'paper')}` renderer.",
        f"- Training stream: {stream_description(data)}.",
        f"- Training: {training.get('wall_seconds', 0) / 60:.0f} minutes, "
        f"{training.get('patterns_seen', 0):,} patterns, {training.get('steps', 0):,} steps; "
        f"{machine_description(training.get('machine', {}))}.",
        f"- Licence: {config.get('licence')}. {config.get('description', '')}",
        "",
        "| evaluated on | n | crystal system top-1 / top-5 (floor) | extinction group top-1 / "
        "top-5 (floor) | space group top-1 / top-5 (floor) |",
        "| --- | ---: | --- | --- | --- |",
    ]
    metrics = config.get("metrics", {})
    for test in metrics.get("test", []):
        cells = [
            f"{pct(test.get(t, {}).get('top1'))} / {pct(test.get(t, {}).get('top5'))} "
            f"({pct(test.get(t, {}).get('majority_baseline'))})"
            for t in TASKS
        ]
        lines.append(
            f"| simulated {test.get('split')} test part, {test.get('renderer')} rendering | "
            f"{test.get('n')} | " + " | ".join(cells) + " |"
        )
    for result in metrics.get("measured", []):
        cells = [
            f"{pct(result.get(t, {}).get('top1'))} / {pct(result.get(t, {}).get('top5'))} "
            f"({pct(result.get(t, {}).get('floor_top1'))} / "
            f"{pct(result.get(t, {}).get('floor_top5'))})"
            for t in TASKS
        ]
        name = Path(result["labels"]).parent.name
        lines.append(
            f"| measured: {name} | {result.get('classified')} | " + " | ".join(cells) + " |"
        )
    calibration = config.get("calibration")
    if calibration and "temperatures" in calibration and reliability_rows(calibration):
        lines += ["", *reliability_lines(calibration)]
    return lines


def joined_answer_lines(folder: Path) -> list[str]:
    """The joined answer's part of the card: its fit (confident step, level temperatures, the
    validation patterns) and the reliability tables of the test part, network alone beside
    joined (``python -m research.evaluate_indexing --part test --record-reliability``); nothing
    when the folder has no weight record with those tables."""
    # deferred until called: imports spglib
    from research.indexing_fit import reliability_markdown
    from xrdsym.classify.joint import read_evidence_weight

    weight = read_evidence_weight(folder)
    if weight is None or not weight.reliability:
        return []
    fitted, tables = weight.fitted_on, weight.reliability
    temperatures = ", ".join(f"{k} {v:.3f}" for k, v in weight.level_temperatures.items())
    return [
        "### Joined answer (network and indexing): reliability",
        "",
        f"Fitted on {fitted.get('patterns')} {fitted.get('renderer')}-rendered patterns of the "
        f"{fitted.get('part')} part of the `{fitted.get('split')}` split of "
        f"`{fitted.get('dataset_fingerprint')}` (seed {fitted.get('seed')}): the cell weight, "
        f"the confident step w >= {weight.confident_at:.3f} and the temperatures of the joined "
        f"levels ({temperatures or 'none'}). Below: {tables['n']} patterns of the "
        f"{tables.get('part')} part (seed {tables.get('seed')}), {tables['with_cell']} of them "
        f"with a cell weighed in the answer; bins of the top-1 probability (mean probability, "
        f"share right, count); ECE over the same {tables['bins']} bins.",
        "",
        *reliability_markdown(tables),
        *set_markdown(tables.get("sets", {}), float(fitted.get("set_coverage", 0.9))),
    ]


def set_markdown(sets: dict[str, Any], coverage: float) -> list[str]:
    """Markdown table of the prediction sets on the scored part: share holding the truth and
    mean size, network alone beside the answer (joined sets where a cell weighs); nothing
    without figures."""
    if not sets:
        return []
    lines = [
        "",
        f"Prediction sets ({coverage:.0%} sets; the answer's are the joined ones for "
        f"{sets['joined_sets']} patterns with a cell, fitted on the validation patterns with a "
        "cell, and the network's for the rest):",
        "",
        "| level | network: holds the truth | mean size | answer: holds the truth | mean size |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for level, (held, size) in sets["network"].items():
        answer_held, answer_size = sets["answer"][level]
        lines.append(
            f"| {level.replace('_', ' ')} | {held:.1%} | {size:.1f} | {answer_held:.1%} | "
            f"{answer_size:.1f} |"
        )
    return lines
