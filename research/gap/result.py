"""What a fit of a measured scan reports: the fit options and the result dataclasses.

:class:`GapFit` holds how one measured scan differs from the simulation of its structure
(profile, background, noise, intensity ratios, texture) and turns it into a JSON-ready
summary; :class:`FitOptions` are the choices of :func:`research.gap.gap.fit_pattern`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from research.gap.model import ProfileState
from xrdsym import wavelengths

#: Number of Chebyshev terms that correct the estimated background (constant to cubic): the
#: clipping estimators are biased low by about the noise and flatten broad humps.
BACKGROUND_TERMS = 4

#: Ratios below this count as this in logarithms: a strong simulated peak that is absent
#: from the scan is a factor 100 deviation, not an infinite one.
RATIO_FLOOR = 0.01

#: Angles (degrees 2theta) at which the FWHM is reported.
REPORT_ANGLES = (30.0, 60.0, 90.0)

#: K-alpha2 counts as present when the fitted ratio exceeds this (0.5 for an unfiltered tube,
#: 0 behind a K-alpha1 monochromator) and the doublet is resolved at the strongest peaks.
KA2_PRESENT_RATIO = 0.25


@dataclass(frozen=True)
class FitOptions:
    """Choices of the fit.

    Attributes:
        fit_ka2: fit the K-alpha2 ratio in [0, 1]; else fix it at ``ka2_ratio``.
        ka2_ratio: the fixed ratio (0.5, :data:`xrdsym.wavelengths.KA2_RATIO`).
        fit_strain: fit an isotropic cell strain; else keep the cell of the structure.
        fit_displacement: fit a specimen displacement besides the zero offset.
        fit_cell: fit the anisotropic cell changes the point group allows (needs the
            rotations of the structure, see :func:`fit_pattern`).
        goniometer_radius: R in mm for the displacement.
        background_method: ``"snip"`` or ``"als"``.
        background_terms: Chebyshev correction terms.
        max_evaluations: cap on model evaluations of least_squares.
    """

    fit_ka2: bool = True
    ka2_ratio: float = wavelengths.KA2_RATIO
    fit_strain: bool = True
    fit_displacement: bool = False
    fit_cell: bool = True
    goniometer_radius: float = 240.0
    background_method: str = "snip"
    background_terms: int = BACKGROUND_TERMS
    max_evaluations: int = 300


#: The default choices of a fit.
DEFAULT_OPTIONS = FitOptions()


@dataclass(frozen=True)
class PeakGroupRatios:
    """Measured/simulated intensities of the peak groups inside the scan.

    Attributes:
        two_theta: observed position of the strongest peak of each group, degrees.
        hkl: (n, 3) Miller indices of that peak.
        simulated: summed simulated intensity (strongest peak of the list = 100).
        ratio: measured/simulated intensity, a_c / s_ref with a_c the fitted amplitude (in
            units of the simulated intensities) and s_ref its median over the strong groups
            weighted by simulated intensity, so that the typical strong group has ratio 1.
        strong: free-amplitude groups with simulated intensity >= STRONG_FRACTION of the
            strongest group inside the scan.
        reference: s_ref (integrated counts x degrees per unit simulated intensity).
        wavelength: K-alpha1 wavelength in Angstrom (for sin(theta) / lambda).
    """

    two_theta: np.ndarray
    hkl: np.ndarray
    simulated: np.ndarray
    ratio: np.ndarray
    strong: np.ndarray
    reference: float
    wavelength: float

    def log_ratios(self) -> np.ndarray:
        """log10 of the strong ratios, floored at log10(RATIO_FLOOR) (absent peaks)."""
        return np.log10(np.maximum(self.ratio[self.strong], RATIO_FLOOR))

    def log_spread(self) -> float:
        """Standard deviation of log10(ratio) over the strong groups (0 = no deviation)."""
        r = self.log_ratios()
        return float(np.std(r)) if r.shape[0] > 1 else float("nan")

    def b_trend(self) -> tuple[float, float]:
        """Angle trend of the ratios as an extra Debye-Waller factor.

        Fits ln(ratio) = c - 2 dB s^2 over the strong groups, s = sin(theta) / lambda
        (1/Angstrom). Returns (dB in Angstrom^2, std of log10(ratio) left after the trend);
        dB > 0: measured intensities fall off faster with angle than simulated.
        """
        r = self.log_ratios() * np.log(10.0)
        if r.shape[0] < 3:
            return float("nan"), float("nan")
        s2 = (np.sin(np.radians(self.two_theta[self.strong]) / 2.0) / self.wavelength) ** 2
        slope, intercept = np.polyfit(s2, r, 1)
        left = (r - (slope * s2 + intercept)) / np.log(10.0)
        return float(-slope / 2.0), float(np.std(left))


@dataclass(frozen=True)
class TextureFit:
    """The March-Dollase correction that best explains the intensity ratios.

    Attributes:
        direction: hkl of the preferred-orientation planes.
        ratio: March-Dollase r (1 = none; < 1 platelets, > 1 needles).
        spread_before, spread_after: std of log10(ratio) of the strong groups before and
            after dividing by the March-Dollase factors (and the best common scale).
    """

    direction: tuple[int, int, int]
    ratio: float
    spread_before: float
    spread_after: float


@dataclass(frozen=True, eq=False)
class GapFit:
    """How one measured scan differs from the simulation of its structure.

    Scan: ``source``, ``n_points``, ``two_theta_min``/``max`` and median ``step`` in degrees.
    Profile: ``state`` (zero offset, strain, U, V, W, eta, K-alpha2 ratio, displacement) and
    ``scale`` (integrated counts x degrees per unit simulated intensity).
    Background: ``background_level`` = maximum background / strongest peak height (the
    :class:`xrdsym.patterns.profile_params.ProfileParams` convention), ``background_start``/``end``
    = background at the first/last point / strongest peak height, ``background_poly_error``
    = largest deviation of a sixth-order polynomial (the renderer's family) from the
    background, relative to its maximum.
    Noise: ``peak_counts`` (height of the strongest fitted peak above background),
    ``noise_gain`` g (second-difference variance / 1.5 counts on peak-free points; 1 for raw
    counts) and ``residual_gain`` (mean (y - m)^2 / m of the free fit, misfit included).
    Agreement: ``rwp_free``, ``rwp_simulated``, ``r_expected``; ``groups``: per-group ratios;
    ``texture``: the best March-Dollase correction or None.
    Arrays for figures: ``two_theta``, ``counts``, ``background`` (final), ``model_free``,
    ``model_simulated``.
    """

    source: str
    structure: str
    wavelength: float
    n_points: int
    two_theta_min: float
    two_theta_max: float
    step: float
    state: ProfileState
    scale: float
    ka2_modelled: bool
    ka2_resolved: bool
    background_method: str
    background_level: float
    background_start: float
    background_end: float
    background_poly_error: float
    peak_counts: float
    noise_gain: float
    residual_gain: float
    rwp_free: float
    rwp_simulated: float
    r_expected: float
    n_peaks: int
    groups: PeakGroupRatios
    texture: TextureFit | None
    success: bool
    message: str
    n_evaluations: int
    warnings: tuple[str, ...]
    two_theta: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    background: np.ndarray = field(repr=False)
    model_free: np.ndarray = field(repr=False)
    model_simulated: np.ndarray = field(repr=False)
    peak_positions: np.ndarray = field(repr=False)

    def fwhm_at(self, two_theta: float) -> float:
        """Fitted Caglioti FWHM in degrees at ``two_theta`` (degrees)."""
        return float(self.state.fwhm(np.array([two_theta]))[0])

    @property
    def ka2_present(self) -> bool | None:
        """The fitted K-alpha2 ratio exceeds KA2_PRESENT_RATIO; None when the doublet is not
        resolved at the strong peaks (or no K-alpha2 line is known for the wavelength)."""
        if not (self.ka2_modelled and self.ka2_resolved):
            return None
        return self.state.ka2_ratio > KA2_PRESENT_RATIO

    @property
    def effective_counts(self) -> float:
        """Poisson-equivalent counts of the strongest peak, peak_counts / g: the value of
        :attr:`xrdsym.patterns.profile_params.ProfileParams.counts` that gives the same noise."""
        gain = self.noise_gain if np.isfinite(self.noise_gain) and self.noise_gain > 0 else 1.0
        return self.peak_counts / gain

    def summary(self) -> dict[str, Any]:
        """Scalars of the fit as a JSON-ready dict (FWHM at REPORT_ANGLES, texture, ratios)."""
        out: dict[str, Any] = {
            "source": self.source,
            "structure": self.structure,
            "wavelength": self.wavelength,
            "n_points": self.n_points,
            "two_theta_min": self.two_theta_min,
            "two_theta_max": self.two_theta_max,
            "step": self.step,
            **asdict(self.state),
            "scale": self.scale,
            "ka2_modelled": self.ka2_modelled,
            "ka2_resolved": self.ka2_resolved,
            "ka2_present": self.ka2_present,
        }
        for angle in REPORT_ANGLES:
            out[f"fwhm_{angle:g}"] = self.fwhm_at(angle)
        out["fwhm_extrapolated"] = [
            a for a in REPORT_ANGLES if not self.two_theta_min <= a <= self.two_theta_max
        ]
        out.update(
            background_method=self.background_method,
            background_level=self.background_level,
            background_start=self.background_start,
            background_end=self.background_end,
            background_poly_error=self.background_poly_error,
            peak_counts=self.peak_counts,
            noise_gain=self.noise_gain,
            effective_counts=self.effective_counts,
            residual_gain=self.residual_gain,
            rwp_free=self.rwp_free,
            rwp_simulated=self.rwp_simulated,
            r_expected=self.r_expected,
            n_peaks=self.n_peaks,
            n_strong_groups=int(self.groups.strong.sum()),
            ratio_log_spread=self.groups.log_spread(),
            delta_b=self.groups.b_trend()[0],
            ratio_log_spread_after_b=self.groups.b_trend()[1],
            success=self.success,
            message=self.message,
            n_evaluations=self.n_evaluations,
            warnings=list(self.warnings),
        )
        strong = self.groups.strong
        out["strong_groups"] = [
            {
                "two_theta": float(t),
                "hkl": [int(i) for i in h],
                "simulated": float(s),
                "ratio": float(r),
            }
            for t, h, s, r in zip(
                self.groups.two_theta[strong],
                self.groups.hkl[strong],
                self.groups.simulated[strong],
                self.groups.ratio[strong],
                strict=True,
            )
        ]
        out["texture"] = asdict(self.texture) if self.texture is not None else None
        return {k: json_value(v) for k, v in out.items()}


def json_value(value: Any) -> Any:
    """NaN and infinities become None, numpy scalars Python numbers (JSON has neither)."""
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
