"""Drawing for the synthetic proxy clips: abstract shapes over analytic backgrounds, seen by
a still or slowly moving camera.

Shared by the two pretraining tasks (:mod:`mist_steps.synth.proxy_clips`, one labelled
object; :mod:`mist_steps.synth.motion_clips`, several objects and a multi-hot target).
Geometry is in frame units, so a clip renders at any size; every random draw comes from the
clip's own generator (:func:`clip_rng`).
"""

from __future__ import annotations

import numpy as np

SPLITS = {"train": 0, "val": 1}
SHAPES = ("disc", "ring", "polygon", "blob", "rect", "star")
ASYMMETRIC = ("polygon", "blob", "rect", "star")  # rotation is visible on these
FILLS = ("solid", "stripes", "checker")

# Clutter at difficulty 1 (levels out of 255): background colour spread around grey and
# pattern contrast. Kept moderate so the moving object stays the most salient thing.
BG_COLOUR, BG_CONTRAST = 64.0, 56.0
_REACH = 1.7  # farthest point of any unit shape from its centre (blob: 1 + 3 x 0.22)


def clip_rng(seed: int, split: str, stream: int, index: int) -> np.random.Generator:
    """The RNG of one clip: its own stream of (seed, split, stream, index), so any clip can be
    made alone, by any worker, in any order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}; got {split!r}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0; got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], stream, index]))



def uniform(rng: np.random.Generator, low: float, high: float, shape=None):
    """``rng.uniform`` as a Python float (or float32 array): a NumPy float64 scalar would
    silently promote the float32 image arrays to float64 (NEP 50)."""
    if shape is None:
        return float(rng.uniform(low, high))
    return rng.uniform(low, high, shape).astype(np.float32)


def luma(rgb: np.ndarray) -> float:
    """Brightness (Rec. 601) of an RGB colour."""
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def _colour(rng: np.random.Generator) -> np.ndarray:
    return uniform(rng, 0, 255, 3).astype(np.float32)


def contrasting(rng: np.random.Generator, ref_luma: float) -> np.ndarray:
    """A random colour whose brightness differs clearly from the background's."""
    c = _colour(rng)
    if abs(luma(c) - ref_luma) < 70:
        c = np.where(ref_luma > 127, c * 0.35, 255 - (255 - c) * 0.35).astype(np.float32)
    return c


def background(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray,
                difficulty: float) -> np.ndarray:
    """[T, S, S, 3] float background, an analytic function of world coordinates (so camera
    pan/zoom is just a change of coordinates). Its colour spread and pattern contrast grow
    with ``difficulty``: a network trained from scratch stalls for a long time when every clip
    has a different overall colour, so training starts near grey and ramps the clutter up."""
    c1 = 128 + difficulty * uniform(rng, -BG_COLOUR, BG_COLOUR, 3)
    c2 = c1 + difficulty * uniform(rng, -BG_CONTRAST, BG_CONTRAST, 3)
    kind = rng.choice(("gradient", "stripes", "checker", "plasma"))
    a = uniform(rng, 0, 2 * np.pi)
    along = X * np.cos(a) + Y * np.sin(a)
    if kind == "gradient":
        w = np.clip(along - along.mean() + 0.5, 0, 1)
    elif kind == "stripes":
        freq = uniform(rng, 3, 10)
        w = 0.5 + 0.5 * np.sin(2 * np.pi * freq * along + uniform(rng, 0, 2 * np.pi))
        if rng.random() < 0.5:  # hard-edged stripes
            w = (w > 0.5).astype(np.float32)
    elif kind == "checker":
        cell = uniform(rng, 0.08, 0.25)
        across = -X * np.sin(a) + Y * np.cos(a)
        w = ((np.floor(along / cell) + np.floor(across / cell)) % 2).astype(np.float32)
    else:  # plasma: a few random low-frequency waves
        w = np.zeros_like(X)
        for _ in range(4):
            b = uniform(rng, 0, 2 * np.pi)
            w += np.sin(2 * np.pi * uniform(rng, 1, 4) * (X * np.cos(b) + Y * np.sin(b))
                        + uniform(rng, 0, 2 * np.pi))
        w = 0.5 + w / 8
    return c1 + (c2 - c1) * w[..., None]


def _shape_alpha(rng: np.random.Generator, shape: str, u: np.ndarray, v: np.ndarray,
                 scale: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a unit shape in local coordinates (u, v)."""
    r = np.hypot(u, v)
    if shape == "rect":
        aspect = uniform(rng, 0.35, 0.8)
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
                rho = rho + uniform(rng, 0.08, 0.22) * np.cos(h * phi + uniform(rng, 0, 2 * np.pi))
        inside = rho - r
        if shape == "ring":
            inside = np.minimum(inside, r - uniform(rng, 0.4, 0.65))
    # ``inside`` is in object units; scale by the radius to measure it in pixels
    return np.clip(inside * scale / px + 0.5, 0.0, 1.0)


def paint(rng: np.random.Generator, canvas: np.ndarray, X: np.ndarray, Y: np.ndarray, *,
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
        other = 255 - colour * uniform(rng, 0.2, 0.8)
        freq = uniform(rng, 1.5, 3.0)
        if fill == "stripes":
            w = np.sin(np.pi * freq * u) > 0
        else:
            w = (np.sin(np.pi * freq * u) * np.sin(np.pi * freq * v)) > 0
        paint = np.where(w[..., None], colour, other)
    canvas += alpha[..., None] * (paint - canvas)


def camera(rng: np.random.Generator, size: int, frames: int, difficulty: float,
           max_zoom: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """World coordinates ``(X, Y)`` [T, S, S] of every pixel, and whether the camera moves:
    in ``0.3 * difficulty`` of the clips it pans by at most 6 % of the frame and zooms by at
    most ``max_zoom`` over the clip (pixel x at frame t sees world ``(x - .5) / zoom + .5 +
    pan``)."""
    xs = (np.arange(size, dtype=np.float32) + 0.5) / size
    frac = np.arange(frames, dtype=np.float32) / (frames - 1)
    zoom = np.ones(frames, np.float32)
    pan = np.zeros((2, frames), np.float32)
    moving = rng.random() < 0.3 * difficulty
    if moving:
        zoom = 1 + uniform(rng, -max_zoom, max_zoom) * frac
        pan = uniform(rng, -0.06, 0.06, (2, 1)) * frac
    X = (xs[None, None, :] - 0.5) / zoom[:, None, None] + 0.5 + pan[0][:, None, None]
    Y = (xs[None, :, None] - 0.5) / zoom[:, None, None] + 0.5 + pan[1][:, None, None]
    X, Y = np.broadcast_arrays(X, Y)
    return X.astype(np.float32), Y.astype(np.float32), moving


def backdrop(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray, moving: bool,
             difficulty: float) -> tuple[np.ndarray, float]:
    """The clip's background canvas (float32 [T, S, S, 3], writable) and its brightness; a
    still camera sees the same background in every frame, drawn once."""
    if moving:
        canvas = background(rng, X, Y, difficulty)
    else:
        canvas = np.repeat(background(rng, X[:1], Y[:1], difficulty), X.shape[0], axis=0)
    canvas = np.ascontiguousarray(canvas, dtype=np.float32)
    return canvas, luma(canvas.reshape(-1, 3).mean(0))


def finish(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Sensor noise (a different level per clip), then rounded to uint8."""
    noise = uniform(rng, 0, 6)
    canvas += noise * rng.standard_normal(canvas.shape, dtype=np.float32)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
