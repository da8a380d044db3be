"""Crystals plus peak lists per second: the synthetic generator and the perturbation of corpus
structures, beside pyxtal's random crystal plus pymatgen's XRDCalculator run side by side.

All in one process (one core). Each side draws crystals of the same space groups and computes
their peak lists over 5-115 degrees at Cu K-alpha1. The groups are drawn from the generator's
prior as in the training stream (``--groups prior``, the default), or cycled through a list
(``--groups 1-230`` weighs every group equally, large cubic cells included):

- ``synthetic``: ``SyntheticGenerator.sample_group`` (alone, and) + ``compute_peaks`` with the known
  operations (no symmetry search, |F|^2 once per set of equivalent reflections);
  ``+check`` adds the stream's check of crystals without a general-position orbit
  (``keeps_its_group``: spglib, or a test for extra translations in the m-3m groups);
- ``perturbed``: ``perturb_prototype`` of corpus structures (first rows of the shared table) +
  ``compute_peaks`` with the Hall operations;
- ``pyxtal``: ``pyxtal.from_random`` with the same number of atoms per element as the synthetic
  crystal of that step, converted to pymatgen, then ``XRDCalculator.get_pattern``.

It also prints the share of synthetic crystals in which spglib finds another group than the
requested one, before and after the check, and the share of perturbed corpus structures in
which it finds another group than the structure's, at 1, 2 and 4 times the default bounds of
strain, angle and displacement (``PerturbationConfig``; substitution as configured).

    python benchmarks/bench_generator.py [--crystals 2000] [--pyxtal 60]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

from xrdsym.patterns.peaks import compute_peaks
from xrdsym.structures.labelling import symmetry_dataset
from xrdsym.structures.perturb import PerturbationConfig, perturb_prototype
from xrdsym.structures.prototype import hall_operations, prototype_crystal, read_prototypes
from xrdsym.structures.synthetic import SyntheticGenerator
from xrdsym.structures.synthetic_checks import keeps_its_group, spglib_agrees

RANGE = (5.0, 115.0)
CORPUS = Path(__file__).resolve().parents[1].parent / "shared/data/structures/mp_structures.csv.gz"


def synthetic_rate(
    generator: SyntheticGenerator, groups: list[int], n: int, check: bool, peaks: bool = True
) -> float:
    """Crystals (with peaks unless ``peaks`` is False) per second."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for k in range(n):
        sample = generator.sample_group(groups[k % len(groups)], rng)
        if check and not sample.general:
            keeps_its_group(sample)
        if not peaks:
            continue
        compute_peaks(
            sample.crystal,
            two_theta_range=RANGE,
            operations=sample.operations,
            exact_operations=True,
        )
    return n / (time.perf_counter() - start)


def perturbed_rate(n: int, corpus_size: int = 200) -> float:
    """Perturbed corpus crystals with peaks per second (prototypes prepared beforehand)."""
    prototypes = read_prototypes(CORPUS, corpus_size)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for k in range(n):
        new = perturb_prototype(prototypes[k % len(prototypes)], rng)
        compute_peaks(
            prototype_crystal(new),
            two_theta_range=RANGE,
            operations=hall_operations(new.hall_number),
        )
    return n / (time.perf_counter() - start)


def pyxtal_rate(generator: SyntheticGenerator, groups: list[int], n: int) -> tuple[float, int]:
    """pyxtal random crystals + XRDCalculator per second, and how many pyxtal gave up on."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pyxtal import pyxtal

    calculator = XRDCalculator(wavelength=1.540562)
    rng = np.random.default_rng(0)
    compositions = []
    for k in range(n):
        sample = generator.sample_group(groups[k % len(groups)], rng)
        elements, counts = np.unique(np.array(sample.crystal.elements), return_counts=True)
        compositions.append(
            (sample.space_group, [str(e) for e in elements], [int(c) for c in counts])
        )
    failed = 0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group, names, numbers in compositions:
            crystal = pyxtal()
            try:
                crystal.from_random(3, group, names, numbers)
            except Exception:  # noqa: BLE001 - pyxtal raises several types when it gives up
                failed += 1
                continue
            if not crystal.valid:
                failed += 1
                continue
            calculator.get_pattern(crystal.to_pymatgen(), two_theta_range=RANGE)
    return n / (time.perf_counter() - start), failed


def label_noise(generator: SyntheticGenerator, n: int) -> tuple[float, float]:
    """Share of crystals whose spglib group differs: raw draws, and after the stream's check."""
    rng = np.random.default_rng(1)
    raw = kept = wrong = 0
    for _ in range(n):
        sample = generator.sample(rng)
        agrees = spglib_agrees(sample)
        raw += not agrees
        if sample.general or keeps_its_group(sample):
            kept += 1
            wrong += not agrees
    return raw / n, wrong / max(kept, 1)


