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

SPLITS = {"train": 0, "val": 1}
_LABEL_STREAM, _CLIP_STREAM = 0, 1
_SHAPES = ("disc", "ring", "polygon", "blob", "rect", "star")
_ASYMMETRIC = ("polygon", "blob", "rect", "star")  # rotation is visible on these
_FILLS = ("solid", "stripes", "checker")


# Clutter at difficulty 1 (levels out of 255): background colour spread around grey and
# pattern contrast. Kept moderate so the moving object stays the most salient thing.
BG_COLOUR, BG_CONTRAST = 64.0, 56.0
MAX_DISTRACTORS = 4
_REACH = 1.7  # farthest point of any unit shape from its centre (blob: 1 + 3 x 0.22)


def check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Validate a class subset (names from :data:`CLASSES`, no repeats, at least two)."""
    classes = tuple(classes)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"proxy classes must be >= 2 distinct names from {list(CLASSES)}; "
                         f"got {list(classes)}")
    return classes


def _rng(seed: int, split: str, stream: int, index: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}; got {split!r}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0; got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], stream, index]))


def clip_label(seed: int, index: int, n_classes: int, split: str = "train") -> int:
    """Label of clip ``index``: a seeded permutation of ``range(n_classes)`` per block."""
    block, pos = divmod(int(index), n_classes)
    return int(_rng(seed, split, _LABEL_STREAM, block).permutation(n_classes)[pos])


# -- drawing ----------------------------------------------------------------------------------
def _u(rng: np.random.Generator, low: float, high: float, shape=None):
    """``rng.uniform`` as a Python float (or float32 array): a NumPy float64 scalar would
    silently promote the float32 image arrays to float64 (NEP 50)."""
    if shape is None:
        return float(rng.uniform(low, high))
    return rng.uniform(low, high, shape).astype(np.float32)


def _luma(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def _colour(rng: np.random.Generator) -> np.ndarray:
    return _u(rng, 0, 255, 3).astype(np.float32)


def _contrasting(rng: np.random.Generator, ref_luma: float) -> np.ndarray:
    """A random colour whose brightness differs clearly from the background's."""
    c = _colour(rng)
    if abs(_luma(c) - ref_luma) < 70:
        c = np.where(ref_luma > 127, c * 0.35, 255 - (255 - c) * 0.35).astype(np.float32)
    return c


def _background(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray,
                difficulty: float) -> np.ndarray:
    """[T, S, S, 3] float background, an analytic function of world coordinates (so camera
    pan/zoom is just a change of coordinates). Its colour spread and pattern contrast grow
    with ``difficulty``: a network trained from scratch stalls for a long time when every clip
    has a different overall colour, so training starts near grey and ramps the clutter up."""
    c1 = 128 + difficulty * _u(rng, -BG_COLOUR, BG_COLOUR, 3)
    c2 = c1 + difficulty * _u(rng, -BG_CONTRAST, BG_CONTRAST, 3)
    kind = rng.choice(("gradient", "stripes", "checker", "plasma"))
    a = _u(rng, 0, 2 * np.pi)
    along = X * np.cos(a) + Y * np.sin(a)
    if kind == "gradient":
        w = np.clip(along - along.mean() + 0.5, 0, 1)
    elif kind == "stripes":
        freq = _u(rng, 3, 10)
        w = 0.5 + 0.5 * np.sin(2 * np.pi * freq * along + _u(rng, 0, 2 * np.pi))
        if rng.random() < 0.5:  # hard-edged stripes
            w = (w > 0.5).astype(np.float32)
    elif kind == "checker":
        cell = _u(rng, 0.08, 0.25)
        across = -X * np.sin(a) + Y * np.cos(a)
        w = ((np.floor(along / cell) + np.floor(across / cell)) % 2).astype(np.float32)
    else:  # plasma: a few random low-frequency waves
        w = np.zeros_like(X)
        for _ in range(4):
            b = _u(rng, 0, 2 * np.pi)
            w += np.sin(2 * np.pi * _u(rng, 1, 4) * (X * np.cos(b) + Y * np.sin(b))
                        + _u(rng, 0, 2 * np.pi))
        w = 0.5 + w / 8
    return c1 + (c2 - c1) * w[..., None]


