"""X-ray atomic form factors and the Lorentz-polarization factor.

Two form-factor tables are available:

* ``"it92"`` (default): International Tables for Crystallography Vol. C (1992), Table 6.1.1.4,
  the Cromer-Mann four-Gaussian fit as shipped by gemmi (``gemmi.Element(symbol).it92``)::

      f(s) = sum_{i=1..4} a_i exp(-b_i s^2) + c          (electrons)

* ``"pymatgen"``: the table and formula of pymatgen's ``XRDCalculator`` (De Graef & McHenry,
  *Structure of Materials*), used for like-for-like validation::

      f(s) = Z - 41.78214 s^2 sum_{i=1..4} a_i exp(-b_i s^2)   (electrons)

In both, s = sin(theta) / lambda = 1 / (2 d) in 1/Angstrom and b_i is in Angstrom^2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xrdsym.errors import StructureError

#: Form-factor table names accepted by :func:`form_factors`.
FORM_FACTOR_TABLES = ("it92", "pymatgen")

#: Polarization models accepted by :func:`lorentz_polarization`.
POLARIZATIONS = ("graphite_monochromator", "none")

#: Constant of pymatgen's form-factor formula f = Z - 41.78214 s^2 sum a_i exp(-b_i s^2), in
#: Angstrom^2 (the value pymatgen uses, kept identical for like-for-like comparisons).
PYMATGEN_FORM_FACTOR_SCALE = 41.78214

#: Interlayer spacing d(002) of graphite in Angstrom, the usual monochromator crystal.
GRAPHITE_D002 = 3.354

#: Monochromator angle 2theta_m in degrees for graphite (002) and Cu K-alpha.
GRAPHITE_MONOCHROMATOR_TWO_THETA_CU = 26.6


def it92_coefficients(symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cromer-Mann (IT92) coefficients of each element from gemmi.

    Returns:
        a (n, 4) electrons, b (n, 4) Angstrom^2, c (n,) electrons, float64.

    Raises:
        StructureError: an element is unknown or has no IT92 entry.
    """
    # deferred until called: imports gemmi
    import gemmi

    a = np.zeros((len(symbols), 4))
    b = np.zeros((len(symbols), 4))
    c = np.zeros(len(symbols))
    for i, symbol in enumerate(symbols):
        element = gemmi.Element(symbol)
        coef = element.it92 if element.atomic_number > 0 else None
        if coef is None:
            raise StructureError(f"no IT92 X-ray form factor for element {symbol!r}")
        a[i] = coef.a
        b[i] = coef.b
        c[i] = coef.c
    return a, b, c


def pymatgen_coefficients(symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of pymatgen's form-factor table.

    Returns:
        a (n, 4) (dimensionless, see module docstring), b (n, 4) Angstrom^2, Z (n,) float64.

    Raises:
        StructureError: the element is not in pymatgen's table.
    """
    # deferred until called: imports pymatgen, matplotlib
    from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS
    from pymatgen.core.periodic_table import Element

    a = np.zeros((len(symbols), 4))
    b = np.zeros((len(symbols), 4))
    z = np.zeros(len(symbols))
    for i, symbol in enumerate(symbols):
        params = ATOMIC_SCATTERING_PARAMS.get(symbol)
        if params is None:
            raise StructureError(f"no pymatgen X-ray form factor for element {symbol!r}")
        coeff = np.asarray(params, dtype=np.float64)
        a[i, : len(coeff)] = coeff[:, 0]
        b[i, : len(coeff)] = coeff[:, 1]
        z[i] = Element(symbol).Z
    return a, b, z


def form_factors(symbols: Sequence[str], s2: np.ndarray, table: str = "it92") -> np.ndarray:
    """Atomic form factors f(s) of each element at each s^2 = (sin(theta)/lambda)^2.

    Args:
        symbols: element symbols (n_elements,).
        s2: (M,) values of s^2 in 1/Angstrom^2.
        table: ``"it92"`` or ``"pymatgen"`` (formulas in the module docstring).

    Returns:
        (n_elements, M) float64 form factors in electrons.
    """
    s2 = np.asarray(s2, dtype=np.float64)
    if table == "it92":
        a, b, c = it92_coefficients(symbols)
        gauss = np.exp(-b[:, :, None] * s2[None, None, :])  # (n, 4, M)
        return np.einsum("ni,nim->nm", a, gauss) + c[:, None]
    if table == "pymatgen":
        a, b, z = pymatgen_coefficients(symbols)
        gauss = np.exp(-b[:, :, None] * s2[None, None, :])
        return z[:, None] - PYMATGEN_FORM_FACTOR_SCALE * s2[None, :] * np.einsum(
            "ni,nim->nm", a, gauss
        )
    raise ValueError(f"unknown form-factor table {table!r}: use one of {FORM_FACTOR_TABLES}")


def graphite_monochromator_two_theta(wavelength: float) -> float:
    """Bragg angle 2theta_m (degrees) of graphite (002) at ``wavelength`` (Angstrom).

    2theta_m = 2 asin(lambda / (2 d002)), d002 = 3.354 Angstrom; 26.56 degrees for Cu K-alpha1.
    """
    return float(np.degrees(2.0 * np.arcsin(wavelength / (2.0 * GRAPHITE_D002))))


def lorentz_polarization(
    two_theta: np.ndarray,
    polarization: str = "graphite_monochromator",
    monochromator_two_theta: float = GRAPHITE_MONOCHROMATOR_TWO_THETA_CU,
) -> np.ndarray:
    """Lorentz-polarization factor of Bragg-Brentano geometry (dimensionless).

    ``"none"`` (unpolarized incident beam)::

        LP = (1 + cos^2 2theta) / (sin^2 theta cos theta)

    ``"graphite_monochromator"`` (monochromator in the incident beam at 2theta_m)::

        LP = (1 + cos^2 2theta cos^2 2theta_m) / ((1 + cos^2 2theta_m) sin^2 theta cos theta)

    Args:
        two_theta: diffraction angles 2theta in degrees.
        polarization: ``"graphite_monochromator"`` or ``"none"``.
        monochromator_two_theta: 2theta_m in degrees (26.6 for graphite (002) and Cu).
    """
    two_theta_rad = np.radians(np.asarray(two_theta, dtype=np.float64))
    theta = 0.5 * two_theta_rad
    geometric = np.sin(theta) ** 2 * np.cos(theta)
    cos2_2t = np.cos(two_theta_rad) ** 2
    if polarization == "none":
        return (1.0 + cos2_2t) / geometric
    if polarization == "graphite_monochromator":
        cos2_m = float(np.cos(np.radians(monochromator_two_theta)) ** 2)
        return (1.0 + cos2_2t * cos2_m) / ((1.0 + cos2_m) * geometric)
    raise ValueError(f"unknown polarization {polarization!r}: use one of {POLARIZATIONS}")
