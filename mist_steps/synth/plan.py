"""The plan of a synthetic video: a small picklable :class:`VideoSpec` (length, camera,
anomalous intervals) drawn from the benchmark seed, split, class and index."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mist_steps import SNIPPET_LEN

ALL_CLASSES = ("Abandonment", "Explosion", "Falling", "Fighting", "Loitering", "Running", "WrongWay")


N_SCENES = 5  # camera layouts per seed, shared by train and test like fixed surveillance cameras


MIN_LEN = SNIPPET_LEN  # shortest anomalous interval: one full snippet


# Classes whose anomaly only reads as one when it lasts (loitering vs a brief pause; fleeing after a blast).
CLASS_MIN_LEN = {"Loitering": 48, "Explosion": 40, "Falling": 24}


_SPLIT_CODE = {"train": 0, "test": 1}


_CLASS_CODE = {"Normal": 0, **{c: i + 1 for i, c in enumerate(ALL_CLASSES)}}


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to redraw one video; intervals are [start, end) frame ranges (end exclusive)."""

    seed: int
    split: str
    cls: str
    index: int
    n_frames: int
    height: int
    width: int
    scene: int
    intervals: tuple[tuple[int, int], ...]
    zoom: float = 1.0  # camera zoom on the walkway: people's size and speed in px scale with it
    crowd: float = 1.0  # multiplies the mean number of people in view
    hard_negatives: float = 0.35  # chance of each kind of hard negative, in every video


def _rng(spec: VideoSpec, stream: int) -> np.random.Generator:
    # One stream per concern and per video, so no video depends on how many others are made.
    return np.random.default_rng([spec.seed, _SPLIT_CODE[spec.split], _CLASS_CODE[spec.cls], spec.index, stream])


def plan_video(seed: int, split: str, cls: str, index: int, *, min_frames: int, max_frames: int,
               height: int, width: int, zoom: float = 1.0, crowd: float = 1.0,
               hard_negatives: float = 0.35) -> VideoSpec:
    """Draw length, camera and anomalous intervals of one video (min_frames >= 40 assumed)."""
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], _CLASS_CODE[cls], index, 0])
    n = int(rng.integers(min_frames, max_frames + 1))
    if n % SNIPPET_LEN == 0:  # keep a partial last snippet in every video, like real footage
        n = n + 1 if n < max_frames else n - 1
    # Cameras go round-robin over each class's videos (offset per class), so every camera films
    # about as many normal as abnormal videos: with a random draw, chance imbalances (one camera
    # with 10 abnormal and 6 normal training videos) let a model score the scene, not the event.
    scene = (index - 1 + _CLASS_CODE[cls]) % N_SCENES
    intervals = () if cls == "Normal" else _plan_intervals(rng, n, cls)
    return VideoSpec(seed, split, cls, index, n, height, width, scene, intervals, float(zoom), float(crowd),
                     float(hard_negatives))


def _plan_intervals(rng: np.random.Generator, n: int, cls: str) -> tuple[tuple[int, int], ...]:
    lo_total, hi_total = max(MIN_LEN, math.ceil(0.05 * n)), int(0.40 * n)
    lead, gap = max(8, n // 20), MIN_LEN  # lead: some normal frames before the first event
    room = n // SNIPPET_LEN * SNIPPET_LEN - lead  # end within whole snippets: the scored frames
    for count in (2 if rng.random() < 0.4 else 1, 1):
        each_min = max(MIN_LEN, min(CLASS_MIN_LEN.get(cls, MIN_LEN), hi_total // count))
        lo, hi = max(lo_total, count * each_min), min(hi_total, room - gap * (count - 1))
        if lo <= hi:
            break
    else:
        raise ValueError(f"{n} frames are too few for an anomalous interval")
    total = int(rng.integers(lo, hi + 1))
    lengths = [total]
    if count == 2:
        first = int(rng.integers(each_min, total - each_min + 1))
        lengths = [first, total - first]
    slack = np.sort(rng.integers(0, room - total - gap * (count - 1) + 1, size=count))
    out, pos, used = [], lead, 0
    for length, cut in zip(lengths, slack):
        pos += int(cut) - used
        used = int(cut)
        out.append((pos, pos + length))
        pos += length + gap
    return tuple(out)
