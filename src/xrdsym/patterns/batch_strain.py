"""Perturbed peak lists made in the batch: a strained cell within its crystal family and
jittered intensities, without structure factors.

A stored peak list keeps each peak's 2theta and a representative hkl in the cell the structure
came in (often a primitive cell), and each structure's conventional cell (``proto_lattice``).
:func:`conventional_hkl` finds, once per structure, the conventional-cell hkl of each peak:
the conventional reflection whose 1/d^2 = h^T G* h equals the peak's
(2 sin theta / lambda)^2 (G* the reciprocal metric). Every peak then has the six metric
coordinates m = (h^2, k^2, l^2, 2kl, 2hl, 2hk), and 1/d^2 = m . g* with
g* = (G*11, G*22, G*33, G*23, G*13, G*12).

:func:`strained_cells` strains the conventional cells of a batch as
:func:`xrdsym.structures.perturb.strain_lattice` strains one: free lengths scale by exp(e),
e ~ N(0, strain^2) clipped at max_sigma, tied as the family ties them (cubic a = b = c,
tetragonal / trigonal / hexagonal a = b), and free angles of triclinic and monoclinic cells
move by N(0, angle^2) degrees. :func:`strained_two_theta` recomputes every position from m and
the strained g*. Reflections that coincide by symmetry of the lattice stay together; a peak
whose reflections coincide only by accident moves with its representative. Peaks with no
conventional match keep the cell's mean length change (isotropic).
"""

from __future__ import annotations

import numpy as np
import torch

from xrdsym.structures.perturb import SPECIAL_ANGLE_TOLERANCE, PerturbationConfig

#: A conventional reflection matches a stored peak when their 1/d^2 differ by at most this
#: fraction (stored 2theta are float32: 1e-7 relative, far below).
MATCH_TOLERANCE = 1e-4


def reciprocal_metric_of(lattice: np.ndarray) -> np.ndarray:
    """G* = (A A^T)^-1 (Angstrom^-2) of cell rows A (3, 3) in Angstrom."""
    rows = np.asarray(lattice, dtype=np.float64).reshape(3, 3)
    return np.linalg.inv(rows @ rows.T)


def conventional_hkl(
    two_theta: np.ndarray, lattice: np.ndarray, wavelength: float
) -> tuple[np.ndarray, np.ndarray]:
    """The conventional-cell hkl of each peak and whether one matched (see the module
    docstring). All hkl with |h| <= |a| q_max (q = 2 sin theta / lambda, Angstrom^-1) and l >= 0
    are searched (Friedel pairs share d).

    Returns:
        (hkl (n, 3) int16, matched (n,) bool).
    """
    q2 = (2.0 * np.sin(np.radians(np.asarray(two_theta, dtype=np.float64)) / 2.0) / wavelength) ** 2
    n = q2.shape[0]
    rows = np.asarray(lattice, dtype=np.float64).reshape(3, 3)
    if n == 0 or not np.all(np.isfinite(rows)) or abs(np.linalg.det(rows)) < 1e-6:
        return np.zeros((n, 3), np.int16), np.zeros(n, bool)
    gstar = reciprocal_metric_of(rows)
    limit = np.floor(np.linalg.norm(rows, axis=1) * np.sqrt(q2.max() * (1.0 + MATCH_TOLERANCE)))
    h, k, l = np.meshgrid(  # noqa: E741
        np.arange(-limit[0], limit[0] + 1),
        np.arange(-limit[1], limit[1] + 1),
        np.arange(0, limit[2] + 1),
        indexing="ij",
    )
    hkl = np.stack([h.ravel(), k.ravel(), l.ravel()], axis=1)
    values = np.einsum("ij,jk,ik->i", hkl, gstar, hkl)
    order = np.argsort(values)
    values, hkl = values[order], hkl[order]
    place = np.clip(np.searchsorted(values, q2), 1, len(values) - 1)
    nearer = np.where(
        np.abs(values[place - 1] - q2) <= np.abs(values[place] - q2), place - 1, place
    )
    matched = np.abs(values[nearer] - q2) <= MATCH_TOLERANCE * np.maximum(q2, 1e-12)
    return hkl[nearer].astype(np.int16), matched


def metric_coordinates(hkl: np.ndarray) -> np.ndarray:
    """m = (h^2, k^2, l^2, 2kl, 2hl, 2hk) of hkl (n, 3), float32, so that 1/d^2 = m . g*."""
    h, k, l = (np.asarray(hkl, dtype=np.float32)[:, i] for i in range(3))  # noqa: E741
    return np.stack([h * h, k * k, l * l, 2 * k * l, 2 * h * l, 2 * h * k], axis=1)


