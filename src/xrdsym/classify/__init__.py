"""The pretrained classifier: measured pattern -> crystal system, extinction group, space group.

The network predicts a 230-way space-group distribution; the crystal-system and
extinction-group distributions are sums of it over their member groups (uncalibrated, a crystal
system's probability is the total of its space groups').

Confidence (see :mod:`xrdsym.calibration`): where ``model.json`` holds a ``calibration``
record, each level's distribution is calibrated with that level's temperature (which never
changes a level's ranking, so calibration never changes an answer), and every answer carries
split-conformal prediction sets (the classes whose probability reaches the set threshold; on
held-out simulated patterns they hold the truth with the recorded coverage, 90 % by default).
Answers whose top space group has a calibrated probability below ``low_confidence_below``
(0.5: more likely wrong than right) are flagged; ``min_confidence`` abstains at each level
whose top probability is below it.

Every answer states its provenance (model, wavelength and where it came from, range read and
share of the model grid covered, reader events, warnings), in text and in ``to_dict()``.
"""

from xrdsym.classify.answers import (
    LEVELS,
    CrystalSystemScore,
    ExtinctionGroupScore,
    Prediction,
    Provenance,
    SpaceGroupScore,
    predictions_frame,
    top_k_prediction,
)
from xrdsym.classify.classifier import Classifier
from xrdsym.classify.loading import (
    BUNDLED_MODEL_PACKAGE,
    bundled_model_dir,
    load_model,
)
from xrdsym.classify.samples import (
    COARSE_STEP,
    FEW_POINTS,
    IRREGULAR_STEPS,
    LOW_COVERAGE,
    WAVELENGTH_MISMATCH,
    Sample,
    looks_like_peak_list,
    measurement_warnings,
    read_sample,
    reader_events,
    sample_from_arrays,
    sample_from_pattern,
    sample_from_peaks,
    sample_from_structure,
)

__all__ = [
    "BUNDLED_MODEL_PACKAGE",
    "COARSE_STEP",
    "FEW_POINTS",
    "IRREGULAR_STEPS",
    "LEVELS",
    "LOW_COVERAGE",
    "WAVELENGTH_MISMATCH",
    "Classifier",
    "CrystalSystemScore",
    "ExtinctionGroupScore",
    "Prediction",
    "Provenance",
    "Sample",
    "SpaceGroupScore",
    "bundled_model_dir",
    "load_model",
    "looks_like_peak_list",
    "measurement_warnings",
    "predictions_frame",
    "read_sample",
    "reader_events",
    "sample_from_arrays",
    "sample_from_pattern",
    "sample_from_peaks",
    "sample_from_structure",
    "top_k_prediction",
]
