"""The pretrained classifier: measured pattern -> crystal system, extinction group, space group.

The network predicts a 230-way space-group distribution; the crystal-system and
extinction-group distributions are sums of it over their member groups, so the three answers are
always consistent (a crystal system's probability is the total of its space groups').

Confidence (see :mod:`xrdsym.calibration`): where ``model.json`` holds a ``calibration``
record, the logits are divided by its temperature before the softmax, and every answer carries
split-conformal prediction sets (the classes whose probability reaches the set threshold; on
held-out simulated patterns they hold the truth with the recorded coverage, 90 % by default).
Answers whose top space group has a calibrated probability below ``low_confidence_below``
(0.5: more likely wrong than right) are flagged; ``min_confidence`` abstains at each level
whose top probability is below it.

Every answer states its provenance (model, wavelength and where it came from, range read and
share of the model grid covered, reader events, warnings), in text and in ``to_dict()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.calibration import Calibration, prediction_set
from xrdsym.errors import ModelFileError, PatternFileError, XrdsymError
from xrdsym.inference import (
    ONNX_NAME,
    Backend,
    OnnxBackend,
    TorchBackend,
    file_sha256,
    onnx_is_current,
    onnxruntime_available,
)
from xrdsym.patterns.grid import Grid

#: Folder of the bundled pretrained model inside the package.
BUNDLED_MODEL_PACKAGE = "xrdsym.pretrained"

#: The shipped space-group table (symbols, crystal systems, extinction groups).
TABLE_RESOURCE = "space_group_table.json"

#: A measured step coarser than this (degrees 2theta at the grid wavelength) draws a warning:
#: the training patterns are sampled every 0.02 degrees and lab peaks are 0.03-0.1 degrees wide.
COARSE_STEP = 0.1

#: Fewer measured points than this draw a warning.
FEW_POINTS = 500

#: A scan covering less than this share of the model grid draws a warning.
LOW_COVERAGE = 0.5

#: Relative difference between a file's wavelength and an overriding one that draws a warning.
WAVELENGTH_MISMATCH = 0.005

#: A profile has steady steps: a median absolute deviation of the 2theta steps above this share
#: of the median step marks a peak list (stick pattern) rather than a scan.
IRREGULAR_STEPS = 0.25

LEVELS = ("crystal_system", "extinction_group", "space_group")


# --------------------------------------------------------------------------- label table


@dataclass(frozen=True)
class SpaceGroupTable:
    """Symbols and memberships of the 230 space groups, shipped as data (no spglib at start-up).

    Attributes:
        symbols: (230,) Hermann-Mauguin symbols, index = number - 1.
        crystal_systems: the seven names, index = crystal-system label.
        system_of: (230,) crystal-system index of each space group.
        extinction_of: (230,) extinction-group index (0-100) of each space group.
    """

    symbols: tuple[str, ...]
    crystal_systems: tuple[str, ...]
    system_of: np.ndarray
    extinction_of: np.ndarray

    @cached_property
    def extinction_members(self) -> tuple[tuple[int, ...], ...]:
        """Space-group numbers of each extinction group, increasing."""
        n = int(self.extinction_of.max()) + 1
        return tuple(
            tuple(int(i) + 1 for i in np.flatnonzero(self.extinction_of == g)) for g in range(n)
        )

    @cached_property
    def extinction_symbols(self) -> tuple[str, ...]:
        """An extinction group named by its member space groups: ``Pna2_1, Pnma``."""
        return tuple(
            ", ".join(self.symbols[n - 1] for n in members) for members in self.extinction_members
        )

    def reconcile(self, p_space_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crystal-system, extinction-group) probabilities: sums over member space groups.

        Works on (230,) or (n, 230); p_level[..., c] = sum of p[..., g] over g in class c.
        """
        p = np.asarray(p_space_group, dtype=np.float64)
        system = np.zeros((*p.shape[:-1], len(self.crystal_systems)))
        extinction = np.zeros((*p.shape[:-1], len(self.extinction_members)))
        np.add.at(system.T, self.system_of, np.moveaxis(p, -1, 0))
        np.add.at(extinction.T, self.extinction_of, np.moveaxis(p, -1, 0))
        return system, extinction


