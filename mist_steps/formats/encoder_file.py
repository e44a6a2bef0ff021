"""The workflow's own encoder file, ``mist-encoder-v1``: save, rebuild and load with its checksum.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path
from mist_steps.formats.digest import _plain, state_dict_sha256
from mist_steps.formats.mist_model import is_mist_checkpoint, mist_from_checkpoint
from mist_steps.formats.public_weights import (
    FORMAT,
    _unwrap,
    load_state_into,
    read_checkpoint,
)
from mist_steps.models import ARCHITECTURES, build_from_config


def save_encoder(path: str | os.PathLike, model: nn.Module, meta: Mapping | None = None) -> str:
    """Write ``model`` in the ``mist-encoder-v1`` format, atomically; returns the weights'
    sha256 (also stored in the file). ``meta`` must hold plain types only."""
    arch = getattr(model, "arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"model must be one of {sorted(ARCHITECTURES)} encoders; got {type(model)}")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    digest = state_dict_sha256(state)
    payload = {"format": FORMAT, "arch": arch, "config": _plain(dict(model.config), "config"),
               "state_dict": state, "weights_sha256": digest,
               "meta": _plain(dict(meta or {}), "meta")}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return digest


def load_encoder(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild an encoder saved by :func:`save_encoder` (or a stage-II MIST model saved by
    :func:`~mist_steps.formats.mist_model.save_mist_model`): ``(model in eval mode, meta)``."""
    path = Path(path)
    obj = read_checkpoint(path)
    if is_mist_checkpoint(obj):  # a stage-II model serves as an encoder of fused features
        return mist_from_checkpoint(obj, path)
    if not (isinstance(obj, Mapping) and obj.get("format") == FORMAT):
        raise InputError(f"{path}: not a {FORMAT} encoder file (written by this workflow's "
                         f"save_encoder); a public checkpoint is loaded with build_encoder(...) "
                         f"and load_encoder_weights(model, path)")
    arch, config = obj.get("arch"), obj.get("config")
    if arch not in ARCHITECTURES or not isinstance(config, Mapping):
        raise InputError(f"{path}: {FORMAT} file with unknown arch {arch!r} or no config; "
                         f"rebuild it")
    try:
        model = build_from_config(arch, config)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: cannot rebuild the {arch} encoder from its config "
                         f"{dict(config)!r}: {err}; rebuild the file") from None
    fmt, state = _unwrap(obj, path, arch)
    stored = obj.get("weights_sha256")
    if stored is not None and stored != state_dict_sha256(state):
        raise InputError(f"{path}: weights checksum mismatch (file corrupted or edited); "
                         f"delete it and rebuild it")
    load_state_into(model, state, path=path, fmt=fmt, head="strict")
    meta = obj.get("meta") or {}
    return model.eval(), dict(meta)
