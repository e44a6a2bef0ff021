"""The stage-II model file, ``mist-model-v1``: the fine-tuned encoder with its SGA branch and
heads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path
from mist_steps.formats.digest import _plain, state_dict_sha256
from mist_steps.formats.public_weights import load_state_into, read_checkpoint
from mist_steps.models import ARCHITECTURES, build_from_config
from mist_steps.models.sga import MISTModel

MIST_FORMAT = "mist-model-v1"


def save_mist_model(path: str | os.PathLike, model: MISTModel, meta: Mapping | None = None) -> str:
    """Write ``model`` atomically as a ``mist-model-v1`` file; returns its weights' sha256."""

    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    digest = state_dict_sha256(state)
    doc = {"format": MIST_FORMAT, "arch": model.arch, "encoder_config": dict(model.encoder.config),
           "config": model.config, "state_dict": state, "weights_sha256": digest,
           "meta": _plain(dict(meta or {}), "meta")}
    with atomic_path(path) as tmp:
        torch.save(doc, tmp)
    return digest


def is_mist_checkpoint(obj: object) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == MIST_FORMAT


def mist_from_checkpoint(obj: Mapping, path: str | os.PathLike) -> tuple[MISTModel, dict]:
    """Rebuild a :class:`MISTModel` (eval mode) from a read ``mist-model-v1`` document."""

    path = Path(path)
    arch, enc_cfg, cfg = obj.get("arch"), obj.get("encoder_config"), obj.get("config")
    state = obj.get("state_dict")
    if arch not in ARCHITECTURES or not isinstance(enc_cfg, Mapping) or \
            not isinstance(cfg, Mapping) or not isinstance(state, Mapping):
        raise InputError(f"{path}: {MIST_FORMAT} file without a valid arch, configs or weights; "
                         f"delete it and re-run the fine-tuning")
    try:
        model = MISTModel(build_from_config(arch, enc_cfg), **dict(cfg))
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: cannot rebuild the MIST model from {dict(cfg)!r}: {err}; "
                         f"delete it and re-run the fine-tuning") from None
    if obj.get("weights_sha256") not in (None, state_dict_sha256(state)):
        raise InputError(f"{path}: weights checksum mismatch (file corrupted or edited); "
                         f"delete it and re-run the fine-tuning")
    load_state_into(model, state, path=path, fmt=MIST_FORMAT, head="strict")
    return model.eval(), dict(obj.get("meta") or {})


def load_mist_model(path: str | os.PathLike) -> tuple[MISTModel, dict]:
    """Read a ``mist-model-v1`` file (``weights_only`` loading): ``(model in eval mode, meta)``."""

    obj = read_checkpoint(path)
    if not is_mist_checkpoint(obj):
        raise InputError(f"{path}: not a {MIST_FORMAT} file (written by mist_steps.steps.finetune); "
                         f"point to the fine-tuned encoder_mist.pt")
    return mist_from_checkpoint(obj, path)
