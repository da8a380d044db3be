"""``xrdnet``: a compact residual 1-D CNN for accuracy per CPU-hour.

Design (throughput measured by ``benchmarks/bench_models.py``):

* Input resolution. The narrowest realistic laboratory peaks have FWHM ~0.03-0.05 deg 2theta.
  A Gaussian of FWHM w has sigma = w / 2.355 ~ 0.013-0.021 deg; sampling every 0.02 deg (about
  w / 2) keeps its shape, and because rendered peaks conserve their integrated intensity the
  sub-step position survives as the balance between neighbouring points. The default input is
  therefore 5,001 points over 10-110 deg (0.02 deg), half the paper's 10,001, which halves the
  rendering cost as well as the network cost.
* Stem: one strided convolution ("patchify", kernel 24, stride 16: 0.32 deg per feature cell,
  windows overlapping by 8 points so that a peak on a cell boundary is seen whole) with batch
  normalisation. Its 48 filters encode where inside a cell a peak sits, so the coarse cell does
  not lose the sub-cell position.
* Stages of ConvNeXt-style blocks: depthwise convolution (kernel 7) -> batch norm -> pointwise
  expansion -> GELU -> pointwise projection, with a residual connection; between stages a
  stride-2 convolution halves the length and widens the channels.
* Position is kept: no global pooling; the last feature map is average-pooled to a fixed number
  of cells (``head_cells`` = 26, 3.8 deg of 2theta each) and flattened, so the head
  still knows where along 2theta each feature is.
* CPU speed: the 1-D maps run as (B, C, 1, L) 2-D maps in channels-last layout (oneDNN's
  pointwise and depthwise kernels are 2-5x faster so than ``Conv1d``); the hierarchy sums and
  the position pooling are matrix products. bf16 autocast speeds training up 1.6-2x on this
  CPU (AVX-512 BF16) and is the default of ``configs/xrdnet.toml``; ``torch.compile`` took
  about two minutes to compile and gave no measurable gain, so it is not used.
* One space-group head. Crystal-system and extinction-group log-probabilities follow by summing
  the space-group probabilities of each class (``xrdsym.spacegroups.label_maps``), so the three
  predictions are always consistent. Optional auxiliary heads (``aux_heads=True``) predict the
  crystal system and extinction group directly from the shared features as extra training
  signal (keys ``aux_crystal_system``, ``aux_extinction_group``).
"""

from __future__ import annotations

import torch
from torch import nn

from xrdsym.models.layers import (
    position_pool,
    space_group_membership,
    summed_log_probabilities,
)
from xrdsym.models.registry import TASK_CLASSES, register_model
from xrdsym.spacegroups import label_maps

#: Default input: 5,001 points over 10-110 deg 2theta, 0.02 deg steps (see module docstring).
XRDNET_INPUT_LENGTH = 5001


