"""Figures for people: a classified pattern with its top predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdsym.patterns.grid import Grid


def plot_prediction(prepared: Any, grid: Grid, prediction: Any, output: Path) -> None:
    """Save the prepared pattern on the model grid with the top predictions as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ax_pattern, ax_text) = plt.subplots(
        1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 1.25]}
    )
    ax_pattern.plot(grid.two_theta(), prepared.values, lw=0.6, color="k")
    ax_pattern.set_xlabel(f"2theta (degrees, lambda = {grid.wavelength:.4f} A)")
    ax_pattern.set_ylabel("normalised intensity")
    ax_pattern.set_title(Path(prediction.source).name, fontsize=9)
    ax_pattern.set_xlim(grid.start, grid.stop)
    lines = ["crystal system"]
    lines += [f"  {s.label:<13}{s.probability:6.1%}" for s in prediction.crystal_system]
    lines += ["", "space group"]
    lines += [f"  {s.number:>3} {s.symbol:<10}{s.probability:6.1%}" for s in prediction.space_group]
    ax_text.axis("off")
    ax_text.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=9)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
