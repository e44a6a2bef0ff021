"""Stage-II feeding: clips decoded (or read from the frame cache) and augmented in a background
thread.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mist_steps import SNIPPET_LEN
from mist_steps.data.background import BackgroundFeeder
from mist_steps.data.preprocess import Preprocess
from mist_steps.data.video import list_frame_files, open_video, read_image
from mist_steps.errors import InputError
from mist_steps.training.clip_plan import Clip, TrainVideo, clip_target
from mist_steps.training.frame_cache import FrameCache

log = logging.getLogger(__name__)
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's Grayscale
QUEUE_DEPTH = 2  # finished batches waiting for the model


def augment_clip(frames: np.ndarray, clip: Clip, size: int | None) -> np.ndarray:
    """Resized uint8 frames [16, H, W, 3] -> the augmented clip [16, size, size, 3] (uint8);
    ``size`` None: the whole frames as they are (flips and grey only; crop scale unused)."""
    if size is None:
        x = torch.from_numpy(np.ascontiguousarray(frames))
    else:
        h, w = frames.shape[1:3]
        side = max(1, min(h, w, round(clip.scale * min(h, w))))
        top, left = int(clip.u * (h - side + 1)), int(clip.v * (w - side + 1))
        x = torch.from_numpy(np.ascontiguousarray(frames[:, top:top + side, left:left + side]))
        if side != size:  # HWC viewed as NCHW: torch's fast uint8 path (as preprocess.resize_frame)
            x = F.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="bilinear",
                              antialias=True, align_corners=False).permute(0, 2, 3, 1)
    if clip.flip:
        x = x.flip(2)
    if clip.gray:
        luma = (x.float() @ torch.tensor(GRAY_WEIGHTS)).round_().clamp_(0, 255).to(torch.uint8)
        x = luma.unsqueeze(-1).expand(*luma.shape, 3)
    return np.ascontiguousarray(x.numpy())


def _read_frames(video: TrainVideo, needed: set[int]) -> tuple[dict[int, np.ndarray], int]:
    """Raw frames ``{index: frame}`` of ``needed`` (those that exist) and the number of frames
    available up to the last needed one. Files are decoded once, in order, stopping after the
    last needed frame; frame folders read only the needed images. When fewer frames exist
    than needed, the last 16 are returned too (see :func:`_decode_clips`)."""
    last = max(needed)
    path = Path(video.path)
    if path.is_dir():
        files = list_frame_files(path)
        available = min(len(files), last + 1)
        want = {i for i in needed if i < available}
        if available <= last:
            want |= set(range(max(0, available - SNIPPET_LEN), available))
        return {i: read_image(files[i]) for i in sorted(want)}, available
    kept: dict[int, np.ndarray] = {}
    tail: collections.deque = collections.deque(maxlen=SNIPPET_LEN)
    available = 0
    frames = open_video(path, fps_for_frames=video.fps).iter_frames(threads=1)
    try:
        for i, frame in enumerate(frames):
            available = i + 1
            tail.append((i, frame))
            if i in needed:
                kept[i] = frame
            if i == last:
                break
    finally:
        frames.close()  # stops the decoder (closes the container) when we break early
    if available <= last:
        kept.update(tail)
    return kept, available


def _decode_clips(video: TrainVideo, wanted: dict[int, Clip], prep: Preprocess,
                  cache: FrameCache | None = None, key: int | None = None,
                  ) -> dict[int, tuple[np.ndarray, float]]:
    """Read ``video`` once for the clips ``wanted`` of it: ``{clip index: (clip, target)}``;
    from ``cache`` (under ``key``) when it holds or takes the whole video, else directly.

    A video with fewer frames than ``videos.csv`` says (container metadata can be off by a
    few) gets its late clips moved to its last 16 frames, with a warning.
    """
    whole = (None if cache is None else
             cache.load(key, video.path, video.frame_count, video.fps, prep.frame_resizer()))
    if whole is not None:
        available = len(whole)
        frame = whole.__getitem__
    else:
        raw, available = _read_frames(
            video, {f for c in wanted.values() for f in range(c.start, c.start + SNIPPET_LEN)})
        resize = prep.frame_resizer()
        resized: dict[int, np.ndarray] = {}

        def frame(f: int) -> np.ndarray:
            if f not in resized:
                resized[f] = resize(raw[f])
            return resized[f]
    if available < SNIPPET_LEN:
        raise InputError(f"{video.path}: only {available} frame(s) readable (videos.csv says "
                         f"{video.frame_count}); fix or remove video {video.video_id}")
    out = {}
    for j, c in wanted.items():
        if c.start + SNIPPET_LEN > available:
            log.warning("%s: videos.csv says %d frames but only %d are readable; the clip at "
                        "frame %d is taken from the last %d", video.path, video.frame_count,
                        available, c.start, SNIPPET_LEN)
            start = available - SNIPPET_LEN
            target = c.target
            if video.label == 1 and video.snippet_labels is not None:
                target = clip_target(video.snippet_labels, start)
            c = Clip(c.video, start, target, c.scale, c.u, c.v, c.flip, c.gray)
        frames16 = np.stack([frame(f) for f in range(c.start, c.start + SNIPPET_LEN)])
        # a whole-frame recipe's frames are already at its frame size: no crop
        out[j] = (augment_clip(frames16, c, None if prep.frame_size else prep.crop), c.target)
    return out


class _Feeder(BackgroundFeeder):
    """Produce an epoch's batches in a background thread: ``(clips uint8 [B, 16, S, S, 3],
    targets float32 [B])`` in batch order.

    Videos are read in the order the batches first need them, by ``workers`` decoding threads
    (PyAV and the resize release the GIL) at most ``workers + 1`` videos ahead; a video's cut
    clips wait until their batches and are dropped after their last use. Results are keyed by
    clip, so thread timing never changes a batch. Closing stops the threads.
    """

    def __init__(self, videos: Sequence[TrainVideo], clips: list[Clip], batches: list[list[int]],
                 prep: Preprocess, workers: int = 1, cache: FrameCache | None = None):
        self._videos, self._clips, self._batches, self._prep = videos, clips, batches, prep
        self._cache = cache
        self._workers = max(1, int(workers))
        super().__init__(depth=QUEUE_DEPTH, name="finetune-clips")

    def _produce(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix="finetune-decode")
        try:
            uses = collections.Counter(j for batch in self._batches for j in batch)
            by_video: dict[int, dict[int, Clip]] = collections.defaultdict(dict)
            for j, c in enumerate(self._clips):
                by_video[c.video][j] = c
            order = list(dict.fromkeys(self._clips[j].video for b in self._batches for j in b))
            pending: dict[int, Future] = {}
            submitted = 0
            ready: dict[int, tuple[np.ndarray, float]] = {}
            for batch in self._batches:
                for j in batch:
                    v = self._clips[j].video
                    if j in ready or v not in by_video:
                        continue
                    while submitted < len(order) and (v not in pending or
                                                      len(pending) <= self._workers):
                        w = order[submitted]
                        pending[w] = pool.submit(_decode_clips, self._videos[w], by_video[w],
                                                 self._prep, self._cache, w)
                        submitted += 1
                    del by_video[v]
                    ready.update(pending.pop(v).result())
                x = torch.from_numpy(np.stack([ready[j][0] for j in batch]))
                y = torch.tensor([ready[j][1] for j in batch], dtype=torch.float32)
                for j in batch:
                    uses[j] -= 1
                    if not uses[j]:
                        del ready[j]
                yield x, y
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
