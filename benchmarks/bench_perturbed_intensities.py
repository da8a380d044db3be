"""How much today's perturbed structures change peak intensities: the spread that the batched
path's intensity jitter stands for (``xrdsym.training.batched.JITTER_LOG10_SIGMA``).

For ``--n`` training structures with stored cells, the peaks of the stored conventional cell
and of one perturbed copy (``perturb_prototype`` with the default displacements and
substitutions, strain and angle changes off so that every reflection keeps its hkl) are
computed; the standard deviation of log10(I_perturbed / I_original) over the reflections above
1 % in both is one structure's spread. Prints its quantiles.

    python benchmarks/bench_perturbed_intensities.py --dataset data_cache/mp_gen40 [--n 60]
"""

from __future__ import annotations

import argparse

import numpy as np

from xrdsym.datasets.store import open_dataset
from xrdsym.errors import XrdsymError
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.structures.perturb import PerturbationConfig, perturb_prototype
from xrdsym.structures.prototype import hall_operations, prototype_crystal


def intensities_by_hkl(prototype, wavelength: float) -> dict[tuple[int, ...], float]:  # type: ignore[no-untyped-def]
    """hkl -> intensity of the peaks of a prototype over 5-115 degrees."""
    peaks = compute_peaks(
        prototype_crystal(prototype),
        wavelength=wavelength,
        two_theta_range=(5.0, 115.0),
        operations=hall_operations(prototype.hall_number),
        exact_operations=True,
    )
    hkl = np.asarray(peaks.hkl).reshape(-1, 3)
    return {tuple(int(i) for i in h): float(v) for h, v in zip(hkl, peaks.intensity, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--n", type=int, default=60)
    args = parser.parse_args()
    source = open_dataset(args.dataset)
    train = source.split_indices("structure_type", "train")
    rng = np.random.default_rng(0)
    chosen = rng.choice(train, size=min(4 * args.n, len(train)), replace=False)
    config = PerturbationConfig(strain=0.0, angle=0.0)
    spreads: list[float] = []
    for index in chosen:
        if len(spreads) >= args.n:
            break
        try:
            prototype = source.prototype(int(index))
            before = intensities_by_hkl(prototype, source.wavelength)
            after = intensities_by_hkl(perturb_prototype(prototype, rng, config), source.wavelength)
        except XrdsymError:
            continue
        ratios = [
            np.log10(after[h] / before[h])
            for h in after
            if h in before and before[h] > 1.0 and after[h] > 1.0
        ]
        if len(ratios) >= 5:
            spreads.append(float(np.std(ratios)))
    q = np.quantile(spreads, [0.1, 0.25, 0.5, 0.75, 0.9])
    print(f"{len(spreads)} structures; std of log10(I_perturbed / I_original) per structure:")
    print("quantiles 10/25/50/75/90 %: " + " ".join(f"{v:.3f}" for v in q))


if __name__ == "__main__":
    main()
