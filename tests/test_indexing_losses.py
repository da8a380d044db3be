"""The true line lists of the indexing-loss study."""

from __future__ import annotations

import numpy as np
import pytest

from research.indexing_losses import true_lines


def test_close_reflections_merge_and_weak_lines_and_the_range_are_cut() -> None:
    two_theta = np.array([5.0, 20.0, 20.02, 30.0, 40.0, 120.0])
    intensity = np.array([100.0, 30.0, 10.0, 0.5, 100.0, 100.0])
    positions, heights = true_lines(two_theta, intensity, floor=0.01)
    # 5 and 120 degrees lie outside 10-110; 20.00 and 20.02 merge; 0.5 is below 1 % of 100
    np.testing.assert_allclose(positions, [20.005, 40.0])
    np.testing.assert_allclose(heights, [40.0, 100.0])
    assert true_lines(two_theta, intensity, floor=0.0)[0].size == 3
    assert positions[0] == pytest.approx((20.0 * 30 + 20.02 * 10) / 40)
