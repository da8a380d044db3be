"""Least-squares refinement of a trial cell with a 2theta zero shift, and its figures of merit.

Model: an observed line at 2theta_obs is the reflection h of the cell shifted by the zero
offset z (degrees), 2theta_obs = 2theta_calc(h) + z, so

    Q(2theta_obs - z) = design(h) . p,

linearised around the current z0 as
    Q(2theta_obs - z0) = design(h) . p + (z - z0) g,   g = dQ/d(2theta) at 2theta_obs - z0,

and solved by weighted linear least squares with every row divided by g (residuals in degrees
2theta). Three rounds of (assign the nearest allowed reflection within the tolerance, solve)
converge from a trial cell. Standard uncertainties come from s^2 (J^T J)^-1 with
s^2 = sum(residual^2) / (n - n_parameters), propagated to the cell by a numerical Jacobian.

Figures of merit:
- de Wolff (1968) M_N = Q_N / (2 <|dQ|> N_calc) on the first N = min(20, n) lines: Q_N of the
  N-th line, <|dQ|> the mean |Q_obs - Q_calc| of the indexed ones among them, N_calc the number
  of distinct allowed Q up to Q_N;
- Smith & Snyder (1979) F_N = N / (<|d2theta|> N_poss) on the first N = min(30, n) lines,
  N_poss the number of distinct allowed lines up to the N-th line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xrdsym.indexing import metric

#: Lower bound of the mean 2theta discrepancy in the figures of merit, degrees: exact
#: (calculated) positions would otherwise give infinite M20 and F_N.
MIN_DISCREPANCY = 0.002

#: The zero shift is kept within +- this many degrees (else fixed at 0).
MAX_ZERO_SHIFT = 0.5


@dataclass(frozen=True)
class Refined:
    """A refined cell: parameters, zero shift, assignments and figures of merit.

    Attributes:
        system, centring: family and centring letter (see :mod:`xrdsym.indexing.metric`).
        params: cell parameters p (1/Angstrom^2), ``covariance`` their covariance matrix.
        zero_shift: degrees 2theta (observed = calculated + zero_shift).
        hkl: (n, 3) assigned indices of each line (rows of zeros where unindexed).
        indexed: (n,) True where the line is indexed within the tolerance.
        m20, f_n, f_n_lines: figures of merit (module docstring).
        rms: root-mean-square 2theta residual of the indexed lines, degrees.
        residual: (n,) observed - calculated 2theta of each line after the zero shift,
            degrees (to the nearest allowed reflection, indexed or not).
        tolerance: the final assignment window, degrees.
        n_calculated: distinct allowed lines calculated up to the last of the first
            min(20, n) lines (the N_calc of M20).
    """

    system: str
    centring: str
    params: np.ndarray
    covariance: np.ndarray
    zero_shift: float
    hkl: np.ndarray
    indexed: np.ndarray
    m20: float
    f_n: float
    f_n_lines: int
    rms: float
    residual: np.ndarray
    tolerance: float
    n_calculated: int = 0

    @property
    def n_indexed(self) -> int:
        return int(np.count_nonzero(self.indexed))

    @property
    def gstar(self) -> np.ndarray:
        return metric.reciprocal_metric(self.params, self.system)

    @property
    def volume(self) -> float:
        return metric.volume_from_metric(self.gstar)


def assign(
    two_theta: np.ndarray,
    wavelength: float,
    params: np.ndarray,
    system: str,
    centring: str,
    zero_shift: float,
    tolerance: float,
    all_lines: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest allowed reflection of each line in 2theta (after removing the zero shift).

    Returns hkl (n, 3), calculated 2theta (n,), indexed mask (n,) (|difference| <= tolerance
    degrees) and the ascending calculated 2theta of all allowed reflections up to the last line
    (empty unless ``all_lines``). 2theta grows with Q, so the nearest reflection in 2theta is
    one of the two neighbours of the line's Q in the ascending calculated Q."""
    corrected = two_theta - zero_shift
    top = math.sin(math.radians(float(corrected.max()) + 3 * tolerance) / 2.0)
    q_max = (2.0 * top / wavelength) ** 2
    hkl_all, q_all = metric.reflections(params, system, centring, q_max)
    n = two_theta.shape[0]
    if q_all.size == 0:
        return np.zeros((n, 3), dtype=np.int64), np.full(n, np.nan), np.zeros(n, bool), q_all
    last = q_all.size - 1
    pos = np.clip(np.searchsorted(q_all, metric.q_from_two_theta(corrected, wavelength)), 1, last)
    left, right = metric.two_theta_from_q(q_all[np.stack([pos - 1, pos])], wavelength)
    nearest = np.where(np.abs(corrected - left) <= np.abs(corrected - right), pos - 1, pos)
    if q_all.size == 1:
        nearest = np.zeros_like(nearest)
    calc = np.where(nearest == pos - 1, left, right) if q_all.size > 1 else left
    indexed = np.abs(corrected - calc) <= tolerance
    tt_all = metric.two_theta_from_q(q_all, wavelength) if all_lines else q_all[:0]
    return hkl_all[nearest], calc, indexed, tt_all


