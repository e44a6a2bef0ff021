"""Checksums of weight files and state dicts, and meta dicts made of plain types only."""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Mapping

import torch
from torch import nn


# -- plain meta and checksums --------------------------------------------------------------------
def _plain(value: object, where: str) -> object:
    """Check that ``value`` is built from plain types only (weights_only-loadable); tuples
    become lists."""
    if value is None or isinstance(value, bool):
        return value
    # Subclasses (torch.__version__ is a TorchVersion str, numpy scalars) would pickle as their
    # own class, which weights_only loading refuses: store the plain base type.
    for abstract, plain in ((numbers.Integral, int), (numbers.Real, float), (str, str)):
        if isinstance(value, abstract):
            return plain(value)
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings; got {k!r}")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    raise TypeError(f"{where}: only str/int/float/bool/None/list/dict are allowed in encoder "
                    f"metadata; got {type(value).__name__}")


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the tensors of a state dict (names, dtypes, shapes and bytes, sorted by
    name); independent of how or where the file was written."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def weights_sha256(model: nn.Module) -> str:
    """:func:`state_dict_sha256` of a model's weights and buffers."""
    return state_dict_sha256(model.state_dict())


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
