"""Precomputed feature files on disk (RTFM ``<video>_i3d.npy``, DeepMIL ``<video>__<k>.npy``):
finding and loading them per video.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mist_steps.errors import InputError

ON_MISSING = ("error", "skip")
MAX_CROPS = 10
_PER_CROP = re.compile(r"^(?P<video>.+)__(?P<crop>\d+)$")
_LIST = 5  # names shown in messages


def _whole_candidates(stem: str, encoder: str) -> list[str]:
    """Video ids a per-video file stem may stand for, most literal first."""
    out = [stem]
    for suffix in dict.fromkeys((f"_{encoder}", "_i3d", "_c3d")):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            out.append(stem[: -len(suffix)])
    return out


def find_feature_files(folders: Sequence, video_ids, encoder: str) -> tuple[dict, list[Path]]:
    """Match ``.npy`` files under ``folders`` to ``video_ids``.

    Returns ``({video_id: [path] (one file) or {crop: path} (per crop)}, unmatched files)``.
    """
    ids = set(video_ids)
    found: dict[str, list[Path] | dict[int, Path]] = {}
    unmatched: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: feature folder not found; point the import at the "
                             f"folder(s) holding the downloaded .npy files")
        for path in sorted(folder.rglob("*.npy")):
            m = _PER_CROP.match(path.stem)
            if m and m["video"] in ids:
                video, crop = m["video"], int(m["crop"])
                entry = found.setdefault(video, {})
                if not isinstance(entry, dict):
                    raise InputError(f"{path}: video {video} has both a per-crop file and a "
                                     f"whole-video file ({entry[0]}); keep one layout")
                if crop in entry:
                    raise InputError(f"{path} and {entry[crop]}: two files for crop {crop} of "
                                     f"video {video}; remove one")
                entry[crop] = path
                continue
            video = next((c for c in _whole_candidates(path.stem, encoder) if c in ids), None)
            if video is None:
                unmatched.append(path)
                continue
            if video in found:
                other = found[video]
                first = other[0] if isinstance(other, list) else next(iter(other.values()))
                raise InputError(f"{path} and {first}: two feature files for video {video}; "
                                 f"remove one")
            found[video] = [path]
    return found, unmatched


def _load(path: Path, digest) -> np.ndarray:
    """Read one .npy file as float32, checked finite; its name and sha256 go into ``digest``."""
    data = path.read_bytes()
    digest.update(f"{path.name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable .npy array ({err}); download it again") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{path}: holds {getattr(array, 'dtype', type(array))}, not numbers")
    array = array.astype(np.float32, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(f"{path}: {int(bad.sum())} NaN/inf value(s) in the features; "
                         f"download the file again or leave the video out")
    return array


def load_video_features(files, digest) -> np.ndarray:
    """The ``[T, n_crops, D]`` array of one video from its file(s) (see the module docstring)."""
    if isinstance(files, list):
        path = files[0]
        array = _load(path, digest)
        if array.ndim == 2:
            array = array[:, None, :]
        elif array.ndim != 3:
            raise InputError(f"{path}: shape {array.shape}; expected [T, crops, D] or [T, D]")
        elif array.shape[1] > MAX_CROPS:
            raise InputError(f"{path}: shape {array.shape} has {array.shape[1]} crops (at most "
                             f"{MAX_CROPS} expected); if it is stored [crops, T, D], transpose "
                             f"it to [T, crops, D]")
    else:
        crops = sorted(files)
        if crops != list(range(len(crops))):
            missing = sorted(set(range(max(crops) + 1)) - set(crops))
            example = files[crops[0]]
            raise InputError(f"{example}: per-crop files must be numbered __0 .. __K-1; crop(s) "
                             f"{missing} missing beside it")
        parts = []
        for k in crops:
            part = _load(files[k], digest)
            if part.ndim != 2:
                raise InputError(f"{files[k]}: shape {part.shape}; a per-crop file is [T, D]")
            if parts and part.shape != parts[0].shape:
                raise InputError(f"{files[k]}: shape {part.shape} differs from crop 0 "
                                 f"{parts[0].shape}; all crops of a video must match")
            parts.append(part)
        array = np.stack(parts, axis=1)
        path = files[0]
    if array.shape[0] < 1 or array.shape[2] < 1:
        raise InputError(f"{path}: empty features, shape {array.shape}")
    return array