def indexed_by_metric(
    two_theta: np.ndarray, wavelength: float, gstar: np.ndarray, zero_shift: float, tolerance: float
) -> np.ndarray:
    """(n,) True where a line (2theta, degrees) lies within ``tolerance`` degrees of a
    reflection of the reciprocal metric ``gstar`` (1/Angstrom^2; every lattice point, no
    absences) after the zero shift (degrees): the lines an unrefined cell indexes."""
    params = metric.params_from_metric(gstar, "triclinic")
    return assign(
        two_theta, wavelength, params, "triclinic", "P", zero_shift, tolerance, all_lines=False
    )[2]


def _solve(
    two_theta: np.ndarray,
    wavelength: float,
    hkl: np.ndarray,
    system: str,
    zero_shift: float,
    fit_zero: bool,
) -> tuple[np.ndarray, float, np.ndarray, float]:
    """One weighted least-squares step (module docstring): parameters, zero shift, parameter
    covariance (zero shift included last when fitted) and the residual variance s^2."""
    corrected = two_theta - zero_shift
    g = metric.dq_d2theta(corrected, wavelength)
    rows = metric.design(hkl, system)
    if fit_zero:
        rows = np.hstack([rows, g[:, None]])
    target = metric.q_from_two_theta(corrected, wavelength)
    weighted = rows / g[:, None]
    solution, *_ = np.linalg.lstsq(weighted, target / g, rcond=None)
    residual = target / g - weighted @ solution
    dof = max(rows.shape[0] - rows.shape[1], 1)
    s2 = float(residual @ residual) / dof
    try:
        covariance = s2 * np.linalg.inv(weighted.T @ weighted)
    except np.linalg.LinAlgError:
        covariance = np.full((rows.shape[1], rows.shape[1]), np.nan)
    n_params = len(metric.BASIS[system])
    shift = zero_shift + (float(solution[n_params]) if fit_zero else 0.0)
    return solution[:n_params], shift, covariance, s2


def refine(
    two_theta: np.ndarray,
    wavelength: float,
    params: np.ndarray,
    system: str,
    centring: str,
    tolerance: float,
    zero_shift: float = 0.0,
    fit_zero: bool = True,
    rounds: int = 3,
) -> Refined | None:
    """Refine a trial cell against the lines (2theta ascending, degrees); None when the cell
    indexes too few lines to determine its parameters or turns non-positive-definite."""
    n_params = len(metric.BASIS[system])
    params = np.asarray(params, dtype=np.float64)
    covariance = np.zeros((n_params, n_params))
    tol = tolerance
    previous = b""
    for _ in range(rounds):
        hkl, calc, indexed, _ = assign(
            two_theta, wavelength, params, system, centring, zero_shift, tol, all_lines=False
        )
        key = indexed.tobytes() + hkl[indexed].tobytes()
        if key == previous:  # same assignment as the last solve: converged
            break
        previous = key
        n_used = int(np.count_nonzero(indexed))
        if n_used < n_params + 1:
            return None
        use_zero = fit_zero and n_used >= n_params + 3
        new_params, new_zero, covariance, s2 = _solve(
            two_theta[indexed], wavelength, hkl[indexed], system, zero_shift, use_zero
        )
        if abs(new_zero) > MAX_ZERO_SHIFT:
            new_params, new_zero, covariance, s2 = _solve(
                two_theta[indexed], wavelength, hkl[indexed], system, 0.0, False
            )
        if np.any(np.linalg.eigvalsh(metric.reciprocal_metric(new_params, system)) <= 0):
            return None
        params, zero_shift = new_params, new_zero
        tol = float(np.clip(4.0 * np.sqrt(s2), 0.5 * tolerance, tolerance))
    return _finish(two_theta, wavelength, params, covariance, system, centring, zero_shift, tol)


