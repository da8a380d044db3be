"""Measured versus simulated patterns: background, profile fit and the simulation gap."""

from xrdsym.analysis.background import als_background, estimate_background, snip_background
from xrdsym.analysis.gap import FitOptions, GapFit, compare, fit_pattern, simulate_peaks
from xrdsym.analysis.model import ProfileState

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
