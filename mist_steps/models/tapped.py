"""What I3D and C3D share: a trunk of named endpoints that can be split at any tap.

MIST's stage II inserts self-guided attention between an intermediate endpoint (I3D Mixed_4f,
C3D conv4b) and the final map, so both encoders expose ``forward_until`` / ``forward_from``;
stage I reads pooled features through ``forward_features``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def check_clip(x: torch.Tensor, in_channels: int, arch: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 5 or x.shape[1] != in_channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{arch} expects clips shaped [B, {in_channels}, T, H, W]; got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{arch} expects a floating-point clip tensor; got {x.dtype}")


class TappedEncoder(nn.Module):
    """Base of the encoders. Subclasses set the class attributes below, build their layers in
    ``__init__`` and implement :meth:`_layer` (apply endpoint ``i``), :meth:`head` and, for
    feature kinds that are vectors computed from the final map, :meth:`_vector_feature`."""

    arch: str
    endpoints: tuple[str, ...]
    feature_kinds: tuple[str, ...]
    vector_kinds: tuple[str, ...] = ("feature",)
    stage2_tap: str
    stage2_tap_channels: int
    final_tap: str
    final_channels: int
    head_keys: tuple[str, ...]
    _DIMS: dict[str, int]

    def __init__(self, num_classes: int, in_channels: int, dropout: float) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.dropout_p = float(dropout)

    @property
    def config(self) -> dict:
        """Constructor keyword arguments (plain types), enough to rebuild this model."""
        return {"num_classes": self.num_classes, "in_channels": self.in_channels, "dropout": self.dropout_p}

    def feature_dim(self, kind: str) -> int:
        """Channels (maps) or length (vectors) of the feature ``kind``."""
        try:
            return self._DIMS[kind]
        except KeyError:
            raise ValueError(f"unknown {self.arch.upper()} feature kind {kind!r}; choose from {list(self._DIMS)}") from None

    def _index(self, tap: str) -> int:
        try:
            return self.endpoints.index(tap)
        except ValueError:
            raise ValueError(f"unknown {self.arch.upper()} tap {tap!r}; choose from {list(self.endpoints)}") from None

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _endpoint_module(self, i: int) -> nn.Module | None:
        """The module holding endpoint ``i``'s weights (None for a weightless pooling)."""
        raise NotImplementedError

    def modules_before(self, endpoint: str) -> list[nn.Module]:
        """The trunk's modules that run before ``endpoint`` (the input side of the split
        that stage II's ``train_from`` keeps frozen)."""
        mods = (self._endpoint_module(i) for i in range(self._index(endpoint)))
        return [m for m in mods if m is not None]

    def _vector_feature(self, kind: str, final_map: torch.Tensor) -> torch.Tensor:
        return self.pool(final_map)  # "feature": the pooled final map

    def head(self, feature_map: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _run(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        for i in range(start, stop):
            x = self._layer(i, x)
        return x

    def forward_until(self, x: torch.Tensor, tap: str) -> torch.Tensor:
        """Run the trunk from the input up to and including endpoint ``tap``."""
        check_clip(x, self.in_channels, self.arch.upper())
        return self._run(x, 0, self._index(tap) + 1)

    def forward_from(self, m: torch.Tensor, tap: str) -> torch.Tensor:
        """Continue from the output of endpoint ``tap`` to the final map."""
        return self._run(m, self._index(tap) + 1, len(self.endpoints))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map [B, final_channels, T', H', W']."""
        return self.forward_until(x, self.final_tap)

    @staticmethod
    def pool(feature_map: torch.Tensor) -> torch.Tensor:
        """Global average over time and space: [B, C, T, H, W] -> [B, C]."""
        return feature_map.mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def forward_features(self, x: torch.Tensor, kinds: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """The requested feature taps of a clip batch (default: all of :attr:`feature_kinds`).

        Runs the trunk only as far as the deepest requested tap.
        """
        kinds = list(self.feature_kinds if kinds is None else kinds)
        for kind in kinds:
            self.feature_dim(kind)  # validates the name
        if not kinds:
            return {}
        needs_final = any(k in self.vector_kinds for k in kinds)
        maps = {k for k in kinds if k not in self.vector_kinds} | ({self.final_tap} if needs_final else set())
        last = max(self._index(k) for k in maps)
        check_clip(x, self.in_channels, self.arch.upper())
        out: dict[str, torch.Tensor] = {}
        for i in range(last + 1):
            x = self._layer(i, x)
            if self.endpoints[i] in maps:
                out[self.endpoints[i]] = x
        for kind in kinds:
            if kind in self.vector_kinds:
                out[kind] = self._vector_feature(kind, out[self.final_tap])
        return {k: out[k] for k in kinds}
