"""Precomputed feature files on disk (RTFM ``<video>_i3d.npy``, DeepMIL / XD-Violence
``<video>__<k>.npy``, v-iashin/video_features ``<video>_rgb.npy``): finding them per video -
by a folder scan, or through the community's list files (RTFM ``list/*.list``, XD-Violence
``rgb.list``: one path a line, Windows or POSIX, rebased onto a local folder by file name) -
and loading them.
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
    for suffix in dict.fromkeys((f"_{encoder}", "_i3d", "_c3d", "_rgb")):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            out.append(stem[: -len(suffix)])
    return out


def _folders(folders: Sequence) -> list[Path]:
    out = [Path(f) for f in folders]
    for folder in out:
        if not folder.is_dir():
            raise InputError(f"{folder}: feature folder not found; point the import at the "
                             f"folder(s) holding the downloaded .npy files")
    return out


def _video_of(stem: str, ids: set, encoder: str) -> tuple[str | None, int | None]:
    """(video id, crop or None for a whole-video file) a file stem stands for, or (None, None)."""
    m = _PER_CROP.match(stem)
    if m and m["video"] in ids:
        return m["video"], int(m["crop"])
    return next((c for c in _whole_candidates(stem, encoder) if c in ids), None), None


def _add(found: dict, path: Path, video: str, crop: int | None) -> None:
    """File ``path`` for ``video`` (crop ``crop`` or the whole video), refusing a second one."""
    entry = found.get(video)
    if crop is not None:
        entry = found.setdefault(video, {})
        if not isinstance(entry, dict):
            raise InputError(f"{path}: video {video} has both a per-crop file and a "
                             f"whole-video file ({entry[0]}); keep one layout")
        if crop in entry:
            raise InputError(f"{path} and {entry[crop]}: two files for crop {crop} of video "
                             f"{video}; remove one")
        entry[crop] = path
    elif entry is not None:
        first = entry[0] if isinstance(entry, list) else next(iter(entry.values()))
        raise InputError(f"{path} and {first}: two feature files for video {video}; remove one")
    else:
        found[video] = [path]


def find_feature_files(folders: Sequence, video_ids, encoder: str) -> tuple[dict, list[Path]]:
    """Match ``.npy`` files under ``folders`` to ``video_ids``.

    Returns ``({video_id: [path] (one file) or {crop: path} (per crop)}, unmatched files)``.
    """
    ids = set(video_ids)
    found: dict[str, list[Path] | dict[int, Path]] = {}
    unmatched: list[Path] = []
    for folder in _folders(folders):
        for path in sorted(folder.rglob("*.npy")):
            video, crop = _video_of(path.stem, ids, encoder)
            if video is None:
                unmatched.append(path)
            else:
                _add(found, path, video, crop)
    return found, unmatched


def read_feature_list(path) -> list[tuple[int, str]]:
    """``(line number, file name)`` of each path of a feature list (RTFM ``*.list``,
    XD-Violence ``rgb.list``): the name after the last ``/`` or ``\\`` (Windows paths too),
    which must end in ``.npy``; blank lines are skipped, a name listed twice is an error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: feature list not found")
    names: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name = re.split(r"[\\/]", line)[-1]
        if not name.endswith(".npy"):
            raise InputError(f"{path}, line {lineno}: {line!r} is not the path of a .npy file; "
                             f"a feature list has one path a line")
        if name in names:
            raise InputError(f"{path}, line {lineno}: {name} is listed again (line "
                             f"{names[name]})")
        names[name] = lineno
    if not names:
        raise InputError(f"{path}: the feature list is empty")
    return [(n, name) for name, n in names.items()]


def find_listed_files(lists: Sequence, folders: Sequence, video_ids, encoder: str) -> dict:
    """The files of feature lists (:func:`read_feature_list`), each found by its name in the
    first of ``folders`` that holds it: ``{video_id: [path] or {crop: path}}``. A listed name
    that is no video of ``video_ids``, or that no folder holds, is an error naming the list's
    line."""
    ids, folders = set(video_ids), _folders(folders)
    found: dict[str, list[Path] | dict[int, Path]] = {}
    for list_path in lists:
        for lineno, name in read_feature_list(list_path):
            where = f"{list_path}, line {lineno}"
            video, crop = _video_of(name[:-len(".npy")], ids, encoder)
            if video is None:
                raise InputError(f"{where}: {name} names no video of the dataset's index; use "
                                 f"the lists of this dataset (or index the videos it names)")
            file = next((f / name for f in folders if (f / name).is_file()), None)
            if file is None:
                raise InputError(f"{where}: {name} is in none of {', '.join(map(str, folders))}; "
                                 f"download it there (files are found by name)")
            _add(found, file, video, crop)
    return found


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


def clip_count(files) -> int:
    """Clips of one video's feature file(s) (:func:`find_feature_files`), from the ``.npy``
    header alone (crop 0 of a per-crop layout)."""
    path = files[0] if isinstance(files, list) else files[min(files)]
    try:
        return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    except (ValueError, OSError, EOFError, IndexError) as err:
        raise InputError(f"{path}: not a readable .npy array ({err}); download it again") from None
