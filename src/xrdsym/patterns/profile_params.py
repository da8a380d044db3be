"""Profile parameters of a rendered pattern and their random draws: :class:`ProfileParams`
(Caglioti U, V, W, pseudo-Voigt eta, background, counts and the optional effects), the
ranges they are drawn from (:class:`ProfileRanges`, ``PAPER_RANGES`` of Park et al. 2017,
``REALISTIC_RANGES``) and :func:`sample_profile_params`. Rendering is in
:mod:`xrdsym.patterns.profile`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import overload

import numpy as np

#: Number of background polynomial coefficients (sixth order: c0 ... c6).
BACKGROUND_ORDER = 6


@dataclass(frozen=True)
class ProfileParams:
    """Everything that turns a peak list into a pattern.

    Attributes:
        u, v, w: Caglioti parameters in degrees^2; FWHM^2 = U tan^2 theta + V tan theta + W
            must be positive over the grid.
        eta: pseudo-Voigt Lorentzian fraction in [0, 1].
        background_coeffs: c0 ... c6 of the background polynomial P(x) = sum c_k x^k in the
            reduced angle x = (2theta - mid) / half_range in [-1, 1]; P must be positive on the
            grid (the background is level * counts * P / max P).
        background_level: background maximum as a fraction of the strongest peak height.
        counts: expected counts at the top of the strongest noise-free peak (the Poisson scale).
        ka2: add the K-alpha2 doublet (ratio 0.5, lambda2 of the grid's anode).
        zero_shift: detector zero error added to every 2theta, degrees.
        displacement: specimen displacement s in mm (see :func:`effects.displacement_shift`).
        goniometer_radius: R in mm.
        march_dollase_r: March-Dollase ratio r (1 = random powder, no preferred orientation).
        po_direction: hkl of the preferred-orientation planes.
        crystallite_size: crystallite size in Angstrom for Scherrer broadening (0 = none);
            combined with the instrumental width as sqrt(H_inst^2 + H_size^2).
        impurity_fraction: strongest impurity peak relative to the strongest main peak
            (0 = no impurity; the impurity peak list is passed to :func:`render_pattern`).
    """

    u: float
    v: float
    w: float
    eta: float
    background_coeffs: tuple[float, ...]
    background_level: float
    counts: float
    ka2: bool = False
    zero_shift: float = 0.0
    displacement: float = 0.0
    goniometer_radius: float = 240.0
    march_dollase_r: float = 1.0
    po_direction: tuple[int, int, int] = (0, 0, 1)
    crystallite_size: float = 0.0
    impurity_fraction: float = 0.0


@dataclass(frozen=True)
class ProfileRanges:
    """Ranges from which :func:`sample_profile_params` draws (all uniform unless noted).

    Caglioti parameters: U and W log-uniform in ``u`` and ``w`` (degrees^2), V = -2 r sqrt(UW)
    with r uniform in ``v_ratio``; since r < 1 the discriminant V^2 - 4UW is negative and
    FWHM^2 >= W (1 - r^2) > 0 for every angle. Background: c1 ... c6 uniform in
    [-1, 1] / k (k = 1 ... 6), c0 = sum |c_k| + margin with margin uniform in
    ``background_margin``, hence P(x) >= margin > 0 on [-1, 1]. Counts log-uniform.
    Each optional effect is switched on with its probability, then drawn from its range.
    """

    u: tuple[float, float] = (0.002, 0.1)
    v_ratio: tuple[float, float] = (0.0, 0.5)
    w: tuple[float, float] = (0.001, 0.02)
    eta: tuple[float, float] = (0.1, 0.9)
    background_level: tuple[float, float] = (0.01, 0.15)
    background_margin: tuple[float, float] = (0.2, 2.0)
    counts: tuple[float, float] = (1e3, 1e5)
    ka2_probability: float = 0.0
    zero_shift_probability: float = 0.0
    zero_shift: tuple[float, float] = (-0.1, 0.1)
    displacement_probability: float = 0.0
    displacement: tuple[float, float] = (-0.2, 0.2)
    preferred_orientation_probability: float = 0.0
    march_dollase_r: tuple[float, float] = (0.6, 1.0)
    po_directions: tuple[tuple[int, int, int], ...] = field(
        default=((0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 1))
    )
    crystallite_size_probability: float = 0.0
    crystallite_size: tuple[float, float] = (300.0, 3000.0)
    impurity_probability: float = 0.0
    impurity_fraction: tuple[float, float] = (0.01, 0.1)


#: The protocol of Park et al. (2017): random Caglioti widths, pseudo-Voigt mixing, sixth-order
#: background and Poisson noise; no K-alpha2, shifts, preferred orientation or impurities.
#: FWHM ranges from about 0.03 degrees (low angle, sharp) to 0.5 degrees (110 degrees, broad).
PAPER_RANGES = ProfileRanges()

#: Broader realism: every optional effect on with probability 0.5 (impurities 0.2).
REALISTIC_RANGES = replace(
    PAPER_RANGES,
    ka2_probability=0.5,
    zero_shift_probability=0.5,
    displacement_probability=0.5,
    preferred_orientation_probability=0.5,
    crystallite_size_probability=0.5,
    impurity_probability=0.2,
)


@overload
def log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float: ...


@overload
def log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size: int) -> np.ndarray: ...


def log_uniform(
    rng: np.random.Generator, bounds: tuple[float, float], size: int | None = None
) -> float | np.ndarray:
    """Draws x = exp(t), t uniform on [ln bounds[0], ln bounds[1]] (x in the unit of bounds).

    One float without ``size``, else an array of ``size`` draws; each uses one uniform draw
    of ``rng``. The density of x is 1 / (x ln(b1 / b0)): every decade is equally likely.
    """
    low, high = np.log(bounds[0]), np.log(bounds[1])
    if size is None:
        return float(np.exp(rng.uniform(low, high)))
    return np.exp(rng.uniform(low, high, size=size))


def sample_background_coeffs(
    rng: np.random.Generator, margin: tuple[float, float]
) -> tuple[float, ...]:
    """Random c0 ... c6 of a polynomial that is at least ``margin`` on [-1, 1].

    c_k uniform in [-1/k, 1/k] for k = 1 ... 6 and c0 = sum |c_k| + m, m uniform in ``margin``.
    """
    higher = rng.uniform(-1.0, 1.0, BACKGROUND_ORDER) / np.arange(1, BACKGROUND_ORDER + 1)
    c0 = float(np.abs(higher).sum() + rng.uniform(*margin))
    return (c0, *(float(c) for c in higher))


def sample_profile_params(
    rng: np.random.Generator, ranges: ProfileRanges = PAPER_RANGES
) -> ProfileParams:
    """Draw one set of profile parameters (see :class:`ProfileRanges` for the distributions)."""
    u = log_uniform(rng, ranges.u)
    w = log_uniform(rng, ranges.w)
    v = -2.0 * rng.uniform(*ranges.v_ratio) * np.sqrt(u * w)
    params = ProfileParams(
        u=u,
        v=float(v),
        w=w,
        eta=float(rng.uniform(*ranges.eta)),
        background_coeffs=sample_background_coeffs(rng, ranges.background_margin),
        background_level=float(rng.uniform(*ranges.background_level)),
        counts=log_uniform(rng, ranges.counts),
    )
    switches = rng.random(6)
    changes: dict[str, object] = {}
    if switches[0] < ranges.ka2_probability:
        changes["ka2"] = True
    if switches[1] < ranges.zero_shift_probability:
        changes["zero_shift"] = float(rng.uniform(*ranges.zero_shift))
    if switches[2] < ranges.displacement_probability:
        changes["displacement"] = float(rng.uniform(*ranges.displacement))
    if switches[3] < ranges.preferred_orientation_probability:
        changes["march_dollase_r"] = float(rng.uniform(*ranges.march_dollase_r))
        direction = ranges.po_directions[int(rng.integers(len(ranges.po_directions)))]
        changes["po_direction"] = tuple(int(i) for i in direction)
    if switches[4] < ranges.crystallite_size_probability:
        changes["crystallite_size"] = log_uniform(rng, ranges.crystallite_size)
    if switches[5] < ranges.impurity_probability:
        changes["impurity_fraction"] = float(rng.uniform(*ranges.impurity_fraction))
    return replace(params, **changes) if changes else params  # type: ignore[arg-type]
