"""Synthetic multi-label motion proxy: which kinds of motion happen somewhere in a clip.

A second pretraining task for the vanilla encoder (:mod:`mist_steps.synth.proxy_clips` is
the first: one big object, one motion class). Here a clip holds several objects of many
sizes, small ones included, over the same abstract backgrounds; each moving object carries
one motion *primitive*, and the target is the set of primitives present (multi-hot, trained
with a binary cross-entropy per primitive). A single-label task lets a network answer from
the most salient object; this one makes the pooled clip feature an inventory of every motion
in view, however small the object and whatever else moves beside it - what a detector of
rare events needs from the features it starts from (generic motion statistics, the way a
multi-label action dataset such as Charades teaches them; nothing here is a person, a
walkway or an anomaly of the benchmark).

Primitives (frame units, a clip is 16 frames):

* ``slow_<dir>`` / ``fast_<dir>`` for dir in left, right, up, down - straight motion over
  0.12-0.4 (slow) or 0.6-1.1 (fast) of the frame;
* ``oscillate`` - back and forth along a random axis, 1.5-3 periods;
* ``shake`` - erratic jumps around a fixed place;
* ``spin`` - continuous rotation in place;
* ``topple`` - tips over by about a quarter turn within a few frames, then rests;
* ``pulse`` - grows and shrinks;
* ``blink`` - switches on and off.

Clutter (background colour and pattern, static and barely drifting distractor shapes, a slow
camera pan / zoom) and the number of moving objects scale with ``difficulty`` in [0, 1], as in
the first proxy's curriculum. Sometimes (``GROUP_CHANCE``) several objects share one slow
translation, a coherent flow among which other motions have to be told apart. Camera motion
stays under the slowest primitive. A clip is a pure function of ``(seed, split, index,
difficulty)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.synth import shapes
from mist_steps.synth.shapes import uniform as _u

DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
PRIMITIVES: tuple[str, ...] = (
    *(f"slow_{d}" for d in DIRECTIONS), *(f"fast_{d}" for d in DIRECTIONS),
    "oscillate", "shake", "spin", "topple", "pulse", "blink",
)
SLOW, FAST = (0.12, 0.4), (0.6, 1.1)  # path length over the clip, frame units
MAX_MOVERS = 4  # moving (labelled) objects at difficulty 1; at least one in every clip
MAX_STILL = 3  # static or barely drifting distractors at difficulty 1
GROUP_CHANCE = 0.25  # a clip whose first movers share one slow translation (a flow)
_STREAM = 2  # RNG stream of these clips (proxy_clips uses 0 and 1)


def _translate(rng, t: np.ndarray, direction: str, span: tuple[float, float], pos=None) -> dict:
    n = len(t)
    frac = t / (n - 1)
    dx, dy = DIRECTIONS[direction]
    d = _u(rng, *span)
    # the path's middle near the frame's middle, so that most of it is in view
    mid = pos if pos is not None else (_u(rng, 0.3, 0.7), _u(rng, 0.3, 0.7))
    along = (frac - 0.5) * d
    return {"cx": mid[0] + dx * along, "cy": mid[1] + dy * along}


def _pose(rng, primitive: str, t: np.ndarray, scale: float, pos=None) -> dict:
    """Per-frame pose (cx, cy, angle, scale, visible) of one object doing ``primitive``."""
    n = len(t)
    cx, cy = (_u(rng, 0.15, 0.85), _u(rng, 0.15, 0.85)) if pos is None else pos
    pose = {"cx": np.full(n, cx), "cy": np.full(n, cy), "angle": np.full(n, _u(rng, 0, 2 * np.pi)),
            "scale": np.full(n, scale), "visible": None}
    if primitive.startswith(("slow_", "fast_")):
        speed, direction = primitive.split("_")
        pose.update(_translate(rng, t, direction, SLOW if speed == "slow" else FAST, pos))
    elif primitive == "oscillate":
        a = _u(rng, 0, np.pi)
        amp, period = _u(rng, 0.06, 0.15), _u(rng, 5, 10)
        off = amp * np.sin(2 * np.pi * t / period + _u(rng, 0, 2 * np.pi))
        pose["cx"], pose["cy"] = cx + off * np.cos(a), cy + off * np.sin(a)
    elif primitive == "shake":
        jump = _u(rng, 0.015, 0.04)
        pose["cx"] = cx + jump * rng.standard_normal(n).astype(np.float32)
        pose["cy"] = cy + jump * rng.standard_normal(n).astype(np.float32)
        pose["angle"] = pose["angle"] + _u(rng, 0.05, 0.25, n)
    elif primitive == "spin":
        turn = _u(rng, 0.6, 1.5) * np.pi * rng.choice((-1.0, 1.0))
        pose["angle"] = pose["angle"] + turn * t / (n - 1)
    elif primitive == "topple":
        start, k = int(rng.integers(0, n // 2)), int(rng.integers(2, 6))
        tip = np.clip((t - start + 1) / k, 0, 1) * np.pi / 2 * rng.choice((-1.0, 1.0))
        pose["angle"] = pose["angle"] + tip
        pose["cy"] = cy + np.abs(np.sin(tip)) * scale * 0.6  # comes to rest lower
    elif primitive == "pulse":
        ratio, period = _u(rng, 1.5, 2.5), _u(rng, 8, 16)
        pose["scale"] = scale * ratio ** (0.5 * np.sin(2 * np.pi * t / period
                                                        + _u(rng, 0, 2 * np.pi)))
    elif primitive == "blink":
        half = int(rng.integers(1, 4))
        on = ((t.astype(int) + int(rng.integers(0, 2 * half))) // half) % 2 == 0
        pose["visible"] = np.where(on, 1.0, _u(rng, 0.0, 0.2))
    else:
        raise ValueError(f"unknown motion primitive {primitive!r}")
    return pose


def _movers(rng, difficulty: float) -> list[str]:
    """The primitives of the clip's moving objects (repeats allowed)."""
    n = 1 + int(round(difficulty * rng.integers(0, MAX_MOVERS)))
    picks = [PRIMITIVES[i] for i in rng.integers(0, len(PRIMITIVES), n)]
    if n < MAX_MOVERS and rng.random() < GROUP_CHANCE * difficulty:
        flow = f"slow_{rng.choice(tuple(DIRECTIONS))}"
        picks = [flow] * int(rng.integers(2, 4)) + picks
    return picks


