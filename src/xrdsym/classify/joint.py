"""The joined answer: the network proposes, the indexing checks.

One distribution over the 230 space groups from the network's probabilities and the evidence
of the first-ranked cell of the lattice search, whether or not the search's acceptance rule
takes it (:attr:`xrdsym.indexing.results.IndexingResult.first`). With w the fitted
probability that this cell is right (:class:`EvidenceWeight`, a logistic function of its
figures of merit and of its extinction scores), each level's distribution is the mixture

    p_joined = w p(. | cell right) + (1 - w) p_network,

where p(space group g | cell right) is proportional to p_network(g) exp((LL(e) - max LL) / T)
for the groups g whose extinction group e the cell's lattice admits
(:func:`xrdsym.indexing.extinction.score_extinction_groups`, log-likelihoods LL, temperature T
fitted with w), and 0 for the others; its crystal-system and extinction-group distributions are
sums over member groups. Where no cell is found, w = 0 and the network's answer stands. The
probability w is the only gate: a refused cell with a low w barely moves the answer, one the
rule would refuse for few lines (a small cubic cell has under 14 lines in a Cu scan) still
weighs by how often such cells are right on validation patterns.

The joined distributions are then calibrated like the network's own (temperature scaling per
level, :mod:`xrdsym.calibration`): q_T = p_joined^(1/T_level) / sum p_joined^(1/T_level), with
the temperatures fitted on validation patterns that have an indexed cell
(:func:`fit_joined_temperatures`). A temperature keeps each level's ranking.

A cell is *confident* when w reaches the step ``EvidenceWeight.confident_at``, fitted on
validation patterns so that confident wrong cells are at most MAX_CONFIDENT_WRONG of the
patterns there, and never below ACCEPT_PROBABILITY (:func:`fit_confident_step`). Below the
step the cell still weighs in the mixture, but it is only a suggestion: it decides no level.

Which source decided each level (``decided_by``):

* crystal system: ``indexing`` when the first cell is confident and its lattice fixes the
  crystal system (every lattice but hP, which carries trigonal and hexagonal groups alike);
* extinction group: ``indexing`` when the cell is confident, the best group forbids no observed
  line, and it beats the next by a likelihood ratio of at least EXTINCTION_MARGIN;
* space group: ``indexing`` when the extinction group was decided by indexing and has a single
  member;
* every other case: ``network``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.calibration import LOG_T_BOUNDS, log_probabilities, tempered
from xrdsym.calibration import fit_temperature as fit_level_temperature
from xrdsym.errors import ModelFileError
from xrdsym.indexing.extinction import MAX_SCORED_LINES, crystal_systems_of
from xrdsym.indexing.lattice import calculated_per_line
from xrdsym.indexing.pattern import index_pattern
from xrdsym.indexing.results import CellCandidate, ExtinctionScore, IndexingResult
from xrdsym.spacegroups.table import LEVELS, SpaceGroupTable, level_probabilities

#: File beside ``model.json`` that holds the fitted evidence weight.
EVIDENCE_WEIGHT_NAME = "indexing_weight.json"

#: The lowest confident step: a cell more likely wrong than right never decides a level (also
#: the step of a record fitted before the step was).
ACCEPT_PROBABILITY = 0.5

#: Confident wrong cells allowed, as a share of all validation patterns, when the step is fitted.
MAX_CONFIDENT_WRONG = 0.02

#: Likelihood ratio between the best and the second extinction group for the absences to tell.
EXTINCTION_MARGIN = 10.0

#: Names of the features of a cell, in the order of :attr:`EvidenceWeight.coefficients`.
FEATURES = (
    "intercept",
    "log1p_m20",
    "indexed_fraction",
    "log_lines",
    "log1p_f_n",
    "unindexed_height",
    "log_calculated_per_line",
    "free_parameters",
    "unexplained_per_line",
    "forbidden_lines",
)

#: Free cell parameters of each crystal family, by the first letter of the Pearson symbol.
FREE_PARAMETERS = {"c": 1, "t": 2, "h": 2, "o": 3, "m": 4, "a": 6}

#: Forbidden lines counted in the features at most (one or several rule a group out alike).
MAX_FORBIDDEN_FEATURE = 3

#: Smallest calculated-per-observed ratio in the features (keeps the logarithm finite).
MIN_CALCULATED_PER_LINE = 0.05


def cell_features(candidate: CellCandidate, scores: tuple[ExtinctionScore, ...]) -> np.ndarray:
    """(len(FEATURES),) features of a cell and its best extinction group's score.

    x = [1, ln(1 + M20), n_indexed / N, ln N, ln(1 + F_N), unindexed height share,
    ln(N_calc / min(20, N)), free parameters p, u / min(MAX_SCORED_LINES, N),
    min(forbidden lines, MAX_FORBIDDEN_FEATURE)], with N the lines used, N_calc the lattice's
    calculated lines over the first min(20, N) lines, u the calculated positions the best
    extinction group allows where no line is seen (absences it leaves unexplained): a
    supercell or a cell fitted to a few lines predicts many lines that are not there, and the
    group's absences are taken off before that is counted.
    """
    n_lines = max(candidate.n_lines, 1)
    per_line = calculated_per_line(candidate.n_calculated, n_lines)
    top = scores[0] if scores else None
    return np.array(
        [
            1.0,
            math.log1p(max(candidate.m20, 0.0)),
            candidate.n_indexed / n_lines,
            math.log(n_lines),
            math.log1p(max(candidate.f_n, 0.0)),
            candidate.unindexed_height,
            math.log(max(per_line, MIN_CALCULATED_PER_LINE)),
            float(FREE_PARAMETERS[candidate.bravais[0]]),
            1.0 if top is None else top.unexplained_absences / min(MAX_SCORED_LINES, n_lines),
            0.0 if top is None else float(min(top.forbidden_lines, MAX_FORBIDDEN_FEATURE)),
        ]
    )


@dataclass(frozen=True)
class EvidenceWeight:
    """Probability that a cell is right, w = 1 / (1 + exp(-beta . x)), x = :func:`cell_features`.

    Attributes:
        coefficients: beta, one per name of :data:`FEATURES`.
        temperature: T of the extinction log-likelihoods in the joined answer.
        fitted_on: what it was fitted on (dataset, part, renderer, sizes, fit quality).
        confident_at: the step of w from which a cell decides levels (:func:`fit_confident_step`).
        level_temperatures: T per level of the joined distributions (empty: not calibrated).
        reliability: figures of the joined answer on held-out patterns, for the model card.
    """

    coefficients: tuple[float, ...]
    temperature: float = 1.0
    fitted_on: dict[str, Any] = field(default_factory=dict)
    confident_at: float = ACCEPT_PROBABILITY
    level_temperatures: dict[str, float] = field(default_factory=dict)
    reliability: dict[str, Any] = field(default_factory=dict)

    def probability(self, candidate: CellCandidate, scores: tuple[ExtinctionScore, ...]) -> float:
        """w of one cell with its extinction scores, 0-1."""
        z = float(np.dot(self.coefficients, cell_features(candidate, scores)))
        return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))

    def first_cell_probability(self, indexing: IndexingResult | None) -> float | None:
        """w of an indexing outcome's first cell; None when no cell was found or it has no
        extinction scores (the cell the joined answer weighs, and nothing else)."""
        first = None if indexing is None else indexing.first
        if first is None or indexing is None or not indexing.extinction:
            return None
        return self.probability(first, indexing.extinction)

    def calibrated(self, levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Joined distributions tempered with :attr:`level_temperatures` (T = 1 where none)."""
        return {
            level: tempered(p, self.level_temperatures.get(level, 1.0))
            for level, p in levels.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "coefficients": [round(c, 6) for c in self.coefficients],
            "temperature": self.temperature,
            "confident_at": round(self.confident_at, 6),
            "level_temperatures": {k: round(v, 6) for k, v in self.level_temperatures.items()},
            "fitted_on": self.fitted_on,
            "reliability": self.reliability,
        }


