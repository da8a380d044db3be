"""Compare a measured pattern with its structure: read both files, fit, optionally plot.

The one function that reads, fits and draws; the fit itself is
:func:`research.gap.gap.fit_pattern` and the figure :func:`research.gap.figures.plot_gap`.
"""

from __future__ import annotations

from pathlib import Path

from research.gap.figures import plot_gap
from research.gap.gap import fit_pattern, simulate_peaks
from research.gap.result import DEFAULT_OPTIONS, FitOptions, GapFit
from xrdsym.errors import StructureError
from xrdsym.io import read_pattern
from xrdsym.patterns.peaks import symmetry_operations
from xrdsym.structures.reader import read_cif_file
from xrdsym.wavelengths import CU_KA1


def compare(
    structure_path: str | Path,
    pattern_path: str | Path,
    wavelength: float | None = None,
    *,
    fallback: float = CU_KA1,
    plot: str | Path | None = None,
    options: FitOptions = DEFAULT_OPTIONS,
) -> GapFit:
    """Read a CIF and a measured pattern, fit the pattern with the structure's simulated peaks
    and optionally save a figure (measured, fits, background, residuals) as PNG.

    Args:
        structure_path: CIF file.
        pattern_path: measured pattern in any format :func:`xrdsym.io.read_pattern` reads.
        wavelength: K-alpha1 wavelength in Angstrom, replacing the file's; None takes the
            file's, else ``fallback``.
        fallback: the wavelength of a file that states none (Cu K-alpha1).
        plot: PNG path of the figure, or None.
        options: fit choices.

    Raises:
        StructureError: unreadable CIF or no atoms.
        PatternFileError: unreadable pattern, or no simulated peak inside the scan.
    """
    crystal = read_cif_file(structure_path)
    pattern = read_pattern(pattern_path)
    lam = wavelength if wavelength is not None else (pattern.wavelength or fallback)
    x = pattern.two_theta
    try:
        operations = symmetry_operations(crystal)
        peaks = simulate_peaks(crystal, lam, (float(x[0]), float(x[-1])), operations)
    except StructureError as exc:
        raise StructureError(f"{structure_path}: {exc}") from None
    fit = fit_pattern(
        x,
        pattern.intensity,
        peaks,
        source=str(pattern_path),
        structure=crystal.name or Path(structure_path).stem,
        options=options,
        rotations=operations[0],
    )
    if plot is not None:
        plot_gap(fit, Path(plot))
    return fit
