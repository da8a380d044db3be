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
    """Log-membership matrix (n_classes, 230): 0 where a space group belongs to a class, -inf else.

    With it, log p_class = logsumexp_g(log p_g + M[class, g]), i.e. the class probability is the
    sum of its space groups' probabilities (as in ``xrdsym.symmetry.reconcile_probabilities``).
    """
    member = F.one_hot(sg_to_class.long(), n_classes).T.bool()
    return torch.zeros(member.shape).masked_fill(~member, float("-inf"))


def summed_log_probabilities(sg_logits: torch.Tensor, log_membership: torch.Tensor) -> torch.Tensor:
    """Class log-probabilities (B, K) from space-group logits (B, 230) by summing probabilities.

    log p_k = logsumexp_g(log_softmax(z)_g + M_kg); a softmax of the result gives back p_k, so
    it can be used as logits for a cross-entropy loss.
    """
    log_p = F.log_softmax(sg_logits.float(), dim=-1)
    return torch.logsumexp(log_p.unsqueeze(1) + log_membership.unsqueeze(0), dim=-1)
