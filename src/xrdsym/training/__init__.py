"""Training and evaluation of the registered CNNs on patterns rendered from peak lists."""

from __future__ import annotations

from xrdsym.training.config import TrainConfig, load_config
from xrdsym.training.evaluate import evaluate, plot_confusion, predict_probabilities
from xrdsym.training.loop import TrainResult, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_config",
    "plot_confusion",
    "predict_probabilities",
    "train",
]