class ConvNeXtBlock(nn.Module):
    """x + pw2(GELU(pw1(BN(dwconv(x))))) on (B, C, 1, L) maps; depthwise kernel ``kernel``."""

    def __init__(self, channels: int, kernel: int = 7, expansion: int = 2) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(
            channels, channels, (1, kernel), padding=(0, kernel // 2), groups=channels
        )
        self.norm = nn.BatchNorm2d(channels)
        self.pw1 = nn.Conv2d(channels, expansion * channels, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv2d(expansion * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block on x (B, C, 1, L) -> (B, C, 1, L)."""
        return x + self.pw2(self.act(self.pw1(self.norm(self.dwconv(x)))))


class XrdNet(nn.Module):
    """Residual CNN with a position-aware head; see the module docstring.

    The 1-D pattern is processed as a (B, C, 1, L) map in channels-last memory layout: on
    CPU the pointwise and depthwise 2-D convolutions of oneDNN run 2-5x faster in that layout
    than the equivalent ``Conv1d`` (measured in ``benchmarks/bench_models.py``).
    """

    def __init__(
        self,
        input_length: int = XRDNET_INPUT_LENGTH,
        widths: tuple[int, ...] = (48, 96, 160),
        depths: tuple[int, ...] = (1, 2, 1),
        stem_kernel: int = 24,
        stem_stride: int = 16,
        kernel: int = 7,
        expansion: int = 2,
        head_cells: int = 26,
        head_hidden: int = 384,
        dropout: float = 0.2,
        aux_heads: bool = False,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"widths {widths!r} and depths {depths!r} must have equal length")
        self.input_length = input_length
        #: Every constructor argument, so that an exported model rebuilds exactly even if the
        #: defaults change later (written to ``model.json`` as ``model_kwargs``).
        self.init_kwargs: dict[str, object] = {
            "input_length": input_length,
            "widths": tuple(widths),
            "depths": tuple(depths),
            "stem_kernel": stem_kernel,
            "stem_stride": stem_stride,
            "kernel": kernel,
            "expansion": expansion,
            "head_cells": head_cells,
            "head_hidden": head_hidden,
            "dropout": dropout,
            "aux_heads": aux_heads,
        }
        self.stem = nn.Sequential(
            nn.Conv2d(
                1,
                widths[0],
                (1, stem_kernel),
                stride=(1, stem_stride),
                padding=(0, (stem_kernel - stem_stride) // 2),
            ),
            nn.BatchNorm2d(widths[0]),
        )
        stages: list[nn.Module] = []
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            if i > 0:
                stages += [
                    nn.BatchNorm2d(widths[i - 1]),
                    nn.Conv2d(widths[i - 1], width, (1, 2), stride=(1, 2)),
                ]
            stages += [ConvNeXtBlock(width, kernel, expansion) for _ in range(depth)]
        self.stages = nn.Sequential(*stages)
        self.head_cells = head_cells
        self.neck = nn.Sequential(
            nn.Flatten(),
            nn.BatchNorm1d(widths[-1] * head_cells),
            nn.Linear(widths[-1] * head_cells, head_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.space_group = nn.Linear(head_hidden, TASK_CLASSES["space_group"])
        self.aux = nn.ModuleDict()
        if aux_heads:
            for task in ("crystal_system", "extinction_group"):
                self.aux[f"aux_{task}"] = nn.Linear(head_hidden, TASK_CLASSES[task])

        sg_to_cs, sg_to_eg = label_maps()
        cs = space_group_membership(torch.as_tensor(sg_to_cs), TASK_CLASSES["crystal_system"])
        eg = space_group_membership(torch.as_tensor(sg_to_eg), TASK_CLASSES["extinction_group"])
        self.register_buffer("cs_membership", cs, persistent=False)
        self.register_buffer("eg_membership", eg, persistent=False)
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Shared features (B, head_hidden) of patterns x (B, 1, L)."""
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return self.neck(position_pool(self.stages(self.stem(x)), self.head_cells))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Space-group logits, summed crystal-system/extinction-group log-probabilities, aux."""
        h = self.features(x)
        sg = self.space_group(h)
        cs_membership: torch.Tensor = self.cs_membership  # type: ignore[assignment]
        eg_membership: torch.Tensor = self.eg_membership  # type: ignore[assignment]
        out = {
            "space_group": sg,
            "crystal_system": summed_log_probabilities(sg, cs_membership),
            "extinction_group": summed_log_probabilities(sg, eg_membership),
        }
        for name, head in self.aux.items():
            out[name] = head(h)
        return out


@register_model
def xrdnet(input_length: int = XRDNET_INPUT_LENGTH, **kwargs: object) -> XrdNet:
    """The default compact residual CNN (0.02 deg input, about 2 M parameters)."""
    return XrdNet(input_length, **kwargs)  # type: ignore[arg-type]


@register_model
def xrdnet_tiny(input_length: int = XRDNET_INPUT_LENGTH, **kwargs: object) -> XrdNet:
    """A smaller variant for quick experiments and tests."""
    kwargs.setdefault("widths", (16, 32))
    kwargs.setdefault("depths", (1, 1))
    kwargs.setdefault("head_cells", 8)
    kwargs.setdefault("head_hidden", 64)
    return XrdNet(input_length, **kwargs)  # type: ignore[arg-type]


@register_model
def xrdnet_small(input_length: int = XRDNET_INPUT_LENGTH, **kwargs: object) -> XrdNet:
    """The fastest variant (about 0.7 M parameters): three one-block stages, no expansion."""
    kwargs.setdefault("widths", (32, 64, 128))
    kwargs.setdefault("depths", (1, 1, 1))
    kwargs.setdefault("expansion", 1)
    kwargs.setdefault("head_cells", 16)
    kwargs.setdefault("head_hidden", 256)
    return XrdNet(input_length, **kwargs)  # type: ignore[arg-type]
