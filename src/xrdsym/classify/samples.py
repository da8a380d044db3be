"""The classifier's inputs: a :class:`Sample` is a pattern on the model grid with the
wavelength chosen for it (once, by :func:`xrdsym.patterns.prepare.measurement_wavelength`)
and where that came from. One function per kind of input puts it on a grid:

* :func:`read_sample`: a pattern file of any supported format;
* :func:`sample_from_arrays`: a measured profile given as arrays;
* :func:`sample_from_peaks`: a peak list, rendered with a sharp laboratory profile;
* :func:`sample_from_structure`: a crystal structure, simulated.

Also the checks of a measurement: reader events, stick patterns, coarse, short or partial
scans and wavelength clashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import PatternFileError, XrdsymError
from xrdsym.io import Pattern, read_pattern, validated_pattern
from xrdsym.patterns.bragg import bragg_shift
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.peaks import compute_peaks
from xrdsym.patterns.prepare import (
    PreparedPattern,
    measurement_wavelength,
    normalize_intensity,
    prepare_pattern,
)
from xrdsym.patterns.scattering import graphite_monochromator_two_theta
from xrdsym.structures.crystal import Crystal, crystal_from_pymatgen
from xrdsym.wavelengths import wavelength_given

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
        prepared: the pattern on the grid (values, mask, source).
        pattern: the measured pattern as read (None for a peak list or a structure).
        wavelength: the measurement wavelength used, Angstrom.
        wavelength_source: where that wavelength came from: ``file``, the caller's origin
            (``argument``, ``command line``), ``grid`` (a peak list at the grid wavelength)
            or ``simulation``.
        warnings: warnings raised while preparing.
    """

    prepared: PreparedPattern
    pattern: Pattern | None
    wavelength: float
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


def peak_list_message(source: str) -> str:
    """The error for a stick pattern passed as a profile."""
    return (
        f"{source}: this looks like a peak list (stick pattern: uneven 2theta steps or "
        "isolated spikes), not a measured profile; classify it with "
        "xrdsym.classify.sample_from_peaks, which renders the peaks"
    )


def sample_from_pattern(
    pattern: Pattern,
    grid: Grid,
    override: float | None = None,
    fallback: float | None = None,
    origin: str = "argument",
) -> Sample:
    """A measured pattern on ``grid``, its wavelength chosen once (``override``, else the
    file's, else ``fallback``: :func:`~xrdsym.patterns.prepare.measurement_wavelength`).

    Raises:
        PatternFileError: a stick pattern, no wavelength, too short a range (names the file).
    """
    if looks_like_peak_list(pattern.two_theta, pattern.intensity):
        raise PatternFileError(peak_list_message(pattern.source))
    lam, stated = measurement_wavelength(pattern, override, fallback)
    prepared = prepare_pattern(pattern, grid, wavelength=lam)
    coverage = float(np.mean(prepared.mask))
    warnings = measurement_warnings(pattern, lam, pattern.wavelength, grid, coverage)
    return Sample(prepared, pattern, lam, "file" if stated else origin, tuple(warnings))


def read_sample(
    path: str | Path,
    grid: Grid,
    wavelength: float | str | None = None,
    fallback: float | str | None = None,
    origin: str = "argument",
) -> Sample:
    """Read a pattern file (any supported format) and put it on ``grid``.

    ``wavelength`` (Angstrom or a line name) overrides the file's; ``fallback`` is used only
    where the file states none; ``origin`` names where either came from in the provenance
    (``command line`` for the CLI).

    Raises:
        XrdsymError: unreadable file, unknown wavelength, too short a range (names the file).
    """
    override, default = wavelength_given(wavelength, path), wavelength_given(fallback, path)
    return sample_from_pattern(read_pattern(path), grid, override, default, origin)


def sample_from_arrays(
    two_theta: Any,
    intensity: Any,
    grid: Grid,
    wavelength: float | str,
    source: str = "<array>",
) -> Sample:
    """A measured profile given as arrays (degrees, counts), checked like a file and put on
    ``grid``; ``wavelength`` in Angstrom or a line name.

    Raises:
        XrdsymError: an unknown wavelength, a peak list, or what a file would be refused for.
    """
    lam = wavelength_given(wavelength, source)
    x = np.asarray(two_theta, dtype=np.float64).ravel()
    y = np.asarray(intensity, dtype=np.float64).ravel()
    if x.shape == y.shape and x.size >= 3 and looks_like_peak_list(np.sort(x), y):
        raise PatternFileError(peak_list_message(source))
    return sample_from_pattern(validated_pattern(x, y, source, wavelength=lam), grid, lam)