def perturbed_label_noise(scale: float, n: int, corpus_size: int = 500) -> float:
    """Share of perturbed corpus structures whose spglib group (symprec 0.01 A) differs from the
    structure's, with strain, angle and displacement at ``scale`` times their defaults."""
    defaults = PerturbationConfig()
    config = PerturbationConfig(
        strain=scale * defaults.strain,
        angle=scale * defaults.angle,
        displacement=scale * defaults.displacement,
    )
    prototypes = read_prototypes(CORPUS, corpus_size)
    rng = np.random.default_rng(3)
    wrong = 0
    for k in range(n):
        prototype = prototypes[k % len(prototypes)]
        new = perturb_prototype(prototype, rng, config)
        wrong += symmetry_dataset(prototype_crystal(new)).number != prototype.space_group
    return wrong / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crystals", type=int, default=2000)
    parser.add_argument("--pyxtal", type=int, default=60)
    parser.add_argument(
        "--groups", default="prior", help="prior (default), or e.g. 1-230 or 14,62,225"
    )
    parser.add_argument("--noise", type=int, default=3000, help="crystals for the label check")
    args = parser.parse_args()
    generator = SyntheticGenerator()
    if args.groups == "prior":
        rng = np.random.default_rng(2)
        groups = [int(g) for g in rng.choice(230, 1000, p=generator.space_group_prior()) + 1]
    elif "-" in args.groups:
        low, high = (int(x) for x in args.groups.split("-"))
        groups = list(range(low, high + 1))
    else:
        groups = [int(x) for x in args.groups.split(",")]
    print(f"load average: {os.getloadavg()[0]:.2f}; groups: {args.groups}")
    drawn = synthetic_rate(generator, groups, args.crystals, check=False, peaks=False)
    ours = synthetic_rate(generator, groups, args.crystals, check=False)
    checked = synthetic_rate(generator, groups, args.crystals, check=True)
    perturbed = perturbed_rate(args.crystals)
    theirs, failed = pyxtal_rate(generator, groups, args.pyxtal)
    print(
        f"pyxtal random crystal + XRDCalculator (baseline): {theirs:.1f} crystals/s "
        f"({failed} of {args.pyxtal} given up)"
    )
    print(f"synthetic crystal alone:  {drawn:.0f} crystals/s ({drawn / theirs:.0f}x)")
    print(f"synthetic + peaks:        {ours:.0f} crystals/s ({ours / theirs:.0f}x)")
    print(f"synthetic + check + peaks: {checked:.0f} crystals/s ({checked / theirs:.0f}x)")
    print(f"perturbed corpus + peaks: {perturbed:.0f} crystals/s ({perturbed / theirs:.0f}x)")
    raw, kept = label_noise(generator, args.noise)
    print(
        f"spglib finds another group: {100 * raw:.1f} % of raw draws, "
        f"{100 * kept:.2f} % after the stream's check ({args.noise} draws)"
    )
    for scale in (1.0, 2.0, 4.0):
        share = perturbed_label_noise(scale, args.noise // 3)
        print(
            f"spglib finds another group in perturbed structures at {scale:.0f}x the bounds: "
            f"{100 * share:.2f} % ({args.noise // 3} draws)"
        )


if __name__ == "__main__":
    main()
