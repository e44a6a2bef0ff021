"""Synthetic action-classification proxy: labelled 16-frame clips of moving shapes.

MIST stage I needs a "vanilla" encoder pretrained on action recognition. Where no public
weights are available, :mod:`mist_steps.steps.pretrain_encoder` trains one on these clips instead. They are
deliberately unlike the surveillance benchmark (static camera, walkers on walkways, textured
ground): abstract shapes over gradients, stripes, checkerboards and plasma, sometimes seen by a
panning / zooming camera. The domain gap is what MIST's stage-II fine-tuning closes.

Every class is defined by how the main object changes over time, so a network has to use the
temporal axis to tell them apart (a single frame of "translate_left" looks like one of
"translate_right" or "static"):

* ``translate_left/right/up/down`` - straight motion over 30-55 % of the frame;
* ``rotate_cw/ccw`` - spin in place by 90-270 degrees (asymmetric shapes or textures only;
  image y points down, so clockwise is as seen on screen);
* ``grow`` / ``shrink`` - scale x2-x3 up / down in place;
* ``bounce`` - vertical hops off a floor (up and down, at least one reversal);
* ``oscillate`` - horizontal back-and-forth, at least 1.6 periods;
* ``flicker`` - blinks on and off in place;
* ``static`` - does not change.

Clutter - 1 to 4 smaller distractor shapes drifting slowly and incoherently, background colour
and pattern contrast, and (in 30 % of clips) a slow camera pan / zoom - scales with
``difficulty`` in [0, 1] (1 = the proxy proper; 0 = the objects alone on mid-grey). Training
ramps it up: from scratch, I3D does not learn at all within a CPU budget on full clutter.
Camera motion stays slow next to the main object's, so it never fakes a translation class.

A clip is a pure function of ``(seed, split, index, difficulty)`` (own RNG stream), so any
clip can be regenerated alone, by any worker, in any order. Labels are balanced: each block of
``len(classes)`` consecutive indices holds every class once, in a seeded random order.
Geometry is in frame units, so the same clip renders at any size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.synth.shapes import (
    ASYMMETRIC,
    FILLS,
    SHAPES,
    backdrop,
    camera,
    clip_rng,
    contrasting,
    finish,
    paint,
)
from mist_steps.synth.shapes import uniform as _u

CLASSES: tuple[str, ...] = (
    "translate_left", "translate_right", "translate_up", "translate_down",
    "rotate_cw", "rotate_ccw", "grow", "shrink", "bounce", "oscillate", "flicker", "static",
)


# The default training set: what I3D learns from scratch within the default CPU budget (about
# 100 steps of 8 clips; ~65 % val accuracy on these 8 against ~13 % on all 12, where
# rotation, bounce and flicker are also asked for). The other classes stay available.
DEFAULT_CLASSES: tuple[str, ...] = (
    "translate_left", "translate_right", "translate_up", "translate_down",
    "grow", "shrink", "oscillate", "static",
)

_LABEL_STREAM, _CLIP_STREAM = 0, 1
MAX_DISTRACTORS = 4


def check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Validate a class subset (names from :data:`CLASSES`, no repeats, at least two)."""
    classes = tuple(classes)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"proxy classes must be >= 2 distinct names from {list(CLASSES)}; "
                         f"got {list(classes)}")
    return classes


def clip_label(seed: int, index: int, n_classes: int, split: str = "train") -> int:
    """Label of clip ``index``: a seeded permutation of ``range(n_classes)`` per block."""
    block, pos = divmod(int(index), n_classes)
    return int(clip_rng(seed, split, _LABEL_STREAM, block).permutation(n_classes)[pos])


