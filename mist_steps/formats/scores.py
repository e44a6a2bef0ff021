"""Per-clip score files (HDF5): written and read here, by every stage that scores videos.

Layout::

    /                       root attributes: format, snippet_len (16), n_videos, and the
                            writer's own (e.g. generator, features, split)
    /<group>/<video_id>     float32 array, first axis = clips (clip i covers frames
                            16i .. 16i+15), attributes per video (e.g. label, class, split)

Formats and their groups:

* ``mist-scores-v1`` (:data:`SCORES_FORMAT`): ``/scores/<video_id>`` [n_clips] - a model's
  anomaly score of every clip - plus any further per-video arrays a scorer wants to keep
  under their own group name (e.g. ``/attention/<video_id>`` [n_clips, h, w] for stage II).
* ``mist-pseudo-labels-v1`` (:data:`PSEUDO_LABELS_FORMAT`): ``/raw/<video_id>`` (the
  generator's clip scores) and ``/refined/<video_id>`` (the pseudo labels) [n_clips], root
  attributes ``window`` and ``passes`` (see :mod:`mist_steps.steps.pseudo_labels`).

Writers are atomic (temporary file renamed when complete) and refuse non-finite values;
readers check the format and, again, that every value read is finite: NaN/inf is an
:class:`~mist_steps.errors.InputError` naming the video and the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from mist_steps.errors import InputError
from mist_steps.formats.h5 import AtomicH5Writer, open_artifact, plain

SCORES_FORMAT = "mist-scores-v1"
PSEUDO_LABELS_FORMAT = "mist-pseudo-labels-v1"
SCORES = "scores"


def _attr(value):
    """An attribute value h5py can store (None becomes the empty string)."""
    return "" if value is None else value


class ScoreWriter(AtomicH5Writer):
    """Write a score file atomically: use as a context manager, then :meth:`add` videos.

    ``attrs``: root attributes (plain scalars/strings). The file appears at ``path`` only
    when the ``with`` block ends without an exception.
    """

    def __init__(self, path: str | os.PathLike, *, format: str = SCORES_FORMAT,
                 attrs: Mapping[str, object] | None = None):
        super().__init__(path, format)
        self.attrs = dict(attrs or {})

    def _start(self) -> None:
        self.set_attrs(self.attrs)

    def set_attrs(self, attrs: Mapping[str, object]) -> None:
        for key, value in attrs.items():
            self._h5.attrs[key] = _attr(value)

    def add(self, video_id: str, arrays: Mapping[str, np.ndarray], *,
            attrs: Mapping[str, object] | None = None) -> None:
        """Store ``arrays`` (group name -> array whose first axis is the clips) of one video;
        ``attrs`` go on each of its datasets."""
        if self._h5 is None:
            raise RuntimeError("ScoreWriter.add outside its with block")
        if not video_id or "/" in video_id or video_id in (".", ".."):
            raise ValueError(f"video id {video_id!r} cannot name an HDF5 dataset")
        for group, values in arrays.items():
            values = np.asarray(values, dtype=np.float32)
            if values.ndim < 1:
                raise ValueError(f"video {video_id}: {group} must have a clip axis")
            bad = ~np.isfinite(values)
            if bad.any():
                raise InputError(
                    f"{self.path}: {int(bad.sum())} NaN/inf value(s) in {group} of video "
                    f"{video_id}; the model that produced them is broken (retrain it)")
            grp = self._h5.require_group(group)
            if video_id in grp:
                raise ValueError(f"video {video_id} written twice to {group} of {self.path}")
            ds = grp.create_dataset(video_id, data=values)
            for key, value in (attrs or {}).items():
                ds.attrs[key] = _attr(value)
        self.videos.add(video_id)


class ScoreFile:
    """An open score file for reading (context manager). ``formats``: accepted format
    markers (default: the score format only)."""

    def __init__(self, path: str | os.PathLike, *, formats: Iterable[str] = (SCORES_FORMAT,)):
        self.path = Path(path)
        formats = tuple(formats)
        self._h5 = open_artifact(self.path, formats, "score file", "the step")
        self.format = plain(self._h5.attrs.get("format"))

    def __enter__(self) -> ScoreFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    def groups(self) -> list[str]:
        return sorted(self._h5)

    def videos(self, group: str = SCORES) -> list[str]:
        """Video ids stored under ``group``, sorted (empty if the group is absent)."""
        return sorted(self._h5[group]) if group in self._h5 else []

    def has(self, video_id: str, group: str = SCORES) -> bool:
        return group in self._h5 and video_id in self._h5[group]

    def attrs(self, video_id: str | None = None, group: str = SCORES) -> dict:
        obj = self._h5 if video_id is None else self._dataset(video_id, group)
        return {k: plain(v) for k, v in obj.attrs.items()}

    def _dataset(self, video_id: str, group: str) -> h5py.Dataset:
        if not self.has(video_id, group):
            raise InputError(f"{self.path}: no {group} for video {video_id!r} (the file holds "
                             f"{len(self.videos(group))} videos in {group!r})")
        return self._h5[group][video_id]

    def read(self, video_id: str, group: str = SCORES) -> np.ndarray:
        """The ``group`` array of ``video_id``, float32, checked finite."""
        x = self._dataset(video_id, group)[()].astype(np.float32, copy=False)
        bad = ~np.isfinite(x)
        if bad.any():
            raise InputError(f"{self.path}: {group} of video {video_id} contain {int(bad.sum())} "
                             f"NaN/inf value(s); rebuild the file (retrain the model if it "
                             f"recurs)")
        return x


def write_scores(path: str | os.PathLike, scores: Mapping[str, np.ndarray], *,
                 attrs: Mapping[str, object] | None = None,
                 video_attrs: Mapping[str, Mapping[str, object]] | None = None,
                 extra: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> None:
    """One-shot writer of a ``mist-scores-v1`` file: ``scores`` video -> [n_clips];
    ``video_attrs`` video -> attributes; ``extra`` group -> (video -> array)."""
    with ScoreWriter(path, attrs=attrs) as writer:
        for video_id in sorted(scores):
            arrays = {SCORES: scores[video_id]}
            for group, per_video in (extra or {}).items():
                if video_id in per_video:
                    arrays[group] = per_video[video_id]
            writer.add(video_id, arrays, attrs=(video_attrs or {}).get(video_id))


def read_scores(path: str | os.PathLike, group: str = SCORES, *,
                formats: Iterable[str] = (SCORES_FORMAT,)) -> dict[str, np.ndarray]:
    """Every video's ``group`` array of ``path`` (checked finite)."""
    with ScoreFile(path, formats=formats) as f:
        return {video_id: f.read(video_id, group) for video_id in f.videos(group)}


def read_pseudo_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The refined pseudo labels (video -> [n_clips]) of a ``mist-pseudo-labels-v1`` file."""
    return read_scores(path, "refined", formats=(PSEUDO_LABELS_FORMAT,))
