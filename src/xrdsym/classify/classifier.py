"""The :class:`Classifier`: a trained network with its input contract, from measured files,
arrays, peak lists or structures to calibrated answers with provenance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.calibration import Calibration, prediction_set, softmax
from xrdsym.classify.answers import (
    Prediction,
    Provenance,
    predictions_frame,
    top_k_levels,
    top_k_prediction,
)
from xrdsym.classify.samples import (
    Sample,
    looks_like_peak_list,
    measurement_warnings,
    peak_list_message,
    reader_events,
)
from xrdsym.errors import PatternFileError, XrdsymError
from xrdsym.inference import Backend, TorchBackend
from xrdsym.model_config import ModelSpec
from xrdsym.spacegroups.table import level_probabilities, load_space_group_table


class Classifier:
    """A trained network with its input contract (grid, wavelength, normalisation).

    Attributes:
        backend: the forward pass (ONNX Runtime or torch).
        spec: the model's ``model.json`` (architecture, grid, calibration, metrics).
        grid: the 2theta grid the model reads.
        calibration: per-level temperatures and conformal thresholds (identity when
            uncalibrated).
        classes_: (230,) space-group numbers, the order of ``predict_proba``'s columns.
    """

    def __init__(
        self,
        model: Any,
        spec: ModelSpec,
        backend: Backend | None = None,
        version: str | None = None,
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

    def predict_logits(self, values: np.ndarray) -> np.ndarray:
        """Space-group logits (n, 230) of prepared patterns (n, grid.n_points)."""
        batch = np.asarray(values, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim != 2 or batch.shape[1] != self.grid.n_points:
            raise XrdsymError(
                f"prepared patterns must have shape (n, {self.grid.n_points}); got {batch.shape}"
            )
        return self.backend.logits(batch)

    def predict_levels_prepared(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated distributions (n, C) of the three levels of prepared patterns (n, L).

        Crystal-system and extinction-group distributions are sums of the network's space-group
        distribution softmax(z) over member groups; each level is then calibrated with its own
        temperature (:meth:`Calibration.levels`), which keeps its ranking.
        """
        return self.calibration.levels(level_probabilities(softmax(self.predict_logits(values))))

    def predict_proba_prepared(self, values: np.ndarray) -> np.ndarray:
        """Calibrated space-group probabilities (n, 230) of prepared patterns (n, L)."""
        return self.predict_levels_prepared(values)["space_group"]

    def predict_proba(
        self,
        X: np.ndarray,
        intensity: np.ndarray | None = None,
        wavelength: float | str | None = None,
    ) -> np.ndarray:
        """Space-group probabilities, scikit-learn style.

        ``predict_proba(X)``: X is a batch (n, L) (or one pattern (L,)) already on the model
        grid (``grid.two_theta()``, normalised to [0, 1]); returns (n, 230).

        ``predict_proba(two_theta, intensity, wavelength)``: one measured pattern as arrays
        (angles in degrees, counts; wavelength in Angstrom or an anode name); returns (230,).
        """
        if intensity is None:
            return self.predict_proba_prepared(np.atleast_2d(np.asarray(X)))
        if wavelength is None:
            raise XrdsymError("predict_proba(two_theta, intensity) needs the wavelength")
        sample = self.prepare_arrays(X, intensity, wavelength)
        return self.predict_proba_prepared(sample.prepared.values)[0]

    # ---- inputs

    def _prepare(
        self, pattern: Any, wavelength: float | None, origin: str, check_sticks: bool = True
    ) -> Sample:
        """Prepare a measured pattern and collect its warnings."""
        from xrdsym.patterns.prepare import prepare_pattern

        if check_sticks and looks_like_peak_list(pattern.two_theta, pattern.intensity):
            raise PatternFileError(peak_list_message(pattern.source))
        prepared = prepare_pattern(pattern, self.grid, wavelength=wavelength)
        lam = float(wavelength if wavelength is not None else pattern.wavelength)
        source = origin if wavelength is not None else "file"
        coverage = float(np.mean(prepared.mask))
        warnings = measurement_warnings(pattern, lam, pattern.wavelength, self.grid, coverage)
        return Sample(prepared, pattern, lam, source, tuple(warnings))

    def prepare_arrays(
        self, two_theta: Any, intensity: Any, wavelength: float | str, source: str = "<array>"
    ) -> Sample:
        """A measured pattern given as arrays, checked like a file and put on the grid."""
        from xrdsym.io import validated_pattern
        from xrdsym.wavelengths import wavelength_from_name

        lam = wavelength_from_name(wavelength)
        x = np.asarray(two_theta, dtype=np.float64).ravel()
        y = np.asarray(intensity, dtype=np.float64).ravel()
        if x.shape == y.shape and x.size >= 3 and looks_like_peak_list(np.sort(x), y):
            raise PatternFileError(peak_list_message(source))
        pattern = validated_pattern(x, y, source, wavelength=lam)
        return self._prepare(pattern, lam, "argument")

    def read_sample(
        self,
        path: str | Path,
        wavelength: float | str | None = None,
        origin: str = "argument",
        fallback: float | str | None = None,
    ) -> Sample:
        """Read a pattern file (any supported format) and prepare it for the model.

        ``wavelength`` (Angstrom or a line name) overrides the file's; ``fallback`` is used
        only where the file states none; ``origin`` names where either came from in the
        provenance (``command line`` for the CLI).

        Raises:
            XrdsymError: unreadable file, unknown wavelength, too short a range (names the file).
        """
        from xrdsym.io import read_pattern
        from xrdsym.wavelengths import wavelength_from_name

        pattern = read_pattern(path)
        try:
            lam = None if wavelength is None else wavelength_from_name(wavelength)
            if lam is None and pattern.wavelength is None and fallback is not None:
                lam = wavelength_from_name(fallback)
        except ValueError as exc:
            raise XrdsymError(f"{path}: {exc}") from None
        return self._prepare(pattern, lam, origin)

    def prepare_file(self, path: str | Path, wavelength: float | str | None = None) -> Any:
        """The prepared pattern (:class:`~xrdsym.patterns.prepare.PreparedPattern`) of a file."""
        return self.read_sample(path, wavelength).prepared

    def predict_proba_file(
        self, path: str | Path, wavelength: float | str | None = None
    ) -> np.ndarray:
        """Space-group probabilities (230,) of a pattern file (any supported format)."""
        return self.predict_levels_file(path, wavelength)["space_group"]

    def predict_levels_file(
        self, path: str | Path, wavelength: float | str | None = None
    ) -> dict[str, np.ndarray]:
        """Calibrated distributions of the three levels of a pattern file (any format)."""
        levels = self.predict_levels_prepared(self.prepare_file(path, wavelength).values)
        return {level: p[0] for level, p in levels.items()}

    def peaks_sample(
        self,
        two_theta: Any,
        intensity: Any,
        wavelength: float | str | None = None,
        source: str = "<peaks>",
        origin: str = "argument",
    ) -> Sample:
        """A peak list rendered on the grid with a sharp laboratory profile, as training does.

        Positions are moved to the grid wavelength by Bragg's law, then pseudo-Voigt peaks
        (FWHM^2 = U tan^2 theta + V tan theta + W, U = 0.01, V = -0.005, W = 0.004 deg^2,
        eta = 0.5, integrated intensities conserved) are drawn without background or noise.
        """
        from xrdsym.patterns.bragg import bragg_shift
        from xrdsym.patterns.prepare import PreparedPattern, normalize_intensity
        from xrdsym.patterns.profile import render_pattern
        from xrdsym.simulate import CLEAN_PARAMS
        from xrdsym.wavelengths import wavelength_from_name

        x = np.asarray(two_theta, dtype=np.float64).ravel()
        y = np.asarray(intensity, dtype=np.float64).ravel()
        if x.shape != y.shape or x.size == 0 or not np.all(np.isfinite(x) & np.isfinite(y)):
            raise XrdsymError(
                f"{source}: a peak list needs finite 2theta and intensities of equal length"
            )
        lam = self.grid.wavelength if wavelength is None else wavelength_from_name(wavelength)
        shifted = bragg_shift(x, self.grid.wavelength / lam)
        keep = (y > 0.0) & np.isfinite(shifted)
        positions, heights = shifted[keep], y[keep]
        inside = (positions >= self.grid.start) & (positions <= self.grid.stop)
        if not np.any(inside):
            raise XrdsymError(f"{source}: no peak with positive intensity inside the model range")
        counts = render_pattern(
            positions[inside], heights[inside], self.grid, CLEAN_PARAMS, None, noise=False
        )
        prepared = PreparedPattern(
            values=normalize_intensity(counts),
            mask=np.ones(self.grid.n_points, dtype=bool),
            source=source,
        )
        return Sample(prepared, None, lam, origin if wavelength is not None else "grid", ())

    def structure_sample(self, structure: Any, source: str | None = None) -> Sample:
        """A crystal structure's simulated pattern on the grid (clean laboratory profile).

        ``structure`` is a pymatgen ``Structure``, an xrdsym ``Crystal``, or a CIF file path.
        Peaks: |F_hkl|^2 with multiplicities and the Lorentz-polarization factor of a
        Bragg-Brentano instrument (:func:`xrdsym.patterns.peaks.compute_peaks`).
        """
        from xrdsym.patterns.peaks import compute_peaks
        from xrdsym.patterns.scattering import graphite_monochromator_two_theta
        from xrdsym.structures.crystal import Crystal, crystal_from_pymatgen

        if isinstance(structure, str | Path):
            from xrdsym.structures.reader import read_cif_file

            crystal = read_cif_file(structure)
            name = source or str(structure)
        elif isinstance(structure, Crystal):
            crystal, name = structure, source or "<crystal>"
        else:
            crystal = crystal_from_pymatgen(structure, name=source or "<structure>")
            name = source or str(getattr(structure, "formula", "<structure>"))
        lam = self.grid.wavelength
        peaks = compute_peaks(
            crystal,
            wavelength=lam,
            two_theta_range=(self.grid.start, self.grid.stop),
            monochromator_two_theta=graphite_monochromator_two_theta(lam),
        )
        if len(peaks) == 0:
            raise XrdsymError(f"{name}: no reflection inside the model range")
        sample = self.peaks_sample(peaks.two_theta, peaks.intensity, None, source=name)
        return Sample(sample.prepared, None, lam, "simulation", ())

    # ---- answers

    def answer(
        self,
        sample: Sample,
        levels: dict[str, np.ndarray],
        k: int = 3,
        min_confidence: float | None = None,
    ) -> Prediction:
        """The full answer for one prepared sample and its calibrated level distributions."""
        base = top_k_levels(levels, k, sample.prepared.source, self.table)
        levels = base.levels
        p = levels["space_group"]
        sets: dict[str, tuple[Any, ...]] = {}
        for level, probs in levels.items():
            threshold = self.calibration.thresholds.get(level)
            if threshold is None:
                continue
            members = prediction_set(probs, threshold)
            if level == "crystal_system":
                sets[level] = tuple(self.table.crystal_systems[i] for i in members)
            elif level == "space_group":
                sets[level] = tuple(int(i) + 1 for i in members)
            else:
                sets[level] = tuple(self.table.extinction_symbols[i] for i in members)
        abstained = tuple(
            level
            for level, probs in levels.items()
            if min_confidence is not None and float(probs.max()) < min_confidence
        )
        low = self.calibration.is_low_confidence(float(p.max()))
        return Prediction(
            source=base.source,
            crystal_system=base.crystal_system,
            extinction_group=base.extinction_group,
            space_group=base.space_group,
            prediction_sets=sets,
            coverage=self.calibration.coverage if sets else None,
            set_guarantee=self.calibration.guarantee if sets else "",
            low_confidence=low,
            abstained=abstained,
            provenance=self.provenance(sample),
            levels=levels,
        )

    def answer_warnings(self, sample: Sample) -> tuple[str, ...]:
        """The sample's warnings, and the model's own (a calibration record not used)."""
        if self.calibration.problem:
            return (*sample.warnings, f"model: {self.calibration.problem}")
        return sample.warnings

    def provenance(self, sample: Sample) -> Provenance:
        """The provenance record of a sample."""
        pattern = sample.pattern
        if pattern is None:
            return Provenance(
                model=self.model_info(),
                wavelength=sample.wavelength,
                wavelength_source=sample.wavelength_source,
                grid_coverage=float(np.mean(sample.prepared.mask)),
                format="peak list" if sample.wavelength_source != "simulation" else "structure",
                warnings=self.answer_warnings(sample),
            )
        x = np.asarray(pattern.two_theta)
        return Provenance(
            model=self.model_info(),
            wavelength=sample.wavelength,
            wavelength_source=sample.wavelength_source,
            two_theta_range=(float(x[0]), float(x[-1])),
            points=int(x.size),
            grid_coverage=float(np.mean(sample.prepared.mask)),
            format=str(pattern.metadata.get("format", "")),
            events=tuple(reader_events(pattern.metadata)),
            warnings=self.answer_warnings(sample),
        )

    def classify_samples(
        self, samples: Sequence[Sample], k: int = 3, min_confidence: float | None = None
    ) -> list[Prediction]:
        """Answers for prepared samples, in one batched forward pass."""
        if not samples:
            return []
        levels = self.predict_levels_prepared(np.stack([s.prepared.values for s in samples]))
        return [
            self.answer(s, {level: p[i] for level, p in levels.items()}, k, min_confidence)
            for i, s in enumerate(samples)
        ]

    def classify_file(
        self,
        path: str | Path,
        wavelength: float | str | None = None,
        k: int = 3,
        min_confidence: float | None = None,
    ) -> Prediction:
        """The answer for one pattern file."""
        return self.classify_samples([self.read_sample(path, wavelength)], k, min_confidence)[0]

    def classify_pattern(
        self,
        two_theta: Any,
        intensity: Any,
        wavelength: float | str,
        k: int = 3,
        min_confidence: float | None = None,
    ) -> Prediction:
        """The answer for a measured profile given as arrays (a peak list is refused)."""
        sample = self.prepare_arrays(two_theta, intensity, wavelength)
        return self.classify_samples([sample], k, min_confidence)[0]

    def classify_peaks(
        self,
        two_theta: Any,
        intensity: Any,
        wavelength: float | str | None = None,
        k: int = 3,
        min_confidence: float | None = None,
    ) -> Prediction:
        """The answer for a peak list (positions in degrees, integrated intensities), rendered.

        Without ``wavelength`` the positions are taken at the grid wavelength (Cu K-alpha1).
        """
        sample = self.peaks_sample(two_theta, intensity, wavelength)
        return self.classify_samples([sample], k, min_confidence)[0]

    def classify_structure(
        self, structure: Any, k: int = 3, min_confidence: float | None = None
    ) -> Prediction:
        """The answer for a pymatgen Structure, an xrdsym Crystal or a CIF file."""
        return self.classify_samples([self.structure_sample(structure)], k, min_confidence)[0]

    def classify_files(
        self,
        paths: Iterable[str | Path],
        wavelength: float | str | None = None,
        k: int = 3,
        min_confidence: float | None = None,
    ) -> Any:
        """A DataFrame with one row per readable file (see :func:`predictions_frame`)."""
        samples = [self.read_sample(p, wavelength) for p in paths]
        return predictions_frame(self.classify_samples(samples, k, min_confidence))

    def predict(self, p_space_group: np.ndarray, k: int = 3, source: str = "") -> Prediction:
        """Top-k answers at the three levels from space-group probabilities (summed, as given)."""
        return top_k_prediction(p_space_group, k, source, self.table)

    def figure(self, prediction: Prediction, sample: Sample, sqrt: bool = False) -> Any:
        """The matplotlib Figure of an answer (see :func:`xrdsym.plotting.prediction_figure`)."""
        from xrdsym.plotting import prediction_figure

        return prediction_figure(sample, self.grid, prediction, self.table, sqrt=sqrt)
