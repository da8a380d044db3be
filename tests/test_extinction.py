"""Extinction analysis of indexed cells: known structures, settings, forbidden lines."""

from __future__ import annotations

import numpy as np
import pytest
from indexed_cells import candidate_of, generic_structure, observed_lines
from pymatgen.core import Lattice

from xrdsym.indexing.extinction import (
    candidate_groups,
    cell_positions,
    crystal_systems_of,
    score_extinction_groups,
)
from xrdsym.indexing.results import BRAVAIS_LATTICES, ObservedPeak, PeakSearchResult
from xrdsym.spacegroups import space_group, space_groups

PNMA_SITES = [
    [0.188, 0.25, 0.167],
    [0.066, 0.25, 0.684],
    [0.908, 0.25, 0.595],
    [0.194, 0.028, 0.811],
]
GENERAL = [[0.13, 0.21, 0.33], [0.37, 0.08, 0.71], [0.61, 0.44, 0.12]]

STRUCTURES = {
    "Fm-3m": (Lattice.cubic(5.64), [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "Im-3m": (Lattice.cubic(3.16), [[0, 0, 0]]),
    "Pnma": (Lattice.orthorhombic(8.48, 5.40, 6.96), PNMA_SITES),
    "P2_1/c": (Lattice.monoclinic(5.0, 6.5, 7.3, 101.3), GENERAL),
    "P6_3/mmc": (Lattice.hexagonal(3.2, 5.1), [[1 / 3, 2 / 3, 0.25]]),
    "R-3m": (Lattice.hexagonal(3.0, 14.7), [[0, 0, 0], [0, 0, 0.26]]),
    "Pbca": (Lattice.orthorhombic(9.1, 10.3, 7.7), GENERAL),
    "C2/c": (Lattice.monoclinic(9.6, 8.7, 5.3, 106.0), GENERAL),
    "I4_1/amd": (Lattice.tetragonal(6.6, 5.9), [[0, 0.25, 0.125], [0, 0.10, 0.32]]),
}


def _true_group(symbol: str) -> int:
    return next(s.extinction_group for s in space_groups() if s.symbol == symbol)


def _best_groups(scores):  # the groups tied with the best log-likelihood
    top = scores[0].log_likelihood
    return {s.group for s in scores if s.log_likelihood >= top - 1e-9}


@pytest.mark.parametrize("symbol", sorted(STRUCTURES))
def test_true_group_scores_best_and_is_not_ruled_out(symbol):
    lattice, sites = STRUCTURES[symbol]
    structure = generic_structure(symbol, lattice, sites)
    lines, _ = observed_lines(structure)
    scores = score_extinction_groups(candidate_of(structure, lines), lines, (10.0, 90.0))
    true = _true_group(symbol)
    by_group = {s.group: s for s in scores}
    assert by_group[true].forbidden_lines == 0
    assert true in _best_groups(scores)
    assert [s.log_likelihood for s in scores] == sorted(
        (s.log_likelihood for s in scores), reverse=True
    )


def test_orthorhombic_axes_in_any_order():
    """Pnma described in the Pbnm axis order (a, b, c) -> (b, c, a) is still Pna2_1/Pnma."""
    lattice, sites = STRUCTURES["Pnma"]
    structure = generic_structure("Pnma", lattice, sites)
    lines, _ = observed_lines(structure)
    permuted = (lattice.b, lattice.c, lattice.a, 90.0, 90.0, 90.0)
    scores = score_extinction_groups(candidate_of(structure, lines, cell=permuted), lines)
    assert scores[0].group == _true_group("Pnma")


def test_monoclinic_other_cell_choice():
    """P2_1/c given in the P2_1/n cell (a' = a, c' = a + c) keeps its group first."""
    a, b, c, beta = 5.0, 6.5, 7.3, 101.3
    structure = generic_structure("P2_1/c", Lattice.monoclinic(a, b, c, beta), GENERAL)
    lines, _ = observed_lines(structure)
    av = np.array([a, 0.0, 0.0])
    cv = c * np.array([np.cos(np.radians(beta)), 0.0, np.sin(np.radians(beta))])
    cn = av + cv
    beta_n = np.degrees(np.arccos(av @ cn / (a * np.linalg.norm(cn))))
    cell = (a, b, float(np.linalg.norm(cn)), 90.0, float(beta_n), 90.0)
    scores = score_extinction_groups(candidate_of(structure, lines, cell=cell), lines)
    assert scores[0].group == _true_group("P2_1/c")


def test_forbidden_line_rules_out_and_overlap_does_not():
    lattice, sites = STRUCTURES["Fm-3m"]
    structure = generic_structure("Fm-3m", lattice, sites)
    lines, _ = observed_lines(structure)
    candidate = candidate_of(
        structure, lines, bravais="cP"
    )  # a primitive cell admits every centring
    # 2theta of (100) at a = 5.64 A: forbidden by F, allowed by P.
    stray = 2.0 * np.degrees(np.arcsin(lines.wavelength / (2.0 * 5.64)))
    with_stray = PeakSearchResult(
        (ObservedPeak(float(stray), 0.005, 5.0, 5.0, 0.1), *lines.peaks),
        lines.wavelength,
        "absent",
        "none",
        0.0,
    )
    f_group = _true_group("Fm-3m")
    clean = {s.group: s for s in score_extinction_groups(candidate, lines)}
    stained = {s.group: s for s in score_extinction_groups(candidate, with_stray)}
    assert clean[f_group].forbidden_lines == 0
    assert stained[f_group].forbidden_lines == 1
    assert stained[f_group].log_likelihood < clean[f_group].log_likelihood - 3.0
    # (111) and (200) of F are allowed: every observed line of the clean list overlaps one.
    assert all(s.forbidden_lines == 0 for s in clean.values() if s.group == _true_group("Pm-3m"))


def test_explained_absences_favour_the_centred_group_on_a_primitive_cell():
    lattice, sites = STRUCTURES["Im-3m"]
    structure = generic_structure("Im-3m", lattice, sites)
    lines, _ = observed_lines(structure)
    scores = score_extinction_groups(
        candidate_of(structure, lines, bravais="cP"), lines, (10.0, 90.0)
    )
    assert scores[0].group == _true_group("Im-3m")
    assert scores[0].explained_absences > 0


def test_every_space_group_is_admitted_by_its_own_lattice():
    letters = {
        "cubic": "c",
        "tetragonal": "t",
        "orthorhombic": "o",
        "monoclinic": "m",
        "triclinic": "a",
    }
    for info in space_groups():
        if info.crystal_system in ("trigonal", "hexagonal"):
            bravais = "hR" if info.centring == "R" else "hP"
        else:
            centring = {"A": "C", "C": "C"}.get(info.centring, info.centring)
            bravais = letters[info.crystal_system] + centring
        assert bravais in BRAVAIS_LATTICES
        assert info.extinction_group in candidate_groups(bravais), (info.number, bravais)
        assert info.crystal_system in crystal_systems_of(bravais)


def test_cell_positions_follow_the_lattice_centring():
    lattice, sites = STRUCTURES["Fm-3m"]
    structure = generic_structure("Fm-3m", lattice, sites)
    lines, peaks = observed_lines(structure, min_intensity=0.0)
    ticks = cell_positions(candidate_of(structure, lines), lines.wavelength, (10.0, 90.0))
    # Every F-allowed position is a tick; the sodium-chloride peaks are a subset of them.
    assert np.all(np.min(np.abs(ticks[None, :] - peaks.two_theta[:, None]), axis=1) < 1e-4)
    assert ticks.size == 9  # 111 200 220 311 222 400 331 420 422 up to 90 degrees
    assert space_group(225).centring == "F"
