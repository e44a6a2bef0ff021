"""Choosing the torch device a step runs on, from its ``device`` setting."""

from __future__ import annotations

import torch

from mist_steps.errors import InputError


def resolve_device(device: str) -> torch.device:
    """``device``: 'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available, else CPU). Asking
    for CUDA where no GPU is available is an :class:`~mist_steps.errors.InputError`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for but no CUDA GPU is available; use 'cpu'")
    return dev
