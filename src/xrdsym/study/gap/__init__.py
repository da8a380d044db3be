"""Measured versus simulated patterns: background, profile fit and the simulation gap."""

from xrdsym.study.gap.background import als_background, estimate_background, snip_background
from xrdsym.study.gap.compare import compare
from xrdsym.study.gap.gap import fit_pattern, simulate_peaks
from xrdsym.study.gap.model import ProfileState
from xrdsym.study.gap.result import FitOptions, GapFit

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
