"""``xrdsym generate crystals|fit|table``: synthetic crystals, statistics and Wyckoff table."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.structures.wyckoff import write_wyckoff_table


def register(subparsers: Any) -> None:
    """Add the ``generate`` sub-command."""
    parser = subparsers.add_parser(
        "generate", help="synthetic crystals as the training stream draws them"
    )
    actions = parser.add_subparsers(dest="generate_command", required=True)

    crystals = actions.add_parser(
        "crystals",
        help="write synthetic crystals as CIF files with their peak tables",
        description="Draw seeded synthetic crystals (one group or all 230) and write each as "
        "<group>_<k>.cif with <group>_<k>_peaks.csv (2theta, d, intensity at Cu K-alpha1), "
        "plus index.csv listing the requested group and the group spglib finds.",
    )
    crystals.add_argument("output", help="output folder (created)")
    crystals.add_argument(
        "--space-group",
        type=int,
        default=None,
        metavar="N",
        help="space group 1-230 (default: every group)",
    )
    crystals.add_argument(
        "--count", type=int, default=1, help="crystals per group (default 1, at most 10000)"
    )
    crystals.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    crystals.add_argument(
        "--raw",
        action="store_true",
        help="keep every draw; by default a crystal in which spglib finds another group than "
        "the requested one is drawn again (the training stream checks the crystals without a "
        "general-position orbit, where such draws concentrate)",
    )
    crystals.add_argument(
        "--statistics",
        default=None,
        metavar="JSON",
        help="statistics file from `xrdsym generate fit` (default: the shipped one)",
    )
    crystals.set_defaults(handler=run_crystals)

    fit = actions.add_parser(
        "fit",
        help="fit the generator's statistics on the training part of a dataset split",
        description="Space-group frequencies, Wyckoff occupation, element and orbit counts, "
        "volume per atom and cell shapes of the real structures in the training part.",
    )
    fit.add_argument("dataset", help="dataset folder (format 2, from `xrdsym dataset build`)")
    fit.add_argument("--split", default="structure_type", help="split (default structure_type)")
    fit.add_argument("--output", required=True, help="statistics JSON to write")
    fit.add_argument("--seed", type=int, default=0, help="seed of the kept cell shapes")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    fit.set_defaults(handler=run_fit)

    table = actions.add_parser(
        "table",
        help="rebuild the Wyckoff-position table from pyxtal",
        description="Writes the table that the package ships (structures/data).",
    )
    table.add_argument("output", help=".npz file to write")
    table.set_defaults(handler=run_table)


#: Largest --count accepted (per group).
MAX_COUNT = 10_000


def run_crystals(args: argparse.Namespace) -> int:
    """Write the crystals, their peak tables and index.csv; returns 0."""

    # deferred until called: imports spglib
    from xrdsym.patterns.peaks import compute_peaks
    from xrdsym.structures.synthetic import SyntheticGenerator, load_statistics

    if args.space_group is not None and not 1 <= args.space_group <= 230:
        raise XrdsymError(f"--space-group must be in 1-230, got {args.space_group}")
    if not 1 <= args.count <= MAX_COUNT:
        raise XrdsymError(f"--count must be in 1-{MAX_COUNT}, got {args.count}")
    generator = SyntheticGenerator(load_statistics(args.statistics))
    groups = [args.space_group] if args.space_group is not None else list(range(1, 231))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for group in groups:
        rng = np.random.default_rng([args.seed, group])
        for k in range(args.count):
            sample, found = draw_checked(generator, group, rng, raw=args.raw)
            stem = f"{group:03d}_{k:04d}"
            write_cif(sample.crystal, out / f"{stem}.cif", f"synthetic sg {group} seed {args.seed}")
            peaks = compute_peaks(
                sample.crystal, operations=sample.operations, exact_operations=True
            )
            with (out / f"{stem}_peaks.csv").open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["two_theta_deg", "d_angstrom", "intensity", "multiplicity"])
                for row in zip(
                    peaks.two_theta,
                    peaks.d_spacing,
                    peaks.intensity,
                    peaks.multiplicity,
                    strict=True,
                ):
                    writer.writerow(
                        [f"{row[0]:.4f}", f"{row[1]:.5f}", f"{row[2]:.3f}", int(row[3])]
                    )
            rows.append([stem, group, found, " ".join(sample.wyckoffs), sample.crystal.n_sites])
    with (out / "index.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["file", "requested_space_group", "spglib_space_group", "wyckoffs", "atoms"]
        )
        writer.writerows(rows)
    differ = sum(1 for r in rows if r[1] != r[2])
    print(f"{len(rows)} crystals written to {out}; spglib finds another group in {differ}")
    if differ and not args.raw:
        print(f"  ({differ} gave no crystal of the requested group in {CHECK_ATTEMPTS} draws)")
    return 0


#: Draws of one crystal before the last one is kept even though spglib disagrees.
CHECK_ATTEMPTS = 20


def draw_checked(generator: Any, group: int, rng: Any, raw: bool) -> tuple[Any, int]:
    """A crystal of ``group`` in which spglib finds that group (the first draw when ``raw``),
    with the group spglib finds in it (0: none)."""
    # deferred until called: imports spglib
    from xrdsym.structures.synthetic_checks import spglib_group

    sample = generator.sample_group(group, rng)
    found = spglib_group(sample)
    for _ in range(CHECK_ATTEMPTS):
        if raw or found == group:
            break
        sample = generator.sample_group(group, rng)
        found = spglib_group(sample)
    return sample, found


def write_cif(crystal: Any, path: Path, comment: str) -> None:
    """Write a :class:`~xrdsym.structures.crystal.Crystal` as a P1 CIF with pymatgen."""
    # deferred until called: imports pymatgen
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    structure = Structure(
        Lattice(crystal.lattice),
        list(crystal.elements),
        crystal.frac_coords,
        coords_are_cartesian=False,
    )
    text = str(CifWriter(structure))
    path.write_text(f"# {comment}\n{text}")


def run_fit(args: argparse.Namespace) -> int:
    """Fit and write the statistics; returns 0."""
    # deferred until called: imports spglib
    from xrdsym.datasets.store import open_dataset
    from xrdsym.datasets.synthetic_fit import fit_dataset_statistics

    dataset = open_dataset(args.dataset)
    statistics = fit_dataset_statistics(dataset, args.split, args.seed, not args.no_progress)
    statistics.save(args.output)
    print(f"statistics of {statistics.source['structures']} training structures -> {args.output}")
    return 0


def run_table(args: argparse.Namespace) -> int:
    """Write the Wyckoff table; returns 0."""
    print(f"Wyckoff table -> {write_wyckoff_table(args.output)}")
    return 0
