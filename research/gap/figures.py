"""Figures of the measured-versus-simulated fits (PNG).

Every figure is a :class:`matplotlib.figure.Figure` of its own, saved and dropped: no pyplot
state and no backend switch, so drawing one changes nothing for the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from research.gap.result import GapFit
from xrdsym.patterns.grid import PAPER_GRID
from xrdsym.patterns.profile import caglioti_fwhm
from xrdsym.patterns.profile_params import ProfileRanges, sample_profile_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from xrdsym.io.pattern import Pattern

#: Figure resolution in dots per inch: small PNGs (well under 200 kB) that stay legible.
FIGURE_DPI = 90


def _figure(width: float, height: float) -> Figure:
    """A new figure of ``width`` x ``height`` inches, outside pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _save(figure: Figure, output: Path) -> None:
    """Lay out and write ``figure`` as PNG at FIGURE_DPI, creating the folder."""
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=FIGURE_DPI)


def _draw_fit(ax_top: Any, ax_res: Any, fit: GapFit, title: str) -> None:
    """Measured, both fits, background, strong-peak ticks and residuals on two axes."""
    x = fit.two_theta
    ax_top.plot(x, fit.counts, lw=0.6, color="k", label="measured")
    ax_top.plot(x, fit.model_simulated, lw=0.8, color="tab:blue", label="simulated intensities")
    ax_top.plot(x, fit.model_free, lw=0.8, color="tab:red", ls="--", label="free intensities")
    ax_top.plot(x, fit.background, lw=0.8, color="0.5", label="background")
    bottom = float(np.min(fit.counts))
    span = float(np.max(fit.counts)) - bottom
    ax_top.vlines(
        fit.peak_positions, bottom - 0.06 * span, bottom - 0.02 * span, color="tab:green", lw=0.8
    )
    ax_top.set_title(title, fontsize=9)
    ax_top.set_ylabel("counts")
    ax_res.plot(x, fit.counts - fit.model_simulated, lw=0.5, color="tab:blue")
    ax_res.plot(x, fit.counts - fit.model_free, lw=0.5, color="tab:red")
    ax_res.axhline(0.0, color="0.6", lw=0.5)
    ax_res.set_ylabel("residual")
    ax_res.set_xlabel(f"2theta (degrees, lambda = {fit.wavelength:.4f} A)")


def _title(fit: GapFit) -> str:
    """One-line summary: name, zero offset, FWHM at 30/90 degrees, eta, K-alpha2, Rwp."""
    return (
        f"{Path(fit.source).stem}: Z={fit.state.zero_shift:+.3f} deg, "
        f"FWHM(30)={fit.fwhm_at(30.0):.3f}, FWHM(90)={fit.fwhm_at(90.0):.3f} deg, "
        f"eta={fit.state.eta:.2f}, Ka2={fit.state.ka2_ratio:.2f}, "
        f"Rwp free/sim={fit.rwp_free:.3f}/{fit.rwp_simulated:.3f}"
    )


def plot_gap(fit: GapFit, output: Path) -> None:
    """Save measured vs fitted simulation (simulated and free intensities) and residuals."""
    figure = _figure(10, 5.5)
    ax_top, ax_res = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    _draw_fit(ax_top, ax_res, fit, _title(fit))
    ax_top.legend(fontsize=8, loc="upper right")
    _save(figure, output)


