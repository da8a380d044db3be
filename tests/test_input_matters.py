"""The bundled model reads its input: a model fed zeros must do worse on every check here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xrdsym.classify import bundled_model_dir, load_model, read_sample
from xrdsym.spacegroups import label_maps, reconcile_probabilities

EXAMPLE = bundled_model_dir().parent / "examples" / "PbSO4_CuKa.csv"
PNMA = 62

#: Random-profile renderings per structure of the simulated set.
RENDERINGS = 3


def _rank(p: np.ndarray, number: int) -> int:
    """1-based rank of space group ``number`` in a distribution."""
    return int(np.sum(p > p[number - 1])) + 1


def test_pbso4_scan_ranks_pnma_near_the_top_and_above_a_blank_input() -> None:
    classifier = load_model()
    p = classifier.predict_proba(read_sample(EXAMPLE, classifier.grid, "CuKa1"))[0]
    blank = classifier.predict_proba(np.zeros(classifier.grid.n_points))[0]
    assert _rank(p, PNMA) <= 5
    assert _rank(p, PNMA) < _rank(blank, PNMA)


def _simulated_set(classifier: Any, shared: Path) -> tuple[np.ndarray, np.ndarray]:
    """Randomly profiled patterns of the labelled xred CIFs: (values (n, L), space groups)."""
    import csv

    from xrdsym.patterns.peaks import compute_peaks
    from xrdsym.patterns.prepare import normalize_intensity
    from xrdsym.patterns.profile import render_pattern
    from xrdsym.patterns.profile_params import PAPER_RANGES, sample_profile_params
    from xrdsym.structures.reader import read_cif_file

    folder = shared / "data" / "experimental" / "xred"
    rows = list(csv.DictReader((folder / "labels.csv").open()))
    rng = np.random.default_rng(0)
    values, labels = [], []
    for row in rows:
        cif = folder / (Path(row["file"]).stem + ".cif")
        if not cif.is_file():
            continue
        peaks = compute_peaks(
            read_cif_file(cif),
            wavelength=classifier.grid.wavelength,
            two_theta_range=(classifier.grid.start, classifier.grid.stop),
        )
        for _ in range(RENDERINGS):
            params = sample_profile_params(rng, PAPER_RANGES)
            counts = render_pattern(peaks.two_theta, peaks.intensity, classifier.grid, params, rng)
            values.append(normalize_intensity(counts))
            labels.append(int(row["space_group"]))
    return np.stack(values), np.array(labels)


def test_simulated_set_beats_the_same_model_fed_zeros(shared_dir: Path) -> None:
    classifier = load_model()
    values, labels = _simulated_set(classifier, shared_dir)
    assert len(labels) >= 45
    truth = label_maps()[0][labels - 1]
    p = classifier.predict_proba(values)
    blank = classifier.predict_proba(np.zeros_like(values))
    system, _ = reconcile_probabilities(p)
    blank_system, _ = reconcile_probabilities(blank)
    accuracy = np.mean(system.argmax(axis=1) == truth)
    floor = np.mean(blank_system.argmax(axis=1) == truth)
    assert accuracy >= floor + 0.1, (accuracy, floor)
    log_likelihood = np.mean(np.log(p[np.arange(len(labels)), labels - 1]))
    blank_likelihood = np.mean(np.log(blank[np.arange(len(labels)), labels - 1]))
    assert log_likelihood > blank_likelihood


@pytest.mark.parametrize("backend", ["torch"])
def test_blank_input_is_not_what_the_scan_gives(backend: str) -> None:
    classifier = load_model(backend=backend)
    p = classifier.predict_proba(read_sample(EXAMPLE, classifier.grid, "CuKa1"))[0]
    blank = classifier.predict_proba(np.zeros(classifier.grid.n_points))[0]
    assert np.abs(p - blank).max() > 0.01