def read_evidence_weight(folder: str | Path) -> EvidenceWeight | None:
    """The evidence weight stored in a model folder, or None when it has none.

    Raises:
        ModelFileError: the file exists but is not a valid record.
    """
    path = Path(folder) / EVIDENCE_WEIGHT_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if list(data["features"]) != list(FEATURES):
            raise ValueError(f"features {data['features']} differ from {list(FEATURES)}")
        coefficients = tuple(float(c) for c in data["coefficients"])
        temperature = float(data.get("temperature", 1.0))
        if len(coefficients) != len(FEATURES) or not temperature > 0.0:
            raise ValueError("wrong number of coefficients or a non-positive temperature")
        confident_at = float(data.get("confident_at", ACCEPT_PROBABILITY))
        if not ACCEPT_PROBABILITY <= confident_at <= 1.0:
            raise ValueError(f"confident_at {confident_at} outside [{ACCEPT_PROBABILITY}, 1]")
        levels = {str(k): float(v) for k, v in dict(data.get("level_temperatures", {})).items()}
        low, high = (math.exp(bound) for bound in LOG_T_BOUNDS)
        if not set(levels) <= set(LEVELS) or not all(low <= t <= high for t in levels.values()):
            raise ValueError(f"level_temperatures {levels} outside [{low:.3f}, {high:.1f}]")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a valid evidence-weight record ({exc})") from None
    return EvidenceWeight(
        coefficients,
        temperature,
        dict(data.get("fitted_on", {})),
        confident_at,
        levels,
        dict(data.get("reliability", {})),
    )


