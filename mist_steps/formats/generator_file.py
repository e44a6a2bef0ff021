"""The stage-I generator file, ``mist-generator-v1``: the network's weights, its feature config and
the run's meta.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mist_steps.errors import InputError
from mist_steps.formats.public_weights import read_checkpoint
from mist_steps.models.generator import DROPOUT, Generator

log = logging.getLogger(__name__)
GENERATOR_FORMAT = "mist-generator-v1"


# --------------------------------------------------------------------------- file format


def _plain(obj):
    """``obj`` with numpy scalars/arrays turned into Python types (weights_only-loadable)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.decode()
    if isinstance(obj, (str, Path)):
        return str(obj)  # also str subclasses such as torch.__version__, not weights_only-safe
    return obj


def generator_document(model: Generator, config: Mapping, meta: Mapping) -> dict:
    """The ``mist-generator-v1`` dictionary (what :func:`torch.save` writes)."""
    return {"format": GENERATOR_FORMAT,
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "config": _plain(dict(config)), "meta": _plain(dict(meta))}


def load_generator(path: str | os.PathLike) -> tuple[Generator, dict, dict]:
    """Read a ``mist-generator-v1`` file: the model (eval mode), its config and meta.

    ``config`` holds ``dim``, ``dropout``, ``crops``, ``l2_normalize``, ``n_crops``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: generator file not found; run the generator training step")
    doc = read_checkpoint(path)  # weights-only: a file that would run code is refused
    if not isinstance(doc, dict) or doc.get("format") != GENERATOR_FORMAT:
        raise InputError(f"{path}: not a {GENERATOR_FORMAT} file; retrain the generator")
    config, meta, state = doc.get("config"), doc.get("meta", {}), doc.get("state_dict")
    if not isinstance(config, dict) or not isinstance(config.get("dim"), int) \
            or not isinstance(state, dict):
        raise InputError(f"{path}: {GENERATOR_FORMAT} file without a valid config (dim) or "
                         f"state_dict; retrain the generator")
    model = Generator(config["dim"], config.get("dropout", DROPOUT))
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise InputError(f"{path}: weights do not fit the stored config ({err}); retrain") from None
    model.eval()
    return model, config, meta


def check_feature_shape(config: Mapping, dim: int, n_crops: int, *, generator_path,
                        features_path) -> None:
    """The features must have the generator's input dimension."""
    if int(dim) != int(config["dim"]):
        raise InputError(
            f"{features_path}: features are {dim}-d but the generator {generator_path} was "
            f"trained on {config['dim']}-d ones; score with features of the same encoder")
    if config.get("crops") == "mean" and n_crops != config.get("n_crops", n_crops):
        log.warning("%s has %d crops per clip, the generator's training features had %s; the "
                    "crop mean is used as in training", features_path, n_crops,
                    config.get("n_crops"))
