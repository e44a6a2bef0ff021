"""The MIL generator network G: FC 512 -> 32 -> 1 with dropout 0.6 and a sigmoid (paper Sec. 3.1).
"""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = (512, 32)
DROPOUT = 0.6


# --------------------------------------------------------------------------- network


class Generator(nn.Module):
    """The MIL regressor: ``[..., D]`` features -> ``[...]`` scores in (0, 1)."""

    def __init__(self, dim: int, dropout: float = DROPOUT):
        super().__init__()
        self.dim = int(dim)
        h1, h2 = HIDDEN
        self.net = nn.Sequential(
            nn.Linear(self.dim, h1), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(h1, h2), nn.Dropout(dropout),
            nn.Linear(h2, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def build_generator(dim: int, *, dropout: float = DROPOUT,
                    generator: torch.Generator | None = None) -> Generator:
    """A freshly initialised :class:`Generator` (Kaiming-normal weights from ``generator``)."""
    model = Generator(dim, dropout)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(m.bias)
    return model
