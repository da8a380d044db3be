"""End-to-end classification speed: one file (read, prepare, predict) and a batch of files.

Runs the bundled model and, side by side as the baseline, the paper's space-group CNN
(same input pipeline, untrained weights: speed does not depend on the weight values).

    python benchmarks/bench_classify.py [--files 88] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from xrdsym.classify import Classifier, load_model
from xrdsym.io import read_pattern
from xrdsym.models import create_model
from xrdsym.patterns.prepare import prepare_pattern

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "experimental"


def time_one_file(classifier: Classifier, path: Path, repeat: int) -> float:
    """Best wall time (s) of read + prepare + predict for one file."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        classifier.predict_proba_file(path, wavelength="CuKa")
        best = min(best, time.perf_counter() - start)
    return best


def time_batch(classifier: Classifier, paths: list[Path]) -> float:
    """Files per second for a batch: read and prepare each, one batched forward pass."""
    import numpy as np

    start = time.perf_counter()
    values = []
    for path in paths:
        try:
            values.append(prepare_pattern(read_pattern(path), classifier.grid, 1.540562).values)
        except Exception:  # noqa: BLE001 - files too short to classify are skipped here too
            continue
    classifier.predict_proba_prepared(np.stack(values))
    return len(values) / (time.perf_counter() - start)


def paper_baseline() -> Classifier:
    """The paper's space-group CNN on the paper grid, as a classifier."""
    from xrdsym.models import load_pretrained, save_pretrained

    config = {
        "architecture": "park_space_group",
        "model_kwargs": {"input_length": 10001},
        "grid": {"start": 10.0, "stop": 110.0, "n_points": 10001, "wavelength": 1.540562},
    }
    with tempfile.TemporaryDirectory() as folder:
        save_pretrained(create_model("park_space_group"), config, folder)
        model, loaded = load_pretrained(folder)
    return Classifier(model, loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=88)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    files = sorted((SHARED / "autoxrd").glob("*.xy"))[: args.files]
    one = SHARED / "xred" / "PbSO4.csv"
    rows = []
    for name, classifier in (("bundled", load_model()), ("park_space_group", paper_baseline())):
        classifier.predict_proba_file(one, wavelength="CuKa")  # warm-up
        rows.append(
            (name, time_one_file(classifier, one, args.repeat), time_batch(classifier, files))
        )
    print(
        f"torch threads: {torch.get_num_threads()}; one file: {one.name}; "
        f"batch: {len(files)} autoxrd files"
    )
    print(f"{'model':<18}{'one file (ms)':>15}{'batch (files/s)':>18}")
    for name, seconds, rate in rows:
        print(f"{name:<18}{1000 * seconds:>15.1f}{rate:>18.1f}")
    print(
        f"ratio bundled / paper: one file {rows[1][1] / rows[0][1]:.2f}x faster, "
        f"batch {rows[0][2] / rows[1][2]:.2f}x the throughput"
    )


if __name__ == "__main__":
    main()
