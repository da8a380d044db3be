"""The powder pattern of a crystal structure: CIF or :class:`Crystal` -> pattern on a grid.

>>> from xrdsym.simulate import simulate
>>> pattern = simulate("PbSO4.cif")                          # doctest: +SKIP
>>> two_theta, counts = pattern.two_theta, pattern.counts    # doctest: +SKIP

Steps: the structure (read with :func:`xrdsym.structures.reader.read_cif_file` when a path is
given); its peak list (:func:`xrdsym.patterns.peaks.compute_peaks`: |F|^2, multiplicity and
the Lorentz-polarization of a Bragg-Brentano diffractometer with a graphite monochromator,
2theta_m from :func:`xrdsym.patterns.scattering.graphite_monochromator_two_theta`); then the
profile (:func:`xrdsym.patterns.profile.render_pattern`), either :data:`CLEAN_PARAMS` without
noise or random ``PAPER_RANGES`` parameters with Poisson noise from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrdsym.errors import XrdsymError
from xrdsym.patterns.grid import PAPER_GRID, Grid
from xrdsym.patterns.peaks import PeakList, compute_peaks
from xrdsym.patterns.profile import render_pattern
from xrdsym.patterns.profile_params import PAPER_RANGES, ProfileParams, sample_profile_params
from xrdsym.patterns.scattering import graphite_monochromator_two_theta
from xrdsym.structures.crystal import Crystal
from xrdsym.structures.tolerance import DEFAULT_SYMPREC
from xrdsym.wavelengths import wavelength_from_name

#: Profile of clean patterns: a sharp laboratory instrument (FWHM 0.06 degrees at low angle,
#: 0.13 degrees at 110 degrees: U = 0.01, V = -0.005, W = 0.004 degrees^2), pseudo-Voigt
#: eta 0.5, no background, strongest peak 10,000 counts; rendered without noise.
CLEAN_PARAMS = ProfileParams(
    u=0.01,
    v=-0.005,
    w=0.004,
    eta=0.5,
    background_coeffs=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    background_level=0.0,
    counts=1e4,
)


@dataclass(frozen=True, eq=False)
class SimulatedPattern:
    """A simulated powder pattern.

    Attributes:
        two_theta: grid positions in degrees, float64 (n_points,).
        counts: intensity in counts at those positions, float64 (n_points,).
        peaks: the peak list the pattern was rendered from.
        params: the profile parameters used.
        grid: the grid (its wavelength in Angstrom is the pattern's).
    """

    two_theta: np.ndarray
    counts: np.ndarray
    peaks: PeakList
    params: ProfileParams
    grid: Grid


def model_grid(wavelength: float) -> Grid:
    """The paper's grid (10-110 degrees 2theta, 10,001 points) at ``wavelength`` (Angstrom)."""
    return Grid(PAPER_GRID.start, PAPER_GRID.stop, PAPER_GRID.n_points, wavelength)


def simulate(
    structure: Crystal | str | Path,
    *,
    wavelength: str | float = "CuKa1",
    grid: Grid | None = None,
    random: bool = False,
    seed: int = 0,
    symprec: float = DEFAULT_SYMPREC,
) -> SimulatedPattern:
    """The powder pattern of ``structure`` on a 2theta grid (see the module docstring).

    Args:
        structure: a :class:`Crystal`, or the path of a CIF file.
        wavelength: line name (``CuKa1``, ``MoKa1``, ...: :mod:`xrdsym.wavelengths`) or
            Angstrom; ignored when ``grid`` is given (the grid's wavelength is used).
        grid: the output grid; default :func:`model_grid` at ``wavelength``.
        random: random ``PAPER_RANGES`` profile, background and Poisson noise drawn from
            ``numpy.random.default_rng(seed)``; else :data:`CLEAN_PARAMS` without noise.
        seed: seed of the random profile and noise.
        symprec: spglib tolerance in Angstrom for the systematic absences.

    Raises:
        ValueError: an unknown wavelength name or one outside the accepted limits.
        StructureError: the CIF cannot be read, or its symmetry not found.
        XrdsymError: the structure has no reflection inside the grid.
    """
    if grid is None:
        grid = model_grid(wavelength_from_name(wavelength))
    crystal = structure if isinstance(structure, Crystal) else _read(structure)
    peaks = compute_peaks(
        crystal,
        wavelength=grid.wavelength,
        two_theta_range=(grid.start, grid.stop),
        monochromator_two_theta=graphite_monochromator_two_theta(grid.wavelength),
        symprec=symprec,
    )
    if len(peaks) == 0:
        name = str(structure) if not isinstance(structure, Crystal) else crystal.name
        raise XrdsymError(
            f"{name}: no reflection between {grid.start:g} and {grid.stop:g} degrees 2theta"
        )
    rng = np.random.default_rng(seed)
    if random:
        params = sample_profile_params(rng, PAPER_RANGES)
        counts = render_pattern(peaks.two_theta, peaks.intensity, grid, params, rng)
    else:
        params = CLEAN_PARAMS
        counts = render_pattern(peaks.two_theta, peaks.intensity, grid, params, None, noise=False)
    return SimulatedPattern(grid.two_theta(), counts, peaks, params, grid)


def _read(path: str | Path) -> Crystal:
    """The crystal of a CIF file (named after the file stem)."""
    # deferred until called: imports gemmi
    from xrdsym.structures.reader import read_cif_file

    return read_cif_file(path)
