"""Agreement of two powder peak lists, e.g. this simulator's against pymatgen's XRDCalculator.

Equal reflections of two calculators agree to about 1e-4 degrees, but each merges and splits
close reflections its own way (pymatgen bins 2theta to 1e-5 degrees and splits reflections
equal to 1e-6 degrees in slightly asymmetric relaxed cells), so peaks are compared in groups:
the peaks of both lists, sorted by 2theta over their union, are grouped by single linkage (a
new group starts after a gap wider than the tolerance). The relative intensity of a group in
one list is the group's summed intensity over the list's largest group sum, times 100.
"""

from __future__ import annotations

import numpy as np

#: Peaks within this many degrees 2theta of a neighbour fall into one group.
MATCH_TWO_THETA_TOL = 0.005

#: Groups at or above this relative intensity (largest group = 100) in either list are checked.
MATCH_MIN_INTENSITY = 1.0

#: The two relative intensities of a checked group differ by at most this fraction of the larger.
MATCH_INTENSITY_RTOL = 0.01


def peak_list_mismatches(
    ref_two_theta: np.ndarray,
    ref_intensity: np.ndarray,
    two_theta: np.ndarray,
    intensity: np.ndarray,
    two_theta_tol: float = MATCH_TWO_THETA_TOL,
    min_intensity: float = MATCH_MIN_INTENSITY,
    rtol: float = MATCH_INTENSITY_RTOL,
) -> list[str]:
    """Groups of peaks (see the module docstring) that the two lists do not both reproduce.

    A group at or above ``min_intensity`` in either list fails when the other list has no peak
    in it, or when its two relative intensities differ by more than ``rtol`` times the larger.

    Args:
        ref_two_theta, ref_intensity: the reference list (degrees, any intensity scale).
        two_theta, intensity: the list compared with it.
        two_theta_tol: single-linkage gap in degrees 2theta.

    Returns:
        One line per failing group, ``"<2theta> deg ..."`` at the group's first peak; empty
        when the lists agree.
    """
    ref_x = np.asarray(ref_two_theta, dtype=np.float64)
    x = np.concatenate([ref_x, np.asarray(two_theta, dtype=np.float64)])
    order = np.argsort(x, kind="stable")
    group_sorted = np.concatenate(([0], np.cumsum(np.diff(x[order]) > two_theta_tol)))
    group = np.empty_like(group_sorted)
    group[order] = group_sorted
    n_groups = int(group_sorted[-1]) + 1
    n_ref = ref_x.shape[0]
    ref_sum = np.bincount(group[:n_ref], weights=ref_intensity, minlength=n_groups)
    other_sum = np.bincount(group[n_ref:], weights=intensity, minlength=n_groups)
    ref_rel = 100.0 * ref_sum / ref_sum.max()
    other_rel = 100.0 * other_sum / other_sum.max()
    ref_count = np.bincount(group[:n_ref], minlength=n_groups)
    other_count = np.bincount(group[n_ref:], minlength=n_groups)
    start = x[order][np.searchsorted(group_sorted, np.arange(n_groups))]
    problems = []
    for g in range(n_groups):
        a, b = ref_rel[g], other_rel[g]
        if max(a, b) < min_intensity:
            continue
        if ref_count[g] == 0 or other_count[g] == 0:
            problems.append(f"{start[g]:.4f} deg ({a:.2f} / {b:.2f}) in one list only")
        elif abs(a - b) > rtol * max(a, b):
            problems.append(f"{start[g]:.4f} deg: {a:.3f} vs {b:.3f}")
    return problems