def _main_motion(rng: np.random.Generator, cls: str, t: np.ndarray) -> dict:
    """Per-frame pose of the main object for class ``cls`` (frame units, radians)."""
    n = len(t)
    s = _u(rng, 0.12, 0.2)
    cx, cy = _u(rng, 0.35, 0.65), _u(rng, 0.35, 0.65)
    pose = {"cx": np.full(n, cx), "cy": np.full(n, cy), "angle": np.full(n, _u(rng, 0, 2 * np.pi)),
            "scale": np.full(n, s), "visible": None}
    frac = t / (n - 1)
    if cls.startswith("translate_"):
        d = _u(rng, 0.3, 0.55)
        sign = -1.0 if cls in ("translate_left", "translate_up") else 1.0
        path = 0.5 + sign * d * (frac - 0.5) + _u(rng, -0.05, 0.05)
        key = "cx" if cls in ("translate_left", "translate_right") else "cy"
        pose[key] = path
    elif cls.startswith("rotate_"):
        turn = _u(rng, 0.5, 1.5) * np.pi * (1.0 if cls == "rotate_cw" else -1.0)
        pose["angle"] = pose["angle"] + turn * frac
        pose["scale"] = np.full(n, _u(rng, 0.16, 0.22))
    elif cls in ("grow", "shrink"):
        big = _u(rng, 0.18, 0.26)
        small = big / _u(rng, 2.0, 3.0)
        grow = small * (big / small) ** frac  # geometric: steady apparent speed
        pose["scale"] = grow if cls == "grow" else grow[::-1]
        pose["cx"] = np.full(n, 0.5 + _u(rng, -0.1, 0.1))
        pose["cy"] = np.full(n, 0.5 + _u(rng, -0.1, 0.1))
    elif cls == "bounce":
        period = _u(rng, 6, 10)  # frames per hop: 1.6-2.7 hops per clip
        height = _u(rng, 0.25, 0.4)
        floor = 0.5 + height / 2
        pose["cy"] = floor - height * np.abs(np.sin(np.pi * t / period + _u(rng, 0, np.pi)))
    elif cls == "oscillate":
        period = _u(rng, 6, 10)
        amp = _u(rng, 0.12, 0.2)
        pose["cx"] = 0.5 + amp * np.sin(2 * np.pi * t / period + _u(rng, 0, 2 * np.pi))
    elif cls == "flicker":
        half = int(rng.integers(1, 4))  # frames on, then off
        phase = int(rng.integers(0, 2 * half))
        on = ((t.astype(int) + phase) // half) % 2 == 0
        pose["visible"] = np.where(on, 1.0, _u(rng, 0.0, 0.2))
    elif cls != "static":
        raise ValueError(f"unknown proxy class {cls!r}")
    return pose


def make_clip(seed: int, index: int, *, size: int = 64, frames: int = SNIPPET_LEN,
              classes: Sequence[str] = CLASSES, split: str = "train",
              difficulty: float = 1.0) -> tuple[np.ndarray, int]:
    """Clip ``index`` of the proxy: ``(uint8 RGB [frames, size, size, 3], label)``.

    ``label`` indexes ``classes``. ``difficulty`` in [0, 1] scales the clutter (background
    colour and contrast, number of distractors, camera motion); the main object and its
    motion do not depend on it. Identical arguments give an identical clip.
    """
    classes = check_classes(classes)
    if size < 8 or frames < 4:
        raise ValueError(f"size must be >= 8 and frames >= 4; got size={size}, frames={frames}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1]; got {difficulty}")
    label = clip_label(seed, index, len(classes), split)
    rng = clip_rng(seed, split, _CLIP_STREAM, index)
    px = 1.0 / size
    t = np.arange(frames, dtype=np.float32)
    X, Y, moving = camera(rng, size, frames, difficulty, max_zoom=0.12)
    canvas, bg_luma = backdrop(rng, X, Y, moving, difficulty)

    n_distractors = int(round(difficulty * rng.integers(1, MAX_DISTRACTORS + 1)))
    for _ in range(n_distractors):  # small, slow, incoherent drift
        vel = _u(rng, -0.004, 0.004, 2)
        paint(rng, canvas, X, Y, cx=_u(rng, 0.05, 0.95) + vel[0] * t,
              cy=_u(rng, 0.05, 0.95) + vel[1] * t,
              angle=_u(rng, 0, 2 * np.pi) + _u(rng, -0.02, 0.02) * t,
              scale=_u(rng, 0.04, 0.09), shape=str(rng.choice(SHAPES)),
              fill=str(rng.choice(FILLS)), colour=contrasting(rng, bg_luma), px=px)

    cls = classes[label]
    pose = _main_motion(rng, cls, t)
    shape = str(rng.choice(ASYMMETRIC if cls.startswith("rotate_") else SHAPES))
    fill = str(rng.choice(FILLS))
    paint(rng, canvas, X, Y, shape=shape, fill=fill, colour=contrasting(rng, bg_luma), px=px,
          **pose)
    return finish(rng, canvas), label


def make_batch(seed: int, indices: Sequence[int], *, size: int = 64, frames: int = SNIPPET_LEN,
               classes: Sequence[str] = CLASSES, split: str = "train",
               difficulty: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Clips ``indices`` stacked: ``(uint8 [B, frames, size, size, 3], int64 labels [B])``."""
    clips, labels = [], []
    for i in indices:
        clip, label = make_clip(seed, int(i), size=size, frames=frames, classes=classes,
                                split=split, difficulty=difficulty)
        clips.append(clip)
        labels.append(label)
    return np.stack(clips), np.asarray(labels, dtype=np.int64)
