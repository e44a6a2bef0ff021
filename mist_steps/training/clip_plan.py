"""Stage-II clip planning: which 16-frame clips of which videos each epoch trains on, and their
targets.

Clips and their targets
-----------------------
Every epoch, each training video gives ``clips_per_video`` clips. With ``sampling="uniform"``
(and always for normal videos, and with ``labels="video"``) its valid start range
``0 .. frame_count - 16`` is split into that many equal segments and one start frame (any
frame, not only multiples of 16) is drawn uniformly in each. With ``sampling="pseudo"`` (the
default) an abnormal video's starts are drawn, with replacement, with probability
proportional to the clip's target plus :data:`SAMPLING_FLOOR`: self-training on the clips
stage I believes anomalous. Why: anomalies fill 5-40 % of an abnormal video, so uniform starts
give the "abnormal" half of a balanced batch about one clip with a high target, and the
encoder learns the class prior instead of the anomaly - measured on the synthetic benchmark
with the TRUE clip labels as targets, uniform starts reached a test AUC of 0.49 (0.53 at
zoom 1), label-proportional sampling 0.77. The floor keeps every clip reachable, so wrong
pseudo labels still meet their counter-examples. Videos shorter than 16 frames are left out
with a warning.
A normal video's clips get target 0. An abnormal video's clips get, with ``labels="pseudo"``,
the frame-weighted mean of the refined pseudo labels of the snippets its 16 frames fall in:
snippet i covers frames 16i .. 16i+15, frames past the last full snippet count with the last
snippet's label. A clip starting at frame 10 with snippet labels
[0, 1, ...] thus gets (6 * 0 + 10 * 1) / 16. With ``labels="video"`` (the ablation "MIST
without pseudo labels") every clip of an abnormal video gets target 1. Pseudo labels must
exist for every abnormal training video, with ``frame_count // 16`` snippets.

Each video is read once per epoch: a file is decoded up to the last frame its clips need, a
frame folder reads only the needed images; only the needed frames are resized (as extraction
resizes them: :meth:`Preprocess.frame_resizer`) and kept. With ``frame_cache_mb`` > 0, a
video whose resized frames fit what is left of that budget is decoded whole once and cut from
memory in later epochs (:class:`~mist_steps.training.frame_cache.FrameCache`): the same clips.
Augmentation, the same for the 16 frames of a clip: a square crop of side scale x the resized
frame's short side (scale drawn from ``crop_scales``, by default the multi-scale
:data:`CROP_SCALES`) at a random position, resized to
``input_size`` (bilinear), a horizontal flip with p = 0.5, and for C3D a grey-scale version
with p = 0.2; then the encoder's normalisation (:func:`~mist_steps.data.preprocess.normalize`).
A crop smaller than the frame zooms in: people look larger and move more pixels per frame.
Where speed is what makes an anomaly (the synthetic benchmark's Running, its brisk-walker
look-alike), that contradicts the labels; the synthetic benchmarks therefore train on the
whole frame (a ``train_frame`` recipe, :mod:`~mist_steps.training.clip_feeder`: flips only,
the scale and position drawn here unused; docs/synthetic-results-history.md).

Batches are balanced: half normal, half abnormal clips. Both pools are shuffled; an epoch has
``ceil(max(n_normal, n_abnormal) / (batch_size / 2))`` batches, the smaller pool is cycled.
A background thread assembles the batches and queues them (bounded queue), so reading
overlaps training; ``threads`` worker threads decode videos (one FFmpeg thread each) in the
order the batches first need them, a few videos ahead. A video's cut clips wait in memory
until their batch comes: with random order about 40 % of an epoch's clips at the peak
(uint8, 16 x S x S x 3 each: ~2.4 MB at 224 px, i.e. ~4.5 GB for UCF-Crime's 1610 videos x 3).
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
