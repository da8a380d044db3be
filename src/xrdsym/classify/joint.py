"""The joined answer: the network proposes, the indexing checks.

One distribution over the 230 space groups from the network's probabilities and the evidence
of the candidate cells of the lattice search, whether or not the search's acceptance rule
takes the first (:attr:`xrdsym.indexing.results.IndexingResult.scored_candidates`). Each cell
i gets a score z_i = beta . x_i (:func:`cell_features`: its figures of merit, its extinction
scores and its rank in the search's list; in the joined answer also the log of the network's
probability of the crystal systems its lattice carries, :func:`network_system_feature`, with
coefficients of their own, ``EvidenceWeight.joined_coefficients``), and the probability that it
is the right cell is

    w_i = exp(z_i) / (1 + sum_j exp(z_j))

(a conditional logit: at most one cell is right, and "none of them" has score 0; with one cell
it is the logistic 1 / (1 + exp(-z))). Each level's distribution is the mixture

    p_joined = sum_i w_i p(. | cell i right) + (1 - sum_i w_i) p_network,

where p(space group g | cell i right) is proportional to p'(g) exp((LL(e) - max LL) / T)
for the groups g whose extinction group e the cell's lattice admits
(:func:`xrdsym.indexing.extinction.score_extinction_groups`, log-likelihoods LL, temperature T
fitted with beta), and 0 for the others; its crystal-system and extinction-group distributions
are sums over member groups (the network's where the cell leaves it no group), and p' is the
network's space-group distribution sharpened within each extinction group e by the space-group
frequencies f of the training part, p'(g) = p(e) p(g) f(g)^b / sum_{g' in e} p(g') f(g')^b
(:func:`sharpened_within_extinction`; the extinction-group and crystal-system marginals stay the
network's; b fitted on validation patterns): a powder pattern's absences cannot tell the
members of one extinction group apart, and the network's tempered probabilities rank them by
less than their frequencies tell (p' also stands for p_network in the mixture's last term).
Where no cell is found, the network's answer stands unchanged.
The probabilities are the only gate: a refused cell with a
low w barely moves the answer, one the rule would refuse for few lines (a small cubic cell has
under 14 lines in a Cu scan) still weighs by how often such cells are right on validation
patterns. ``w`` below is the first cell's w_1, the cell the answer prints.

The joined distributions are then calibrated like the network's own (temperature scaling per
level, :mod:`xrdsym.calibration`): q_T = p_joined^(1/T_level) / sum p_joined^(1/T_level), with
the temperatures fitted on validation patterns that have an indexed cell
(:func:`fit_joined_temperatures`). A temperature keeps each level's ranking. Where a cell
weighs, the answer's prediction sets are split-conformal sets of these calibrated joined
distributions, {classes with q >= t_level}, t fitted on the same validation patterns
(:func:`fit_joined_set_thresholds`, out-of-fold w); without fitted thresholds they stay the
network's own.

The first cell is *confident* when its w from the cells alone
(``EvidenceWeight.coefficients``, the w ``xrdsym index`` prints: the lines decide, not the
network) reaches the step ``EvidenceWeight.confident_at``, fitted on validation patterns so
that confident wrong cells are at most MAX_CONFIDENT_WRONG of the patterns there, and never
below ACCEPT_PROBABILITY (:func:`fit_confident_step`). Below the step the cell still weighs in
the mixture, but it is only a suggestion: it decides no level.

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

from xrdsym.calibration import LOG_T_BOUNDS, conformal_threshold, log_probabilities, tempered
from xrdsym.calibration import fit_temperature as fit_level_temperature
from xrdsym.errors import ModelFileError
from xrdsym.indexing.extinction import MAX_SCORED_LINES, crystal_systems_of
from xrdsym.indexing.lattice import calculated_per_line
from xrdsym.indexing.pattern import index_pattern
from xrdsym.indexing.results import CellCandidate, ExtinctionScore, IndexingResult
from xrdsym.parallel import ordered_map
from xrdsym.spacegroups import CRYSTAL_SYSTEMS
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
    "first_rank",
    "log1p_rank",
)

#: Features of a cell in the joined answer: :data:`FEATURES` and the log of the network's
#: probability of the crystal systems the cell's lattice carries (:func:`network_system_feature`).
JOINED_FEATURES = (*FEATURES, "log_network_system")

#: Smallest network probability in :func:`network_system_feature` (keeps the logarithm finite).
MIN_NETWORK_SYSTEM = 1e-4

#: Free cell parameters of each crystal family, by the first letter of the Pearson symbol.
FREE_PARAMETERS = {"c": 1, "t": 2, "h": 2, "o": 3, "m": 4, "a": 6}

#: Forbidden lines counted in the features at most (one or several rule a group out alike).
MAX_FORBIDDEN_FEATURE = 3

#: Smallest calculated-per-observed ratio in the features (keeps the logarithm finite).
MIN_CALCULATED_PER_LINE = 0.05


def cell_features(
    candidate: CellCandidate, scores: tuple[ExtinctionScore, ...], rank: int = 0
) -> np.ndarray:
    """(len(FEATURES),) features of a cell, its best extinction group's score and its rank.

    x = [1, ln(1 + M20), n_indexed / N, ln N, ln(1 + F_N), unindexed height share,
    ln(N_calc / min(20, N)), free parameters p, u / min(MAX_SCORED_LINES, N),
    min(forbidden lines, MAX_FORBIDDEN_FEATURE), [rank = 0], ln(1 + rank)], with N the lines
    used, N_calc the lattice's calculated lines over the first min(20, N) lines, u the
    calculated positions the best extinction group allows where no line is seen (absences it
    leaves unexplained): a supercell or a cell fitted to a few lines predicts many lines that
    are not there, and the group's absences are taken off before that is counted. ``rank`` is
    the cell's 0-based place in the search's list.
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
            1.0 if rank == 0 else 0.0,
            math.log1p(rank),
        ]
    )


