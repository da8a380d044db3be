"""Wavelength names and values against pymatgen's table, and the limits of an accepted value."""

from __future__ import annotations

import pytest
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS as PYMATGEN_WAVELENGTHS

from xrdsym.wavelengths import (
    CU_KA1,
    K_ALPHA1,
    K_ALPHA2,
    KA2_RATIO,
    WAVELENGTH_LIMITS,
    WAVELENGTHS,
    check_wavelength,
    ka2_wavelength,
    wavelength_from_name,
)

#: pymatgen's Co K-beta1 (1.63079 A) is 0.01 A off the tabulated 1.62079 A (Bearden 1967; the
#: Co K-beta1 energy 7.649 keV gives 12.398 / 7.649 = 1.6209 A); every other line agrees.
PYMATGEN_OFF = {"CoKb1": 0.01}


def test_the_names_are_pymatgens() -> None:
    assert set(WAVELENGTHS) == set(PYMATGEN_WAVELENGTHS)


@pytest.mark.parametrize("name", sorted(PYMATGEN_WAVELENGTHS))
def test_each_line_agrees_with_pymatgen(name: str) -> None:
    expected = PYMATGEN_WAVELENGTHS[name]
    tolerance = 2e-5 + PYMATGEN_OFF.get(name, 0.0)
    assert WAVELENGTHS[name] == pytest.approx(expected, abs=tolerance)
    assert wavelength_from_name(name) == WAVELENGTHS[name]
    assert wavelength_from_name(name.lower()) == WAVELENGTHS[name]


def test_ka_is_the_intensity_weighted_average_and_the_grid_line_is_ka1() -> None:
    assert KA2_RATIO == 0.5
    assert WAVELENGTHS["CuKa"] == pytest.approx((2 * K_ALPHA1["Cu"] + K_ALPHA2["Cu"]) / 3)
    assert WAVELENGTHS["CuKa"] == pytest.approx(1.54184, abs=1e-5)
    assert WAVELENGTHS["CuKa1"] == CU_KA1 == 1.540562
    assert ka2_wavelength(CU_KA1) == K_ALPHA2["Cu"]
    with pytest.raises(ValueError, match="K-alpha2"):
        ka2_wavelength(WAVELENGTHS["CuKa"])


def test_numbers_and_bad_names() -> None:
    assert wavelength_from_name("1.5406") == 1.5406
    assert wavelength_from_name(0.7093) == 0.7093
    low, high = WAVELENGTH_LIMITS
    assert check_wavelength(low) == low and check_wavelength(high) == high
    for bad in ("Cu", "CuKa3", "copper"):
        with pytest.raises(ValueError, match="unknown wavelength"):
            wavelength_from_name(bad)
    for bad in (0.05, 5.5, float("nan")):
        with pytest.raises(ValueError, match="outside"):
            wavelength_from_name(bad)
