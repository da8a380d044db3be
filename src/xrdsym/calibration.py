"""Calibrated probabilities and conformal prediction sets (numpy only).

Temperature scaling (Guo et al., ICML 2017), one temperature per level: the network's
space-group distribution p = softmax(z) gives the crystal-system and extinction-group
distributions q as sums over member groups; each level's distribution is then calibrated as
q_T(c) = q(c)^(1/T) / sum_c' q(c')^(1/T) = softmax(log q / T), with T > 0 fitted for that level
by minimising the negative log-likelihood NLL(T) = mean_i [logsumexp(s_i / T) - s_i,y_i / T],
s = log q, on held-out patterns (for space groups s = z up to a constant, so q_T = softmax(z / T)).
T > 1 softens an over-confident network. Each level keeps its ranking: a temperature never
changes a top-1 answer. (Summing tempered space-group probabilities instead can: a flatter
space-group distribution can move the largest sum to another crystal system.)

Split-conformal prediction sets (Sadinle, Lei and Wasserman, JASA 2019, "least ambiguous
sets"): with the calibrated probabilities of n held-out patterns, the scores s_i = 1 - p_i(y_i)
and their ceil((n + 1)(1 - alpha))-th smallest value q, the set of a new pattern is
{c : p(c) >= 1 - q}. For patterns exchangeable with the calibration ones it holds the true class
with probability at least 1 - alpha, and among sets with that guarantee it has the smallest
expected size. The top class is always included, so a set is never empty.

Reliability figures: expected calibration error ECE = sum_b (n_b / n) |acc_b - conf_b| over 15
equal-width bins of the top-1 probability; coverage = share of patterns whose set holds the
truth; mean set size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xrdsym.spacegroups import LEVELS

#: Default miscoverage alpha: sets hold the truth 90 % of the time.
DEFAULT_ALPHA = 0.1

#: An answer whose top space group has a calibrated probability below this is flagged.
LOW_CONFIDENCE_BELOW = 0.5

#: Bins of the expected calibration error.
ECE_BINS = 15

#: Search interval of log T for the temperature fit; a recorded temperature outside it is
#: refused (a subnormal T turns log q / T into infinities and every probability into NaN).
LOG_T_BOUNDS = (-3.0, 3.0)

#: Probabilities are clipped here before their logarithm (float64 underflow).
TINY_PROBABILITY = 1e-300


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T) along the last axis, float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T) normalised along the last axis (= softmax(log p / T)), float64; keeps the ranking."""
    return softmax(log_probabilities(probabilities), temperature)


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """log p with p clipped at TINY_PROBABILITY, float64: the scores of :func:`tempered`."""
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), TINY_PROBABILITY))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of integer ``labels`` under softmax(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_total - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, tolerance: float = 1e-4) -> float:
    """The T minimising :func:`nll`, by golden-section search on log T in LOG_T_BOUNDS.

    NLL(T) is convex in 1/T, so it is unimodal in log T and the search finds the minimum.
    """
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    low, high = LOG_T_BOUNDS
    a = high - golden * (high - low)
    b = low + golden * (high - low)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    while high - low > tolerance:
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - golden * (high - low)
            fa = nll(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + golden * (high - low)
            fb = nll(logits, labels, math.exp(b))
    return math.exp(0.5 * (low + high))


def fitted_source(dataset: Any, part: Any, n: Any) -> str:
    """Where thresholds were fitted, in a guarantee: the last parts of the dataset path and of
    the part, then ``n=`` the patterns (``mp_gen40 val, n=967``); missing ones left out."""
    source = " ".join(str(x).rstrip("/").split("/")[-1] for x in (dataset, part) if x)
    if n:
        source += f"{', ' if source else ''}n={n}"
    return source


def stated_guarantee(
    coverage: float, patterns: str, source: str, measured: list[tuple[str, int, float]]
) -> str:
    """What a model's sets rest on: ``{coverage} of simulated {patterns} ({source})``, then
    the coverage of the crystal-system sets on each measured set, (name, scans, share):
    ``; the crystal-system set for 82% of 17 xred, 59% of 85 autoxrd measured scans``."""
    text = f"{coverage:.0%} of simulated {patterns}" + (f" ({source})" if source else "")
    if measured:
        shares = ", ".join(f"{share:.0%} of {n} {name}" for name, n, share in measured)
        text += f"; the crystal-system set for {shares} measured scans"
    return text


def measured_set_name(labels_path: str) -> str:
    """Name of a measured set in the stated guarantees: the folder of its labels file
    (``.../xred/labels.csv``: ``xred``), ``measured`` when it has none."""
    folder = labels_path.replace("\\", "/").split("/")[-2:-1]
    return folder[0] if folder else "measured"


def conformal_threshold(probabilities: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    """Probability threshold 1 - q of the split-conformal sets (see the module docstring).

    With too few calibration patterns for the level (ceil((n + 1)(1 - alpha)) > n) q = 1:
    every class is in the set.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.shape[0]
    scores = np.sort(1.0 - p[np.arange(n), labels])
    rank = math.ceil((n + 1) * (1.0 - alpha))
    q = 1.0 if rank > n else float(scores[rank - 1])
    return max(0.0, 1.0 - q)


def prediction_set(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Classes with probability >= threshold, most probable first; never empty."""
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    keep = order[p[order] >= threshold]
    return keep if keep.size else order[:1]


def set_membership(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean (n, C) membership of every class in the sets of a batch (top class included)."""
    p = np.asarray(probabilities, dtype=np.float64)
    member = p >= threshold
    member[np.arange(p.shape[0]), p.argmax(axis=1)] = True
    return member


def binned_reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Stated probabilities against outcomes: one row per non-empty bin of ``bins`` equal-width
    bins of [0, 1], with ``low`` and ``high`` (bin edges), ``confidence`` (mean stated
    probability), ``accuracy`` (share of events that happened, ``correct`` true) and ``count``."""
    stated = np.asarray(confidence, dtype=np.float64)
    happened = np.asarray(correct, dtype=np.float64)
    which = np.minimum((stated * bins).astype(np.int64), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if np.any(inside):
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "confidence": float(stated[inside].mean()),
                    "accuracy": float(happened[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return rows


def reliability_bins(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """The reliability diagram of the top-1 probability (:func:`binned_reliability` of the top
    probability and whether the top class is the label)."""
    p = np.asarray(probabilities, dtype=np.float64)
    return binned_reliability(p.max(axis=1), p.argmax(axis=1) == np.asarray(labels), bins)


def calibration_error(rows: list[dict[str, float]]) -> float:
    """sum_b (n_b / n) |accuracy_b - confidence_b| over the rows of :func:`binned_reliability`."""
    n = sum(row["count"] for row in rows)
    return float(sum(row["count"] / n * abs(row["accuracy"] - row["confidence"]) for row in rows))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: :func:`calibration_error` of the :func:`reliability_bins`."""
    return calibration_error(reliability_bins(probabilities, labels, bins))


def reliability(
    probabilities: np.ndarray, labels: np.ndarray, threshold: float
) -> dict[str, float]:
    """Top-1 accuracy, ECE, coverage and mean size of the sets at ``threshold``."""
    p = np.asarray(probabilities, dtype=np.float64)
    member = set_membership(p, threshold)
    n = p.shape[0]
    return {
        "n": int(n),
        "top1": float(np.mean(p.argmax(axis=1) == labels)),
        "ece": expected_calibration_error(p, labels),
        "nll": float(np.mean(-np.log(np.clip(p[np.arange(n), labels], 1e-300, None)))),
        "coverage": float(np.mean(member[np.arange(n), labels])),
        "mean_set_size": float(member.sum(axis=1).mean()),
    }


@dataclass(frozen=True)
class Calibration:
    """A model's calibration record (``model.json["calibration"]``).

    Attributes:
        temperatures: T per level (``crystal_system``, ``extinction_group``, ``space_group``);
            a missing level has T = 1 (uncalibrated).
        alpha: miscoverage of the prediction sets (0.1: 90 % sets).
        thresholds: probability threshold of the sets per level; empty when uncalibrated.
        low_confidence_below: top space-group probability under which an answer is flagged.
        record: the full record as stored (fit data, reliability figures).
        problem: why a stored record was not used (empty when it was, or when there was none).
    """

    temperatures: dict[str, float] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA
    thresholds: dict[str, float] = field(default_factory=dict)
    low_confidence_below: float = LOW_CONFIDENCE_BELOW
    record: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    @property
    def calibrated(self) -> bool:
        """Whether a fitted record is present."""
        return bool(self.record)

    @property
    def coverage(self) -> float:
        """The stated coverage 1 - alpha of the sets."""
        return 1.0 - self.alpha

    @property
    def guarantee(self) -> str:
        """What the sets' coverage rests on: the patterns the thresholds were fitted on, e.g.
        ``90% of simulated lab-rendered patterns (mp_gen40 val, n=967)``, and the coverage
        of the crystal-system sets on the measured sets of the record, e.g. ``the
        crystal-system set for 82% of 17 xred, 59% of 85 autoxrd measured scans`` (measured
        scans are not exchangeable with simulated ones, so their coverage can fall short)."""
        if not self.thresholds:
            return ""
        record = self.record
        renderer = str(record.get("renderer") or "")
        kind = f"{renderer}-rendered" if renderer else "rendered"
        return stated_guarantee(
            self.coverage,
            f"{kind} patterns",
            fitted_source(record.get("dataset"), record.get("part"), record.get("n_conformal")),
            self.measured_coverage("crystal_system"),
        )

    def measured_coverage(self, level: str) -> list[tuple[str, int, float]]:
        """(set name, patterns, coverage) of a level's sets on the record's measured sets
        (``xrdsym calibrate --measured``); the name is the folder of the labels file."""
        found = []
        for entry in self.record.get("measured") or ():
            if not isinstance(entry, dict):
                continue
            scores = dict(entry.get(level, {}).get("calibrated", {}))
            if "coverage" in scores:
                name = measured_set_name(str(entry.get("labels", "")))
                found.append((name, int(scores["n"]), float(scores["coverage"])))
        return found

    def temperature(self, level: str = "space_group") -> float:
        """T of one level (1 when uncalibrated)."""
        return self.temperatures.get(level, 1.0)

    @classmethod
    def from_config(cls, record: Any) -> Calibration:
        """Read a ``calibration`` record; None gives the identity calibration.

        A malformed record, or one of the older layout with a single temperature applied to the
        space-group logits before the sums (it changes crystal-system answers, and its set
        thresholds belong to those probabilities), is not used: the identity calibration with
        ``problem`` saying why.
        """
        if record is None:
            return cls()
        rerun = "; run `xrdsym calibrate` on the model folder again"
        if not isinstance(record, dict):
            return cls(problem="the calibration record is not a JSON object" + rerun)
        temperatures = record.get("temperatures")
        if not isinstance(temperatures, dict):
            return cls(
                problem="the calibration record has no per-level temperatures "
                "(older layout)" + rerun
            )
        try:
            values = {str(k): float(v) for k, v in temperatures.items()}
        except (TypeError, ValueError):
            values = {}
        low, high = (math.exp(bound) for bound in LOG_T_BOUNDS)
        if set(values) != set(LEVELS) or not all(
            math.isfinite(t) and low <= t <= high for t in values.values()
        ):
            return cls(problem=f"malformed calibration temperatures {temperatures}" + rerun)
        listed = record.get("thresholds", {})
        if not isinstance(listed, dict):
            return cls(problem=f"malformed calibration thresholds {str(listed)[:80]}" + rerun)
        thresholds = {
            str(k): float(v)
            for k, v in listed.items()
            if isinstance(v, int | float) and 0.0 <= float(v) <= 1.0
        }
        fractions = {}
        for key, default in (
            ("alpha", DEFAULT_ALPHA),
            ("low_confidence_below", LOW_CONFIDENCE_BELOW),
        ):
            value = record.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                return cls(problem=f"malformed calibration field {key}: {str(value)[:80]}" + rerun)
            fractions[key] = float(value)
        return cls(
            temperatures=values,
            alpha=fractions["alpha"],
            thresholds=thresholds,
            low_confidence_below=fractions["low_confidence_below"],
            record=dict(record),
        )

    def levels(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calibrated distributions of the levels from their uncalibrated (T = 1) ones."""
        return {level: tempered(p, self.temperature(level)) for level, p in raw.items()}

    def low_confidence_levels(self, levels: dict[str, np.ndarray]) -> tuple[str, ...]:
        """The levels whose top calibrated probability is below ``low_confidence_below``."""
        unsure = [level for level, p in levels.items() if self.is_low_confidence(float(np.max(p)))]
        return tuple(unsure)

    def is_low_confidence(self, top_probability: float) -> bool:
        """Whether an answer with this top space-group probability is flagged."""
        return top_probability < self.low_confidence_below
