"""The CNN of Park et al., IUCrJ 4, 486-494 (2017), Fig. 2.

Trunk (shared by the three classifiers): conv 80 filters of width 100 -> ReLU -> dropout 0.3 ->
average pool 3; conv 80 x 50 -> ReLU -> dropout -> average pool 3; conv 80 x 25 -> ReLU ->
dropout -> average pool 3; flatten. Head: two fully connected layers with ReLU and dropout
(2300/1150 for space groups, 4040/202 for extinction groups, 700/70 for crystal systems), then
the output layer; the softmax is applied by the loss or at prediction.

Strides: the paper states stride 5 for the first convolution and "the stride size (= 5)
remained the same" for the second; it gives none for the third. We follow the public Keras
re-implementations of this network, which use strides 5, 5, 2 with ``padding="same"``; pooling
windows of 3 cells with stride 3 (the paper's "pooling each of the 3 x 1 x 1 cells", Keras'
default stride). Dropout is 30 % everywhere, as the paper says for all three CNNs. On the
10,001-point grid the lengths are 10,001 -> 2,001 -> 667 -> 134 -> 44 -> 22 -> 7, so the
flattened trunk has 80 x 7 = 560 features.
"""

from __future__ import annotations

import torch
from torch import nn

from xrdsym.models.layers import SameConv1d, conv_same_length, pool_length
from xrdsym.models.registry import DEFAULT_INPUT_LENGTH, TASK_CLASSES, register_model

#: (filters, width, stride) of the three convolutions.
PARK_CONVS: tuple[tuple[int, int, int], ...] = ((80, 100, 5), (80, 50, 5), (80, 25, 2))
#: Average-pooling window (and stride) after each convolution.
PARK_POOL = 3
#: Dropout rate of every layer (paper: 30 % in all three CNNs).
PARK_DROPOUT = 0.3
#: Widths of the two fully connected layers of each task's head (Fig. 2).
PARK_HIDDEN: dict[str, tuple[int, int]] = {
    "space_group": (2300, 1150),
    "extinction_group": (4040, 202),
    "crystal_system": (700, 70),
}


def park_trunk_length(input_length: int) -> int:
    """Length of the trunk output for an input of ``input_length`` points."""
    length = input_length
    for _filters, _width, stride in PARK_CONVS:
        length = pool_length(conv_same_length(length, stride), PARK_POOL)
    return length


class ParkTrunk(nn.Sequential):
    """Three (convolution, ReLU, dropout, average pool) stages followed by flatten."""

    def __init__(self, dropout: float = PARK_DROPOUT) -> None:
        layers: list[nn.Module] = []
        in_channels = 1
        for filters, width, stride in PARK_CONVS:
            layers += [
                SameConv1d(in_channels, filters, width, stride=stride),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.AvgPool1d(PARK_POOL),
            ]
            in_channels = filters
        layers.append(nn.Flatten())
        super().__init__(*layers)


def park_head(in_features: int, task: str, dropout: float = PARK_DROPOUT) -> nn.Sequential:
    """Two fully connected ReLU layers with dropout and the output layer of ``task``."""
    hidden1, hidden2 = PARK_HIDDEN[task]
    return nn.Sequential(
        nn.Linear(in_features, hidden1),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden1, hidden2),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden2, TASK_CLASSES[task]),
    )


class ParkCNN(nn.Module):
    """Park et al. trunk with one head per task; ``forward`` returns ``{task: logits}``."""

    def __init__(
        self,
        tasks: tuple[str, ...],
        input_length: int = DEFAULT_INPUT_LENGTH,
        dropout: float = PARK_DROPOUT,
    ) -> None:
        super().__init__()
        unknown = [t for t in tasks if t not in PARK_HIDDEN]
        if unknown or not tasks:
            raise ValueError(f"tasks must be among {sorted(PARK_HIDDEN)}, got {tasks!r}")
        length = park_trunk_length(input_length)
        if length < 1:
            raise ValueError(f"input_length {input_length} is too short for the Park CNN")
        self.input_length = input_length
        self.init_kwargs: dict[str, object] = {"input_length": input_length}
        self.tasks = tuple(tasks)
        self.trunk = ParkTrunk(dropout)
        features = PARK_CONVS[-1][0] * length
        self.heads = nn.ModuleDict({t: park_head(features, t, dropout) for t in self.tasks})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits of each task for patterns ``x`` (B, 1, input_length)."""
        features = self.trunk(x)
        return {task: head(features) for task, head in self.heads.items()}


@register_model
def park_crystal_system(input_length: int = DEFAULT_INPUT_LENGTH) -> ParkCNN:
    """Park et al. crystal-system CNN (7 classes; FC 700/70)."""
    return ParkCNN(("crystal_system",), input_length)


@register_model
def park_extinction_group(input_length: int = DEFAULT_INPUT_LENGTH) -> ParkCNN:
    """Park et al. extinction-group CNN (101 classes; FC 4040/202)."""
    return ParkCNN(("extinction_group",), input_length)


@register_model
def park_space_group(input_length: int = DEFAULT_INPUT_LENGTH) -> ParkCNN:
    """Park et al. space-group CNN (230 classes; FC 2300/1150)."""
    return ParkCNN(("space_group",), input_length)


@register_model
def park_multitask(input_length: int = DEFAULT_INPUT_LENGTH) -> ParkCNN:
    """Park et al. trunk shared by the three heads (crystal system, extinction, space group)."""
    return ParkCNN(("crystal_system", "extinction_group", "space_group"), input_length)
