"""Learning rate as a function of training progress in [0, 1].

Progress is the larger of (steps done / total steps) and (training seconds / time budget), so
one schedule shape serves runs limited by epochs, by wall time, or both.
"""

from __future__ import annotations

import math

#: Final/initial learning-rate divisors of PyTorch's OneCycleLR defaults.
ONECYCLE_DIV_FACTOR = 25.0
ONECYCLE_FINAL_DIV_FACTOR = 1e4


def _cosine(start: float, end: float, fraction: float) -> float:
    """Cosine interpolation: end + (start - end) (1 + cos(pi f)) / 2 for f in [0, 1]."""
    f = min(max(fraction, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * f))


def learning_rate(
    schedule: str,
    progress: float,
    peak: float,
    warmup_fraction: float = 0.05,
    min_lr_ratio: float = 0.01,
) -> float:
    """Learning rate at ``progress`` (0 at the start, 1 at the end of the run).

    * ``cosine``: linear warm-up from 0 to ``peak`` over ``warmup_fraction``, then cosine decay
      to ``min_lr_ratio * peak``.
    * ``onecycle``: cosine rise from peak / 25 to ``peak`` over ``warmup_fraction`` (at least
      0.05), then cosine decay to peak / 25 / 1e4 (PyTorch ``OneCycleLR`` shape).
    * ``constant``: the same warm-up, then ``peak``.
    """
    p = min(max(progress, 0.0), 1.0)
    if schedule == "onecycle":
        rise = max(warmup_fraction, 0.05)
        initial = peak / ONECYCLE_DIV_FACTOR
        if p < rise:
            return _cosine(initial, peak, p / rise)
        return _cosine(peak, initial / ONECYCLE_FINAL_DIV_FACTOR, (p - rise) / (1.0 - rise))
    if warmup_fraction > 0 and p < warmup_fraction:
        return peak * max(p / warmup_fraction, 1e-3)
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        return _cosine(peak, peak * min_lr_ratio, (p - warmup_fraction) / (1.0 - warmup_fraction))
    raise ValueError(f"unknown schedule {schedule!r}")
