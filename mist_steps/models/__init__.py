"""Video clip encoders for MIST: Inception-I3D (RGB) and C3D. nn.Modules only: their files are
read and written by :mod:`mist_steps.formats`.

``build_encoder("i3d" | "c3d", num_classes, **kw)`` builds a model; both share one interface:

* ``forward(x)`` -> classification logits [B, num_classes] (for a proxy task / sanity checks);
* ``forward_features(x, kinds=None)`` -> ``{kind: tensor}`` for the requested feature taps;
  ``feature_kinds`` lists them, ``feature_dim(kind)`` gives their size;
  I3D: ``mixed_4f`` [B,832,..], ``mixed_5c`` [B,1024,..], ``feature`` [B,1024];
  C3D: ``conv4b`` [B,512,..], ``conv5b`` [B,512,..], ``feature`` [B,512], ``fc6`` [B,4096];
* ``forward_until(x, tap)`` / ``forward_from(m, tap)`` split the trunk so MIST's stage-II
  self-guided attention can read ``stage2_tap`` (I3D ``mixed_4f``, 832 channels; C3D
  ``conv4b``, 512) and re-weight the final map ``final_tap`` (``mixed_5c`` / ``conv5b``);
  ``pool(map)`` is the global average pool, ``head(map)`` the classifier on a final map;
* ``config`` (constructor kwargs), ``arch``, ``input_range`` (I3D [-1, 1], C3D [0, 255]),
  ``head_keys`` (the classifier's state-dict keys).

Clips are float tensors [B, 3, T, H, W] (T = 16 in the MIST protocol).
Weights: :mod:`mist_steps.formats.public_weights` (public checkpoints),
:mod:`mist_steps.formats.encoder_file` (the workflow's own ``mist-encoder-v1`` files).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from mist_steps.models.c3d import C3D
from mist_steps.models.i3d import InceptionI3d

ARCHITECTURES: dict[str, type[nn.Module]] = {"i3d": InceptionI3d, "c3d": C3D}


def build_encoder(arch: str, num_classes: int, **kw) -> nn.Module:
    """A fresh (randomly initialised) encoder: ``arch`` is ``"i3d"`` or ``"c3d"``;
    ``num_classes`` sizes the classification head (I3D: 400 Kinetics / 157 Charades;
    C3D: 487 Sports-1M; or a proxy-task count); ``kw``: ``in_channels`` (3), ``dropout`` (0.5)."""
    key = str(arch).lower()
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown encoder {arch!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[key](num_classes=num_classes, **kw)


def build_from_config(arch: str, config: Mapping) -> nn.Module:
    """The encoder a model file describes: ``arch`` and its constructor kwargs."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown encoder {arch!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**dict(config))