def space_group_table_data() -> dict[str, Any]:
    """The table as derived by :mod:`xrdsym.symmetry` (spglib), in the shipped JSON layout."""
    from xrdsym.symmetry import CRYSTAL_SYSTEMS, space_groups

    return {
        "crystal_systems": list(CRYSTAL_SYSTEMS),
        "space_groups": [
            [s.number, s.symbol, CRYSTAL_SYSTEMS.index(s.crystal_system), s.extinction_group]
            for s in space_groups()
        ],
    }


def load_space_group_table() -> SpaceGroupTable:
    """The shipped table (``space_group_table.json``)."""
    text = resources.files("xrdsym").joinpath(TABLE_RESOURCE).read_text()
    data = json.loads(text)
    rows = data["space_groups"]
    return SpaceGroupTable(
        symbols=tuple(str(r[1]) for r in rows),
        crystal_systems=tuple(data["crystal_systems"]),
        system_of=np.array([r[2] for r in rows], dtype=np.int64),
        extinction_of=np.array([r[3] for r in rows], dtype=np.int64),
    )


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class CrystalSystemScore:
    """One crystal system and its probability."""

    label: str
    probability: float


@dataclass(frozen=True)
class ExtinctionGroupScore:
    """One extinction group: index 0-100, symbol (its member space groups), probability."""

    index: int
    space_groups: tuple[int, ...]
    probability: float
    symbol: str = ""


@dataclass(frozen=True)
class SpaceGroupScore:
    """One space group (number and Hermann-Mauguin symbol) and its probability."""

    number: int
    symbol: str
    probability: float


