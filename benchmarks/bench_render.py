"""Peak drawing with windows narrowed for weak peaks, beside every peak on the full window.

``render_peaks`` draws the strongest peaks on +/- 10 FWHM and a weak peak on a window that
ends where its Lorentzian tail falls to the level at which the strongest one is cut
(``profile.window_half_widths``, 3 to 10 FWHM). This benchmark draws the same peak lists with
the same profile parameters both ways, interleaved in one process, and prints milliseconds per
pattern, the speed-up, the window points per pattern, and how far each drawing is from the
pseudo-Voigt sum without any window (both scaled to a highest point of 1, as a pattern is).

Peak lists: stored training-part peak lists of a dataset and synthetic crystals of the
training stream (``xrdsym.datasets.stream``), on the model grid (10-110 degrees, 5,001
points), profile parameters drawn from the laboratory ranges (``patterns.lab.LAB_RANGES``).

    python benchmarks/bench_render.py --dataset data_cache/mp_gen40 [--patterns 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from xrdsym.datasets.store import open_dataset
from xrdsym.datasets.stream import StreamMix, StructureStream
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import LAB_RANGES
from xrdsym.patterns.profile import (
    WINDOW_HALF_WIDTH_FWHM,
    peak_fwhm,
    pseudo_voigt_shape,
    render_peaks,
    window_half_widths,
)
from xrdsym.patterns.profile_params import sample_profile_params

#: Peak lists of one kind: (2theta, intensity, FWHM, eta) per pattern.
Drawing = tuple[np.ndarray, np.ndarray, np.ndarray, float]

#: Patterns whose distance from the windowless sum is computed (a dense 5,001 x n product each).
EXACT_PATTERNS = 60


def peak_lists(dataset: str, kind: str, n: int, grid: Grid) -> list[Drawing]:
    """``n`` drawings of ``kind`` (``corpus`` or ``synthetic``) from the training part."""
    source = open_dataset(dataset)
    train = source.split_indices("structure_type", "train")
    mix = StreamMix(corpus=float(kind == "corpus"), synthetic=float(kind == "synthetic"))
    stream = StructureStream(source, mix)
    rng = np.random.default_rng(0)
    drawings = []
    for index in train[:n]:
        two_theta, intensity, _ = stream.draw(int(index), np.random.default_rng([0, int(index)]))
        params = sample_profile_params(rng, LAB_RANGES)
        tt = np.asarray(two_theta, dtype=np.float64)
        fwhm = peak_fwhm(tt, params, grid.wavelength)
        drawings.append((tt, np.asarray(intensity, dtype=np.float64), fwhm, params.eta))
    return drawings


def windows(tt: np.ndarray, full: bool) -> np.ndarray | None:
    """Half-widths for ``render_peaks``: every peak on the full window, or None (narrowed)."""
    return np.full(tt.shape, WINDOW_HALF_WIDTH_FWHM) if full else None


def draw_all(drawings: list[Drawing], grid: Grid, full: bool) -> float:
    """Milliseconds per pattern with narrowed (``full`` False) or full windows."""
    start = time.perf_counter()
    for tt, intensity, fwhm, eta in drawings:
        render_peaks(tt, intensity, fwhm, eta, grid, windows(tt, full))
    return 1000.0 * (time.perf_counter() - start) / len(drawings)


def distance_from_exact(drawing: Drawing, grid: Grid, full: bool) -> float:
    """max |y / max y - e / max e| over the grid; y: the drawing, e: the pseudo-Voigt sum
    without a window. Peaks within 10 FWHM of a grid edge are left out of both (the drawing
    cuts them there)."""
    tt, intensity, fwhm, eta = drawing
    x = grid.two_theta()
    inner = (tt - WINDOW_HALF_WIDTH_FWHM * fwhm > grid.start) & (
        tt + WINDOW_HALF_WIDTH_FWHM * fwhm < grid.stop
    )
    tt, intensity, fwhm = tt[inner], intensity[inner], fwhm[inner]
    pattern = render_peaks(tt, intensity, fwhm, eta, grid, windows(tt, full))
    u2 = ((x[:, None] - tt[None, :]) / fwhm[None, :]) ** 2
    exact = (pseudo_voigt_shape(u2, eta) * (intensity / fwhm)[None, :]).sum(axis=1)
    return float(np.abs(pattern / pattern.max() - exact / exact.max()).max())


def window_points(drawings: list[Drawing], grid: Grid, full: bool) -> float:
    """Mean window points per pattern (the work of a drawing)."""
    total = 0.0
    for _, intensity, fwhm, _ in drawings:
        k = WINDOW_HALF_WIDTH_FWHM if full else window_half_widths(intensity, fwhm)
        total += float(np.sum(2 * np.ceil(k * fwhm / grid.step) + 1))
    return total / len(drawings)


def report(kind: str, drawings: list[Drawing], grid: Grid, repeat: int) -> None:
    """Print the timings, window points and distances of one kind of peak list."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeat):
        for full in (True, False):
            times[full].append(draw_all(drawings, grid, full))
    peaks = np.mean([d[0].shape[0] for d in drawings])
    print(f"{kind}: {len(drawings)} peak lists, {peaks:.0f} peaks each on average")
    best = {full: min(values) for full, values in times.items()}
    for full, label in ((True, "full windows (baseline)"), (False, "narrowed windows")):
        points = window_points(drawings, grid, full)
        distances = [distance_from_exact(d, grid, full) for d in drawings[:EXACT_PATTERNS]]
        print(
            f"  {label:24s} {best[full]:.3f} ms/pattern (best of {repeat}), "
            f"{points:,.0f} window points; distance from the windowless sum: median "
            f"{np.median(distances):.4f}, max {np.max(distances):.4f} of the highest point"
        )
    print(f"  speed-up: {best[True] / best[False]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--patterns", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = open_dataset(args.dataset)
    grid = Grid(10.0, 110.0, 5001, source.wavelength)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    for kind in ("corpus", "synthetic"):
        report(kind, peak_lists(args.dataset, kind, args.patterns, grid), grid, args.repeat)


if __name__ == "__main__":
    main()
