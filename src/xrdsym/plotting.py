"""Figures for people: a classified scan with its answers at the three levels.

Built on :class:`matplotlib.figure.Figure` directly, so no pyplot state and no global backend
is touched: notebooks display the returned Figure, :func:`save_figure` writes it through the
Agg canvas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.patterns.bragg import bragg_shift_kept
from xrdsym.patterns.grid import Grid
from xrdsym.spacegroups import LEVELS

#: Bars shown per level.
BARS = {"crystal_system": 7, "extinction_group": 8, "space_group": 10}

IN_SET = "#1f6fb4"
OUT_OF_SET = "#b9c4cf"


def require_matplotlib() -> None:
    """Raise a clear error when matplotlib (the ``plot`` extra) is not installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise XrdsymError(
            "figures need matplotlib, which the light install leaves out; "
            "install it with: pip install 'xrdsym[plot]'"
        )


def _measured_curve(sample: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The scan as read, 2theta moved to the grid wavelength (Bragg), intensity scaled to 1.

    2theta_grid = 2 arcsin((lambda_grid / lambda) sin(2theta / 2))
    (:func:`xrdsym.patterns.bragg.bragg_shift_kept`); angles without a counterpart below 180
    degrees are dropped.
    """
    pattern = sample.pattern
    if pattern is None:
        return grid.two_theta(), np.asarray(sample.prepared.values, dtype=np.float64)
    x, keep = bragg_shift_kept(np.asarray(pattern.two_theta), grid.wavelength / sample.wavelength)
    y = np.asarray(pattern.intensity, dtype=np.float64)[keep]
    top = float(y.max()) if y.size and y.max() > 0 else 1.0
    return x, y / top


def _shade_unmeasured(ax: Any, grid: Grid, mask: np.ndarray) -> None:
    """Grey spans over the runs of grid points the scan does not cover."""
    x = grid.two_theta()
    missing = np.flatnonzero(~np.asarray(mask, dtype=bool))
    if missing.size == 0:
        return
    runs = np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1)
    for i, run in enumerate(runs):
        ax.axvspan(
            x[run[0]],
            x[run[-1]],
            color="0.85",
            lw=0,
            label="not measured (zero-filled)" if i == 0 else None,
        )


def _bars(ax: Any, labels: list[str], probs: list[float], in_set: list[bool], title: str) -> None:
    """Horizontal probability bars, members of the prediction set in blue."""
    y = np.arange(len(labels))[::-1]
    colors = [IN_SET if s else OUT_OF_SET for s in in_set]
    ax.barh(y, probs, color=colors, height=0.7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(0, max(0.05, max(probs) * 1.15) if probs else 1)
    ax.set_title(title, fontsize=8, loc="left")
    ax.tick_params(axis="x", labelsize=7)
    for yi, p in zip(y, probs, strict=True):
        ax.text(p, yi, f" {p:.0%}" if p >= 0.1 else f" {p:.1%}", va="center", fontsize=6)


def _level_rows(
    prediction: Any, table: Any
) -> dict[str, tuple[list[str], list[float], list[bool]]]:
    """Per level: labels, probabilities and set membership of the most probable classes."""
    system, extinction, p = (
        np.asarray(prediction.levels[level], dtype=np.float64) for level in LEVELS
    )
    sets = prediction.prediction_sets
    rows: dict[str, tuple[list[str], list[float], list[bool]]] = {}
    order = np.argsort(-system, kind="stable")[: BARS["crystal_system"]]
    members = set(sets.get("crystal_system", ()))
    rows["crystal_system"] = (
        [table.crystal_systems[i] for i in order],
        [float(system[i]) for i in order],
        [table.crystal_systems[i] in members for i in order],
    )
    order = np.argsort(-extinction, kind="stable")[: BARS["extinction_group"]]
    members = set(sets.get("extinction_group", ()))
    rows["extinction_group"] = (
        [_short(table.extinction_symbols[i]) for i in order],
        [float(extinction[i]) for i in order],
        [table.extinction_symbols[i] in members for i in order],
    )
    order = np.argsort(-p, kind="stable")[: BARS["space_group"]]
    members = set(sets.get("space_group", ()))
    rows["space_group"] = (
        [f"{table.symbols[i]} ({i + 1})" for i in order],
        [float(p[i]) for i in order],
        [int(i) + 1 in members for i in order],
    )
    return rows


def _short(symbol: str, width: int = 22) -> str:
    """An extinction-group symbol cut to ``width`` characters."""
    return symbol if len(symbol) <= width else symbol[: width - 3] + "..."


def prediction_figure(
    sample: Any, grid: Grid, prediction: Any, table: Any, sqrt: bool = False
) -> Any:
    """The scan with the unmeasured part of the model range shaded, and probability bars.

    Args:
        sample: the :class:`~xrdsym.classify.Sample` (pattern as read, prepared pattern).
        grid: the model grid.
        prediction: the :class:`~xrdsym.classify.Prediction` (full probabilities and sets).
        table: the :class:`~xrdsym.spacegroups.SpaceGroupTable` naming the classes.
        sqrt: plot sqrt(intensity) (weak peaks beside strong ones).

    Returns:
        A :class:`matplotlib.figure.Figure`.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.6), layout="constrained")
    spec = figure.add_gridspec(3, 2, width_ratios=[2.6, 1.0], height_ratios=[0.9, 1.1, 1.3])
    ax = figure.add_subplot(spec[:, 0])
    x, y = _measured_curve(sample, grid)
    _shade_unmeasured(ax, grid, np.asarray(sample.prepared.mask))
    ax.plot(x, np.sqrt(y) if sqrt else y, lw=0.6, color="k", label="measured")
    ax.set_xlim(grid.start, grid.stop)
    ax.set_xlabel(f"2theta (degrees at {grid.wavelength:.4f} A)")
    ax.set_ylabel("sqrt(intensity / max)" if sqrt else "intensity / max")
    ax.set_title(_title(prediction), fontsize=8, loc="left")
    ax.legend(fontsize=7, loc="upper right", frameon=False)
    rows = _level_rows(prediction, table)
    titles = {
        "crystal_system": "crystal system",
        "extinction_group": "extinction group",
        "space_group": "space group",
    }
    coverage = f" (blue: {prediction.coverage:.0%} set)" if prediction.prediction_sets else ""
    for i, level in enumerate(("crystal_system", "extinction_group", "space_group")):
        labels, probs, in_set = rows[level]
        _bars(figure.add_subplot(spec[i, 1]), labels, probs, in_set, titles[level] + coverage)
    return figure


def _title(prediction: Any) -> str:
    """File name, model and wavelength provenance for the figure title."""
    name = Path(prediction.source).name
    prov = prediction.provenance
    if prov is None:
        return name
    lam = "" if prov.wavelength is None else f"{prov.wavelength:g} A ({prov.wavelength_source})"
    flag = "; low confidence" if prediction.low_confidence else ""
    return f"{name}: {prov.model['name']} {prov.model['version']}; {lam}{flag}"


def save_figure(figure: Any, output: str | Path, dpi: int = 130) -> Path:
    """Write a Figure through the Agg canvas (no pyplot, no backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(out, dpi=dpi)
    return out


def plot_prediction(sample: Any, grid: Grid, prediction: Any, table: Any, output: Path) -> Path:
    """Save :func:`prediction_figure` as a PNG."""
    return save_figure(prediction_figure(sample, grid, prediction, table), output)
