"""Figures for people: a classified scan with its answers at the three levels.

Built on :class:`matplotlib.figure.Figure` directly, so no pyplot state and no global backend
is touched: notebooks display the returned Figure, :func:`save_figure` writes it through the
Agg canvas.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.patterns.bragg import bragg_shift_kept
from xrdsym.patterns.grid import Grid
from xrdsym.spacegroups import LEVELS

#: Bars shown per level.
BARS = {"crystal_system": 7, "extinction_group": 8, "space_group": 10}

#: The Angstrom sign (U+00C5), drawn by matplotlib's default DejaVu fonts.
ANGSTROM = "\u00c5"

IN_SET = "#1f6fb4"
OUT_OF_SET = "#b9c4cf"


def require_matplotlib() -> None:
    """Raise a clear error when matplotlib (the ``plot`` extra) is not installed."""

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


def mathtext_symbol(symbol: str) -> str:
    """A Hermann-Mauguin symbol as matplotlib mathtext: ``P2_1/c`` -> ``$P2_1/c$``,
    ``P-1`` -> ``$P\\bar{1}$`` (a minus before a digit is an overbar on it)."""
    body = re.sub(r"-(\d)", r"\\bar{\1}", symbol)
    return f"${body}$"


def extinction_label(members: str, shown: int = 3) -> str:
    """An extinction group (its members, ``Pna2_1, Pnma``) as mathtext, at most ``shown``
    members and the count of the others: ``$P3$, $P\\bar{3}$, $P312$ (+5)``."""
    names = [m.strip() for m in members.split(",")]
    text = ", ".join(mathtext_symbol(m) for m in names[:shown])
    return text + (f" (+{len(names) - shown})" if len(names) > shown else "")


def _bars(
    ax: Any, labels: list[str], probs: list[float], in_set: list[bool], title: str, set_name: str
) -> None:
    """Horizontal probability bars on a fixed 0-1 axis; members of the prediction set in a
    darker colour only where the panel holds both members and non-members."""
    y = np.arange(len(labels))[::-1]
    distinguishes = any(in_set) and not all(in_set)
    colors = [IN_SET if s or not distinguishes else OUT_OF_SET for s in in_set]
    ax.barh(y, probs, color=colors, height=0.7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "", "50%", "", "100%"])
    ax.grid(axis="x", color="0.9", lw=0.5)
    ax.set_axisbelow(True)
    note = ""
    if set_name and in_set and all(in_set):
        note = f" (all in {set_name})"
    elif set_name and distinguishes:
        note = f" (dark: in {set_name})"
    ax.set_title(title + note, fontsize=8, loc="left")
    ax.tick_params(axis="x", labelsize=7)
    for yi, p in zip(y, probs, strict=True):
        ax.text(p, yi, f" {p:.0%}" if p >= 0.1 else f" {p:.1%}", va="center", fontsize=6)


def _level_rows(
    prediction: Any, table: Any
) -> dict[str, tuple[list[str], list[float], list[bool]]]:
    """Per level: labels (mathtext), probabilities and set membership of the most probable
    classes."""
    system, extinction, p = (
        np.asarray(prediction.levels[level], dtype=np.float64) for level in LEVELS
    )
    names = {
        "crystal_system": list(table.crystal_systems),
        "extinction_group": list(table.extinction_symbols),
        "space_group": [int(i) + 1 for i in range(len(p))],
    }
    shown = {
        "crystal_system": lambda i: table.crystal_systems[i],
        "extinction_group": lambda i: extinction_label(table.extinction_symbols[i]),
        "space_group": lambda i: f"{mathtext_symbol(table.symbols[i])} ({i + 1})",
    }
    rows: dict[str, tuple[list[str], list[float], list[bool]]] = {}
    for level, probs in zip(LEVELS, (system, extinction, p), strict=True):
        order = np.argsort(-probs, kind="stable")[: BARS[level]]
        members = set(prediction.prediction_sets.get(level, ()))
        rows[level] = (
            [shown[level](int(i)) for i in order],
            [float(probs[i]) for i in order],
            [names[level][int(i)] in members for i in order],
        )
    return rows


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
    # deferred until called: imports matplotlib
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.6), layout="constrained")
    spec = figure.add_gridspec(3, 2, width_ratios=[2.6, 1.0], height_ratios=[0.9, 1.1, 1.3])
    ax = figure.add_subplot(spec[:, 0])
    x, y = _measured_curve(sample, grid)
    _shade_unmeasured(ax, grid, np.asarray(sample.prepared.mask))
    ax.plot(x, np.sqrt(y) if sqrt else y, lw=0.6, color="k", label="measured")
    _cell_marks(ax, sample, grid, prediction)
    ax.set_xlim(grid.start, grid.stop)
    ax.set_xlabel(rf"$2\theta$ (degrees at $\lambda$ = {grid.wavelength:.4f} {ANGSTROM})")
    ax.set_ylabel(r"$\sqrt{I / I_\mathrm{max}}$" if sqrt else r"$I / I_\mathrm{max}$")
    ax.set_title(_title(prediction), fontsize=8, loc="left")
    ax.legend(fontsize=7, loc="upper right", frameon=False)
    rows = _level_rows(prediction, table)
    set_name = f"the {prediction.coverage:.0%} set" if prediction.prediction_sets else ""
    for i, level in enumerate(("crystal_system", "extinction_group", "space_group")):
        labels, probs, in_set = rows[level]
        _bars(
            figure.add_subplot(spec[i, 1]), labels, probs, in_set, level.replace("_", " "), set_name
        )
    return figure


def _cell_marks(ax: Any, sample: Any, grid: Grid, prediction: Any) -> None:
    """Ticks of the first cell's reflections under the scan, unindexed lines marked in red.

    Positions are moved to the grid wavelength like the scan (Bragg's law).
    """
    indexing = getattr(prediction, "indexing", None)
    best = None if indexing is None else indexing.first
    if indexing is None or best is None or sample.pattern is None:
        return
    # deferred until called: imports spglib
    from xrdsym.indexing.extinction import cell_positions

    x = np.asarray(sample.pattern.two_theta, dtype=np.float64)
    ratio = grid.wavelength / sample.wavelength
    ticks, _ = bragg_shift_kept(cell_positions(best, sample.wavelength, (x[0], x[-1])), ratio)
    ax.vlines(ticks, -0.07, -0.02, color=IN_SET, lw=0.6, label=f"{best.bravais} cell reflections")
    # deferred until called: imports spglib
    from xrdsym.indexing.lattice import used_lines

    used = used_lines(indexing.peaks)  # the lines of best.hkl, in its order
    unindexed = [indexing.peaks.peaks[used[i]].two_theta for i in best.unindexed if i < used.size]
    shifted, _ = bragg_shift_kept(np.asarray(unindexed, dtype=np.float64), ratio)
    if shifted.size:
        ax.plot(
            shifted,
            np.full(shifted.size, -0.1),
            "v",
            color="#c0392b",
            ms=4,
            label="line not indexed",
        )


def _title(prediction: Any) -> str:
    """File name, model and wavelength provenance for the figure title."""
    name = Path(prediction.source).name
    prov = prediction.provenance
    if prov is None:
        return name
    lam = (
        ""
        if prov.wavelength is None
        else f"{prov.wavelength:g} {ANGSTROM} ({prov.wavelength_source})"
    )
    flag = "; low confidence" if prediction.low_confidence else ""
    return f"{name}: {prov.model['name']} {prov.model['version']}; {lam}{flag}"


def save_figure(figure: Any, output: str | Path, dpi: int = 130) -> Path:
    """Write a Figure through the Agg canvas (no pyplot, no backend switch)."""
    # deferred until called: imports matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(out, dpi=dpi)
    return out


def plot_prediction(sample: Any, grid: Grid, prediction: Any, table: Any, output: Path) -> Path:
    """Save :func:`prediction_figure` as a PNG."""
    return save_figure(prediction_figure(sample, grid, prediction, table), output)