def sample_from_peaks(
    two_theta: Any,
    intensity: Any,
    grid: Grid,
    wavelength: float | str | None = None,
    source: str = "<peaks>",
    origin: str = "argument",
) -> Sample:
    """A peak list rendered on ``grid`` with a sharp laboratory profile, as training does.

    Positions (degrees at ``wavelength``; default the grid's) are moved to the grid wavelength
    by Bragg's law, then pseudo-Voigt peaks (FWHM^2 = U tan^2 theta + V tan theta + W,
    U = 0.01, V = -0.005, W = 0.004 deg^2, eta = 0.5, integrated intensities conserved:
    :data:`xrdsym.simulate.CLEAN_PARAMS`) are drawn without background or noise.

    Raises:
        XrdsymError: unequal or non-finite columns, or no positive peak inside the grid.
    """
    # Deferred on purpose: the simulator pulls in the structure stack (spglib), which reading
    # and classifying a measured file never needs.
    from xrdsym.patterns.profile import render_pattern
    from xrdsym.simulate import CLEAN_PARAMS

    x = np.asarray(two_theta, dtype=np.float64).ravel()
    y = np.asarray(intensity, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0 or not np.all(np.isfinite(x) & np.isfinite(y)):
        raise XrdsymError(
            f"{source}: a peak list needs finite 2theta and intensities of equal length"
        )
    lam = wavelength_given(wavelength, source)
    shifted = bragg_shift(x, grid.wavelength / (grid.wavelength if lam is None else lam))
    keep = (y > 0.0) & np.isfinite(shifted)
    positions, heights = shifted[keep], y[keep]
    inside = (positions >= grid.start) & (positions <= grid.stop)
    if not np.any(inside):
        raise XrdsymError(f"{source}: no peak with positive intensity inside the model range")
    counts = render_pattern(
        positions[inside], heights[inside], grid, CLEAN_PARAMS, None, noise=False
    )
    prepared = PreparedPattern(
        values=normalize_intensity(counts), mask=np.ones(grid.n_points, dtype=bool), source=source
    )
    if lam is None:
        return Sample(prepared, None, grid.wavelength, "grid")
    return Sample(prepared, None, lam, origin)


def sample_from_structure(structure: Any, grid: Grid, source: str | None = None) -> Sample:
    """A crystal structure's simulated pattern on ``grid`` (clean laboratory profile).

    ``structure`` is a pymatgen ``Structure``, an xrdsym ``Crystal``, or a CIF file path.
    Peaks: |F_hkl|^2 with multiplicities and the Lorentz-polarization factor of a
    Bragg-Brentano instrument with a graphite monochromator
    (:func:`xrdsym.patterns.peaks.compute_peaks`).

    Raises:
        StructureError: an unreadable CIF or a structure without symmetry.
        XrdsymError: no reflection inside the grid.
    """
    # Deferred on purpose: gemmi (CIF reading), which measured files never need.
    from xrdsym.structures.reader import read_cif_file

    if isinstance(structure, str | Path):
        crystal, name = read_cif_file(structure), source or str(structure)
    elif isinstance(structure, Crystal):
        crystal, name = structure, source or "<crystal>"
    else:
        crystal = crystal_from_pymatgen(structure, name=source or "<structure>")
        name = source or str(getattr(structure, "formula", "<structure>"))
    peaks = compute_peaks(
        crystal,
        wavelength=grid.wavelength,
        two_theta_range=(grid.start, grid.stop),
        monochromator_two_theta=graphite_monochromator_two_theta(grid.wavelength),
    )
    if len(peaks) == 0:
        raise XrdsymError(f"{name}: no reflection inside the model range")
    sample = sample_from_peaks(peaks.two_theta, peaks.intensity, grid, source=name)
    return Sample(sample.prepared, None, grid.wavelength, "simulation")