@dataclass(frozen=True)
class Provenance:
    """Where an answer comes from.

    Attributes:
        model: ``name`` (architecture), ``version``, ``backend``, ``calibrated``.
        wavelength: wavelength of the measurement in Angstrom (None for none).
        wavelength_source: ``file``, ``command line``, ``argument`` or ``simulation``.
        two_theta_range: (first, last) angle read, degrees at the measurement wavelength.
        points: number of points read.
        grid_coverage: share of the model grid's range the measurement covers, 0-1.
        format: the reader that read the file.
        events: what the reader did to the data (rows repaired, scan k of N used, ...).
        warnings: what the user should check.
    """

    model: dict[str, Any]
    wavelength: float | None = None
    wavelength_source: str = ""
    two_theta_range: tuple[float, float] | None = None
    points: int = 0
    grid_coverage: float = 0.0
    format: str = ""
    events: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model": dict(self.model),
            "wavelength": self.wavelength,
            "wavelength_source": self.wavelength_source,
            "two_theta_range": None if self.two_theta_range is None else list(self.two_theta_range),
            "points": self.points,
            "grid_coverage": round(self.grid_coverage, 4),
            "format": self.format,
            "events": list(self.events),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Prediction:
    """Top-k answers for one pattern at the three levels, each sorted by probability.

    Attributes:
        prediction_sets: per level, the labels of the conformal prediction set (crystal-system
            names, extinction-group indices, space-group numbers); empty when uncalibrated.
        coverage: the stated coverage of the sets (e.g. 0.9), or None.
        low_confidence: the top space group is more likely wrong than right (calibrated).
        abstained: the levels whose top probability is below ``min_confidence``.
        probabilities: the full space-group distribution (230,), for figures and tables.
    """

    source: str
    crystal_system: tuple[CrystalSystemScore, ...]
    extinction_group: tuple[ExtinctionGroupScore, ...]
    space_group: tuple[SpaceGroupScore, ...]
    prediction_sets: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    coverage: float | None = None
    low_confidence: bool = False
    abstained: tuple[str, ...] = ()
    provenance: Provenance | None = None
    probabilities: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``file``, the three levels (lists of entries), ``prediction_sets``,
        ``coverage``, ``low_confidence``, ``abstained`` and ``provenance``."""
        return {
            "file": self.source,
            "crystal_system": [vars(s) for s in self.crystal_system],
            "extinction_group": [
                {
                    "index": s.index,
                    "symbol": s.symbol,
                    "space_groups": list(s.space_groups),
                    "probability": s.probability,
                }
                for s in self.extinction_group
            ],
            "space_group": [vars(s) for s in self.space_group],
            "prediction_sets": {k: list(v) for k, v in self.prediction_sets.items()},
            "coverage": self.coverage,
            "low_confidence": self.low_confidence,
            "abstained": list(self.abstained),
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
        }

    def summary_row(self) -> dict[str, Any]:
        """One flat row (for CSV files and DataFrames): top answers, sets and provenance."""
        prov = self.provenance
        row: dict[str, Any] = {"file": self.source}
        for level, scores in zip(LEVELS, self._tops(), strict=True):
            row[level] = None if level in self.abstained else scores[0]
            row[f"{level}_probability"] = scores[1]
            members = self.prediction_sets.get(level, ())
            row[f"{level}_set"] = " ".join(str(m) for m in members)
        row["space_group_number"] = self.space_group[0].number
        row["low_confidence"] = self.low_confidence
        if prov is not None:
            row["wavelength"] = prov.wavelength
            row["wavelength_source"] = prov.wavelength_source
            row["grid_coverage"] = round(prov.grid_coverage, 4)
            row["points"] = prov.points
            row["warnings"] = "; ".join(prov.warnings)
            row["model"] = f"{prov.model.get('name')} {prov.model.get('version')}"
        return row

    def _tops(self) -> tuple[tuple[str, float], ...]:
        """(label, probability) of the top answer at each level."""
        cs, eg, sg = self.crystal_system[0], self.extinction_group[0], self.space_group[0]
        return (
            (cs.label, cs.probability),
            (eg.symbol or str(eg.index), eg.probability),
            (f"{sg.symbol} ({sg.number})", sg.probability),
        )


def _best(p: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest entries, largest first (ties in index order)."""
    return [int(i) for i in np.argsort(-p, kind="stable")[: max(1, k)]]


def top_k_prediction(
    p_space_group: np.ndarray,
    k: int,
    source: str = "",
    table: SpaceGroupTable | None = None,
) -> Prediction:
    """Top-k entries at the three levels from one 230-way space-group distribution."""
    tab = table if table is not None else load_space_group_table()
    p = np.asarray(p_space_group, dtype=np.float64)
    p_system, p_extinction = tab.reconcile(p)
    return Prediction(
        source=source,
        crystal_system=tuple(
            CrystalSystemScore(tab.crystal_systems[i], float(p_system[i]))
            for i in _best(p_system, k)
        ),
        extinction_group=tuple(
            ExtinctionGroupScore(
                i, tab.extinction_members[i], float(p_extinction[i]), tab.extinction_symbols[i]
            )
            for i in _best(p_extinction, k)
        ),
        space_group=tuple(SpaceGroupScore(i + 1, tab.symbols[i], float(p[i])) for i in _best(p, k)),
        probabilities=p,
    )


def predictions_frame(predictions: Iterable[Prediction]) -> Any:
    """A pandas DataFrame with one :meth:`Prediction.summary_row` per prediction."""
    import pandas as pd

    return pd.DataFrame([p.summary_row() for p in predictions])


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True, eq=False)
class Sample:
    """A pattern on the model grid with what is known about where it came from.

    Attributes:
        prepared: the :class:`~xrdsym.patterns.prepare.PreparedPattern` (values, mask, source).
        pattern: the measured pattern as read (None for simulated input).
        wavelength: the measurement wavelength used, Angstrom.
        wavelength_source: where that wavelength came from.
        warnings: warnings raised while preparing.
    """

    prepared: Any
    pattern: Any
    wavelength: float | None
    wavelength_source: str
    warnings: tuple[str, ...] = ()


