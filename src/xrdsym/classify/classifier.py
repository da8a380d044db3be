"""The :class:`Classifier`: a trained network with its input contract (grid, calibration),
from prepared patterns or :class:`~xrdsym.classify.samples.Sample` objects to calibrated
answers with provenance.

A scikit-learn-like surface: ``predict_proba(X)`` gives (n, 230) calibrated space-group
probabilities in the order of ``classes_`` (space-group numbers 1-230), ``predict(X)`` the
most likely space-group number of each pattern, and ``classify(X)`` the full answers
(:class:`~xrdsym.classify.answers.Prediction`). ``X`` is a batch of prepared patterns
(n, grid.n_points) or a sequence of samples; :mod:`xrdsym.classify.samples` makes samples
from files, arrays, peak lists and structures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from xrdsym.calibration import (
    Calibration,
    fitted_source,
    prediction_set,
    softmax,
    stated_guarantee,
)
from xrdsym.classify.answers import Prediction, Provenance, top_k_levels
from xrdsym.classify.joint import EvidenceWeight, index_samples, join_levels, network_only
from xrdsym.classify.samples import Sample, reader_events
from xrdsym.errors import XrdsymError
from xrdsym.indexing.results import IndexingResult
from xrdsym.inference import Backend, TorchBackend
from xrdsym.model_config import ModelSpec
from xrdsym.plotting import prediction_figure
from xrdsym.spacegroups.table import level_probabilities, load_space_group_table


def non_finite_message(source: str) -> str:
    """The error of a pattern whose network output is not finite."""
    return (
        f"{source}: the model gives non-finite scores for this pattern (NaN or infinite "
        "logits or probabilities); no answer is given. A damaged model or calibration "
        "record is the likely cause"
    )


#: What the classifier reads: prepared patterns (n, L) or (L,), one sample or several.
Inputs = np.ndarray | Sample | Sequence[Sample]


class Classifier:
    """A trained network with its input contract (grid, wavelength, normalisation).

    Attributes:
        backend: the forward pass (ONNX Runtime or torch).
        spec: the model's ``model.json`` (architecture, grid, calibration, metrics).
        grid: the 2theta grid the model reads.
        calibration: per-level temperatures and conformal thresholds (identity when
            uncalibrated).
        table: the space-group table naming the classes.
        evidence_weight: fitted probability that an indexed cell is right, which joins the
            indexing with the network (None: the network's answer stands).
        classes_: (230,) space-group numbers, the order of ``predict_proba``'s columns.
        version: the model version reported in every answer.
    """

    def __init__(
        self,
        model: Any,
        spec: ModelSpec,
        backend: Backend | None = None,
        version: str | None = None,
        evidence_weight: EvidenceWeight | None = None,
    ) -> None:
        if backend is None and model is None:
            raise ValueError("a Classifier needs a torch model or a backend")
        self.backend: Backend = backend if backend is not None else TorchBackend(model)
        self.spec = spec
        self.grid = spec.grid
        calibration = None if spec.calibration is None else dict(spec.calibration)
        self.calibration = Calibration.from_config(calibration)
        self.table = load_space_group_table()
        self.classes_ = np.arange(1, 231)
        self.version = version or spec.version or "unversioned"
        self.evidence_weight = evidence_weight

    @property
    def model(self) -> Any:
        """The torch module (torch backend only)."""
        return getattr(self.backend, "model", None)

    def model_info(self) -> dict[str, Any]:
        """Name, version, backend and calibration state, as reported in every answer."""
        info: dict[str, Any] = {
            "name": self.spec.architecture,
            "version": self.version,
            "backend": self.backend.name,
            "calibrated": self.calibration.calibrated,
        }
        if self.calibration.problem:
            info["calibration_problem"] = self.calibration.problem
        return info

    # ---- probabilities

    def _batch(self, X: Inputs) -> np.ndarray:
        """Prepared patterns (n, grid.n_points) float32 of any accepted input."""
        if isinstance(X, Sample):
            X = [X]
        if isinstance(X, Sequence) and not isinstance(X, np.ndarray):
            if not all(isinstance(s, Sample) for s in X):
                raise XrdsymError("a sequence given to the classifier must hold Sample objects")
            if not X:
                return np.zeros((0, self.grid.n_points), dtype=np.float32)
            X = np.stack([s.prepared.values for s in X])
        batch = np.asarray(X, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim != 2 or batch.shape[1] != self.grid.n_points:
            raise XrdsymError(
                f"prepared patterns must have shape (n, {self.grid.n_points}); got {batch.shape}"
            )
        return batch

    def predict_logits(self, X: Inputs) -> np.ndarray:
        """Space-group logits (n, 230) of prepared patterns or samples."""
        batch = self._batch(X)
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.classes_)))
        return self.backend.logits(batch)

    def levels_and_failures(self, X: Inputs) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Calibrated level distributions (n, C), and a mask (n,) of the patterns whose
        logits or probabilities are not all finite (no answer is given for those).

        Crystal-system and extinction-group distributions are sums of the network's space-group
        distribution softmax(z) over member groups; each level is then calibrated with its own
        temperature (:meth:`Calibration.levels`), which keeps its ranking.
        """
        logits = self.predict_logits(X)
        failed = ~np.all(np.isfinite(logits), axis=1)
        probabilities = softmax(np.where(failed[:, None], 0.0, logits))
        failed |= ~np.all(np.isfinite(probabilities), axis=1)
        probabilities[failed] = 1.0 / probabilities.shape[1]  # placeholder, never an answer
        levels = self.calibration.levels(level_probabilities(probabilities))
        for p in levels.values():
            failed |= ~np.all(np.isfinite(p), axis=1)
        return levels, failed

    def predict_levels(self, X: Inputs) -> dict[str, np.ndarray]:
        """Calibrated distributions (n, C) of the three levels (see
        :meth:`levels_and_failures`).

        Raises:
            XrdsymError: a pattern whose logits or probabilities are not finite.
        """
        levels, failed = self.levels_and_failures(X)
        if np.any(failed):
            raise XrdsymError(non_finite_message(f"pattern {int(np.argmax(failed)) + 1}"))
        return levels

    def predict_proba(self, X: Inputs) -> np.ndarray:
        """Calibrated space-group probabilities (n, 230), columns in the order of ``classes_``.

        ``X``: prepared patterns (n, grid.n_points) (one pattern (L,) counts as n = 1), or
        samples (:mod:`xrdsym.classify.samples`).
        """
        return self.predict_levels(X)["space_group"]

    def predict(self, X: Inputs) -> np.ndarray:
        """The most likely space-group number (n,) of each pattern of ``X`` (as
        :meth:`predict_proba`)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # ---- answers

    def classify(
        self,
        X: Sample | Sequence[Sample],
        k: int = 3,
        min_confidence: float | None = None,
        index: bool = True,
        jobs: int = 1,
    ) -> list[Prediction]:
        """The full answer of each sample, in one batched forward pass.

        ``X``: one sample or several; prepared arrays have no provenance and are refused.
        ``k`` answers per level; ``min_confidence`` abstains at each level whose top
        probability is below it. With ``index`` each measured profile is also indexed (on
        ``jobs`` processes) and the answer joined with the network's
        (:mod:`xrdsym.classify.joint`); peak lists and structures are not indexed.

        Raises:
            XrdsymError: naming the first sample without a finite answer.
        """
        answers = self.classify_each(X, k, min_confidence, index, jobs)
        for answer in answers:
            if isinstance(answer, XrdsymError):
                raise answer
        return answers  # type: ignore[return-value]

    def classify_each(
        self,
        X: Sample | Sequence[Sample],
        k: int = 3,
        min_confidence: float | None = None,
        index: bool = True,
        jobs: int = 1,
    ) -> list[Prediction | XrdsymError]:
        """As :meth:`classify`, but a sample whose network output is not finite gets the
        error naming its source in place of an answer (it is not indexed), and the others are
        answered."""
        samples = [X] if isinstance(X, Sample) else list(X)
        if not all(isinstance(s, Sample) for s in samples):
            raise XrdsymError("classify takes samples (xrdsym.classify.read_sample, ...)")
        if not samples:
            return []
        levels, failed = self.levels_and_failures(samples)
        answered = [i for i in range(len(samples)) if not failed[i]]
        indexing = (
            dict(zip(answered, index_samples([samples[i] for i in answered], jobs), strict=True))
            if index
            else {}
        )
        return [
            XrdsymError(non_finite_message(s.prepared.source))
            if failed[i]
            else self._joined_answer(
                s, {level: p[i] for level, p in levels.items()}, k, min_confidence, indexing.get(i)
            )
            for i, s in enumerate(samples)
        ]

    def _joined_answer(
        self,
        sample: Sample,
        network: dict[str, np.ndarray],
        k: int,
        min_confidence: float | None,
        indexing: IndexingResult | None,
    ) -> Prediction:
        """The answer from the network's levels joined with the sample's indexing (None: not
        indexed)."""
        if indexing is None or self.evidence_weight is None:
            joined = network_only(network)
        else:
            joined = join_levels(network, indexing, self.evidence_weight, self.table)
        answer = self._answer(sample, joined.levels, k, min_confidence)
        provenance = answer.provenance
        if indexing is not None and self.evidence_weight is None and provenance is not None:
            note = "model: no fitted indexing weight; the network's answer stands"
            provenance = replace(provenance, warnings=(*provenance.warnings, note))
        if joined.cell_probability > 0.0 and answer.prediction_sets:
            answer = replace(answer, **self._joined_sets(joined.levels, network, answer))
        return replace(
            answer,
            provenance=provenance,
            indexing=indexing,
            cell_probability=joined.cell_probability,
            other_cells_probability=joined.other_cells_probability,
            cell_confident=joined.confident,
            decided_by=joined.decided_by,
        )

    def _answer(
        self,
        sample: Sample,
        levels: dict[str, np.ndarray],
        k: int,
        min_confidence: float | None,
    ) -> Prediction:
        """The answer for one sample and its calibrated level distributions."""
        base = top_k_levels(levels, k, sample.prepared.source, self.table)
        levels = base.levels
        sets = self._prediction_sets(levels)
        abstained = tuple(
            level
            for level, probs in levels.items()
            if min_confidence is not None and float(probs.max()) < min_confidence
        )
        return Prediction(
            source=base.source,
            crystal_system=base.crystal_system,
            extinction_group=base.extinction_group,
            space_group=base.space_group,
            prediction_sets=sets,
            coverage=self.calibration.coverage if sets else None,
            set_guarantee=self.calibration.guarantee if sets else "",
            low_confidence=self.calibration.is_low_confidence(float(levels["space_group"].max())),
            low_confidence_levels=self.calibration.low_confidence_levels(levels),
            abstained=abstained,
            provenance=self._provenance(sample),
            levels=levels,
        )

    def _joined_sets(
        self, joined: dict[str, np.ndarray], network: dict[str, np.ndarray], answer: Prediction
    ) -> dict[str, Any]:
        """Prediction sets and their guarantee where a cell weighs: the joined answer's own
        conformal sets when the evidence weight has thresholds (fitted on validation patterns
        with a cell), else the network's sets, said to be its own."""
        weight = self.evidence_weight
        if weight is None or not weight.set_thresholds:
            return {
                "prediction_sets": self._prediction_sets(network),
                "set_guarantee": f"{answer.set_guarantee}; sets of the network alone",
            }
        fitted = weight.fitted_on
        coverage = float(fitted.get("set_coverage", self.calibration.coverage))
        source = fitted_source(
            fitted.get("dataset"), fitted.get("part"), fitted.get("calibration_patterns")
        )
        guarantee = stated_guarantee(
            coverage,
            "lab-rendered patterns with a cell",
            source,
            list(weight.measured_set_coverage),
        )
        return {
            "prediction_sets": self._prediction_sets(joined, weight.set_thresholds),
            "coverage": coverage,
            "set_guarantee": f"{guarantee}; sets of the joined answer",
        }

    def _prediction_sets(
        self, levels: dict[str, np.ndarray], thresholds: dict[str, float] | None = None
    ) -> dict[str, tuple[Any, ...]]:
        """The conformal set of each calibrated level (names, symbols or numbers) at
        ``thresholds`` (default: the model calibration's, for the network's levels)."""
        cuts = self.calibration.thresholds if thresholds is None else thresholds
        sets: dict[str, tuple[Any, ...]] = {}
        for level, probs in levels.items():
            threshold = cuts.get(level)
            if threshold is None:
                continue
            members = prediction_set(probs, threshold)
            if level == "crystal_system":
                sets[level] = tuple(self.table.crystal_systems[i] for i in members)
            elif level == "space_group":
                sets[level] = tuple(int(i) + 1 for i in members)
            else:
                sets[level] = tuple(self.table.extinction_symbols[i] for i in members)
        return sets

    def _provenance(self, sample: Sample) -> Provenance:
        """The provenance record of a sample, with the model's own warnings."""
        warnings = sample.warnings
        if self.calibration.problem:
            warnings = (*warnings, f"model: {self.calibration.problem}")
        common: dict[str, Any] = {
            "model": self.model_info(),
            "wavelength": sample.wavelength,
            "wavelength_source": sample.wavelength_source,
            "grid_coverage": float(np.mean(sample.prepared.mask)),
            "warnings": warnings,
        }
        pattern = sample.pattern
        if pattern is None:
            simulated = sample.wavelength_source == "simulation"
            return Provenance(**common, format="structure" if simulated else "peak list")
        x = np.asarray(pattern.two_theta)
        return Provenance(
            **common,
            two_theta_range=(float(x[0]), float(x[-1])),
            points=int(x.size),
            format=str(pattern.metadata.get("format", "")),
            events=tuple(reader_events(pattern.metadata)),
        )

    def figure(self, prediction: Prediction, sample: Sample, sqrt: bool = False) -> Any:
        """The matplotlib Figure of an answer (see :func:`xrdsym.plotting.prediction_figure`)."""
        return prediction_figure(sample, self.grid, prediction, self.table, sqrt=sqrt)
