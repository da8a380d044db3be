"""Recall, precision and position error of the peak search against true peak lists.

Simulated: lab-rendered patterns (``patterns.lab.LabRenderer``, impurity phases drawn from the
same part, as ``xrdsym evaluate --renderer lab``) of one part of a dataset split; pattern i is
drawn from ``default_rng([seed, i])``. The true lines are the renderer's own: the peak list
after its augmentations (strain, texture, trend, impurity), moved by the pattern's zero shift
and specimen displacement (``profile.apply_effects`` without K-alpha2); K-alpha2 companions are
not lines to find.

Measured: the 17 XRed scans (Cu K-alpha1), true lines from their CIFs
(``patterns.peaks.compute_peaks``). A measured scan differs from its CIF by a zero shift and a
cell strain (docs/measured_vs_simulated.md), so found and true lines are first aligned by the
zero shift z and isotropic strain e (grid search, |z| <= 0.5 degrees, |e| <= 1 %) that match
the most strong lines; the position error is what is left after that alignment. The summary is
given for all 17 and for the 14 whose CIF fits the scan (UNTRUSTED_FITS left out).

Truth and matching (the same on both sets):

* true lines closer than MERGE_FWHM x FWHM are merged (intensity-weighted position, summed
  intensity): the search cannot split them;
* recall: share of the merged lines of at least ``--min-intensity`` % of the strongest that a
  found line matches (one to one, nearest first, within MATCH_FWHM x FWHM, at least
  MATCH_FLOOR degrees);
* precision: share of found lines that match a merged true line of any intensity;
* position error: median |2theta_found - 2theta_true| over the matched lines.

    python benchmarks/eval_peak_search.py --dataset data_cache/mp_gen40 --part test --limit 500
    python benchmarks/eval_peak_search.py --xred ../shared/data/experimental/xred

Speed against another version of the source (here the commit before a change), on the same
rendered patterns, each version in its own process (CPU seconds, least of two rounds):

    git archive COMMIT src | tar -x -C /tmp/previous
    python benchmarks/eval_peak_search.py --dataset data_cache/mp_gen40 --part val \\
        --limit 20 --compare-src /tmp/previous/src
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import xrdsym
from xrdsym.indexing.peaks import PeakSearchOptions, search_peaks
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.lab import LabRenderer
from xrdsym.patterns.profile import apply_effects, peak_fwhm
from xrdsym.wavelengths import CU_KA1

#: True lines closer than this many FWHM are one line.
MERGE_FWHM = 0.5

#: A found line matches a true line within this many FWHM ...
MATCH_FWHM = 0.5

#: ... or this many degrees, whichever is larger.
MATCH_FLOOR = 0.03

#: XRed scans whose CIF does not describe the measured sample well (docs/measured_vs_simulated.md
#: leaves their fits out): reported apart.
UNTRUSTED_FITS = ("C.csv", "Tb2BaCoO5.csv", "Ti-bcc.csv")

#: Default least intensity (% of the strongest) of a true line counted for recall.
MIN_INTENSITY = 5.0


@dataclass
class Score:
    """Counts of one pattern: true lines for recall, found lines, matches, position errors."""

    n_true: int
    n_found: int
    found_true: int
    recalled: int
    errors: list[float]
    seconds: float
    kalpha2_true: bool | None = None
    kalpha2_found: bool = False
    misses: list[tuple[str, bool]] | None = None


def merge_lines(
    two_theta: np.ndarray, intensity: np.ndarray, fwhm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines closer than MERGE_FWHM x FWHM merged: (2theta, intensity % of max, FWHM)."""
    order = np.argsort(two_theta)
    tt, inten, width = two_theta[order], intensity[order], fwhm[order]
    groups: list[list[int]] = []
    for i in range(tt.size):
        if groups and tt[i] - tt[groups[-1][-1]] < MERGE_FWHM * width[i]:
            groups[-1].append(i)
        else:
            groups.append([i])
    pos = np.array([np.average(tt[g], weights=inten[g] + 1e-12) for g in groups])
    total = np.array([inten[g].sum() for g in groups])
    widths = np.array([width[g].mean() for g in groups])
    return pos, 100.0 * total / total.max(), widths