def reader_events(metadata: dict[str, str]) -> list[str]:
    """Plain-language events from a reader's metadata (rows repaired, scan k of N, ...)."""
    events: list[str] = []
    if metadata.get("repaired_rows"):
        events.append(f"{metadata['repaired_rows']} rows with glued columns repaired")
    for key in ("scans", "blocks", "banks", "ranges"):
        total = int(metadata.get(key, "1") or 1)
        if total > 1:
            events.append(f"scan {metadata.get('scan', '1')} of {total} used")
    if metadata.get("clipped_negative"):
        events.append(f"{metadata['clipped_negative']} negative counts clipped to 0")
    if metadata.get("reversed") == "true":
        events.append("scan recorded from high to low angle; reversed")
    if metadata.get("attenuation_corrected"):
        events.append("counts multiplied by the attenuator factors")
    return events


def looks_like_peak_list(two_theta: np.ndarray, intensity: np.ndarray) -> bool:
    """True for stick patterns: irregular 2theta steps, or mostly exact zeros between spikes.

    A scan steps evenly: the median absolute deviation of its steps is ~0. A peak list (such
    as pymatgen's ``XRDCalculator`` output) has one point per reflection at uneven spacing.
    """
    x = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    if x.size < 3:
        return True
    steps = np.diff(x)
    median = float(np.median(steps))
    irregular = float(np.median(np.abs(steps - median))) > IRREGULAR_STEPS * abs(median)
    sticks = y.size >= 100 and float(np.mean(y == 0.0)) > 0.9
    return irregular or sticks


def measurement_warnings(
    pattern: Any, lam: float, file_wavelength: float | None, grid: Grid, coverage: float
) -> list[str]:
    """Warnings about a measurement: coarse or short scans, partial range, wavelength clash.

    The step is compared at the grid wavelength: d(2theta_grid) ~ (lambda_grid / lambda) *
    d(2theta) at low angles.
    """
    warnings: list[str] = []
    x = np.asarray(pattern.two_theta)
    step = float(np.median(np.diff(x))) * grid.wavelength / lam
    if step > COARSE_STEP:
        warnings.append(
            f"coarse scan: step {step:.3f} deg (at {grid.wavelength:g} A) is above "
            f"{COARSE_STEP} deg; narrow peaks are undersampled"
        )
    if x.size < FEW_POINTS:
        warnings.append(f"short scan: only {x.size} points read (fewer than {FEW_POINTS})")
    if coverage < LOW_COVERAGE:
        warnings.append(
            f"the scan covers {coverage:.0%} of the model's {grid.start:g}-{grid.stop:g} deg "
            "range; the rest is zero-filled"
        )
    if file_wavelength is not None and abs(lam - file_wavelength) > WAVELENGTH_MISMATCH * lam:
        warnings.append(f"the file states {file_wavelength:g} A; {lam:g} A was used as requested")
    return warnings


# --------------------------------------------------------------------------- classifier


