"""Measured-vs-simulated analysis: background estimators, the profile fit on patterns rendered
with known parameters, the symmetry-allowed cell changes and the ``compare`` command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from research.compare import main as compare
from research.gap.background import als_background, snip_background
from research.gap.gap import fit_pattern
from research.gap.model import invariant_metric_basis
from research.gap.result import FitOptions
from xrdsym.patterns.grid import Grid
from xrdsym.patterns.peaks import compute_peaks, symmetry_operations
from xrdsym.patterns.profile import apply_effects, peak_fwhm, render_pattern, render_peaks
from xrdsym.patterns.profile_params import ProfileParams
from xrdsym.structures.crystal import Crystal
from xrdsym.wavelengths import CU_KA1

#: Rutile-type TiO2 (P4_2/mnm, a = 4.594, c = 2.959 Angstrom, O at x = 0.305): a tetragonal
#: cell, so the fit has one anisotropic metric parameter besides the isotropic strain.
RUTILE_A, RUTILE_C, RUTILE_X = 4.594, 2.959, 0.305

#: Scan of the rendered test patterns: 20-100 degrees in 0.02 degree steps, Cu K-alpha1.
SCAN = Grid(start=20.0, stop=100.0, n_points=4001, wavelength=CU_KA1)

#: Known profile of the rendered patterns: a lab instrument with the K-alpha2 doublet.
KNOWN = ProfileParams(
    u=0.02,
    v=-0.01,
    w=0.006,
    eta=0.4,
    background_coeffs=(1.5, -0.4, 0.2, 0.0, 0.0, 0.0, 0.0),
    background_level=0.05,
    counts=20_000.0,
    ka2=True,
    zero_shift=0.05,
)


def rutile(c: float = RUTILE_C) -> Crystal:
    """Rutile TiO2 with lattice parameter c (Angstrom), all six sites listed, B = 0.5 A^2."""
    x = RUTILE_X
    frac = np.array(
        [
            [0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [x, x, 0.0],
            [1 - x, 1 - x, 0.0],
            [0.5 + x, 0.5 - x, 0.5],
            [0.5 - x, 0.5 + x, 0.5],
        ]
    )
    return Crystal(
        lattice=np.diag([RUTILE_A, RUTILE_A, c]),
        frac_coords=frac,
        elements=("Ti", "Ti", "O", "O", "O", "O"),
        occupancies=np.ones(6),
        b_iso=np.full(6, 0.5),
        name="rutile",
    )


def rendered(crystal: Crystal, params: ProfileParams, seed: int | None) -> np.ndarray:
    """Counts on SCAN rendered by xrdsym (Poisson noise when ``seed`` is given)."""
    peaks = compute_peaks(crystal, CU_KA1, (SCAN.start - 5.0, SCAN.stop + 5.0))
    rng = np.random.default_rng(seed) if seed is not None else None
    return render_pattern(
        peaks.two_theta, peaks.intensity, SCAN, params, rng, noise=seed is not None
    )


def expected_scale(crystal: Crystal, params: ProfileParams) -> float:
    """Integrated counts x degrees per unit simulated intensity in a rendered pattern:
    counts / max of the unit-intensity peak sum (the renderer's normalisation)."""
    peaks = compute_peaks(crystal, CU_KA1, (SCAN.start - 5.0, SCAN.stop + 5.0))
    tt, inten = apply_effects(peaks.two_theta, peaks.intensity, params, CU_KA1)
    profile = render_peaks(tt, inten, peak_fwhm(tt, params, CU_KA1), params.eta, SCAN)
    return params.counts / float(profile.max())


@pytest.fixture(scope="module")
def noisy_fit():  # type: ignore[no-untyped-def]
    """Fit of a Poisson-noisy rutile pattern rendered with KNOWN."""
    crystal = rutile()
    counts = rendered(crystal, KNOWN, seed=3)
    peaks = compute_peaks(crystal, CU_KA1, (SCAN.start - 5.0, SCAN.stop + 5.0))
    return fit_pattern(SCAN.two_theta(), counts, peaks, rotations=symmetry_operations(crystal)[0])


def test_fit_recovers_rendered_profile(noisy_fit) -> None:  # type: ignore[no-untyped-def]
    fit = noisy_fit
    assert fit.success
    assert fit.state.zero_shift == pytest.approx(KNOWN.zero_shift, abs=0.003)
    assert fit.state.cell_strain == pytest.approx(0.0, abs=2e-4)
    for angle in (30.0, 60.0, 90.0):
        t = np.tan(np.radians(angle) / 2.0)
        true = np.sqrt(KNOWN.u * t * t + KNOWN.v * t + KNOWN.w)
        assert fit.fwhm_at(angle) == pytest.approx(true, rel=0.04)
    assert fit.state.eta == pytest.approx(KNOWN.eta, abs=0.05)
    assert fit.state.ka2_ratio == pytest.approx(0.5, abs=0.05)
    assert fit.ka2_present is True
    assert fit.scale == pytest.approx(expected_scale(rutile(), KNOWN), rel=0.03)
    assert fit.background_level == pytest.approx(KNOWN.background_level, rel=0.15)
    # Rendered from the same structure: every strong peak as simulated.
    assert fit.groups.log_spread() < 0.02
    # Poisson counts: noise gain 1 and a fit at the counting-noise level.
    assert fit.noise_gain == pytest.approx(1.0, abs=0.15)
    assert fit.rwp_free < 1.1 * fit.r_expected
    assert fit.warnings == ()


def test_fit_without_noise_is_exact() -> None:
    crystal = rutile()
    params = replace(KNOWN, ka2=False, zero_shift=-0.08, eta=0.7)
    counts = rendered(crystal, params, seed=None)
    peaks = compute_peaks(crystal, CU_KA1, (SCAN.start - 5.0, SCAN.stop + 5.0))
    fit = fit_pattern(
        SCAN.two_theta(), counts, peaks, options=FitOptions(fit_ka2=False, ka2_ratio=0.0)
    )
    assert fit.state.zero_shift == pytest.approx(-0.08, abs=5e-4)
    assert fit.state.eta == pytest.approx(0.7, abs=0.01)
    assert fit.state.u == pytest.approx(params.u, abs=3e-3)
    assert fit.state.w == pytest.approx(params.w, abs=1e-3)
    assert fit.scale == pytest.approx(expected_scale(crystal, params), rel=0.01)
    assert fit.rwp_free < 0.01


def test_fit_follows_an_anisotropic_cell_change() -> None:
    """Rendered with c 1 % longer than the structure used to fit: the tetragonal metric
    parameter absorbs it, the isotropic strain alone cannot."""
    params = replace(KNOWN, ka2=False)
    counts = rendered(rutile(c=RUTILE_C * 1.01), params, seed=5)
    crystal = rutile()
    peaks = compute_peaks(crystal, CU_KA1, (SCAN.start - 5.0, SCAN.stop + 5.0))
    options = FitOptions(fit_ka2=False, ka2_ratio=0.0)
    rotations = symmetry_operations(crystal)[0]
    with_cell = fit_pattern(SCAN.two_theta(), counts, peaks, options=options, rotations=rotations)
    isotropic = fit_pattern(SCAN.two_theta(), counts, peaks, options=options)
    assert len(with_cell.state.metric) == 1
    assert with_cell.state.zero_shift == pytest.approx(params.zero_shift, abs=0.005)
    assert with_cell.rwp_free < 1.1 * with_cell.r_expected
    assert isotropic.rwp_free > 2.0 * with_cell.rwp_free


@pytest.mark.parametrize(
    ("lattice", "rotations", "n_free"),
    [
        (np.eye(3) * 4.0, "cubic", 0),
        (np.diag([4.0, 4.0, 6.0]), "tetragonal", 1),
        (np.diag([4.0, 5.0, 6.0]), "orthorhombic", 2),
        (np.diag([4.0, 5.0, 6.0]), "triclinic", 5),
    ],
)
def test_invariant_metric_basis_counts(lattice: np.ndarray, rotations: str, n_free: int) -> None:
    """Free cell parameters beyond the isotropic scale: 0 cubic, 1 tetragonal, 2
    orthorhombic, 5 triclinic; every direction is invariant and orthogonal to the metric."""
    crystal = Crystal(
        lattice=lattice,
        frac_coords=np.zeros((1, 3)),
        elements=("Cu",),
        occupancies=np.ones(1),
        b_iso=np.zeros(1),
    )
    ops = symmetry_operations(crystal)[0] if rotations != "triclinic" else np.eye(3)[None]
    recip = crystal.reciprocal_lattice()
    metric = recip @ recip.T
    basis = invariant_metric_basis(metric, ops)
    assert basis.shape == (n_free, 3, 3)
    for b in basis:
        assert abs(float((b * metric).sum())) < 1e-10
        for w in ops.astype(float):
            np.testing.assert_allclose(w @ b @ w.T, b, atol=1e-10)


def synthetic_scan() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cubic background 300-100 counts with six Gaussian peaks (FWHM 0.2 degrees)."""
    x = np.linspace(10.0, 90.0, 4001)
    r = (x - 50.0) / 40.0
    background = 200.0 - 80.0 * r + 30.0 * r**2 - 20.0 * r**3
    centres_heights = [(25.0, 5000), (33.0, 3000), (47.5, 2000), (60.0, 4000), (72.0, 1000)]
    peaks = sum(h * np.exp(-4.0 * np.log(2.0) * ((x - c) / 0.2) ** 2) for c, h in centres_heights)
    return x, background, background + peaks


@pytest.mark.parametrize("estimator", [snip_background, als_background])
def test_background_of_polynomial_plus_peaks(estimator) -> None:  # type: ignore[no-untyped-def]
    x, background, total = synthetic_scan()
    exact = estimator(x, total)
    # Noise-free: within 2 % of the background everywhere, under the peaks included.
    assert np.max(np.abs(exact - background) / background) < 0.02
    noisy = np.random.default_rng(0).poisson(total).astype(float)
    estimate = estimator(x, noisy)
    # Poisson counts: biased low by at most about one standard deviation (~14 counts).
    error = estimate - background
    assert -1.5 * np.sqrt(background.mean()) < float(error.mean()) < 0.0
    assert float(np.abs(error).max()) < 4.0 * np.sqrt(background.max())


def test_compare_command_on_measured_tin(
    shared_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = shared_dir / "data" / "experimental" / "xred"
    figure = tmp_path / "sn.png"
    code = compare(
        [str(folder / "Sn.cif"), str(folder / "Sn.csv"), "--json", "--plot", str(figure)]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    # Lab tin with a small zero error, sharp peaks and the K-alpha2 doublet.
    assert abs(summary["zero_shift"]) < 0.1
    assert 0.04 < summary["fwhm_30"] < 0.15
    assert 0.04 < summary["fwhm_90"] < 0.25
    assert summary["ka2_present"] is True
    assert summary["rwp_free"] < 0.35
    assert figure.stat().st_size > 10_000


def test_compare_command_reports_a_missing_file(
    shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shared_dir / "data" / "experimental" / "xred"
    code = compare([str(folder / "Sn.cif"), str(folder / "missing.csv")])
    assert code == 1
    assert "missing.csv: no such file" in capsys.readouterr().err
