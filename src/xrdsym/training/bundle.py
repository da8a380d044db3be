"""Package a finished run as the model shipped with xrdsym: weights, config and model card data.

The bundled ``model.json`` is the run's own (architecture, grid, labels, training data) plus the
measured accuracies (held-out test part and measured sets, as written by ``xrdsym evaluate`` and
``xrdsym evaluate-measured``), the licence and a plain description of the training data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from xrdsym.atomic import atomic_path, atomic_write_json
from xrdsym.errors import ModelFileError
from xrdsym.models.pretrained import CONFIG_NAME, WEIGHTS_NAME, load_pretrained
from xrdsym.training.onnx_export import export_onnx

TRAINING_DATA_LICENCES = (
    "Materials Project structures (CC BY 4.0; A. Jain et al., APL Materials 1, 011002 (2013)) "
    "and crystals generated with pyxtal"
)


def summarise_test(results: dict[str, Any]) -> dict[str, Any]:
    """Top-1 / top-5 / majority floor per task from an ``xrdsym evaluate`` results file."""
    return {
        "split": results.get("split"),
        "part": results.get("part"),
        "renderer": results.get("renderer", "paper"),
        "n": results.get("n"),
        **{
            task: {key: scores.get(key) for key in ("top1", "top5", "macro", "majority_baseline")}
            for task, scores in results.get("tasks", {}).items()
        },
    }


def summarise_measured(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measured set: files, classified, and top-1 / top-5 with floors per task."""
    keep = ("labels", "files", "classified", "crystal_system", "extinction_group", "space_group")
    return [{k: r[k] for k in keep if k in r} for r in results]


def bundle_model(
    run_dir: Path,
    output: Path,
    test_results: list[Path],
    measured_results: list[Path],
    description: str,
    licence: str = "MIT",
    onnx: bool = True,
) -> dict[str, Any]:
    """Copy the run's weights to ``output`` and write the enriched ``model.json``.

    With ``onnx`` the network is also exported to ``output/model.onnx`` and checked against
    torch (:func:`export_onnx`); the record goes into ``model.json["onnx"]``.

    The weights are loaded once first, so a broken run is refused before anything is copied.
    ``run_dir`` may be ``output`` itself (a bundled model whose figures are refreshed): the
    weights then stay in place. Test or measured figures are replaced only when results
    files of that kind are given; the others are kept.
    """
    load_pretrained(run_dir)
    config = json.loads((run_dir / CONFIG_NAME).read_text())
    for path in [*test_results, *measured_results]:
        if not path.is_file():
            raise ModelFileError(f"{path}: results file not found")
    config["licence"] = licence
    config["description"] = description
    config.setdefault("training_data", {})["sources"] = TRAINING_DATA_LICENCES
    metrics = config.setdefault("metrics", {})
    if test_results or "test" not in metrics:
        metrics["test"] = [summarise_test(json.loads(p.read_text())) for p in test_results]
    if measured_results or "measured" not in metrics:
        metrics["measured"] = [
            item for p in measured_results for item in summarise_measured(json.loads(p.read_text()))
        ]
    output.mkdir(parents=True, exist_ok=True)
    if (run_dir / WEIGHTS_NAME).resolve() != (output / WEIGHTS_NAME).resolve():
        with atomic_path(output / WEIGHTS_NAME) as tmp:
            shutil.copyfile(run_dir / WEIGHTS_NAME, tmp)
    atomic_write_json(output / CONFIG_NAME, config)
    model, spec = load_pretrained(output)
    if onnx:
        config["onnx"] = export_onnx(model, output, spec.grid.n_points)
    else:
        config.pop("onnx", None)
    atomic_write_json(output / CONFIG_NAME, config)
    return config