class Classifier:
    """A trained network with its input contract (grid, wavelength, normalisation).

    Attributes:
        backend: the forward pass (ONNX Runtime or torch).
        config: the model's JSON config (architecture, grid, labels, calibration, metrics).
        grid: the 2theta grid the model reads.
        calibration: temperature and conformal thresholds (identity when uncalibrated).
        classes_: (230,) space-group numbers, the order of ``predict_proba``'s columns.
    """

    def __init__(
        self,
        model: Any,
        config: dict[str, Any],
        backend: Backend | None = None,
        version: str | None = None,
    ) -> None:
        if backend is None and model is None:
            raise ValueError("a Classifier needs a torch model or a backend")
        self.backend: Backend = backend if backend is not None else TorchBackend(model)
        self.config = config
        grid = config.get("grid", {})
        self.grid = Grid(
            start=float(grid.get("start", 10.0)),
            stop=float(grid.get("stop", 110.0)),
            n_points=int(grid.get("n_points", 10001)),
            wavelength=float(grid.get("wavelength", Grid().wavelength)),
        )
        self.calibration = Calibration.from_config(config.get("calibration"))
        self.table = load_space_group_table()
        self.classes_ = np.arange(1, 231)
        self.version = version or str(config.get("version") or "unversioned")

    @property
    def model(self) -> Any:
        """The torch module (torch backend only)."""
        return getattr(self.backend, "model", None)

    def model_info(self) -> dict[str, Any]:
        """Name, version, backend and calibration state, as reported in every answer."""
        return {
            "name": str(self.config.get("architecture", "?")),
            "version": self.version,
            "backend": self.backend.name,
            "calibrated": self.calibration.calibrated,
        }

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

    def predict_proba_prepared(self, values: np.ndarray) -> np.ndarray:
        """Calibrated space-group probabilities (n, 230) of prepared patterns (n, L)."""
        return self.calibration.probabilities(self.predict_logits(values))

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
            raise PatternFileError(_peak_list_message(pattern.source))
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
        from xrdsym.patterns.grid import wavelength_from_name

        lam = wavelength_from_name(wavelength)
        x = np.asarray(two_theta, dtype=np.float64).ravel()
        y = np.asarray(intensity, dtype=np.float64).ravel()
        if x.shape == y.shape and x.size >= 3 and looks_like_peak_list(np.sort(x), y):
            raise PatternFileError(_peak_list_message(source))
        pattern = validated_pattern(x, y, source, wavelength=lam)
        return self._prepare(pattern, lam, "argument")

    def read_sample(
        self, path: str | Path, wavelength: float | str | None = None, origin: str = "argument"
    ) -> Sample:
        """Read a pattern file (any supported format) and prepare it for the model.

        ``wavelength`` (Angstrom or an anode name) overrides the file's; ``origin`` names where
        it came from in the provenance (``command line`` for the CLI).

        Raises:
            XrdsymError: unreadable file, unknown wavelength, too short a range (names the file).
        """
        from xrdsym.io import read_pattern
        from xrdsym.patterns.grid import wavelength_from_name

        pattern = read_pattern(path)
        try:
            lam = None if wavelength is None else wavelength_from_name(wavelength)
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
        return self.predict_proba_prepared(self.prepare_file(path, wavelength).values)[0]

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
        from xrdsym.patterns.grid import wavelength_from_name
        from xrdsym.patterns.prepare import PreparedPattern, normalize_intensity
        from xrdsym.patterns.profile import render_pattern
        from xrdsym.simulate import CLEAN_PARAMS

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
        p_space_group: np.ndarray,
        k: int = 3,
        min_confidence: float | None = None,
    ) -> Prediction:
        """The full answer for one prepared sample and its space-group probabilities."""
        base = top_k_prediction(p_space_group, k, sample.prepared.source, self.table)
        p = np.asarray(p_space_group, dtype=np.float64)
        p_system, p_extinction = self.table.reconcile(p)
        levels = {"crystal_system": p_system, "extinction_group": p_extinction, "space_group": p}
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
                sets[level] = tuple(int(i) for i in members)
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
            low_confidence=low,
            abstained=abstained,
            provenance=self.provenance(sample),
            probabilities=p,
        )

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
                warnings=sample.warnings,
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
            warnings=sample.warnings,
        )

    def classify_samples(
        self, samples: Sequence[Sample], k: int = 3, min_confidence: float | None = None
    ) -> list[Prediction]:
        """Answers for prepared samples, in one batched forward pass."""
        if not samples:
            return []
        p = self.predict_proba_prepared(np.stack([s.prepared.values for s in samples]))
        return [self.answer(s, p[i], k, min_confidence) for i, s in enumerate(samples)]

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
        """Top-k answers at the three levels from space-group probabilities."""
        return top_k_prediction(p_space_group, k, source, self.table)

    def figure(self, prediction: Prediction, sample: Sample, sqrt: bool = False) -> Any:
        """The matplotlib Figure of an answer (see :func:`xrdsym.plotting.prediction_figure`)."""
        from xrdsym.plotting import prediction_figure

        return prediction_figure(sample, self.grid, prediction, self.table, sqrt=sqrt)


