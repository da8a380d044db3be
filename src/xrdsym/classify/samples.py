"""A pattern prepared for the model and the checks of a measurement: reader events, stick
patterns, coarse, short or partial scans and wavelength clashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xrdsym.patterns.grid import Grid

#: A measured step coarser than this (degrees 2theta at the grid wavelength) draws a warning:
#: the training patterns are sampled every 0.02 degrees and lab peaks are 0.03-0.1 degrees wide.
COARSE_STEP = 0.1

#: Fewer measured points than this draw a warning.
FEW_POINTS = 500

#: A scan covering less than this share of the model grid draws a warning.
LOW_COVERAGE = 0.5

#: Relative difference between a file's wavelength and an overriding one that draws a warning.
WAVELENGTH_MISMATCH = 0.005

#: A profile has steady steps: a median absolute deviation of the 2theta steps above this share
#: of the median step marks a peak list (stick pattern) rather than a scan.
IRREGULAR_STEPS = 0.25


@dataclass(frozen=True, eq=False)
class Sample:
    """A pattern on the model grid with what is known about where it came from.

    Attributes:
        prepared: the :class:`~xrdsym.patterns.prepare.PreparedPattern` (values, mask, source).
        pattern: the measured pattern as read (None for simulated input).
        wavelength: the measurement wavelength used, Angstrom.
        wavelength_source: where that wavelength came from.
        warnings: warnings raised while preparing.
    """

    prepared: Any
    pattern: Any
    wavelength: float | None
    wavelength_source: str
    warnings: tuple[str, ...] = ()


def reader_events(metadata: dict[str, str]) -> list[str]:
    """Plain-language events from a reader's metadata (rows repaired, scan k of N, ...)."""
    events: list[str] = []
    if metadata.get("repaired_rows"):
        events.append(f"{metadata['repaired_rows']} rows with glued columns repaired")
    for key in ("scans", "blocks", "banks", "ranges"):
        total = int(metadata.get(key, "1") or 1)
        if total > 1:
            events.append(f"scan {metadata.get('scan', '1')} of {total} used")
    if metadata.get("clipped_negative"):
        events.append(f"{metadata['clipped_negative']} negative counts clipped to 0")
    if metadata.get("reversed") == "true":
        events.append("scan recorded from high to low angle; reversed")
    if metadata.get("attenuation_corrected"):
        events.append("counts multiplied by the attenuator factors")
    return events


def looks_like_peak_list(two_theta: np.ndarray, intensity: np.ndarray) -> bool:
    """True for stick patterns: irregular 2theta steps, or mostly exact zeros between spikes.

    A scan steps evenly: the median absolute deviation of its steps is ~0. A peak list (such
    as pymatgen's ``XRDCalculator`` output) has one point per reflection at uneven spacing.
    """
    x = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    if x.size < 3:
        return True
    steps = np.diff(x)
    median = float(np.median(steps))
    irregular = float(np.median(np.abs(steps - median))) > IRREGULAR_STEPS * abs(median)
    sticks = y.size >= 100 and float(np.mean(y == 0.0)) > 0.9
    return irregular or sticks


def measurement_warnings(
    pattern: Any, lam: float, file_wavelength: float | None, grid: Grid, coverage: float
) -> list[str]:
    """Warnings about a measurement: coarse or short scans, partial range, wavelength clash.

    The step is compared at the grid wavelength: d(2theta_grid) ~ (lambda_grid / lambda) *
    d(2theta) at low angles.
    """
    warnings: list[str] = []
    x = np.asarray(pattern.two_theta)
    step = float(np.median(np.diff(x))) * grid.wavelength / lam
    if step > COARSE_STEP:
        warnings.append(
            f"coarse scan: step {step:.3f} deg (at {grid.wavelength:g} A) is above "
            f"{COARSE_STEP} deg; narrow peaks are undersampled"
        )
    if x.size < FEW_POINTS:
        warnings.append(f"short scan: only {x.size} points read (fewer than {FEW_POINTS})")
    if coverage < LOW_COVERAGE:
        warnings.append(
            f"the scan covers {coverage:.0%} of the model's {grid.start:g}-{grid.stop:g} deg "
            "range; the rest is zero-filled"
        )
    if file_wavelength is not None and abs(lam - file_wavelength) > WAVELENGTH_MISMATCH * lam:
        warnings.append(f"the file states {file_wavelength:g} A; {lam:g} A was used as requested")
    return warnings


# --------------------------------------------------------------------------- classifier


def peak_list_message(source: str) -> str:
    """The error for a stick pattern passed as a profile."""
    return (
        f"{source}: this looks like a peak list (stick pattern: uneven 2theta steps or "
        "isolated spikes), not a measured profile; classify it with Classifier.classify_peaks, "
        "which renders the peaks"
    )