def _shape_alpha(rng: np.random.Generator, shape: str, u: np.ndarray, v: np.ndarray,
                 scale: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a unit shape in local coordinates (u, v)."""
    r = np.hypot(u, v)
    if shape == "rect":
        aspect = _u(rng, 0.35, 0.8)
        inside = np.minimum(1 - np.abs(u), aspect - np.abs(v))
    else:
        phi = np.arctan2(v, u)
        if shape in ("disc", "ring"):
            rho = 1.0
        elif shape == "polygon":
            k = int(rng.integers(3, 8))
            sector = 2 * np.pi / k
            rho = np.cos(np.pi / k) / np.cos(np.mod(phi, sector) - np.pi / k)
        elif shape == "star":
            k = int(rng.integers(4, 7))
            rho = 0.65 + 0.35 * np.cos(k * phi)
        else:  # blob: a few random harmonics, irregular on purpose
            rho = 1.0
            for h in (2, 3, 4):
                rho = rho + _u(rng, 0.08, 0.22) * np.cos(h * phi + _u(rng, 0, 2 * np.pi))
        inside = rho - r
        if shape == "ring":
            inside = np.minimum(inside, r - _u(rng, 0.4, 0.65))
    # ``inside`` is in object units; scale by the radius to measure it in pixels
    return np.clip(inside * scale / px + 0.5, 0.0, 1.0)


def _paint(rng: np.random.Generator, canvas: np.ndarray, X: np.ndarray, Y: np.ndarray, *,
           cx, cy, angle, scale, shape: str, fill: str, colour: np.ndarray,
           visible=None, px: float) -> None:
    """Composite one object onto ``canvas`` [T, S, S, 3]; pose arrays have one value per frame."""
    def per_frame(a):
        return np.broadcast_to(np.asarray(a, np.float32), (X.shape[0],))[:, None, None]

    cx, cy, angle, scale = (per_frame(a) for a in (cx, cy, angle, scale))
    # Work on the pixels the object can reach over the clip only (a big saving for the small
    # distractors). X varies along columns only, Y along rows only; both are monotonic.
    reach = _REACH * float(scale.max()) + 2 * px
    xs, ys = X[:, 0, :], Y[:, :, 0]
    cols = np.flatnonzero(((xs >= cx.min() - reach) & (xs <= cx.max() + reach)).any(0))
    rows = np.flatnonzero(((ys >= cy.min() - reach) & (ys <= cy.max() + reach)).any(0))
    if len(cols) == 0 or len(rows) == 0:
        return  # wholly outside the frame
    box = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    X, Y, canvas = X[box], Y[box], canvas[box]  # views: painting writes through
    dx, dy = X - cx, Y - cy
    cos, sin = np.cos(angle), np.sin(angle)
    u = (dx * cos + dy * sin) / scale  # rotating the coordinates by -angle turns the object by
    v = (-dx * sin + dy * cos) / scale  # +angle: clockwise on screen, since y points down
    alpha = _shape_alpha(rng, shape, u, v, scale, px)
    if visible is not None:
        alpha = alpha * per_frame(visible)
    paint = np.broadcast_to(colour, (3,))
    if fill != "solid":  # the texture lives in object coordinates: it moves and turns with it
        other = 255 - colour * _u(rng, 0.2, 0.8)
        freq = _u(rng, 1.5, 3.0)
        if fill == "stripes":
            w = np.sin(np.pi * freq * u) > 0
        else:
            w = (np.sin(np.pi * freq * u) * np.sin(np.pi * freq * v)) > 0
        paint = np.where(w[..., None], colour, other)
    canvas += alpha[..., None] * (paint - canvas)


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
    rng = _rng(seed, split, _CLIP_STREAM, index)
    px = 1.0 / size
    t = np.arange(frames, dtype=np.float32)
    frac = t / (frames - 1)

    # camera: pixel (x, y) at frame t sees world point ((x - .5) / zoom + .5 + pan)
    xs = (np.arange(size, dtype=np.float32) + 0.5) / size
    zoom = np.ones(frames, np.float32)
    pan = np.zeros((2, frames), np.float32)
    moving = rng.random() < 0.3 * difficulty
    if moving:
        zoom = 1 + _u(rng, -0.12, 0.12) * frac
        pan = _u(rng, -0.06, 0.06, (2, 1)) * frac  # at most 6 % of the frame per clip
    X = (xs[None, None, :] - 0.5) / zoom[:, None, None] + 0.5 + pan[0][:, None, None]
    Y = (xs[None, :, None] - 0.5) / zoom[:, None, None] + 0.5 + pan[1][:, None, None]
    X, Y = np.broadcast_arrays(X, Y)
    X, Y = X.astype(np.float32), Y.astype(np.float32)

    if moving:
        canvas = _background(rng, X, Y, difficulty)
    else:  # a still camera sees the same background in every frame: draw it once
        canvas = np.repeat(_background(rng, X[:1], Y[:1], difficulty), frames, axis=0)
    canvas = np.ascontiguousarray(canvas, dtype=np.float32)
    bg_luma = _luma(canvas.reshape(-1, 3).mean(0))

    n_distractors = int(round(difficulty * rng.integers(1, MAX_DISTRACTORS + 1)))
    for _ in range(n_distractors):  # small, slow, incoherent drift
        vel = _u(rng, -0.004, 0.004, 2)
        _paint(rng, canvas, X, Y, cx=_u(rng, 0.05, 0.95) + vel[0] * t,
               cy=_u(rng, 0.05, 0.95) + vel[1] * t,
               angle=_u(rng, 0, 2 * np.pi) + _u(rng, -0.02, 0.02) * t,
               scale=_u(rng, 0.04, 0.09), shape=str(rng.choice(_SHAPES)),
               fill=str(rng.choice(_FILLS)), colour=_contrasting(rng, bg_luma), px=px)

    cls = classes[label]
    pose = _main_motion(rng, cls, t)
    shape = str(rng.choice(_ASYMMETRIC if cls.startswith("rotate_") else _SHAPES))
    fill = str(rng.choice(_FILLS))
    _paint(rng, canvas, X, Y, shape=shape, fill=fill, colour=_contrasting(rng, bg_luma), px=px,
           **pose)

    noise = _u(rng, 0, 6)  # sensor noise, a different level per clip
    canvas += noise * rng.standard_normal(canvas.shape, dtype=np.float32)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8), label


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
