"""MIST stage II: the encoder with self-guided attention (SGA), its loss and its file format.

Built as the official code builds it (paper Sec. 3.2, Fig. 4), on the encoder's intermediate
map M_{b-4} (I3D Mixed_4f, 832 channels; C3D conv4b, 512) and final map M_b (Mixed_5c /
conv5b):

* F1 = Conv3d(C, C, 3x3x3, stride (1, 2, 2), padding (0, 1, 1)) + ReLU - halves the spatial
  size to the final map's and shortens time by 2;
* F2 = Conv3d(C, 2k, 1) + ReLU, k = 8;
* attention A = Sigmoid(Conv3d(2k, 1, (t, 1, 1))) with t the remaining time steps, so A is a
  spatial map [B, 1, 1, H, W] shared by every channel and time step of M_b;
* guided head H_g = Conv3d(2k, 2k, 1) -> global average pool -> the 2k channels viewed as
  2 x k and averaged over k -> 2 logits;
* fusion M_b + A * M_b; main head H_c = global average pool -> Dropout(0.8) -> Linear(C, 2).

``sga=False`` (ablation "without SGA") keeps only H_c on M_b; ``guided_head=False`` keeps the
attention but drops H_g and its loss. The clip's anomaly score is softmax(H_c)[1].

The class activation map (CAM) of the anomalous class, as the official
``visualization/CAM.py`` computes it: the fused final map averaged over time, its channels
weighted by softmax(H_c's weight of that class) over the channels, then min-max normalised to
[0, 1] per clip (a flat map becomes all 0). It exists with or without SGA.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mist_steps import SNIPPET_LEN


class MISTOutput(NamedTuple):
    logits: torch.Tensor  # [B, 2] of H_c
    guided_logits: torch.Tensor | None  # [B, 2] of H_g (None without SGA or H_g)
    attention: torch.Tensor | None  # [B, H, W] in [0, 1] (None without SGA)
    feature: torch.Tensor  # [B, C]: the pooled (fused) final map, H_c's input
    cam: torch.Tensor | None = None  # [B, H, W] in [0, 1]: the anomalous class's CAM


class SelfGuidedAttention(nn.Module):
    """F1, F2, the attention map and (optionally) the guided head on M_{b-4}."""

    def __init__(self, channels: int, time_steps: int, k: int = 8, guided_head: bool = True):
        super().__init__()
        if time_steps < 3:
            raise ValueError(f"SGA needs >= 3 time steps at the tap (F1 has no time padding); "
                             f"got {time_steps}")
        self.k = int(k)
        self.f1 = nn.Conv3d(channels, channels, 3, stride=(1, 2, 2), padding=(0, 1, 1))
        self.f2 = nn.Conv3d(channels, 2 * self.k, 1)
        self.att = nn.Conv3d(2 * self.k, 1, (time_steps - 2, 1, 1))
        self.guided = nn.Conv3d(2 * self.k, 2 * self.k, 1) if guided_head else None

    def forward(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """M_{b-4} [B, C, T, H, W] -> (A [B, 1, 1, H', W'], guided logits [B, 2] or None)."""
        h = F.relu(self.f2(F.relu(self.f1(m))))
        attention = torch.sigmoid(self.att(h))
        if self.guided is None:
            return attention, None
        g = self.guided(h).mean(dim=(2, 3, 4))  # [B, 2k]
        return attention, g.view(-1, 2, self.k).mean(dim=2)


class MISTModel(nn.Module):
    """The stage-II network: an encoder (I3D/C3D :class:`TappedEncoder`) with SGA and H_c.

    ``input_size``: the square crop side it is trained and run at; the attention's time
    kernel is sized for 16-frame clips at that size. Also offers the encoder interface that
    :mod:`mist_steps.steps.extract_shard` needs (``arch``, ``feature_dim``, ``forward_features`` with the
    kind "feature" = the pooled fused map), so MIST features are extracted like vanilla ones.
    """

    feature_kinds = ("feature",)
    vector_kinds = ("feature",)

    def __init__(self, encoder: nn.Module, *, input_size: int, k: int = 8, dropout: float = 0.8,
                 sga: bool = True, guided_head: bool = True):
        super().__init__()
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.encoder = encoder
        self.input_size, self.k, self.dropout_p = int(input_size), int(k), float(dropout)
        self.use_sga, self.use_guided_head = bool(sga), bool(sga and guided_head)
        self.tap, self.final_tap = encoder.stage2_tap, encoder.final_tap
        self.sga = None
        if self.use_sga:
            t = self._tap_time_steps()
            self.sga = SelfGuidedAttention(encoder.stage2_tap_channels, t, self.k,
                                           self.use_guided_head)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head_c = nn.Linear(encoder.final_channels, 2)

    def _tap_time_steps(self) -> int:
        was = self.encoder.training
        x = torch.zeros(1, self.encoder.in_channels, SNIPPET_LEN, self.input_size, self.input_size)
        with torch.no_grad():
            m = self.encoder.eval().forward_until(x, self.tap)
        self.encoder.train(was)
        return int(m.shape[2])

    @property
    def arch(self) -> str:
        return self.encoder.arch

    @property
    def config(self) -> dict:
        return {"input_size": self.input_size, "k": self.k, "dropout": self.dropout_p,
                "sga": self.use_sga, "guided_head": self.use_guided_head}

    def feature_dim(self, kind: str = "feature") -> int:
        if kind != "feature":
            raise ValueError(f"a MIST model offers the feature kind 'feature' only; got {kind!r}")
        return int(self.encoder.final_channels)

    def backbone_parameters(self) -> Iterable[nn.Parameter]:
        return self.encoder.parameters()

    def new_parameters(self) -> list[nn.Parameter]:
        """Parameters that stage II adds: SGA (F1, F2, attention, H_g) and H_c."""
        mods = [m for m in (self.sga, self.head_c) if m is not None]
        return [p for m in mods for p in m.parameters()]

    def forward(self, x: torch.Tensor) -> MISTOutput:
        if self.sga is None:
            final = self.encoder.trunk(x)
            attention, guided = None, None
        else:
            m = self.encoder.forward_until(x, self.tap)
            final = self.encoder.forward_from(m, self.tap)
            a, guided = self.sga(m)
            if a.shape[-2:] != final.shape[-2:]:
                raise ValueError(f"attention map {tuple(a.shape[-2:])} does not match the final "
                                 f"map {tuple(final.shape[-2:])} for input "
                                 f"{tuple(x.shape[-2:])}")
            final = final + a * final
            attention = a[:, 0, 0]
        feature = final.mean(dim=(2, 3, 4))
        logits = self.head_c(self.dropout(feature))
        cam = None if self.training else self._cam(final)  # for explanation only
        return MISTOutput(logits, guided, attention, feature, cam)

    def _cam(self, final: torch.Tensor) -> torch.Tensor:
        """The anomalous class's CAM of the fused final map [B, C, T, H, W] (module docstring)."""
        weights = torch.softmax(self.head_c.weight[1].float(), dim=0)  # [C]
        cam = torch.einsum("c,bchw->bhw", weights, final.float().mean(dim=2))
        low = cam.amin(dim=(1, 2), keepdim=True)
        span = cam.amax(dim=(1, 2), keepdim=True) - low
        return torch.where(span > 0, (cam - low) / span.clamp_min(1e-12), torch.zeros_like(cam))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly score of each clip: softmax(H_c)[1], [B]."""
        return anomaly_probability(self.forward(x).logits)

    def forward_features(self, x: torch.Tensor, kinds: Iterable[str] | None = None
                         ) -> dict[str, torch.Tensor]:
        kinds = list(self.feature_kinds if kinds is None else kinds)
        for kind in kinds:
            self.feature_dim(kind)
        return {"feature": self.forward(x).feature} if kinds else {}


def frame_size_problem(model: MISTModel, frame_size: Iterable[int]) -> str | None:
    """Why whole frames of ``frame_size`` (H, W) cannot pass through ``model``, or None: the
    encoders need >= 32 px a side, and the attention map must come out at the final map's
    shape (C3D's pooling floors odd sizes where SGA's strided convolution rounds up). Tried
    with one black snippet in eval mode; the model's mode is restored, its state untouched."""
    h, w = (int(v) for v in frame_size)
    if min(h, w) < 32:
        return "the encoders need >= 32 pixels a side"
    p = next(model.parameters())
    x = torch.zeros(1, model.encoder.in_channels, SNIPPET_LEN, h, w, device=p.device)
    training = model.training
    try:
        with torch.inference_mode():
            model.eval()(x)
    except ValueError as err:
        return str(err)
    finally:
        model.train(training)
    return None


def anomaly_probability(logits: torch.Tensor) -> torch.Tensor:
    """The clip score from H_c's logits [B, 2]: softmax(...)[:, 1], computed in float32."""
    return torch.softmax(logits.float(), dim=1)[:, 1]


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, w0: float, w1: float
                           ) -> torch.Tensor:
    """Mean of ``-w0 * y * log p - w1 * (1 - y) * log(1 - p)``, p = softmax(logits)[:, 1].

    ``target`` y in [0, 1] (soft pseudo labels allowed); w0 weighs the anomalous term, w1 the
    normal one (the paper's class weights, e.g. UCF-Crime I3D 1.2 / 0.8).
    """
    if logits.dim() != 2 or logits.shape[1] != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits [B, 2] and targets [B]; got {tuple(logits.shape)} "
                         f"and {tuple(target.shape)}")
    logp = F.log_softmax(logits.float(), dim=1)
    y = target.float()
    return (-(w0 * y * logp[:, 1]) - w1 * (1.0 - y) * logp[:, 0]).mean()
