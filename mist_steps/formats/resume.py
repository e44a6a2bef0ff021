"""Resumable training: the side checkpoint a training step keeps beside its output.

A training step writes ``<out>.ckpt`` (:func:`checkpoint_path`) atomically
(:func:`save_checkpoint`) as it goes: a dict with at least ``format``, ``settings_hash`` (a
:func:`settings_digest` over everything that changes the result) and its progress (steps or
epochs done). A rerun resumes from it only if :func:`load_resume_checkpoint` accepts it;
otherwise it says why in a warning and the run starts over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import torch

from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path

log = logging.getLogger(__name__)


def checkpoint_path(out: str | os.PathLike) -> Path:
    """The side file of a training run whose output is ``out``."""
    return Path(f"{out}.ckpt")


def settings_digest(settings: dict, keys: Iterable[str], fmt: str, **inputs) -> str:
    """sha256 of the ``keys`` of ``settings``, the checkpoint format ``fmt`` and the
    ``inputs`` (file hashes, video lists: JSON values), independent of key order."""
    doc = {"settings": {k: settings[k] for k in keys}, "format": fmt, **inputs}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: str | os.PathLike, doc: dict) -> None:
    """Write ``doc`` to ``path`` with ``torch.save``, atomically."""
    with atomic_path(path) as tmp:
        torch.save(doc, tmp)


def load_resume_checkpoint(path: str | os.PathLike, *, fmt: str, settings_hash: str,
                           progress_key: str, target: int, required: Iterable[str] = (),
                           log: logging.Logger = log) -> dict | None:
    """The checkpoint at ``path`` if this run can resume from it, else None.

    Read weights-only; it must be a dict of format ``fmt`` with this ``settings_hash`` and
    ``doc[progress_key]`` (e.g. "step", "epoch") not beyond ``target``, and the ``required``
    keys. A missing file is None silently; any other refusal is a warning on ``log`` saying
    why (the file is read weights-only: one that would run code is refused unread).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - an unreadable side file is just not resumed
        log.warning("%s: unreadable checkpoint (%s); training from the start", path, err)
        return None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        log.warning("%s: not a %s file; training from the start", path, fmt)
        return None
    if doc.get("settings_hash") != settings_hash:
        log.warning("%s: written with other settings or inputs; training from the start", path)
        return None
    missing = [k for k in required if k not in doc]
    if not isinstance(doc.get(progress_key), int) or missing:
        log.warning("%s: no %s count or missing %s; training from the start", path,
                    progress_key, missing)
        return None
    if int(doc[progress_key]) > target:
        log.warning("%s: at %s %d, beyond the %d %ss asked for; training from the start",
                    path, progress_key, doc[progress_key], target, progress_key)
        return None
    return doc


def restore_states(path: str | os.PathLike, doc: dict, targets: dict) -> None:
    """``target.load_state_dict(doc[key])`` for each ``key: target`` of ``targets`` (model,
    optimizer); a checkpoint that does not fit (missing or unexpected keys, other shapes) is an
    :class:`InputError` naming it - the model may be half loaded, so no silent fresh start."""
    try:
        for key, target in targets.items():
            target.load_state_dict(doc[key])
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        raise InputError(f"{path}: the checkpoint does not fit this run ({type(err).__name__}: "
                         f"{first}); delete it to train from the start") from None
