"""Small building blocks shared by the architectures."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """(left, right) zero padding of TensorFlow/Keras ``padding="same"``.

    The output length is ceil(length / stride); the total padding is
    max((out - 1) * stride + kernel - length, 0), split with the extra point on the right.
    """
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def conv_same_length(length: int, stride: int) -> int:
    """Output length of a "same"-padded convolution: ceil(length / stride)."""
    return math.ceil(length / stride)


def pool_length(length: int, size: int, stride: int | None = None) -> int:
    """Output length of an unpadded pooling window: floor((length - size) / stride) + 1."""
    step = size if stride is None else stride
    return (length - size) // step + 1


class SameConv1d(nn.Conv1d):
    """A strided 1-D convolution with Keras ``padding="same"`` (padding computed per input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` (B, C, L) as :func:`same_padding` says, then convolve."""
        left, right = same_padding(x.shape[-1], self.kernel_size[0], self.stride[0])
        return F.conv1d(
            F.pad(x, (left, right)), self.weight, self.bias, self.stride, 0, self.dilation
        )


def space_group_membership(sg_to_class: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Membership matrix (230, n_classes): 1 where a space group belongs to a class, else 0."""
    return F.one_hot(sg_to_class.long(), n_classes).float()


#: Floor of a summed class probability before its logarithm: keeps log finite (about -69)
#: for classes whose every member underflows in float32.
MIN_CLASS_PROBABILITY = 1e-30


def summed_log_probabilities(sg_logits: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """Class log-probabilities (B, K) from space-group logits (B, 230) by summing probabilities.

    With m = max_g z_g: log p_k = log(sum_g exp(z_g - m) M_gk) - log(sum_g exp(z_g - m)), i.e.
    p_k = sum of its space groups' softmax probabilities (as ``reconcile_probabilities``).
    The sum is one matrix product, far cheaper than a (B, K, 230) log-sum-exp. A softmax of the
    result gives back p_k, so it serves as logits for a cross-entropy loss.
    """
    z = sg_logits.float()
    shifted = torch.exp(z - z.amax(dim=-1, keepdim=True))
    total = shifted.sum(dim=-1, keepdim=True)
    class_sum = shifted @ membership
    return torch.log(class_sum.clamp_min(MIN_CLASS_PROBABILITY)) - torch.log(total)


def position_pool(x: torch.Tensor, cells: int) -> torch.Tensor:
    """Average (B, C, 1, L) over ``cells`` windows along L -> (B, C, cells).

    The windows are those of ``adaptive_avg_pool1d``. Applied as one matrix product on the
    (B, L, C) view of a channels-last map, because the adaptive pooling's backward pass is slow
    on CPU in that layout.
    """
    length = x.shape[-1]
    eye = torch.eye(length, device=x.device, dtype=x.dtype).unsqueeze(0)
    weights = F.adaptive_avg_pool1d(eye, cells)[0]  # (L, cells)
    rows = x.squeeze(2).transpose(1, 2)  # (B, L, C), a view of channels-last memory
    return torch.matmul(weights.T, rows).transpose(1, 2)  # (B, C, cells)
