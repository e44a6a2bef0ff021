"""Stage-II clip planning: which 16-frame clips of which videos each epoch trains on, and their
targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mist_steps import SNIPPET_LEN

CROP_SCALES = (1.0, 0.875, 0.75, 0.66)
FLIP_P = 0.5
GRAY_P = 0.2  # C3D only
LABEL_MODES = ("pseudo", "video")
SAMPLING_MODES = ("pseudo", "uniform")
SAMPLING_FLOOR = 0.02  # added to every clip's target when starts are drawn by pseudo label


# -- clips ------------------------------------------------------------------------------------
def clip_target(snippet_labels: np.ndarray, start: int) -> float:
    """Target of the 16-frame clip starting at frame ``start``: the frame-weighted mean of the
    labels of the snippets its frames fall in (frames past the last snippet: the last one's).
    One clip's entry of :func:`clip_targets`."""
    return float(clip_targets(snippet_labels, int(start) + SNIPPET_LEN)[int(start)])


@dataclass(frozen=True)
class TrainVideo:
    video_id: str
    path: str
    fps: float | None  # frame folders' rate (unused by decoding, passed for open_video)
    frame_count: int
    label: int  # 0 normal, 1 abnormal
    snippet_labels: np.ndarray | None  # pseudo labels of an abnormal video ("pseudo" mode)


@dataclass(frozen=True)
class Clip:
    """One training clip of an epoch and its augmentation, all drawn up front."""

    video: int  # index into the video list
    start: int
    target: float
    scale: float  # crop side / resized short side
    u: float  # crop position in [0, 1): top = floor(u * (h - side + 1)), likewise v for left
    v: float
    flip: bool
    gray: bool


def start_frames(frame_count: int, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` clip starts: one uniform draw in each of ``n`` equal segments of 0..count-16."""
    valid = frame_count - SNIPPET_LEN + 1
    edges = [j * valid // n for j in range(n + 1)]
    return [int(rng.integers(lo, max(hi, lo + 1))) for lo, hi in zip(edges, edges[1:])]


def clip_targets(snippet_labels: np.ndarray, frame_count: int) -> np.ndarray:
    """The target (:func:`clip_target`) of every valid start 0 .. frame_count - 16."""
    labels = np.asarray(snippet_labels, dtype=np.float64)
    frames = labels[np.minimum(np.arange(frame_count) // SNIPPET_LEN, len(labels) - 1)]
    return np.convolve(frames, np.full(SNIPPET_LEN, 1.0 / SNIPPET_LEN), mode="valid")


def pseudo_starts(targets: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` clip starts drawn with probability proportional to target + SAMPLING_FLOOR, from
    the :func:`clip_targets` of a video."""
    weights = np.asarray(targets, dtype=np.float64) + SAMPLING_FLOOR
    return [int(x) for x in rng.choice(len(weights), size=n, p=weights / weights.sum())]


def plan_epoch(videos: Sequence[TrainVideo], *, clips_per_video: int, batch_size: int,
               gray: bool, rng: np.random.Generator, sampling: str = "pseudo",
               crop_scales: Sequence[float] = CROP_SCALES
               ) -> tuple[list[Clip], list[list[int]]]:
    """The epoch's clips and its batches (lists of clip indices, normal half first); each
    clip's crop scale is drawn uniformly from ``crop_scales``."""
    clips: list[Clip] = []
    for i, video in enumerate(videos):
        targets = (clip_targets(video.snippet_labels, video.frame_count)
                   if video.label == 1 and video.snippet_labels is not None else None)
        starts = (pseudo_starts(targets, clips_per_video, rng)
                  if sampling == "pseudo" and targets is not None
                  else start_frames(video.frame_count, clips_per_video, rng))
        for start in starts:
            if video.label == 0:
                target = 0.0
            elif targets is None:
                target = 1.0
            else:
                target = float(targets[start])
            clips.append((i, start, target))
    n = len(clips)
    # a uniform draw per clip whatever the scales, so they change nothing else of the epoch
    scale_of = np.asarray(crop_scales, dtype=np.float64)
    scales = scale_of[np.minimum((rng.random(n) * len(scale_of)).astype(int), len(scale_of) - 1)]
    pos = rng.random((n, 2))
    flips = rng.random(n) < FLIP_P
    grays = (rng.random(n) < GRAY_P) if gray else np.zeros(n, bool)
    clips = [Clip(v, s, t, float(scales[j]), float(pos[j, 0]), float(pos[j, 1]),
                  bool(flips[j]), bool(grays[j])) for j, (v, s, t) in enumerate(clips)]
    normal = [j for j, c in enumerate(clips) if videos[c.video].label == 0]
    abnormal = [j for j, c in enumerate(clips) if videos[c.video].label == 1]
    normal = [normal[j] for j in rng.permutation(len(normal))]
    abnormal = [abnormal[j] for j in rng.permutation(len(abnormal))]
    half = batch_size // 2
    n_batches = math.ceil(max(len(normal), len(abnormal)) / half)
    batches = [[pool[(b * half + j) % len(pool)] for pool in (normal, abnormal)
                for j in range(half)] for b in range(n_batches)]
    return clips, batches
