"""The pretrained classifier: measured pattern -> crystal system, extinction group, space group.

The network predicts a 230-way space-group distribution; the crystal-system and
extinction-group distributions are sums of it over their member groups, so the three answers are
always consistent (a crystal system's probability is the total of its space groups').
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from xrdsym.errors import ModelFileError
from xrdsym.patterns.grid import Grid

#: Folder of the bundled pretrained model inside the package.
BUNDLED_MODEL_PACKAGE = "xrdsym.pretrained"


@dataclass(frozen=True)
class CrystalSystemScore:
    """One crystal system and its probability."""

    label: str
    probability: float


@dataclass(frozen=True)
class ExtinctionGroupScore:
    """One extinction group (index 0-100 and its member space groups) and its probability."""

    index: int
    space_groups: tuple[int, ...]
    probability: float


@dataclass(frozen=True)
class SpaceGroupScore:
    """One space group (number and Hermann-Mauguin symbol) and its probability."""

    number: int
    symbol: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """Top-k answers for one pattern at the three levels, each sorted by probability."""

    source: str
    crystal_system: tuple[CrystalSystemScore, ...]
    extinction_group: tuple[ExtinctionGroupScore, ...]
    space_group: tuple[SpaceGroupScore, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: keys ``file``, ``crystal_system``, ``extinction_group``,
        ``space_group``, each a list of entries."""
        return {
            "file": self.source,
            "crystal_system": [vars(s) for s in self.crystal_system],
            "extinction_group": [
                {
                    "index": s.index,
                    "space_groups": list(s.space_groups),
                    "probability": s.probability,
                }
                for s in self.extinction_group
            ],
            "space_group": [vars(s) for s in self.space_group],
        }


def top_k_prediction(p_space_group: np.ndarray, k: int, source: str = "") -> Prediction:
    """Top-k entries at the three levels from one 230-way space-group distribution."""
    from xrdsym.symmetry import (
        CRYSTAL_SYSTEMS,
        extinction_groups,
        reconcile_probabilities,
        space_group,
    )

    p_system, p_extinction = reconcile_probabilities(p_space_group)
    members = extinction_groups()

    def best(p: np.ndarray) -> list[int]:
        return [int(i) for i in np.argsort(-p, kind="stable")[: max(1, k)]]

    return Prediction(
        source=source,
        crystal_system=tuple(
            CrystalSystemScore(CRYSTAL_SYSTEMS[i], float(p_system[i])) for i in best(p_system)
        ),
        extinction_group=tuple(
            ExtinctionGroupScore(i, tuple(members[i]), float(p_extinction[i]))
            for i in best(p_extinction)
        ),
        space_group=tuple(
            SpaceGroupScore(i + 1, space_group(i + 1).symbol, float(p_space_group[i]))
            for i in best(p_space_group)
        ),
    )


class Classifier:
    """A trained network with its input contract (grid, wavelength, normalisation).

    Attributes:
        model: the torch module in evaluation mode.
        config: the model's JSON config (architecture, grid, labels, training data, metrics).
        grid: the 2theta grid the model reads.
        classes_: (230,) space-group numbers, the order of ``predict_proba``'s columns.
    """

    def __init__(self, model: Any, config: dict[str, Any]) -> None:
        self.model = model.eval()
        self.config = config
        grid = config.get("grid", {})
        self.grid = Grid(
            start=float(grid.get("start", 10.0)),
            stop=float(grid.get("stop", 110.0)),
            n_points=int(grid.get("n_points", 10001)),
            wavelength=float(grid.get("wavelength", Grid().wavelength)),
        )
        self.classes_ = np.arange(1, 231)

    def predict_proba_prepared(self, values: np.ndarray) -> np.ndarray:
        """Space-group probabilities (n, 230) of prepared patterns (n, grid.n_points)."""
        import torch

        batch = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(
            -1, 1, self.grid.n_points
        )
        with torch.inference_mode():
            logits = self.model(batch)["space_group"]
            return torch.softmax(logits.float(), dim=-1).numpy().astype(np.float64)

    def predict_proba(
        self, two_theta: np.ndarray, intensity: np.ndarray, wavelength: float | str
    ) -> np.ndarray:
        """Space-group probabilities (230,) of one pattern given as arrays.

        Args:
            two_theta: scattering angles in degrees, increasing.
            intensity: counts or arbitrary units, same length.
            wavelength: wavelength of the measurement, Angstrom or an anode name (``CuKa``).
        """
        from xrdsym.io import Pattern
        from xrdsym.patterns.grid import wavelength_from_name
        from xrdsym.patterns.prepare import prepare_pattern

        pattern = Pattern(
            two_theta=np.asarray(two_theta, dtype=np.float64),
            intensity=np.asarray(intensity, dtype=np.float64),
            wavelength=wavelength_from_name(wavelength),
            source="<array>",
            metadata={},
        )
        prepared = prepare_pattern(pattern, self.grid)
        return self.predict_proba_prepared(prepared.values)[0]

    def prepare_file(self, path: str | Path, wavelength: float | str | None = None) -> Any:
        """Read a pattern file (any supported format) and prepare it for the model.

        ``wavelength`` (Angstrom or an anode name) overrides the file's; an unknown one raises
        ``XrdsymError`` naming the file.
        """
        from xrdsym.errors import XrdsymError
        from xrdsym.io import read_pattern
        from xrdsym.patterns.grid import wavelength_from_name
        from xrdsym.patterns.prepare import prepare_pattern

        pattern = read_pattern(path)
        try:
            lam = None if wavelength is None else wavelength_from_name(wavelength)
        except ValueError as exc:
            raise XrdsymError(f"{path}: {exc}") from None
        return prepare_pattern(pattern, self.grid, wavelength=lam)

    def predict_proba_file(
        self, path: str | Path, wavelength: float | str | None = None
    ) -> np.ndarray:
        """Space-group probabilities (230,) of a pattern file (any supported format)."""
        return self.predict_proba_prepared(self.prepare_file(path, wavelength).values)[0]

    def predict(self, p_space_group: np.ndarray, k: int = 3, source: str = "") -> Prediction:
        """Top-k answers at the three levels from space-group probabilities."""
        return top_k_prediction(p_space_group, k, source)


def bundled_model_dir() -> Path:
    """The folder of the pretrained model shipped with the package."""
    return Path(str(resources.files(BUNDLED_MODEL_PACKAGE)))


def load_model(path: str | Path | None = None) -> Classifier:
    """Load a classifier from a model folder (``model.safetensors`` + ``model.json``), offline.

    Without ``path`` the bundled pretrained model is loaded. Nothing is unpickled.
    """
    from xrdsym.models import load_pretrained

    folder = Path(path) if path is not None else bundled_model_dir()
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: model folder not found")
    model, config = load_pretrained(folder)
    return Classifier(model, config)