def network_system_feature(bravais: str, system_probabilities: np.ndarray) -> float:
    """ln max(sum of the network's probabilities of the crystal systems a lattice of Pearson
    symbol ``bravais`` carries (:func:`~xrdsym.indexing.extinction.crystal_systems_of`; hP:
    trigonal + hexagonal), MIN_NETWORK_SYSTEM); ``system_probabilities``: the (7,)
    crystal-system distribution in the order of ``CRYSTAL_SYSTEMS``."""
    p = np.asarray(system_probabilities, dtype=np.float64)
    share = sum(float(p[CRYSTAL_SYSTEMS.index(s)]) for s in crystal_systems_of(bravais))
    return math.log(max(share, MIN_NETWORK_SYSTEM))


def candidate_features(
    indexing: IndexingResult | None, system_probabilities: np.ndarray | None = None
) -> np.ndarray:
    """(k, F) features of the k scored candidates of an outcome, in rank order (k = 0 when
    none was found or scored): :data:`FEATURES`, or :data:`JOINED_FEATURES` when the
    network's crystal-system probabilities are given."""
    pairs = [] if indexing is None else indexing.scored_candidates()
    width = len(FEATURES) if system_probabilities is None else len(JOINED_FEATURES)
    if not pairs:
        return np.zeros((0, width))
    rows = [cell_features(c, s, rank) for rank, (c, s) in enumerate(pairs)]
    if system_probabilities is not None:
        rows = [
            np.append(row, network_system_feature(c.bravais, system_probabilities))
            for row, (c, _) in zip(rows, pairs, strict=True)
        ]
    return np.stack(rows)


