"""C3D, Tran et al. "Learning Spatiotemporal Features with 3D Convolutional Networks" (ICCV 2015).

Written for this project; the parameter names follow DavideA/c3d-pytorch so its Sports-1M
checkpoint ``c3d.pickle`` loads with a strict key check: ``conv1, conv2, conv3a, conv3b,
conv4a, conv4b, conv5a, conv5b, fc6, fc7, fc8`` with ``.weight``/``.bias``.

Architecture, as in the reference: eight 3x3x3 convolutions (padding 1, bias, ReLU) with
max-pools pool1 (1x2x2), pool2..pool4 (2x2x2) and pool5 (2x2x2, padding (0, 1, 1)); then
fc6 (8192 -> 4096), fc7 (4096 -> 4096), fc8 (4096 -> num_classes, 487 for Sports-1M), ReLU and
dropout after fc6 and fc7. ``forward`` returns fc8 logits (no softmax).

fc6 is a dense layer on the flattened pool5 output, which is 512x1x4x4 = 8192 values only for
16x112x112 clips; :meth:`C3D.fc6_features` refuses any other size with a clear error. The
convolutional taps and the pooled ``"feature"`` work at any size the pools allow.

Input: float RGB clips [B, 3, T, H, W] with values in [0, 255] (DavideA's weights were used on
unnormalised frames), 16 x 112 x 112 for the Sultani/MIST protocol.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mist_steps.models.tapped import TappedEncoder

# (name, kind, args) in network order. conv: (in, out); pool: (kernel, stride, padding).
C3D_LAYOUT: tuple[tuple[str, str, tuple], ...] = (
    ("conv1", "conv", (None, 64)),
    ("pool1", "pool", ((1, 2, 2), (1, 2, 2), (0, 0, 0))),
    ("conv2", "conv", (64, 128)),
    ("pool2", "pool", ((2, 2, 2), (2, 2, 2), (0, 0, 0))),
    ("conv3a", "conv", (128, 256)),
    ("conv3b", "conv", (256, 256)),
    ("pool3", "pool", ((2, 2, 2), (2, 2, 2), (0, 0, 0))),
    ("conv4a", "conv", (256, 512)),
    ("conv4b", "conv", (512, 512)),
    ("pool4", "pool", ((2, 2, 2), (2, 2, 2), (0, 0, 0))),
    ("conv5a", "conv", (512, 512)),
    ("conv5b", "conv", (512, 512)),
)

POOL5 = ((2, 2, 2), (2, 2, 2), (0, 1, 1))
FC6_INPUT = (512, 1, 4, 4)  # pool5 output of a 16x112x112 clip, flattened to 8192


class C3D(TappedEncoder):
    """C3D (Sports-1M layout). Conv outputs are post-ReLU.

    Taps (``forward_features`` kinds): ``"conv4b"`` [B, 512, T/4, H/8, W/8], ``"conv5b"``
    [B, 512, T/8, H/16, W/16], ``"feature"`` [B, 512] (global mean of conv5b, MIST stage II),
    ``"fc6"`` [B, 4096] (ReLU'd fc6, the Sultani et al. / MIST stage-I feature; 16x112x112
    input only). ``forward_until(x, tap)`` / ``forward_from(m, tap)`` split the trunk at any
    layer (e.g. ``"conv4b"``: the rest is pool4, conv5a, conv5b).
    """

    arch = "c3d"
    input_range = (0.0, 255.0)
    endpoints: tuple[str, ...] = tuple(name for name, _, _ in C3D_LAYOUT)
    feature_kinds: tuple[str, ...] = ("conv4b", "conv5b", "feature", "fc6")
    stage2_tap = "conv4b"
    stage2_tap_channels = 512
    final_tap = "conv5b"
    final_channels = 512
    head_keys: tuple[str, ...] = ("fc8.weight", "fc8.bias")
    _DIMS = {"conv4b": 512, "conv5b": 512, "feature": 512, "fc6": 4096}

    def __init__(self, num_classes: int = 487, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__(num_classes, in_channels, dropout)
        self._pools: dict[str, tuple] = {}
        for name, kind, args in C3D_LAYOUT:
            if kind == "conv":
                cin, cout = args
                self.add_module(name, nn.Conv3d(self.in_channels if cin is None else cin, cout,
                                                kernel_size=3, padding=1))
            else:
                self._pools[name] = args
        self.fc6 = nn.Linear(8192, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, self.num_classes)
        self.dropout = nn.Dropout(self.dropout_p)

    vector_kinds = ("feature", "fc6")

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        name = self.endpoints[i]
        if name in self._pools:
            kernel, stride, padding = self._pools[name]
            return F.max_pool3d(x, kernel, stride, padding)
        return F.relu(self._modules[name](x))

    def _endpoint_module(self, i: int) -> nn.Module | None:
        return self._modules.get(self.endpoints[i])  # pools are functional: None

    def _vector_feature(self, kind: str, final_map: torch.Tensor) -> torch.Tensor:
        return self.fc6_features(final_map) if kind == "fc6" else self.pool(final_map)

    def fc6_features(self, conv5b: torch.Tensor) -> torch.Tensor:
        """ReLU(fc6(flatten(pool5(conv5b)))) -> [B, 4096]; needs a 16x112x112 clip."""
        kernel, stride, padding = POOL5
        p5_shape = (conv5b.shape[1], *((n + 2 * p - k) // s + 1 for n, k, s, p in
                                       zip(conv5b.shape[2:], kernel, stride, padding)))
        if p5_shape != FC6_INPUT:
            raise ValueError(
                f"C3D fc6 is a dense layer on the flattened pool5 output, which must be "
                f"{'x'.join(map(str, FC6_INPUT))} = 8192 values: it needs clips of 16 frames at "
                f"112x112 pixels. This input gives conv5b {tuple(conv5b.shape[1:])} -> pool5 "
                f"{p5_shape}. Use 16x112x112 clips for fc6, or the size-independent "
                f"'feature' (pooled conv5b, 512-d) / 'conv5b' taps")
        p5 = F.max_pool3d(conv5b, kernel, stride, padding)
        return F.relu(self.fc6(p5.flatten(1)))

    def head(self, feature_map: torch.Tensor) -> torch.Tensor:
        """fc6 -> dropout -> fc7 -> ReLU -> dropout -> fc8 logits, from a conv5b map."""
        h = self.dropout(self.fc6_features(feature_map))
        h = self.dropout(F.relu(self.fc7(h)))
        return self.fc8(h)
