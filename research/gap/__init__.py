"""Measured versus simulated patterns: background, profile fit and the simulation gap."""

from research.gap.background import als_background, estimate_background, snip_background
from research.gap.compare import compare
from research.gap.gap import fit_pattern, simulate_peaks
from research.gap.model import ProfileState
from research.gap.result import FitOptions, GapFit

__all__ = [
    "FitOptions",
    "GapFit",
    "ProfileState",
    "als_background",
    "compare",
    "estimate_background",
    "fit_pattern",
    "simulate_peaks",
    "snip_background",
]
