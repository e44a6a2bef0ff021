"""Parsers of the official split and annotation files, and per-frame ground truth.

Formats (real examples are kept in ``resources/``):

* UCF-Crime ``Anomaly_Train.txt``: one ``Folder/Name_x264.mp4`` per line; normal videos sit in
  ``Training_Normal_Videos_Anomaly/``, abnormal ones in a folder named after their class.
* UCF-Crime ``Temporal_Anomaly_Annotation.txt``: ``name class s1 e1 s2 e2`` separated by runs
  of spaces (frame numbers, ``-1`` = no such interval); the official MIST copy
  ``Temporal_Anomaly_Annotation_New.txt`` is tab-separated with a 7th field, the frame count.
* ShanghaiTech weakly supervised split (Zhong et al. 2019, as shipped with MIST):
  ``SH_Train_new.txt`` = ``name,label``; ``SH_Test_NEW.txt`` = ``name,label,frames`` with
  ``frames = -1`` for abnormal videos (their length is their mask's).
* ShanghaiTech ``test_frame_mask/<name>.npy``: one 0/1 value per frame.

Every problem is an :class:`~mist_steps.errors.InputError` naming the file, the line number
where there is one, and what is wrong.

Frame-level ground truth follows the official MIST evaluation: a video of ``n`` frames is
scored on its first ``(n // 16) * 16`` frames (the trailing partial snippet is dropped) and a
temporal interval ``(start, end)`` marks frames ``start <= f < end``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.errors import InputError

UCF_TRAIN_NORMAL_FOLDER = "Training_Normal_Videos_Anomaly"
NORMAL_CLASS = "Normal"


# How many frames an annotated interval may end past the video's last frame before it counts
# as an error. The official UCF-Crime annotation overshoots by 1-2 frames on five test videos
# (Arson011, Arson016, Explosion033, Fighting003, Shooting015); the official evaluation clips.
END_TOLERANCE = SNIPPET_LEN


@dataclass(frozen=True)
class TrainEntry:
    """One line of a UCF-Crime style training list."""

    relpath: str  # as written, e.g. "Abuse/Abuse001_x264.mp4"
    video_id: str  # file stem, e.g. "Abuse001_x264"
    label: int  # 0 normal, 1 abnormal
    class_name: str  # "Normal" or the class folder


@dataclass(frozen=True)
class TestEntry:
    """One line of a UCF-Crime style temporal annotation file."""

    __test__ = False  # not a pytest test class despite the name

    name: str  # file name, e.g. "Abuse028_x264.mp4"
    video_id: str  # stem, e.g. "Abuse028_x264"
    class_name: str  # "Normal" or an anomaly class
    intervals: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # (start, end) pairs
    frame_count: int | None = None  # 7th field of the tab-separated form, else None
    where: str = ""  # "<file>, line <n>": for errors found later (e.g. past the video's end)

    @property
    def label(self) -> int:
        return 0 if self.class_name == NORMAL_CLASS else 1


@dataclass(frozen=True)
class ShtEntry:
    """One line of a ShanghaiTech weakly supervised split file."""

    name: str  # e.g. "01_0014"
    label: int  # 0 normal, 1 abnormal
    frame_count: int | None = None  # third field of SH_Test_NEW.txt; None when -1 or absent


def _lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) for each non-blank line of ``path``."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read as text ({err})") from None
    out = [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1)]
    out = [(i, line) for i, line in out if line]
    if not out:
        raise InputError(f"{path}: file is empty")
    return out


def _int(path, lineno: int, what: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{path}, line {lineno}: {what} {text!r} is not an integer") from None


def _plain_name(path, lineno: int, what: str, text: str) -> str:
    """``text`` if it is one plain path component: a video must stay inside the dataset root,
    so names with '/', '\\', '.' or '..' (e.g. ``../../etc/passwd``) are refused."""
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise InputError(f"{path}, line {lineno}: {what} {text!r} is not a plain name; video "
                         f"paths must stay inside the dataset root (no '/', '..'): fix the line")
    return text


def _check_unique(path, seen: dict[str, int], key: str, lineno: int) -> None:
    if key in seen:
        raise InputError(f"{path}, line {lineno}: video {key!r} already listed on line {seen[key]}")
    seen[key] = lineno


def parse_ucf_train_list(path: str | os.PathLike) -> list[TrainEntry]:
    """Parse ``Anomaly_Train.txt``: ``Class/Name.mp4`` lines, in file order."""
    entries, seen = [], {}
    for lineno, line in _lines(path):
        rel = PurePosixPath(line)
        if len(line.split()) != 1 or len(rel.parts) < 2 or rel.is_absolute():
            raise InputError(
                f"{path}, line {lineno}: expected one 'ClassFolder/Name.mp4' path, got {line!r}"
            )
        if ".." in rel.parts or "\\" in line or "\0" in line:
            raise InputError(f"{path}, line {lineno}: path {line!r} leaves the dataset root; "
                             f"video paths must stay inside the dataset root (no '..'): fix "
                             f"the line")
        folder = rel.parts[0]
        normal = folder == UCF_TRAIN_NORMAL_FOLDER
        _check_unique(path, seen, rel.stem, lineno)
        entries.append(
            TrainEntry(
                relpath=line,
                video_id=rel.stem,
                label=0 if normal else 1,
                class_name=NORMAL_CLASS if normal else folder,
            )
        )
    return entries


def parse_ucf_temporal(path: str | os.PathLike) -> list[TestEntry]:
    """Parse a UCF-Crime temporal annotation file, 6-field (spaces) or 7-field (tabs) form.

    ``-1, -1`` pairs are dropped from ``intervals``; ``frame_count`` is the 7th field or None.
    """
    entries, seen = [], {}
    for lineno, line in _lines(path):
        fields = line.split()
        if len(fields) not in (6, 7):
            raise InputError(
                f"{path}, line {lineno}: expected 6 fields (name class start1 end1 start2 end2) "
                f"or 7 (plus frame count), got {len(fields)}: {line!r}"
            )
        name = _plain_name(path, lineno, "video file name", fields[0])
        cls = _plain_name(path, lineno, "class", fields[1])
        nums = [_int(path, lineno, "field", f) for f in fields[2:6]]
        intervals = []
        for k, (start, end) in enumerate(zip(nums[0::2], nums[1::2]), start=1):
            where = f"{path}, line {lineno}: interval {k} ({start}, {end})"
            if start == -1 and end == -1:
                continue
            if start == -1 or end == -1:
                raise InputError(f"{where}: only one of start/end is -1; use -1 for both or neither")
            if start < 0 or end < 0:
                raise InputError(f"{where}: frame numbers must be >= 0 (or -1 for none)")
            if start > end:
                raise InputError(f"{where}: start is after end")
            intervals.append((start, end))
        frame_count = None
        if len(fields) == 7:
            frame_count = _int(path, lineno, "frame count", fields[6])
            if frame_count <= 0:
                raise InputError(f"{path}, line {lineno}: frame count must be > 0, got {frame_count}")
        if cls == NORMAL_CLASS and intervals:
            raise InputError(f"{path}, line {lineno}: video {name} of class Normal has anomaly intervals")
        video_id = PurePosixPath(name).stem
        _check_unique(path, seen, video_id, lineno)
        entries.append(TestEntry(name, video_id, cls, tuple(intervals), frame_count,
                                 f"{path}, line {lineno}"))
    return entries


def parse_sht_split(path: str | os.PathLike, with_frames: bool) -> list[ShtEntry]:
    """Parse ``SH_Train_new.txt`` (``with_frames=False``) or ``SH_Test_NEW.txt`` (``True``)."""
    n_fields = 3 if with_frames else 2
    form = "name,label,frames" if with_frames else "name,label"
    entries, seen = [], {}
    for lineno, line in _lines(path):
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != n_fields or not fields[0]:
            raise InputError(f"{path}, line {lineno}: expected '{form}', got {line!r}")
        _plain_name(path, lineno, "video name", fields[0])
        label = _int(path, lineno, "label", fields[1])
        if label not in (0, 1):
            raise InputError(f"{path}, line {lineno}: label must be 0 or 1, got {label}")
        frame_count = None
        if with_frames:
            frames = _int(path, lineno, "frame count", fields[2])
            if frames != -1 and frames <= 0:
                raise InputError(f"{path}, line {lineno}: frame count must be > 0 or -1, got {frames}")
            frame_count = None if frames == -1 else frames
        _check_unique(path, seen, fields[0], lineno)
        entries.append(ShtEntry(fields[0], label, frame_count))
    return entries


def load_sht_mask(mask_dir: str | os.PathLike, name: str) -> np.ndarray:
    """Load ``mask_dir/<name>.npy`` as a 1-D uint8 array of 0/1 per frame."""
    path = Path(mask_dir) / f"{name}.npy"
    if not path.is_file():
        raise InputError(f"{path}: frame mask of abnormal video {name} not found")
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable .npy array ({err})") from None
    if mask.ndim != 1 or mask.size == 0:
        raise InputError(f"{path}: expected a non-empty 1-D per-frame mask, got shape {mask.shape}")
    if not np.isin(mask, (0, 1)).all():
        raise InputError(f"{path}: mask values must be 0 or 1")
    return mask.astype(np.uint8)


def usable_length(frame_count: int) -> int:
    """Frames that are scored: whole snippets only, ``(frame_count // 16) * 16``."""
    return (frame_count // SNIPPET_LEN) * SNIPPET_LEN


def frame_labels_ucf(
    intervals, frame_count: int, *, video_id: str = "?", end_tolerance: int = END_TOLERANCE
) -> np.ndarray:
    """Per-frame 0/1 labels (uint8) of length ``usable_length(frame_count)``.

    Frame ``f`` is 1 iff ``start <= f < end`` for some interval. Intervals are clipped to the
    usable length, as the official evaluation does. An interval starting at or after
    ``frame_count``, or ending more than ``end_tolerance`` frames after it, cannot belong to
    this video and raises :class:`InputError` naming ``video_id``.
    """
    if frame_count <= 0:
        raise InputError(f"video {video_id}: frame count must be > 0, got {frame_count}")
    labels = np.zeros(usable_length(frame_count), dtype=np.uint8)
    for start, end in intervals:
        if start > end or start < 0:
            raise InputError(f"video {video_id}: invalid interval ({start}, {end})")
        if start >= frame_count or end > frame_count + end_tolerance:
            raise InputError(
                f"video {video_id}: interval ({start}, {end}) is past the video's end "
                f"({frame_count} frames); is the annotation for another version of the video?"
            )
        labels[start:end] = 1  # numpy clips to the usable length
    return labels


def frame_labels_from_mask(mask: np.ndarray) -> np.ndarray:
    """A per-frame mask truncated to whole snippets, as uint8."""
    mask = np.asarray(mask)
    return mask[: usable_length(len(mask))].astype(np.uint8)