def _peak_list_message(source: str) -> str:
    """The error for a stick pattern passed as a profile."""
    return (
        f"{source}: this looks like a peak list (stick pattern: uneven 2theta steps or "
        "isolated spikes), not a measured profile; classify it with Classifier.classify_peaks, "
        "which renders the peaks"
    )


# --------------------------------------------------------------------------- loading


def bundled_model_dir() -> Path:
    """The folder of the pretrained model shipped with the package."""
    return Path(str(resources.files(BUNDLED_MODEL_PACKAGE)))


def read_config(folder: Path) -> dict[str, Any]:
    """The ``model.json`` of a model folder (without importing torch).

    Raises:
        ModelFileError: missing, not JSON, or without an architecture name.
    """
    path = folder / "model.json"
    if not path.is_file():
        raise ModelFileError(f"{path}: model config file not found")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a valid JSON model config ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        raise ModelFileError(f"{path}: no 'architecture' name in the model config")
    return config


def _check_onnx_grid(folder: Path, config: dict[str, Any]) -> None:
    """The exported input length must be the grid's."""
    record = config.get("onnx", {})
    n_points = int(config.get("grid", {}).get("n_points", 10001))
    if int(record.get("input_length", n_points)) != n_points:
        raise ModelFileError(
            f"{folder / ONNX_NAME}: exported for {record.get('input_length')} grid points, "
            f"the model grid has {n_points}"
        )


def load_model(path: str | Path | None = None, backend: str = "auto") -> Classifier:
    """Load a classifier from a model folder (``model.safetensors`` + ``model.json``), offline.

    Without ``path`` the bundled pretrained model is loaded. Nothing is unpickled.

    Args:
        path: model folder.
        backend: ``onnx`` (``model.onnx`` with ONNX Runtime, no torch import), ``torch``, or
            ``auto``: ONNX when the export is current for the weights and ONNX Runtime is
            installed, else torch.

    Raises:
        ModelFileError: missing or broken files, or an ONNX backend that cannot be used.
    """
    folder = Path(path) if path is not None else bundled_model_dir()
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: model folder not found")
    if backend not in ("auto", "onnx", "torch"):
        raise XrdsymError(f"unknown backend {backend!r}; use auto, onnx or torch")
    config = read_config(folder)
    weights = folder / "model.safetensors"
    digest = file_sha256(weights) if weights.is_file() else ""
    version = str(config.get("version") or "") or f"sha256:{digest[:12]}"
    calibration = config.get("calibration")
    if isinstance(calibration, dict) and calibration.get("weights_sha256") not in (None, digest):
        config = {**config, "calibration": None}
    current = onnx_is_current(folder, config)
    if backend == "onnx" or (backend == "auto" and current and onnxruntime_available()):
        if not current:
            raise ModelFileError(
                f"{folder}: no model.onnx exported from the current weights; run "
                f"'xrdsym calibrate {folder} --dataset DATASET' or use the torch backend"
            )
        _check_onnx_grid(folder, config)
        return Classifier(None, config, backend=OnnxBackend(folder / ONNX_NAME), version=version)
    from xrdsym.models import load_pretrained

    model, _ = load_pretrained(folder)
    return Classifier(model, config, version=version)