def make_motion_clip(seed: int, index: int, *, size: int = 64, frames: int = SNIPPET_LEN,
                     split: str = "train",
                     difficulty: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Clip ``index``: ``(uint8 RGB [frames, size, size, 3], float32 multi-hot [P])`` over
    :data:`PRIMITIVES`. Identical arguments give an identical clip."""
    if size < 8 or frames < 4:
        raise ValueError(f"size must be >= 8 and frames >= 4; got size={size}, frames={frames}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1]; got {difficulty}")
    rng = shapes.clip_rng(seed, split, _STREAM, index)
    px = 1.0 / size
    t = np.arange(frames, dtype=np.float32)
    # camera motion (at most 6 % of the frame per clip) stays under the slowest primitive
    X, Y, moving = shapes.camera(rng, size, frames, difficulty, max_zoom=0.1)
    canvas, bg_luma = shapes.backdrop(rng, X, Y, moving, difficulty)

    for _ in range(int(round(difficulty * rng.integers(0, MAX_STILL + 1)))):
        vel = _u(rng, -0.002, 0.002, 2)
        shapes.paint(rng, canvas, X, Y, cx=_u(rng, 0.05, 0.95) + vel[0] * t,
                     cy=_u(rng, 0.05, 0.95) + vel[1] * t, angle=_u(rng, 0, 2 * np.pi),
                     scale=_u(rng, 0.03, 0.12), shape=str(rng.choice(shapes.SHAPES)),
                     fill=str(rng.choice(shapes.FILLS)),
                     colour=shapes.contrasting(rng, bg_luma), px=px)

    target = np.zeros(len(PRIMITIVES), np.float32)
    picks = _movers(rng, difficulty)
    flow_pos = None
    for primitive in picks:
        scale = _u(rng, 0.035, 0.13)
        pos = None
        if primitive.startswith("slow_") and picks.count(primitive) > 1:  # a flow: a band
            flow_pos = flow_pos or (_u(rng, 0.3, 0.7), _u(rng, 0.3, 0.7))
            pos = (flow_pos[0] + _u(rng, -0.25, 0.25), flow_pos[1] + _u(rng, -0.25, 0.25))
        pose = _pose(rng, primitive, t, scale, pos)
        rotating = primitive in ("spin", "topple")
        shape = str(rng.choice(("rect",) if primitive == "topple" else
                               shapes.ASYMMETRIC if rotating else shapes.SHAPES))
        shapes.paint(rng, canvas, X, Y, shape=shape, fill=str(rng.choice(shapes.FILLS)),
                     colour=shapes.contrasting(rng, bg_luma), px=px, **pose)
        target[PRIMITIVES.index(primitive)] = 1.0

    return shapes.finish(rng, canvas), target


def make_motion_batch(seed: int, indices: Sequence[int], *, size: int = 64,
                      frames: int = SNIPPET_LEN, split: str = "train",
                      difficulty: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Clips ``indices`` stacked: ``(uint8 [B, frames, size, size, 3], float32 [B, P])``."""
    pairs = [make_motion_clip(seed, int(i), size=size, frames=frames, split=split,
                              difficulty=difficulty) for i in indices]
    return np.stack([c for c, _ in pairs]), np.stack([y for _, y in pairs])
