"""Resized frames of whole videos, kept in memory across training epochs.

Stage II reads every training video again in every epoch; on a small dataset (the synthetic
default: 64 videos, ~22 000 frames) decoding is over a third of the fine-tuning's CPU time.
:class:`FrameCache` keeps each video's frames, resized as extraction resizes them
(:meth:`~mist_steps.data.preprocess.Preprocess.frame_resizer`), as long as they fit a byte budget:
the first read of a video decodes all of it, later epochs cut their clips from memory. The
frames are the ones a direct read gives, so the clips - and the trained weights - do not change.

Admission: while a video's first frame is decoded, ``frame_count`` (from ``videos.csv``) times
its resized size is checked against the budget left; a video that does not fit is not decoded
whole, and once one has not fitted, no later video is tried (the cache is then "full" and the
caller reads the rest directly). Safe to share between decoding threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mist_steps.data.video import open_video


class FrameCache:
    """Resized uint8 frames ``[n, h, w, 3]`` of whole videos, by key, within ``limit_bytes``."""

    def __init__(self, limit_bytes: int):
        self.limit = max(0, int(limit_bytes))
        self.used = 0
        self.full = self.limit == 0
        self._frames: dict[object, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key) -> np.ndarray | None:
        return self._frames.get(key)

    def load(self, key, path: str | Path, frame_count: int, fps: float | None,
             resize: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
        """The cached frames of ``key``; on a miss, decode the video at ``path`` whole and keep
        it if ``frame_count`` frames of its resized size fit what is left of the budget.
        None when it does not fit (nothing is kept then, and the cache counts as full)."""
        cached = self._frames.get(key)
        if cached is not None or self.full:
            return cached
        frames = self._read_whole(path, frame_count, fps, resize)
        with self._lock:
            if frames is None or self.used + frames.nbytes > self.limit:
                self.full = True
                return None
            self._frames[key] = frames
            self.used += frames.nbytes
        return frames

    def _fits(self, first: np.ndarray, frame_count: int) -> bool:
        with self._lock:
            return not self.full and self.used + first.nbytes * frame_count <= self.limit

    def _read_whole(self, path, frame_count, fps, resize) -> np.ndarray | None:
        out: list[np.ndarray] = []
        frames = open_video(path, fps_for_frames=fps).iter_frames(threads=1)  # file or folder
        try:
            for frame in frames:
                out.append(resize(frame))
                if len(out) == 1 and not self._fits(out[0], frame_count):
                    return None
        finally:
            frames.close()
        return np.stack(out) if out else None