def cell_probabilities(features: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(k,) w_i = exp(z_i) / (1 + sum_j exp(z_j)), z = features beta, of one pattern's k cells:
    the probability that cell i is the right one (their sum: that one of them is)."""
    x = np.asarray(features, dtype=np.float64).reshape(1, -1, len(beta))
    return np.asarray(choice_probabilities(x, beta)[0], dtype=np.float64)


@dataclass(frozen=True)
class EvidenceWeight:
    """Probability that each candidate cell is the right one, w_i = exp(beta . x_i) / (1 +
    sum_j exp(beta . x_j)), x = :func:`cell_features` (one cell: the logistic).

    Attributes:
        coefficients: beta, one per name of :data:`FEATURES` (the cells alone: ``xrdsym
            index``).
        joined_coefficients: beta of the joined answer, one per name of
            :data:`JOINED_FEATURES` (the cells and the network's probability of their crystal
            system); empty: the joined answer uses ``coefficients``.
        temperature: T of the extinction log-likelihoods in the joined answer.
        fitted_on: what it was fitted on (dataset, part, renderer, sizes, fit quality).
        confident_at: the step of w from which a cell decides levels (:func:`fit_confident_step`).
        level_temperatures: T per level of the joined distributions (empty: not calibrated).
        reliability: figures of the joined answer on held-out patterns, for the model card.
        frequency_exponent: b of :func:`sharpened_within_extinction` (0: not sharpened).
        space_group_frequencies: (230,) f of the training part (empty: not sharpened).
        set_thresholds: probability threshold per level of the joined answer's conformal
            prediction sets (:func:`fit_joined_set_thresholds`; empty: the answer keeps the
            network's own sets).
        measured_set_coverage: (name, scans, share) of the measured sets on which the joined
            answer's crystal-system sets were scored (``python -m research.evaluate_indexing
            --measured ... --record-measured-sets``): how often they held the truth there.
    """

    coefficients: tuple[float, ...]
    temperature: float = 1.0
    fitted_on: dict[str, Any] = field(default_factory=dict)
    confident_at: float = ACCEPT_PROBABILITY
    level_temperatures: dict[str, float] = field(default_factory=dict)
    reliability: dict[str, Any] = field(default_factory=dict)
    frequency_exponent: float = 0.0
    space_group_frequencies: tuple[float, ...] = ()
    joined_coefficients: tuple[float, ...] = ()
    set_thresholds: dict[str, float] = field(default_factory=dict)
    measured_set_coverage: tuple[tuple[str, int, float], ...] = ()

    def sharpened(
        self, network: dict[str, np.ndarray], table: SpaceGroupTable
    ) -> dict[str, np.ndarray]:
        """The network's levels with its space-group distribution sharpened within each
        extinction group (:func:`sharpened_within_extinction`; unchanged without frequencies)."""
        if not self.space_group_frequencies or self.frequency_exponent == 0.0:
            return network
        p = sharpened_within_extinction(
            network["space_group"],
            np.asarray(self.space_group_frequencies),
            self.frequency_exponent,
            table,
        )
        return {**network, "space_group": p}

    def cell_probabilities(self, indexing: IndexingResult | None) -> np.ndarray:
        """(k,) w_i of the scored candidates of an outcome from the cells alone, in rank order
        (empty when no cell was found or scored); the joined answer's w:
        :meth:`joined_and_own_probabilities`."""
        return cell_probabilities(candidate_features(indexing), np.asarray(self.coefficients))

    def joined_and_own_probabilities(
        self, indexing: IndexingResult | None, system_probabilities: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(k,) w_i of the joined answer and (k,) w_i of the cells alone, in rank order, from
        one build of the candidates' features (the joined ones are the cells' own plus the
        network term); the joined w is the cells' own where ``joined_coefficients`` is empty."""
        features = candidate_features(indexing, system_probabilities)
        own = cell_probabilities(features[:, : len(FEATURES)], np.asarray(self.coefficients))
        if not self.joined_coefficients:
            return own, own
        return cell_probabilities(features, np.asarray(self.joined_coefficients)), own

    def first_cell_probability(self, indexing: IndexingResult | None) -> float | None:
        """w of an outcome's first cell, the cell the answer prints; None when no cell was
        found or it has no extinction scores."""
        w = self.cell_probabilities(indexing)
        return float(w[0]) if w.size else None

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
            "joined_features": list(JOINED_FEATURES),
            "joined_coefficients": [round(c, 6) for c in self.joined_coefficients],
            "temperature": self.temperature,
            "confident_at": round(self.confident_at, 6),
            "level_temperatures": {k: round(v, 6) for k, v in self.level_temperatures.items()},
            "frequency_exponent": self.frequency_exponent,
            "space_group_frequencies": [round(f, 8) for f in self.space_group_frequencies],
            "set_thresholds": {k: round(v, 8) for k, v in self.set_thresholds.items()},
            "measured_set_coverage": [
                [name, n, round(share, 4)] for name, n, share in self.measured_set_coverage
            ],
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
        joined = tuple(float(c) for c in data.get("joined_coefficients", ()))
        if joined and (
            list(data.get("joined_features", ())) != list(JOINED_FEATURES)
            or len(joined) != len(JOINED_FEATURES)
        ):
            raise ValueError(
                f"joined_coefficients: {len(joined)} for features "
                f"{list(data.get('joined_features', ()))}, {list(JOINED_FEATURES)} needed"
            )
        confident_at = float(data.get("confident_at", ACCEPT_PROBABILITY))
        if not ACCEPT_PROBABILITY <= confident_at <= 1.0:
            raise ValueError(f"confident_at {confident_at} outside [{ACCEPT_PROBABILITY}, 1]")
        levels = {str(k): float(v) for k, v in dict(data.get("level_temperatures", {})).items()}
        low, high = (math.exp(bound) for bound in LOG_T_BOUNDS)
        if not set(levels) <= set(LEVELS) or not all(low <= t <= high for t in levels.values()):
            raise ValueError(f"level_temperatures {levels} outside [{low:.3f}, {high:.1f}]")
        exponent = float(data.get("frequency_exponent", 0.0))
        frequencies = tuple(float(f) for f in data.get("space_group_frequencies", ()))
        if not exponent >= 0.0:
            raise ValueError(f"frequency_exponent {exponent} is negative")
        if frequencies and (len(frequencies) != 230 or not all(f > 0.0 for f in frequencies)):
            raise ValueError(
                f"space_group_frequencies: {len(frequencies)} values, 230 positive ones needed"
            )
        thresholds = {str(k): float(v) for k, v in dict(data.get("set_thresholds", {})).items()}
        if not set(thresholds) <= set(LEVELS) or not all(
            0.0 <= t <= 1.0 for t in thresholds.values()
        ):
            raise ValueError(f"set_thresholds {thresholds}: levels {LEVELS}, values in [0, 1]")
        measured = tuple(
            (str(name), int(n), float(share))
            for name, n, share in data.get("measured_set_coverage", ())
        )
        if not all(n > 0 and 0.0 <= share <= 1.0 for _, n, share in measured):
            raise ValueError(f"measured_set_coverage {measured}: scans > 0, shares in [0, 1]")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a valid evidence-weight record ({exc})") from None
    return EvidenceWeight(
        coefficients,
        temperature,
        dict(data.get("fitted_on", {})),
        confident_at,
        levels,
        dict(data.get("reliability", {})),
        exponent,
        frequencies,
        joined,
        thresholds,
        measured,
    )


def write_evidence_weight(weight: EvidenceWeight, folder: str | Path) -> Path:
    """Write the record beside ``model.json``; returns the path."""
    path = Path(folder) / EVIDENCE_WEIGHT_NAME
    path.write_text(json.dumps(weight.to_dict(), indent=2) + "\n")
    return path


def padded_features(groups: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """(n, K, F) array of n patterns' (k_i, F) candidate features, NaN rows where k_i < K
    (K = ``width`` or the largest k_i; F of the groups, len(FEATURES) when all are empty)."""
    n_features = next((np.shape(g)[1] for g in groups if np.ndim(g) == 2), len(FEATURES))
    k_max = width if width is not None else max((len(g) for g in groups), default=0)
    out = np.full((len(groups), max(k_max, 1), n_features), np.nan)
    for i, g in enumerate(groups):
        rows = np.asarray(g, dtype=np.float64).reshape(-1, n_features)[:k_max]
        out[i, : len(rows)] = rows
    return out


def _choice_terms(
    features: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z (n, K) with -inf on padding, mask (n, K), and p (n, K + 1): P(none), then w_i."""
    mask = ~np.isnan(features[..., 0])
    z = np.where(mask, np.nan_to_num(features) @ beta, -np.inf)
    zz = np.concatenate([np.zeros((z.shape[0], 1)), z], axis=1)
    p = np.exp(zz - np.logaddexp.reduce(zz, axis=1, keepdims=True))
    return z, mask, p


def fit_cell_weight(features: np.ndarray, right_rank: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Conditional-logit coefficients beta of w_i (module docstring), L2 penalty ``l2`` off the
    intercept.

    ``features``: (n, K, F) from :func:`padded_features`; ``right_rank``: (n,) the 0-based rank
    of the right cell among each pattern's candidates, -1 when none is right. Minimises
    sum_n [ln(1 + sum_i exp(z_ni)) - z_n,right] + l2 |beta[1:]|^2 (the right cell's z is 0
    for "none"), with scipy BFGS.
    """
    # deferred until called: imports scipy
    from scipy.optimize import minimize

    x = np.asarray(features, dtype=np.float64)
    rank = np.asarray(right_rank, dtype=np.int64)
    target = rank + 1  # column of p: 0 is "none"
    x_filled = np.nan_to_num(x)
    rows = np.arange(x.shape[0])

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        _, _, p = _choice_terms(x, beta)
        value = float(np.sum(-np.log(np.maximum(p[rows, target], 1e-300))))
        grad = np.einsum("nk,nkf->f", p[:, 1:], x_filled)
        right = rank >= 0
        grad -= x_filled[rows[right], rank[right]].sum(axis=0)
        value += l2 * float(np.sum(beta[1:] ** 2))
        grad[1:] += 2.0 * l2 * beta[1:]
        return value, grad

    result = minimize(loss, np.zeros(x.shape[2]), jac=True, method="BFGS")
    return np.asarray(result.x, dtype=np.float64)


def choice_probabilities(features: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(n, K) w of each pattern's candidates (NaN on padding) under coefficients ``beta``."""
    _, mask, p = _choice_terms(np.asarray(features, dtype=np.float64), np.asarray(beta))
    return np.where(mask, p[:, 1:], np.nan)


def cross_fitted_probabilities(
    features: np.ndarray, right_rank: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """(n, K) out-of-fold w of every cell: the weight fitted on the other ``folds`` - 1 parts.

    A step or a calibration fitted on these values sees probabilities of cells the weight was
    not fitted on, as it will on new patterns. A fold whose training part lacks right or wrong
    first cells gives its first cells the share of right first cells there and the others 0.
    """
    x = np.asarray(features, dtype=np.float64)
    rank = np.asarray(right_rank, dtype=np.int64)
    part = np.random.default_rng(seed).permutation(len(rank)) % max(2, folds)
    w = np.full(x.shape[:2], np.nan)
    for k in np.unique(part):
        train = part != k
        first_right = rank[train] == 0
        if first_right.all() or not first_right.any():
            share = float(first_right.mean()) if train.any() else 0.5
            held = np.where(np.isnan(x[~train][..., 0]), np.nan, 0.0)
            held[:, 0] = share
            w[~train] = held
        else:
            w[~train] = choice_probabilities(x[~train], fit_cell_weight(x[train], rank[train]))
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


def fit_joined_set_thresholds(
    levels: list[dict[str, np.ndarray]], labels: list[dict[str, int]], coverage: float
) -> dict[str, float]:
    """Threshold per level of split-conformal prediction sets of the calibrated joined
    distributions (:func:`xrdsym.calibration.conformal_threshold` with alpha = 1 - coverage):
    a set {classes with q >= threshold} holds the truth for at least ``coverage`` of patterns
    exchangeable with those fitted on."""
    return {
        level: conformal_threshold(
            np.stack([p[level] for p in levels]),
            np.array([t[level] for t in labels], dtype=np.int64),
            1.0 - coverage,
        )
        for level in LEVELS
    }


def true_group_log_probability(
    scores: tuple[ExtinctionScore, ...], true_group: int, temperature: float
) -> float | None:
    """ln softmax(LL / T) of the true extinction group among the scored ones; None when it is
    not scored."""
    groups = [s.group for s in scores]
    if true_group not in groups:
        return None
    ll = np.array([s.log_likelihood for s in scores]) / temperature
    return float(ll[groups.index(true_group)] - np.logaddexp.reduce(ll))


def fit_temperature(
    scores: list[tuple[ExtinctionScore, ...]],
    true_groups: list[int],
    grid: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 8.0),
) -> float:
    """T maximising the mean log-probability softmax(LL / T) of the true extinction group.

    Patterns whose true group is not among the scored ones are left out (no T helps them).
    """
    best_t, best_value = 1.0, -math.inf
    for t in grid:
        values = [
            v
            for v in (
                true_group_log_probability(score, true, t)
                for score, true in zip(scores, true_groups, strict=True)
            )
            if v is not None
        ]
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
        cell_probability: w of the first cell from the cells alone (0 when no cell was
            found).
        confident: that w reached the fitted step; a cell below it is a suggestion only.
        other_cells_probability: sum of the joined w of the later candidates (they weigh in
            the answer).
    """

    levels: dict[str, np.ndarray]
    decided_by: dict[str, str]
    cell_probability: float
    confident: bool = False
    other_cells_probability: float = 0.0


def network_only(levels: dict[str, np.ndarray]) -> JoinedLevels:
    """The network's levels unchanged, every level decided by the network."""
    return JoinedLevels(dict(levels), dict.fromkeys(LEVELS, "network"), 0.0)


def sharpened_within_extinction(
    p_space_group: np.ndarray, frequencies: np.ndarray, exponent: float, table: SpaceGroupTable
) -> np.ndarray:
    """(230,) p'(g) = p(e) p(g) f(g)^b / sum_{g' in e} p(g') f(g')^b, e the extinction group of
    g, p(e) the summed p of its members, f the space-group frequencies and b the exponent:
    the members of each extinction group re-ranked, its total unchanged (b = 0: p itself)."""
    p = np.asarray(p_space_group, dtype=np.float64)
    if exponent == 0.0:
        return p
    weighted = p * np.asarray(frequencies, dtype=np.float64) ** exponent
    groups = table.extinction_of
    n = int(groups.max()) + 1
    total = np.bincount(groups, weights=p, minlength=n)
    within = np.bincount(groups, weights=weighted, minlength=n)
    keep = within[groups] > 0.0
    out = p.copy()
    out[keep] = total[groups][keep] * weighted[keep] / within[groups][keep]
    return out


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


def given_cell(
    network: dict[str, np.ndarray],
    scores: tuple[ExtinctionScore, ...],
    extinction_temperature: float,
    table: SpaceGroupTable,
) -> dict[str, np.ndarray] | None:
    """p(. | cell right) per level: p_network(g) exp((LL(e) - max LL) / T), normalised, summed
    over member groups; None when the cell's extinction groups leave no space group the network
    gives any probability."""
    evidence = extinction_evidence(scores, table, extinction_temperature)
    conditional = np.asarray(network["space_group"], dtype=np.float64) * evidence
    if not conditional.sum() > 0.0:
        return None
    return level_probabilities(conditional / conditional.sum())


def mixture(
    network: dict[str, np.ndarray], given: list[dict[str, np.ndarray] | None], w: np.ndarray
) -> dict[str, np.ndarray] | None:
    """sum_i w_i given_i + (1 - sum_i w_i) p_network per level (``given``: p(. | cell i right)
    of :func:`given_cell` for the cells in rank order; a None cell weighs as the network); None
    when every cell is None."""
    if all(g is None for g in given):
        return None
    net = {level: np.asarray(network[level], dtype=np.float64) for level in LEVELS}
    mixed = {level: (1.0 - float(np.sum(w))) * net[level] for level in LEVELS}
    for weight_i, given_i in zip(w, given, strict=True):
        for level in LEVELS:
            mixed[level] += float(weight_i) * (net[level] if given_i is None else given_i[level])
    return mixed


def mixed_levels(
    network: dict[str, np.ndarray],
    scores: list[tuple[ExtinctionScore, ...]],
    w: np.ndarray,
    extinction_temperature: float,
    table: SpaceGroupTable,
) -> dict[str, np.ndarray] | None:
    """sum_i w_i p(. | cell i right) + (1 - sum_i w_i) p_network per level, before calibration
    (``scores``, ``w``: of the cells in rank order; :func:`mixture`)."""
    return mixture(
        network, [given_cell(network, s, extinction_temperature, table) for s in scores], w
    )


def join_levels(
    network: dict[str, np.ndarray],
    indexing: IndexingResult | None,
    weight: EvidenceWeight,
    table: SpaceGroupTable,
) -> JoinedLevels:
    """The joined, calibrated distributions of one pattern (formulas in the module docstring).

    Args:
        network: the network's calibrated (7,), (101,), (230,) distributions.
        indexing: the indexing outcome with its candidates' extinction scores, or None.
        weight: the fitted evidence weight, confident step and level temperatures.
        table: the space-group table (memberships).
    """
    w, own = weight.joined_and_own_probabilities(indexing, network["crystal_system"])
    if indexing is None or indexing.first is None or not w.size:
        return network_only(network)
    sharpened = weight.sharpened(network, table)
    given = [
        given_cell(sharpened, s, weight.temperature, table) for _, s in indexing.scored_candidates()
    ]
    levels = mixture(sharpened, given, w)
    if levels is None:
        return network_only(network)
    # the cells alone decide: the confident step reads their own w
    confident = given[0] is not None and float(own[0]) >= weight.confident_at
    decided = decided_levels(indexing.first, indexing.extinction, confident)
    others = float(np.sum(w[1:]))
    return JoinedLevels(weight.calibrated(levels), decided, float(own[0]), confident, others)


def _indexing_job(sample: Any) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(2theta, counts, wavelength) of a measured sample's profile, None for other samples."""
    pattern = getattr(sample, "pattern", None)
    if pattern is None:
        return None
    return pattern.two_theta, pattern.intensity, float(sample.wavelength)


def _index_job(job: tuple[np.ndarray, np.ndarray, float] | None) -> IndexingResult | None:
    """Worker: :func:`index_pattern` of one job (module level, so that processes can run it)."""
    return None if job is None else index_pattern(*job)


def index_samples(samples: list[Any], jobs: int = 1) -> list[IndexingResult | None]:
    """The indexing of each measured sample's profile as read, in order (None for peak lists
    and structures); with ``jobs`` > 1 on that many processes (the searches are independent)."""
    work = [_indexing_job(s) for s in samples]
    busy = sum(job is not None for job in work)
    return [result for _, result in ordered_map(_index_job, work, min(jobs, busy))]