def _finish(
    two_theta: np.ndarray,
    wavelength: float,
    params: np.ndarray,
    covariance: np.ndarray,
    system: str,
    centring: str,
    zero_shift: float,
    tolerance: float,
) -> Refined:
    """Final assignment and figures of merit of a refined cell."""
    hkl, calc, indexed, tt_all = assign(
        two_theta, wavelength, params, system, centring, zero_shift, tolerance
    )
    corrected = two_theta - zero_shift
    m20 = de_wolff(corrected, calc, indexed, tt_all, wavelength, 20)
    n_calculated = lines_up_to(tt_all, corrected[min(20, corrected.shape[0]) - 1])
    f_n, f_lines = smith_snyder(corrected, calc, indexed, tt_all, 30)
    diff = (corrected - calc)[indexed]
    rms = float(np.sqrt(np.mean(diff**2))) if diff.size else float("nan")
    n_params = len(metric.BASIS[system])
    hkl = np.where(indexed[:, None], hkl, 0)
    return Refined(
        system,
        centring,
        params,
        covariance[:n_params, :n_params],
        zero_shift,
        hkl,
        indexed,
        m20,
        f_n,
        f_lines,
        rms,
        corrected - calc,
        tolerance,
        n_calculated,
    )


def de_wolff(
    corrected: np.ndarray,
    calc: np.ndarray,
    indexed: np.ndarray,
    all_calc: np.ndarray,
    wavelength: float,
    n_max: int = 20,
) -> float:
    """de Wolff M_N on the first N = min(n_max, n) lines (module docstring); 2theta in degrees."""
    n = min(n_max, corrected.shape[0])
    first = slice(0, n)
    ok = indexed[first]
    if not np.any(ok):
        return 0.0
    q_obs = metric.q_from_two_theta(corrected[first][ok], wavelength)
    q_calc = metric.q_from_two_theta(calc[first][ok], wavelength)
    floor = metric.dq_d2theta(corrected[first][ok], wavelength) * MIN_DISCREPANCY
    mean_dq = float(np.mean(np.maximum(np.abs(q_obs - q_calc), floor)))
    q_n = float(metric.q_from_two_theta(corrected[n - 1 : n], wavelength)[0])
    return q_n / (2.0 * mean_dq * max(lines_up_to(all_calc, corrected[n - 1]), 1))


def smith_snyder(
    corrected: np.ndarray,
    calc: np.ndarray,
    indexed: np.ndarray,
    all_calc: np.ndarray,
    n_max: int = 30,
) -> tuple[float, int]:
    """Smith-Snyder F_N on the first N = min(n_max, n) lines: (F_N, N); 2theta in degrees."""
    n = min(n_max, corrected.shape[0])
    ok = indexed[:n]
    if not np.any(ok):
        return 0.0, n
    mean_d = max(float(np.mean(np.abs(corrected[:n][ok] - calc[:n][ok]))), MIN_DISCREPANCY)
    return n / (mean_d * max(lines_up_to(all_calc, corrected[n - 1]), 1)), n


def lines_up_to(all_calc: np.ndarray, two_theta: float) -> int:
    """Distinct calculated lines (ascending 2theta, degrees) up to ``two_theta``."""
    return metric.distinct_count(all_calc[all_calc <= two_theta + 1e-9], 1e-6)


def cell_sigma(refined: Refined) -> tuple[float, ...]:
    """Standard uncertainties of (a, b, c, alpha, beta, gamma): sigma^2 = diag(J C J^T) with C
    the parameter covariance and J the central-difference Jacobian of the cell."""
    params = refined.params
    jacobian = np.zeros((6, params.size))
    for i in range(params.size):
        step = max(abs(params[i]) * 1e-6, 1e-12)
        up, down = params.copy(), params.copy()
        up[i] += step
        down[i] -= step
        cu = np.array(metric.cell_from_metric(metric.reciprocal_metric(up, refined.system)))
        cd = np.array(metric.cell_from_metric(metric.reciprocal_metric(down, refined.system)))
        jacobian[:, i] = (cu - cd) / (2 * step)
    variance = np.einsum("ij,jk,ik->i", jacobian, np.nan_to_num(refined.covariance), jacobian)
    return tuple(float(x) for x in np.sqrt(np.clip(variance, 0.0, None)))
