"""XD-Violence (Wu et al., ECCV 2020): video names, split lists and test annotations.

* A video's labels are in its name: ``..._label_<codes>``, up to three codes joined by ``-``
  and padded with ``0`` (``label_B2-G-0``); ``A`` alone is normal. The first code is the
  video's class here (per-class metrics need one class per video); all of them are kept.
* Split lists: the dataset's feature lists (Roc-Ng/XDVioDet ``list/rgb.list``,
  ``rgb_test.list``: one path a line, ``<video>__<crop>.npy``, Windows or POSIX) or a plain
  list of ``<video>.mp4`` names. A video is listed once per crop; it counts once, in the
  order of its first line.
* Test annotations (``annotations.txt``): one line per abnormal test video, the name without
  ``.mp4``, then ``start end`` frame pairs, start-inclusive and end-exclusive (XDVioDet
  ``list/make_gt.py``); normal videos have no line.

Every problem is an :class:`~mist_steps.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mist_steps.data.annotations import NORMAL_CLASS, _lines
from mist_steps.errors import InputError

# XD-Violence's six violence classes by code (A: normal).
CLASSES = {"B1": "Fighting", "B2": "Shooting", "B4": "Riot", "B5": "Abuse",
           "B6": "Car accident", "G": "Explosion"}
_LABEL = re.compile(r"_label_(?P<codes>[A-Z0-9-]+)$")
_CROP = re.compile(r"__\d+$")


@dataclass(frozen=True)
class XdVideo:
    """One video of an XD-Violence split list."""

    video_id: str  # the name without extension or crop suffix
    label: int  # 0 normal (label_A), 1 violent
    class_name: str  # "Normal" or the first code's class
    classes: tuple[str, ...]  # every class its name gives (empty when normal)
    where: str  # "<list>, line <n>" of its first line


def classes_of(name: str, where: str) -> tuple[str, ...]:
    """The classes a video name gives (``()`` for ``label_A``), or an error naming ``where``."""
    m = _LABEL.search(name)
    if m is None:
        raise InputError(f"{where}: {name!r} carries no '_label_<codes>' suffix; XD-Violence "
                         f"video names end in e.g. _label_A (normal) or _label_B2-0-0")
    codes = [c for c in m["codes"].split("-") if c != "0"]
    if codes == ["A"]:
        return ()
    unknown = [c for c in codes if c not in CLASSES]
    if not codes or unknown:
        raise InputError(f"{where}: label code(s) {unknown or m['codes']!r} of {name!r} are not "
                         f"XD-Violence's (A, {', '.join(CLASSES)})")
    return tuple(CLASSES[c] for c in codes)


def parse_xd_list(path: str | os.PathLike) -> list[XdVideo]:
    """The videos of a split list (module docstring), in the order of their first line."""
    videos: dict[str, XdVideo] = {}
    for lineno, line in _lines(path):
        where = f"{path}, line {lineno}"
        name = re.split(r"[\\/]", line)[-1]
        if name.endswith(".npy"):
            name = _CROP.sub("", name[: -len(".npy")])
        elif name.endswith(".mp4"):
            name = name[: -len(".mp4")]
        else:
            raise InputError(f"{where}: {line!r} is neither a feature file (.npy) nor a video "
                             f"(.mp4); an XD-Violence list has one of those a line")
        if name in (".", "..") or not name:
            raise InputError(f"{where}: {line!r} names no video")
        if name not in videos:
            classes = classes_of(name, where)
            videos[name] = XdVideo(name, int(bool(classes)),
                                   classes[0] if classes else NORMAL_CLASS, classes, where)
    return list(videos.values())


def parse_xd_annotations(path: str | os.PathLike) -> dict[str, tuple[tuple, str]]:
    """``{video_id: (((start, end), ...), "<file>, line <n>")}`` of a test annotation file."""
    if not Path(path).is_file():
        raise InputError(f"{path}: test annotation file not found; download XD-Violence's "
                         f"annotations.txt (https://roc-ng.github.io/XD-Violence/) there, or "
                         f"point the dataset's test_annotations at it")
    out: dict[str, tuple[tuple, str]] = {}
    for lineno, line in _lines(path):
        fields = line.split()
        where = f"{path}, line {lineno}"
        name = fields[0].removesuffix(".mp4")
        try:
            nums = [int(f) for f in fields[1:]]
        except ValueError:
            raise InputError(f"{where}: frame numbers must be integers: {line!r}") from None
        if not nums or len(nums) % 2:
            raise InputError(f"{where}: expected the video name, then start/end frame pairs; "
                             f"got {len(nums)} number(s)")
        pairs = tuple(zip(nums[0::2], nums[1::2]))
        bad = [(s, e) for s, e in pairs if s < 0 or e <= s]
        if bad:
            raise InputError(f"{where}: interval {bad[0]} is empty or negative (start is "
                             f"inclusive, end exclusive)")
        if name in out:
            raise InputError(f"{where}: video {name!r} already annotated ({out[name][1]})")
        out[name] = (pairs, where)
    return out
