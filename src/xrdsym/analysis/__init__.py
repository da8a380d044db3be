"""Measured versus simulated patterns: background, profile fit and the simulation gap."""

from xrdsym.analysis.background import als_background, estimate_background, snip_background
from xrdsym.analysis.compare import compare
from xrdsym.analysis.gap import fit_pattern, simulate_peaks
from xrdsym.analysis.model import ProfileState
from xrdsym.analysis.result import FitOptions, GapFit

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
