"""X-ray wavelengths of laboratory anodes, their names, and the limits of an accepted
wavelength. A leaf module: ``io`` (a wavelength a file states) and ``patterns`` (grids, peak
lists, K-alpha2 doublets) both import it, and it imports only ``xrdsym.errors``.

Names follow pymatgen (``pymatgen.analysis.diffraction.xrd.WAVELENGTHS``), for each anode
Cu, Mo, Cr, Fe, Co, Ag:

* ``CuKa1``, ``CuKa2``: the K-alpha1 and K-alpha2 lines;
* ``CuKa``: the K-alpha average (2 lambda1 + lambda2) / 3, weighted by the line intensities
  I(K-alpha2) / I(K-alpha1) = :data:`KA2_RATIO` = 1/2 (1.541841 A for Cu);
* ``CuKb1``: the K-beta1 line.

The model grid and the renderers use K-alpha1 (:data:`CU_KA1`); a laboratory scan with an
unresolved K-alpha1/K-alpha2 doublet lines up with it when given as ``CuKa1``, since the
training patterns draw the K-alpha2 companion beside each K-alpha1 peak.
"""

from __future__ import annotations

import math

from xrdsym.errors import XrdsymError

#: K-alpha1 lines in Angstrom (International Tables for Crystallography, Vol. C, 4.2.2).
K_ALPHA1: dict[str, float] = {
    "Cu": 1.540562,
    "Mo": 0.709300,
    "Cr": 2.289700,
    "Fe": 1.936042,
    "Co": 1.788965,
    "Ag": 0.559407,
}

#: K-alpha2 lines in Angstrom (same source).
K_ALPHA2: dict[str, float] = {
    "Cu": 1.544398,
    "Mo": 0.713590,
    "Cr": 2.293606,
    "Fe": 1.939980,
    "Co": 1.792850,
    "Ag": 0.563798,
}

#: K-beta1 lines in Angstrom (Bearden, Rev. Mod. Phys. 39, 78 (1967)).
K_BETA1: dict[str, float] = {
    "Cu": 1.392220,
    "Mo": 0.632288,
    "Cr": 2.084870,
    "Fe": 1.756610,
    "Co": 1.620790,
    "Ag": 0.497069,
}

#: Intensity ratio I(K-alpha2) / I(K-alpha1) (the 2p1/2 : 2p3/2 occupation ratio).
KA2_RATIO = 0.5

#: Cu K-alpha1, the wavelength of the model grid (Angstrom).
CU_KA1 = K_ALPHA1["Cu"]


def k_alpha_average(anode: str) -> float:
    """K-alpha average of ``anode`` in Angstrom: (lambda1 + KA2_RATIO lambda2) / (1 + KA2_RATIO)."""
    return (K_ALPHA1[anode] + KA2_RATIO * K_ALPHA2[anode]) / (1.0 + KA2_RATIO)


#: Every named line, Angstrom: ``<anode>Ka``, ``<anode>Ka1``, ``<anode>Ka2``, ``<anode>Kb1``.
WAVELENGTHS: dict[str, float] = {
    name: value
    for anode in K_ALPHA1
    for name, value in (
        (f"{anode}Ka", k_alpha_average(anode)),
        (f"{anode}Ka1", K_ALPHA1[anode]),
        (f"{anode}Ka2", K_ALPHA2[anode]),
        (f"{anode}Kb1", K_BETA1[anode]),
    )
}

#: How a wavelength is given on the command line.
WAVELENGTH_HELP = (
    "a line name as in pymatgen (CuKa1: K-alpha1, the model grid's line; CuKa: the K-alpha "
    "average; CuKa2, CuKb1; likewise Mo, Co, Cr, Fe, Ag) or a value in Angstrom"
)

#: Wavelengths accepted anywhere a wavelength is given, Angstrom, both ends included: from
#: 0.1 A (124 keV, high-energy synchrotron beams) to 5 A, beyond the longest anode line in use
#: (Cr K-alpha 2.29 A). Ag K-alpha is 0.56 A.
WAVELENGTH_LIMITS = (0.1, 5.0)

#: A wavelength names an anode's K-alpha1 line when it equals it to 1e-4 Angstrom (the
#: tabulated lines differ by far more between anodes).
ANODE_MATCH_TOL = 1e-4


def check_wavelength(value: float) -> float:
    """``value`` as a float when it is finite and inside :data:`WAVELENGTH_LIMITS` (Angstrom).

    Raises:
        ValueError: the wavelength is not finite or outside the limits.
    """
    low, high = WAVELENGTH_LIMITS
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"wavelength {value!r} Angstrom is outside [{low:g}, {high:g}] Angstrom")
    return float(value)


def wavelength_from_name(name: str | float) -> float:
    """A wavelength in Angstrom from a line name of :data:`WAVELENGTHS` (case-insensitive:
    ``CuKa1``, ``cuka``, ``MoKb1``) or a number (Angstrom).

    Raises:
        ValueError: the name is neither a known line nor a number inside
            :data:`WAVELENGTH_LIMITS`.
    """
    if isinstance(name, int | float):
        return check_wavelength(float(name))
    key = name.strip()
    for line, value in WAVELENGTHS.items():
        if key.lower() == line.lower():
            return value
    try:
        value = float(key)
    except ValueError:
        raise ValueError(
            f"unknown wavelength {name!r}: give a line name ({', '.join(WAVELENGTHS)}) "
            "or a value in Angstrom"
        ) from None
    return check_wavelength(value)


def wavelength_given(value: float | str | None, where: str | object) -> float | None:
    """:func:`wavelength_from_name` of ``value``, None for None.

    Raises:
        XrdsymError: an unknown name or a value out of range, the message prefixed by ``where``
            (a file or an option).
    """
    if value is None:
        return None
    try:
        return wavelength_from_name(value)
    except ValueError as exc:
        raise XrdsymError(f"{where}: {exc}") from None


def ka2_wavelength(wavelength: float) -> float:
    """K-alpha2 line (Angstrom) of the anode whose K-alpha1 line is ``wavelength``.

    Raises:
        ValueError: ``wavelength`` is not the K-alpha1 line of a known anode.
    """
    for anode, lam1 in K_ALPHA1.items():
        if abs(lam1 - wavelength) <= ANODE_MATCH_TOL:
            return K_ALPHA2[anode]
    raise ValueError(
        f"no K-alpha2 line known for wavelength {wavelength} Angstrom: "
        f"use the K-alpha1 line of one of {', '.join(f'{a}Ka1' for a in K_ALPHA1)}"
    )