def metric_from_parameters(parameters: torch.Tensor) -> torch.Tensor:
    """Direct metric G (B, 3, 3), Angstrom^2, of cells (a, b, c, alpha, beta, gamma) (B, 6):
    G_ii = a_i^2, G_12 = a b cos gamma, G_13 = a c cos beta, G_23 = b c cos alpha."""
    a, b, c = parameters[:, 0], parameters[:, 1], parameters[:, 2]
    cos = torch.cos(torch.deg2rad(parameters[:, 3:]))
    g12, g13, g23 = a * b * cos[:, 2], a * c * cos[:, 1], b * c * cos[:, 0]
    return torch.stack(
        [
            torch.stack([a * a, g12, g13], 1),
            torch.stack([g12, b * b, g23], 1),
            torch.stack([g13, g23, c * c], 1),
        ],
        1,
    )


def reciprocal_coordinates(parameters: torch.Tensor) -> torch.Tensor:
    """g* = (G*11, G*22, G*33, G*23, G*13, G*12) (B, 6) of cells (B, 6), float64."""
    inverse = torch.linalg.inv(metric_from_parameters(parameters.double()))
    return torch.stack(
        [
            inverse[:, 0, 0],
            inverse[:, 1, 1],
            inverse[:, 2, 2],
            inverse[:, 1, 2],
            inverse[:, 0, 2],
            inverse[:, 0, 1],
        ],
        1,
    )


def length_ties(space_group: torch.Tensor) -> torch.Tensor:
    """Index (B, 3) of the length each of a, b, c follows
    (``perturb.family_length_ties``): cubic (0, 0, 0), 75-194 (0, 0, 2), lower (0, 1, 2)."""
    sg = space_group.long()[:, None]
    free = torch.tensor([0, 1, 2], device=sg.device)
    uniaxial = torch.tensor([0, 0, 2], device=sg.device)
    cubic = torch.zeros(3, dtype=torch.long, device=sg.device)
    return torch.where(sg >= 195, cubic, torch.where(sg >= 75, uniaxial, free))


def strained_cells(
    g: torch.Generator,
    parameters: torch.Tensor,
    space_group: torch.Tensor,
    config: PerturbationConfig,
) -> torch.Tensor:
    """Cells (B, 6) strained within their family (see the module docstring), float64."""
    n, device = parameters.shape[0], parameters.device
    draws = torch.randn(n, 6, generator=g, device=device, dtype=torch.float64)
    draws = draws.clamp(-config.max_sigma, config.max_sigma)
    scale = torch.exp(config.strain * draws[:, :3])
    new = parameters.double().clone()
    new[:, :3] = new[:, :3] * torch.gather(scale, 1, length_ties(space_group))
    angles = parameters[:, 3:].double()
    sg = space_group.long()[:, None]
    free = (sg <= 2) | ((sg <= 15) & ((angles - 90.0).abs() > SPECIAL_ANGLE_TOLERANCE))
    new[:, 3:] = torch.where(free, angles + config.angle * draws[:, 3:], angles)
    return new


def strained_two_theta(
    two_theta: torch.Tensor,
    metric: torch.Tensor,
    matched: torch.Tensor,
    before: torch.Tensor,
    after: torch.Tensor,
    wavelength: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak positions (B, P) in degrees after the cell change ``before`` -> ``after`` (B, 6).

    1/d^2 = m . g*(after) for matched peaks (``metric`` (B, P, 6)); unmatched peaks scale
    1/d^2 by (V_before / V_after)^(2/3), the mean length change. Returns (2theta, kept):
    peaks beyond 180 degrees are dropped (kept False, 2theta 0).
    """
    q2 = (2.0 * torch.sin(torch.deg2rad(two_theta.double()) / 2.0) / wavelength) ** 2
    new = torch.einsum("bpk,bk->bp", metric.double(), reciprocal_coordinates(after))
    volume = torch.linalg.det(metric_from_parameters(before.double())) / torch.linalg.det(
        metric_from_parameters(after)
    )
    isotropic = q2 * volume.clamp_min(1e-12)[:, None] ** (1.0 / 3.0)
    q2 = torch.where(matched, new, isotropic)
    sine = wavelength * torch.sqrt(q2.clamp_min(0.0)) / 2.0
    kept = sine <= 1.0
    angle = 2.0 * torch.rad2deg(torch.asin(sine.clamp(max=1.0)))
    return torch.where(kept, angle, 0.0).to(two_theta.dtype), kept


def jittered_intensities(
    g: torch.Generator, intensity: torch.Tensor, log10_sigma: tuple[float, float]
) -> torch.Tensor:
    """Per-peak factors 10^(sigma z), sigma uniform in ``log10_sigma`` per row, z standard
    normal per peak: stands for the intensity changes of small displacements and
    substitutions (a factor of 10^sigma is one standard deviation)."""
    n, device = intensity.shape[0], intensity.device
    low, high = log10_sigma
    sigma = low + (high - low) * torch.rand(n, 1, generator=g, device=device)
    z = torch.randn(intensity.shape, generator=g, device=device)
    return intensity * torch.pow(10.0, sigma * z)