def match(found: np.ndarray, truth: np.ndarray, tolerance: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (found, true) pairs, nearest first, within each true line's tolerance."""
    if found.size == 0 or truth.size == 0:
        return []
    distance = np.abs(found[:, None] - truth[None, :])
    candidates = np.argwhere(distance <= tolerance[None, :])
    candidates = candidates[np.argsort(distance[candidates[:, 0], candidates[:, 1]])]
    used_f: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for f, t in candidates:
        if f not in used_f and t not in used_t:
            used_f.add(int(f))
            used_t.add(int(t))
            pairs.append((int(f), int(t)))
    return pairs


def score_pattern(
    found: np.ndarray, truth: np.ndarray, rel: np.ndarray, fwhm: np.ndarray, min_intensity: float
) -> tuple[int, int, int, int, list[float]]:
    """(true lines for recall, found, found matching any true line, recalled, errors)."""
    tolerance = np.maximum(MATCH_FWHM * fwhm, MATCH_FLOOR)
    pairs = match(found, truth, tolerance)
    strong = rel >= min_intensity
    recalled = [(f, t) for f, t in pairs if strong[t]]
    errors = [abs(float(found[f] - truth[t])) for f, t in recalled]
    return int(strong.sum()), int(found.size), len(pairs), len(recalled), errors


def lab_truth(
    renderer: LabRenderer, tt: np.ndarray, inten: np.ndarray, grid: Grid, seed: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """True K-alpha1 lines of the pattern ``renderer(tt, inten, grid, default_rng(seed))``.

    Replays the renderer's first draws (switches, peak augmentations, profile parameters) on
    a generator of the same seed: (2theta, intensity, FWHM, K-alpha2 on).
    """
    tt2, inten2, params, _ = renderer.draw_peaks(tt, inten, grid, np.random.default_rng(seed))
    pos, strength = apply_effects(tt2, inten2, replace(params, ka2=False), grid.wavelength)
    keep = (pos >= grid.start) & (pos <= grid.stop)
    pos, strength = pos[keep], strength[keep]
    return pos, strength, peak_fwhm(pos, params, grid.wavelength), params.ka2


@dataclass
class Rendered:
    """One lab-rendered pattern with its merged true lines (``merge_lines``)."""

    counts: np.ndarray
    truth: np.ndarray
    rel: np.ndarray
    widths: np.ndarray
    kalpha2: bool


def simulated_patterns(args: argparse.Namespace) -> tuple[Grid, list[Rendered]]:
    """The lab-rendered patterns of one part of a dataset split, with their true lines."""
    from xrdsym.datasets.protocol import IndexedPeaks
    from xrdsym.datasets.store import open_dataset
    from xrdsym.patterns.renderers import make_renderer

    dataset = open_dataset(args.dataset)
    indices = np.asarray(dataset.split_indices(args.split, args.part))
    if args.limit > 0:
        indices = indices[: args.limit]
    renderer = make_renderer("lab", impurity_pool=IndexedPeaks(dataset, indices))
    assert isinstance(renderer, LabRenderer)
    grid = Grid(wavelength=dataset.wavelength)
    patterns = []
    for i, index in enumerate(indices):
        tt, inten = dataset.peaks(int(index))
        counts = renderer(tt, inten, grid, np.random.default_rng([args.seed, i]))
        pos, strength, fwhm, ka2 = lab_truth(renderer, tt, inten, grid, [args.seed, i])
        patterns.append(Rendered(counts, *merge_lines(pos, strength, fwhm), ka2))
    return grid, patterns


def simulated_scores(args: argparse.Namespace, options: PeakSearchOptions) -> list[Score]:
    """Scores of the lab-rendered patterns of one part of a dataset split."""
    grid, patterns = simulated_patterns(args)
    scores = []
    for i, pattern in enumerate(patterns):
        start = time.perf_counter()
        result = search_peaks(grid.two_theta(), pattern.counts, grid.wavelength, options=options)
        seconds = time.perf_counter() - start
        found = np.array([p.two_theta for p in result.peaks])
        score = Score(*score_rendered(found, pattern, args.min_intensity), seconds)
        score.kalpha2_true, score.kalpha2_found = pattern.kalpha2, result.kalpha2 == "stripped"
        score.misses = line_categories(found, pattern, score.kalpha2_found, args.min_intensity)
        scores.append(score)
        if args.verbose:
            print(
                f"  {i:4d} true {score.n_true:3d} found {score.n_found:3d} recalled "
                f"{score.recalled:3d} precise {score.found_true:3d} K-alpha2 "
                f"{pattern.kalpha2}/{score.kalpha2_found} FWHM {np.median(pattern.widths):.3f} "
                f"{seconds:.2f} s"
            )
    return scores


#: Distances (in FWHM) from a true line to its nearest neighbour that bound the categories of
#: :func:`line_categories`.
GAP_CATEGORIES = ((0.0, 1.5, "within 1.5 FWHM of another line"), (1.5, 2.5, "1.5-2.5 FWHM"),
                  (2.5, np.inf, "more than 2.5 FWHM from any other"))  # fmt: skip


def line_categories(
    found: np.ndarray, pattern: Rendered, stripped: bool, min_intensity: float
) -> list[tuple[str, bool]]:
    """(category, matched) of each strong true line: its distance to the nearest other true
    line (GAP_CATEGORIES) and the K-alpha2 state of its pattern (present and stripped,
    present and not found, absent)."""
    tolerance = np.maximum(MATCH_FWHM * pattern.widths, MATCH_FLOOR)
    matched = {t for _, t in match(found, pattern.truth, tolerance)}
    gaps = np.abs(pattern.truth[:, None] - pattern.truth[None, :]) / pattern.widths[:, None]
    np.fill_diagonal(gaps, np.inf)
    nearest = gaps.min(axis=1) if pattern.truth.size > 1 else np.full(pattern.truth.size, np.inf)
    state = "absent" if not pattern.kalpha2 else "stripped" if stripped else "not found"
    out = []
    for t in np.flatnonzero(pattern.rel >= min_intensity):
        gap = next(name for low, high, name in GAP_CATEGORIES if low <= nearest[t] < high)
        out += [(f"gap: {gap}", t in matched), (f"K-alpha2: {state}", t in matched)]
    return out


def miss_table(scores: list[Score]) -> dict[str, dict[str, float]]:
    """Per category of :func:`line_categories`: strong lines, recall, share of all misses."""
    rows = [row for s in scores for row in (s.misses or [])]
    misses = sum(1 for name, hit in rows if not hit and name.startswith("gap"))
    table = {}
    for name in sorted({name for name, _ in rows}):
        hits = [hit for other, hit in rows if other == name]
        table[name] = {
            "lines": len(hits),
            "recall": float(np.mean(hits)),
            "share_of_misses": (len(hits) - sum(hits)) / max(1, misses),
        }
    return table


def score_rendered(
    found: np.ndarray, pattern: Rendered, min_intensity: float
) -> tuple[int, int, int, int, list[float]]:
    """:func:`score_pattern` of the lines found in a rendered pattern."""
    return score_pattern(found, pattern.truth, pattern.rel, pattern.widths, min_intensity)


def aligned(found: np.ndarray, truth: np.ndarray, tolerance: float) -> np.ndarray:
    """``truth`` moved by the zero shift and strain that match the most found lines."""
    best, best_count = truth, -1
    for strain in np.linspace(-0.01, 0.01, 41):
        scaled = bragg_shift(truth, 1.0 / (1.0 + strain))
        for zero in np.linspace(-0.5, 0.5, 101):
            moved = scaled + zero
            count = int(np.sum(np.abs(found[:, None] - moved[None, :]).min(axis=1) < tolerance))
            if count > best_count:
                best, best_count = moved, count
    return best


def xred_scores(args: argparse.Namespace, options: PeakSearchOptions) -> dict[str, Score]:
    """Scores of the XRed scans against the lines of their CIFs, after alignment."""
    from xrdsym.io import read_pattern
    from xrdsym.patterns.peaks import compute_peaks
    from xrdsym.structures.reader import read_cif_file

    folder = Path(args.xred)
    scores = {}
    with (folder / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[: args.limit or None]:
        pattern = read_pattern(folder / row["file"])
        x = pattern.two_theta
        start = time.perf_counter()
        result = search_peaks(x, pattern.intensity, CU_KA1, options=options)
        seconds = time.perf_counter() - start
        found = np.array([p.two_theta for p in result.peaks])
        width = float(np.median([p.fwhm for p in result.peaks])) if result.peaks else 0.1
        peaks = compute_peaks(
            read_cif_file(folder / row["cif"]), CU_KA1, (float(x[0]), float(x[-1]))
        )
        fwhm = np.full(len(peaks), width)
        truth, rel, widths = merge_lines(peaks.two_theta, peaks.intensity, fwhm)
        strong = truth[rel >= args.min_intensity]
        if strong.size and found.size:
            moved = aligned(found, strong, max(MATCH_FWHM * width, MATCH_FLOOR))
            truth = truth + np.interp(truth, strong, moved - strong)
        score = Score(*score_pattern(found, truth, rel, widths, args.min_intensity), seconds)
        scores[row["file"]] = score
        print(
            f"  {row['file']:16s} true {score.n_true:3d} found {score.n_found:3d} "
            f"recalled {score.recalled:3d} precise {score.found_true:3d} "
            f"median error {np.median(score.errors) if score.errors else float('nan'):.4f} "
            f"K-alpha2 {result.kalpha2}"
        )
    return scores


def summary(scores: list[Score]) -> dict[str, Any]:
    """Recall, precision, median position error, time and the K-alpha2 confusion."""
    errors = [e for s in scores for e in s.errors]
    out: dict[str, Any] = {
        "patterns": len(scores),
        "recall": sum(s.recalled for s in scores) / max(1, sum(s.n_true for s in scores)),
        "precision": sum(s.found_true for s in scores) / max(1, sum(s.n_found for s in scores)),
        "median_position_error_deg": float(np.median(errors)) if errors else None,
        "p90_position_error_deg": float(np.percentile(errors, 90)) if errors else None,
        "mean_seconds": float(np.mean([s.seconds for s in scores])),
        "max_seconds": float(np.max([s.seconds for s in scores])),
    }
    known = [s for s in scores if s.kalpha2_true is not None]
    if known:
        out["kalpha2"] = {
            f"true_{t}_found_{f}": sum(
                1 for s in known if s.kalpha2_true == t and s.kalpha2_found == f
            )
            for t in (True, False)
            for f in (True, False)
        }
    return out


def search_stored(profiles: Path, output: Path) -> None:
    """Run :func:`search_peaks` (default options, of the ``xrdsym`` on PYTHONPATH) on the
    profiles of ``profiles`` (npz: two_theta, wavelength, counts_0, counts_1, ...) and write
    the lines found with the CPU and wall seconds of each search as JSON."""
    stored = np.load(profiles)
    x, wavelength = stored["two_theta"], float(stored["wavelength"])
    rows = []
    for i in range(int(stored["n"])):
        cpu, wall = time.process_time(), time.perf_counter()
        result = search_peaks(x, stored[f"counts_{i}"], wavelength)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        found = [p.two_theta for p in result.peaks]
        stripped = result.kalpha2 == "stripped"
        rows.append({"found": found, "kalpha2": stripped, "cpu": cpu, "wall": wall})
    output.write_text(json.dumps(rows))


def compare_sources(args: argparse.Namespace) -> dict[str, Any]:
    """Speed and accuracy of the peak search of another source tree (``--compare-src``) and
    of this one on the same rendered patterns.

    Each version runs in its own process (``--search-profiles``, PYTHONPATH set to its
    source tree), the two alternating for ``--rounds`` rounds; a pattern's time is its
    least CPU time over the rounds (the machine's load only adds time). The ratio is the
    previous version's total CPU time over this one's."""
    grid, patterns = simulated_patterns(args)
    sources = {"previous": args.compare_src.resolve(), "current": Path(xrdsym.__file__).parents[1]}
    runs: dict[str, list[list[dict[str, Any]]]] = {name: [] for name in sources}
    with tempfile.TemporaryDirectory() as folder:
        profiles = Path(folder) / "profiles.npz"
        arrays: dict[str, Any] = {f"counts_{i}": p.counts for i, p in enumerate(patterns)}
        arrays.update(two_theta=grid.two_theta(), wavelength=grid.wavelength, n=len(patterns))
        np.savez(profiles, **arrays)
        for _ in range(args.rounds):
            for name, source in sources.items():
                out = Path(folder) / f"{name}.json"
                command = [sys.executable, __file__, "--search-profiles", str(profiles)]
                env = dict(os.environ, PYTHONPATH=str(source))
                subprocess.run([*command, "--output", str(out)], check=True, env=env)
                runs[name].append(json.loads(out.read_text()))
    results: dict[str, Any] = {"patterns": len(patterns), "rounds": args.rounds}
    for name, rounds in runs.items():
        scores = []
        for i, pattern in enumerate(patterns):
            found = np.array(rounds[0][i]["found"])
            seconds = min(run[i]["cpu"] for run in rounds)
            score = Score(*score_rendered(found, pattern, args.min_intensity), seconds)
            score.kalpha2_true, score.kalpha2_found = pattern.kalpha2, rounds[0][i]["kalpha2"]
            scores.append(score)
        results[name] = summary(scores) | {"source": str(sources[name])}
        results[name]["mean_wall_seconds"] = float(
            np.mean([min(run[i]["wall"] for run in rounds) for i in range(len(patterns))])
        )
    results["cpu_ratio_previous_over_current"] = (
        results["previous"]["mean_seconds"] / results["current"]["mean_seconds"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, help="dataset folder (simulated patterns)")
    parser.add_argument("--split", default="structure_type")
    parser.add_argument("--part", default="test", choices=("test", "val", "train"))
    parser.add_argument("--xred", type=Path, help="XRed folder (labels.csv, scans, CIFs)")
    parser.add_argument("--limit", type=int, default=0, help="first N patterns (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-intensity", type=float, default=MIN_INTENSITY)
    parser.add_argument("--min-snr", type=float, default=None)
    parser.add_argument("--min-relative-height", type=float, default=None)
    parser.add_argument("--kalpha2-vote", type=float, default=None)
    parser.add_argument("--split-f", type=float, default=None)
    parser.add_argument("--output", type=Path, help="write the summary as JSON")
    parser.add_argument("--verbose", action="store_true", help="one line per pattern")
    parser.add_argument(
        "--misses",
        action="store_true",
        help="recall of the strong lines by distance to their nearest neighbour and by the "
        "K-alpha2 state of their pattern",
    )
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="another source tree (a folder holding xrdsym/): time its peak search beside "
        "this one on the same simulated patterns (CPU seconds, default options)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare-src")
    parser.add_argument("--search-profiles", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_profiles is not None:
        search_stored(args.search_profiles, args.output)
        return
    if args.compare_src is not None:
        comparison = compare_sources(args)
        print(json.dumps(comparison, indent=2))
        if args.output is not None:
            args.output.write_text(json.dumps(comparison, indent=2) + "\n")
        return
    changes = {
        key: value
        for key, value in (
            ("min_snr", args.min_snr),
            ("min_relative_height", args.min_relative_height),
            ("kalpha2_vote", args.kalpha2_vote),
            ("split_f", args.split_f),
        )
        if value is not None
    }
    options = PeakSearchOptions(**changes)
    results: dict[str, Any] = {"options": changes, "min_intensity": args.min_intensity}
    if args.dataset is not None:
        scores = simulated_scores(args, options)
        results["simulated"] = summary(scores)
        results["simulated"].update({"dataset": str(args.dataset), "part": args.part})
        if args.misses:
            results["simulated_misses"] = miss_table(scores)
    if args.xred is not None:
        xred = xred_scores(args, options)
        results["xred"] = summary(list(xred.values()))
        trusted = [score for name, score in xred.items() if name not in UNTRUSTED_FITS]
        results["xred_trustworthy_fits"] = summary(trusted)
    print(json.dumps(results, indent=2))
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