def write_evidence_weight(weight: EvidenceWeight, folder: str | Path) -> Path:
    """Write the record beside ``model.json``; returns the path."""
    path = Path(folder) / EVIDENCE_WEIGHT_NAME
    path.write_text(json.dumps(weight.to_dict(), indent=2) + "\n")
    return path


def fit_cell_weight(features: np.ndarray, right: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Logistic-regression coefficients beta for P(right | x), L2 penalty ``l2`` off the intercept.

    Minimises sum log(1 + exp(-y z)) + l2 |beta[1:]|^2 with z = x beta, y = +-1 (scipy BFGS).
    """
    # deferred until called: imports scipy
    from scipy.optimize import minimize

    x = np.asarray(features, dtype=np.float64)
    y = np.where(np.asarray(right, dtype=bool), 1.0, -1.0)

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = y * (x @ beta)
        value = float(np.sum(np.logaddexp(0.0, -z)) + l2 * np.sum(beta[1:] ** 2))
        sigma = 1.0 / (1.0 + np.exp(z))  # d/dz log(1 + exp(-z)) = -sigma
        grad = -(x * (y * sigma)[:, None]).sum(axis=0)
        grad[1:] += 2.0 * l2 * beta[1:]
        return value, grad

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="BFGS")
    return np.asarray(result.x, dtype=np.float64)


def logistic(features: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """w = 1 / (1 + exp(-x beta)) of each row of ``features``, z clipped at +-50."""
    z = np.clip(np.asarray(features, dtype=np.float64) @ np.asarray(beta), -50.0, 50.0)
    return 1.0 / (1.0 + np.exp(-z))


def cross_fitted_probabilities(
    features: np.ndarray, right: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-fold w of each cell: the logistic weight fitted on the other ``folds`` - 1 parts.

    A step or a calibration fitted on these values sees probabilities of cells the weight was
    not fitted on, as it will on new patterns. A fold whose training part lacks right or wrong
    cells gets the share of right cells there.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(right, dtype=bool)
    part = np.random.default_rng(seed).permutation(len(y)) % max(2, folds)
    w = np.empty(len(y))
    for k in np.unique(part):
        train = part != k
        if y[train].all() or not y[train].any():
            w[~train] = float(y[train].mean()) if train.any() else 0.5
        else:
            w[~train] = logistic(x[~train], fit_cell_weight(x[train], y[train]))
    return w


def fit_confident_step(
    probabilities: np.ndarray,
    right: np.ndarray,
    n_patterns: int,
    max_wrong: float = MAX_CONFIDENT_WRONG,
) -> float:
    """The lowest step t >= ACCEPT_PROBABILITY with #(w >= t and wrong) <= max_wrong x n_patterns.

    ``probabilities`` and ``right`` are the w and the truth of the indexed cells among
    ``n_patterns`` patterns (the others have no cell, hence none wrong). The wrong count only
    falls as t rises, so the lowest such t keeps the most confident cells; 1.0 when even the
    highest w has too many wrong cells.
    """
    w = np.asarray(probabilities, dtype=np.float64)
    wrong = ~np.asarray(right, dtype=bool)
    allowed = max_wrong * n_patterns
    for step in np.unique(np.concatenate([[ACCEPT_PROBABILITY], w[w >= ACCEPT_PROBABILITY]])):
        if np.count_nonzero(wrong & (w >= step)) <= allowed:
            return float(step)
    return 1.0


def fit_joined_temperatures(
    levels: list[dict[str, np.ndarray]], labels: list[dict[str, int]]
) -> dict[str, float]:
    """T per level minimising the NLL of the true labels under the tempered joined distributions
    (:func:`xrdsym.calibration.fit_temperature` on their logarithms)."""
    return {
        level: fit_level_temperature(
            log_probabilities(np.stack([p[level] for p in levels])),
            np.array([t[level] for t in labels], dtype=np.int64),
        )
        for level in LEVELS
    }


def fit_temperature(
    scores: list[tuple[ExtinctionScore, ...]],
    true_groups: list[int],
    grid: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0),
) -> float:
    """T maximising the mean log-probability softmax(LL / T) of the true extinction group.

    Patterns whose true group is not among the scored ones are left out (no T helps them).
    """
    best_t, best_value = 1.0, -math.inf
    for t in grid:
        values = []
        for score, true in zip(scores, true_groups, strict=True):
            ll = np.array([s.log_likelihood for s in score]) / t
            groups = [s.group for s in score]
            if true in groups:
                values.append(ll[groups.index(true)] - float(np.logaddexp.reduce(ll)))
        value = float(np.mean(values)) if values else -math.inf
        if value > best_value:
            best_t, best_value = t, value
    return best_t


@dataclass(frozen=True)
class JoinedLevels:
    """The joined distributions and where each level's answer came from.

    Attributes:
        levels: (7,), (101,), (230,) distributions (:data:`LEVELS` keys).
        decided_by: level -> ``"indexing"`` or ``"network"``.
        cell_probability: w of the first cell (0 when no cell was found).
        confident: w reached the fitted step; a cell below it is a suggestion only.
    """

    levels: dict[str, np.ndarray]
    decided_by: dict[str, str]
    cell_probability: float
    confident: bool = False


def network_only(levels: dict[str, np.ndarray]) -> JoinedLevels:
    """The network's levels unchanged, every level decided by the network."""
    return JoinedLevels(dict(levels), dict.fromkeys(LEVELS, "network"), 0.0)


def extinction_evidence(
    scores: tuple[ExtinctionScore, ...], table: SpaceGroupTable, temperature: float
) -> np.ndarray:
    """(230,) exp((LL(e) - max LL) / T) of each space group's extinction group e; 0 if unscored."""
    evidence = np.zeros(table.extinction_of.shape[0])
    if not scores:
        return evidence
    top = max(s.log_likelihood for s in scores)
    for score in scores:
        members = np.asarray(score.space_groups, dtype=np.int64) - 1
        evidence[members] = math.exp((score.log_likelihood - top) / temperature)
    return evidence


def decided_levels(
    best: CellCandidate, scores: tuple[ExtinctionScore, ...], confident: bool
) -> dict[str, str]:
    """Which source decided each level (rules in the module docstring)."""
    decided = dict.fromkeys(LEVELS, "network")
    if not confident:
        return decided
    if len(crystal_systems_of(best.bravais)) == 1:
        decided["crystal_system"] = "indexing"
    if scores and scores[0].forbidden_lines == 0:
        margin = (
            math.inf if len(scores) == 1 else scores[0].log_likelihood - scores[1].log_likelihood
        )
        if margin >= math.log(EXTINCTION_MARGIN):
            decided["extinction_group"] = "indexing"
            if len(scores[0].space_groups) == 1:
                decided["space_group"] = "indexing"
    return decided


def mixed_levels(
    network: dict[str, np.ndarray],
    scores: tuple[ExtinctionScore, ...],
    w: float,
    extinction_temperature: float,
    table: SpaceGroupTable,
) -> dict[str, np.ndarray] | None:
    """w p(. | cell right) + (1 - w) p_network per level, before calibration; None when the
    cell's extinction groups leave no space group the network gives any probability."""
    evidence = extinction_evidence(scores, table, extinction_temperature)
    conditional = np.asarray(network["space_group"], dtype=np.float64) * evidence
    if not conditional.sum() > 0.0:
        return None
    given_cell = level_probabilities(conditional / conditional.sum())
    return {
        level: w * given_cell[level] + (1.0 - w) * np.asarray(network[level], dtype=np.float64)
        for level in LEVELS
    }


def join_levels(
    network: dict[str, np.ndarray],
    indexing: IndexingResult | None,
    weight: EvidenceWeight,
    table: SpaceGroupTable,
) -> JoinedLevels:
    """The joined, calibrated distributions of one pattern (formulas in the module docstring).

    Args:
        network: the network's calibrated (7,), (101,), (230,) distributions.
        indexing: the indexing outcome with the first cell's extinction scores, or None.
        weight: the fitted evidence weight, confident step and level temperatures.
        table: the space-group table (memberships).
    """
    w = weight.first_cell_probability(indexing)
    if w is None or indexing is None or indexing.first is None:
        return network_only(network)
    levels = mixed_levels(network, indexing.extinction, w, weight.temperature, table)
    if levels is None:
        return network_only(network)
    confident = w >= weight.confident_at
    decided = decided_levels(indexing.first, indexing.extinction, confident)
    return JoinedLevels(weight.calibrated(levels), decided, w, confident)


def index_sample(sample: Any) -> IndexingResult | None:
    """Index a measured sample's profile as read (None for peak lists and structures)."""
    pattern = getattr(sample, "pattern", None)
    if pattern is None:
        return None
    return index_pattern(pattern.two_theta, pattern.intensity, float(sample.wavelength))