def plot_gap_grid(fits: Sequence[GapFit], output: Path, columns: int = 3) -> None:
    """Save several fits as small panels (pattern and residual each) in one PNG."""
    rows = -(-len(fits) // columns)
    figure = _figure(5.0 * columns, 3.0 * rows)
    grid = figure.add_gridspec(2 * rows, columns, height_ratios=[3, 1] * rows)
    for k, fit in enumerate(fits):
        r, c = divmod(k, columns)
        ax_top = figure.add_subplot(grid[2 * r, c])
        ax_res = figure.add_subplot(grid[2 * r + 1, c], sharex=ax_top)
        title = f"{Path(fit.source).stem}  Rwp free/sim {fit.rwp_free:.2f}/{fit.rwp_simulated:.2f}"
        _draw_fit(ax_top, ax_res, fit, title)
        ax_top.tick_params(labelsize=6, labelbottom=False)
        ax_res.tick_params(labelsize=6)
        ax_top.set_ylabel("")
        ax_res.set_ylabel("")
        ax_res.set_xlabel("")
    _save(figure, output)


def paper_fwhm_band(
    two_theta: np.ndarray, ranges: ProfileRanges, n_draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """FWHM (degrees) of ``n_draws`` Caglioti draws of ``ranges`` at every angle: the
    minimum, 5th percentile, 95th percentile and maximum (:func:`sample_profile_params`)."""
    rng = np.random.default_rng(seed)
    widths = np.array(
        [
            caglioti_fwhm(two_theta, p.u, p.v, p.w)
            for p in (sample_profile_params(rng, ranges) for _ in range(n_draws))
        ]
    )
    low, high = np.percentile(widths, [5.0, 95.0], axis=0)
    return widths.min(axis=0), low, high, widths.max(axis=0)


def plot_width_summary(
    fits: Sequence[GapFit], output: Path, ranges: ProfileRanges, seed: int = 0
) -> None:
    """Two panels: fitted FWHM(2theta) of every scan over the band of ``ranges``, and the
    measured/simulated intensity ratios of the strong peaks against 2theta."""
    from matplotlib import colormaps

    figure = _figure(11, 4.2)
    ax_w, ax_r = figure.subplots(1, 2)
    grid = np.linspace(PAPER_GRID.start, PAPER_GRID.stop, 201)
    lowest, low, high, highest = paper_fwhm_band(grid, ranges, 2000, seed)
    ax_w.fill_between(grid, lowest, highest, color="0.88", label="PAPER_RANGES min-max")
    ax_w.fill_between(grid, low, high, color="0.75", label="PAPER_RANGES 5-95 %")
    colours = colormaps["tab20"]
    for k, fit in enumerate(fits):
        doubtful = any("poor" in w or "bound" in w for w in fit.warnings)
        x = np.linspace(fit.two_theta_min, fit.two_theta_max, 200)
        style = (
            "--" if fit.warnings and any("poor" in w or "bound" in w for w in fit.warnings) else "-"
        )
        ax_w.plot(
            x, fit.state.fwhm(x), style, lw=1.0, color=colours(k % 20), label=Path(fit.source).stem
        )
        if doubtful:
            continue
        strong = fit.groups.strong
        ax_r.scatter(
            fit.groups.two_theta[strong],
            np.maximum(fit.groups.ratio[strong], 0.01),
            s=8,
            color=colours(k % 20),
        )
    ax_w.set_yscale("log")
    ax_w.set_ylim(0.02, 6.0)
    ax_w.set_xlabel("2theta (degrees)")
    ax_w.set_ylabel("FWHM (degrees)")
    ax_w.set_title("fitted Caglioti FWHM (dashed: doubtful fit)", fontsize=9)
    ax_w.legend(fontsize=6, ncol=3, loc="upper left")
    ax_r.set_yscale("log")
    ax_r.axhline(1.0, color="0.5", lw=0.8)
    ax_r.set_xlabel("2theta (degrees)")
    ax_r.set_ylabel("measured / simulated intensity (floored at 0.01)")
    ax_r.set_title(
        "strong peak groups (doubtful fits left out); 1 = median of each scan", fontsize=9
    )
    _save(figure, output)


def plot_scans(patterns: Sequence[Pattern], output: Path, columns: int = 2) -> None:
    """Measured scans as small log-intensity panels in one PNG."""
    rows = -(-len(patterns) // columns)
    figure = _figure(5.5 * columns, 2.0 * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax, pattern in zip(axes.flat, patterns, strict=False):
        ax.plot(pattern.two_theta, np.maximum(pattern.intensity, 1.0), lw=0.5, color="k")
        ax.set_yscale("log")
        ax.set_title(Path(pattern.source).name[:60], fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(patterns) :]:
        ax.axis("off")
    _save(figure, output)
