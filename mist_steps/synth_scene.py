"""Procedural surveillance scenes for the synthetic benchmark: layouts, pedestrians, anomaly events.

A video is fully described by a small picklable :class:`VideoSpec`; :func:`render_video` draws it.
Separate RNG streams (plan, crowd, events, sensor noise) make the render with and without its
anomaly events identical except where the events act: the tests use that to check the annotation.
The anomalous people are ordinary walkers in both renders; only their behaviour inside the
annotated interval differs, so nothing but the behaviour gives an anomaly away.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from mist_steps import SNIPPET_LEN

ALL_CLASSES = ("Abandonment", "Explosion", "Falling", "Fighting", "Loitering", "Running", "WrongWay")
N_SCENES = 5  # camera layouts per seed, shared by train and test like fixed surveillance cameras
MIN_LEN = SNIPPET_LEN  # shortest anomalous interval: one full snippet
# Classes whose anomaly only reads as one when it lasts (loitering vs a brief pause; fleeing after a blast).
CLASS_MIN_LEN = {"Loitering": 48, "Explosion": 40, "Falling": 24}
_SPLIT_CODE = {"train": 0, "test": 1}
_CLASS_CODE = {"Normal": 0, **{c: i + 1 for i, c in enumerate(ALL_CLASSES)}}

_CLOTHES = np.array([[38, 38, 44], [72, 72, 84], [32, 52, 96], [128, 32, 36], [206, 204, 196], [152, 120, 82],
                     [60, 94, 62], [186, 152, 44], [92, 60, 112], [214, 112, 42], [24, 90, 120]], np.float32)
_SKIN = np.array([[232, 192, 160], [204, 152, 112], [152, 102, 72], [102, 72, 52], [44, 34, 30]], np.float32)
_BAGS = np.array([[40, 30, 24], [150, 40, 30], [30, 40, 120], [180, 170, 60], [20, 20, 20]], np.float32)


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


# ---------------------------------------------------------------- drawing primitives (float32 HxWx3)

_AR = np.arange(8192, dtype=np.float32)  # pixel indices, sliced instead of re-created per shape


def _ellipse(img, cx, cy, a, b, ang, color, alpha=1.0):
    """Anti-aliased filled ellipse, semi-axes a (local x) and b (local y), rotated by ang."""
    c, s = math.cos(ang), math.sin(ang)
    ex, ey = math.hypot(a * c, b * s), math.hypot(a * s, b * c)
    x0, x1 = max(int(cx - ex - 1), 0), min(int(cx + ex + 2), img.shape[1])
    y0, y1 = max(int(cy - ey - 1), 0), min(int(cy + ey + 2), img.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    # Few, in-place numpy calls: this runs ~20 times per frame on tiny patches, so call overhead rules.
    dx = _AR[x0:x1] + np.float32(0.5 - cx)
    dy = _AR[y0:y1, None] + np.float32(0.5 - cy)
    p = dx * np.float32(c / a) + dy * np.float32(s / a)
    q = dy * np.float32(c / b) - dx * np.float32(s / b)
    w = np.sqrt(p * p + q * q)
    m = min(a, b)  # (1 - r) * m approximates the signed distance to the edge in px: 1-px anti-aliasing
    w *= np.float32(-m * alpha)
    w += np.float32((m + 0.5) * alpha)
    np.clip(w, 0.0, alpha, out=w)
    region = img[y0:y1, x0:x1]
    region += (np.asarray(color, np.float32) - region) * w[..., None]


def _rect(img, x0, y0, x1, y1, color, alpha=1.0):
    """Anti-aliased axis-aligned rectangle with fractional edges."""
    ix0, ix1 = max(math.floor(x0), 0), min(math.ceil(x1), img.shape[1])
    iy0, iy1 = max(math.floor(y0), 0), min(math.ceil(y1), img.shape[0])
    if ix0 >= ix1 or iy0 >= iy1:
        return
    xs, ys = np.arange(ix0, ix1, dtype=np.float32), np.arange(iy0, iy1, dtype=np.float32)
    cx = np.clip(np.minimum(xs + 1, x1) - np.maximum(xs, x0), 0, 1)
    cy = np.clip(np.minimum(ys + 1, y1) - np.maximum(ys, y0), 0, 1)
    region = img[iy0:iy1, ix0:ix1]
    region += (np.asarray(color, np.float32) - region) * (cy[:, None] * cx[None, :] * alpha)[..., None]


def _smooth_noise(rng, h, w, cell):
    """Value noise: a coarse random grid, smoothstep-interpolated to h x w (roughly N(0, 1))."""
    grid = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(np.float32)
    ys, xs = np.arange(h) / cell, np.arange(w) / cell
    iy, ix = ys.astype(int), xs.astype(int)
    fy, fx = (ys - iy)[:, None], (xs - ix)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = grid[iy][:, ix] * (1 - fx) + grid[iy][:, ix + 1] * fx
    bottom = grid[iy + 1][:, ix] * (1 - fx) + grid[iy + 1][:, ix + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


# ---------------------------------------------------------------- scene layout (one static camera)

@dataclass
class Layout:
    bg: np.ndarray        # static background, float32 HxWx3
    flow: int             # dominant walking direction along x (+1 right, -1 left)
    band: tuple[float, float]  # range of feet y on the walkway, at the image centre column
    slope: float          # walkway tilt: feet y changes by slope per px of x
    density: float        # mean number of people in view
    sigma: float          # sensor noise std (0-255 scale)
    drift: tuple[float, float, float]  # lighting drift amplitude, period (frames), phase
    zoom: float = 1.0     # people's size and speed factor (VideoSpec.zoom)

    def persp(self, lane: float) -> float:
        """Size/speed factor of someone walking on a lane: nearer (lower) lanes look bigger."""
        return 0.85 + 0.3 * (lane - self.band[0]) / (self.band[1] - self.band[0])


def build_layout(seed: int, scene: int, height: int, width: int, zoom: float = 1.0,
                 crowd: float = 1.0) -> Layout:
    rng = np.random.default_rng([seed, 5150, scene])
    H, W = height, width
    ys = np.arange(H, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(W, dtype=np.float32)[None, :] + 0.5
    horizon = rng.uniform(0.22, 0.36) * H
    slope = rng.uniform(-0.12, 0.12)
    walk_c, walk_half = rng.uniform(0.66, 0.78) * H, rng.uniform(0.08, 0.11) * H
    bg = np.empty((H, W, 3), np.float32)
    bg[:] = rng.uniform(140, 200) * np.array([0.86, 0.92, 1.0], np.float32)  # sky / haze
    x = rng.uniform(-0.1, 0.0) * W
    while x < W:  # building blocks with window grids along the far side
        bw, top = rng.uniform(0.15, 0.35) * W, rng.uniform(0.0, 0.75) * horizon
        wall = rng.uniform(70, 170) + rng.uniform(-18, 18, 3)
        _rect(bg, x, top, x + bw, horizon + 1, wall)
        step = max(3.0, 0.06 * H)
        for wy in np.arange(top + step * 0.6, horizon - step * 0.8, step):
            for wx in np.arange(x + step * 0.5, x + bw - step * 0.7, step):
                _rect(bg, wx, wy, wx + step * 0.5, wy + step * 0.55, wall * rng.uniform(0.45, 0.75))
        x += bw + rng.uniform(0, 0.06) * W
    ground = np.array([96, 124, 72] if rng.random() < 0.5 else [128, 126, 118], np.float32) * rng.uniform(0.85, 1.1)
    shade = 0.8 + 0.25 * np.clip((ys - horizon) / (H - horizon), 0, 1)
    gmask = (ys >= horizon)[..., None]
    bg = np.where(gmask, ground * shade[..., None], bg).astype(np.float32)
    centre = walk_c + slope * (xs - W / 2)  # walkway centre line per column
    if scene % 2 == 0:  # every other camera also overlooks a road between the buildings and the walkway
        road_c = (horizon + walk_c - walk_half) / 2
        road_half = min(0.07 * H, (walk_c - walk_half - horizon) / 2 - 1)
        dist = np.abs(ys - (road_c + slope * (xs - W / 2)))
        bg = np.where((dist < road_half)[..., None], np.float32(rng.uniform(55, 80)), bg)
        dash = (dist < 0.6) & (((xs // max(4, W // 16)) % 2) == 0)
        bg = np.where(dash[..., None], np.float32(200), bg)
    paving = rng.uniform(145, 185) + rng.uniform(-10, 10, 3)
    on_walk = np.abs(ys - centre) < walk_half + 0.04 * H
    tile = max(4.0, 0.06 * H)
    seams = ((xs % tile) < 0.7) | (((ys - centre) % tile) < 0.7)
    bg = np.where(on_walk[..., None], paving * np.where(seams, 0.93, 1.0)[..., None], bg).astype(np.float32)
    base_top = walk_c - walk_half - 0.04 * H  # props stand behind the walkway: people pass in front
    for _ in range(int(rng.integers(1, 4))):
        px = rng.uniform(0.05, 0.95) * W
        py = base_top + slope * (px - W / 2)
        kind = rng.integers(3)
        if kind == 0:  # lamp pole
            pw, ph = max(1.0, 0.012 * W), rng.uniform(0.3, 0.45) * H
            _rect(bg, px, py - ph, px + pw, py, [50, 52, 56])
            _rect(bg, px - pw, py - ph, px + 3 * pw, py - ph + max(1.5, 0.02 * H), [230, 228, 200])
        elif kind == 1:  # bench
            bw, bh = rng.uniform(0.08, 0.14) * W, max(1.5, 0.03 * H)
            _rect(bg, px, py - 2.2 * bh, px + bw, py - 1.2 * bh, [110, 76, 48])
            _rect(bg, px + 0.1 * bw, py - 1.2 * bh, px + 0.18 * bw, py, [60, 50, 40])
            _rect(bg, px + 0.82 * bw, py - 1.2 * bh, px + 0.9 * bw, py, [60, 50, 40])
        else:  # tree
            th = rng.uniform(0.25, 0.4) * H
            _rect(bg, px, py - th * 0.5, px + max(1.5, 0.02 * W), py, [84, 62, 44])
            _ellipse(bg, px, py - th * 0.7, th * 0.3, th * 0.3, 0.0, np.array([58, 96, 50]) * rng.uniform(0.8, 1.2))
    bg += _smooth_noise(rng, H, W, max(3, H // 16))[..., None] * rng.uniform(4, 9)
    bg += rng.standard_normal((H, W, 1)).astype(np.float32) * 2.0  # static surface grain
    bg *= (1 - 0.12 * (((xs - W / 2) / W) ** 2 + ((ys - H / 2) / H) ** 2))[..., None]  # lens vignette
    np.clip(bg, 0, 255, out=bg)
    band = (walk_c - walk_half, walk_c + walk_half)
    return Layout(bg, int(rng.choice([-1, 1])), band, slope, rng.uniform(2.0, 4.5) * crowd, rng.uniform(2.0, 4.0),
                  (rng.uniform(0.02, 0.04), rng.uniform(150, 400), rng.uniform(0, 2 * math.pi)), zoom)


# ---------------------------------------------------------------- people

@dataclass
class Act:
    """Scripted behaviour over frames [start, end); anomalous acts only play in the anomaly render."""

    start: int
    end: int
    kind: str  # pause | run | wrong | loiter | fight | fall | flee
    anomalous: bool = True
    after: str | None = "flow"  # heading afterwards: "flow", "keep" (current facing) or None (unchanged)
    p: dict = field(default_factory=dict)


@dataclass
class Agent:
    h: float            # standing height, px
    wf: float           # build (width factor)
    shirt: np.ndarray
    pants: np.ndarray
    head: np.ndarray
    speed: float        # walking speed, px/frame
    lane: float         # feet y at the image centre column
    t0: int             # first simulated frame (may be negative: already walking when the video starts)
    x0: float           # x at frame t0
    heading: int
    phase: float
    wobble: tuple[float, float, float]
    bag: bool = False
    bag_color: np.ndarray = field(default_factory=lambda: _BAGS[0])
    bag_drop: int | None = None  # anomaly render: the bag leaves the hand at this frame
    bag_pick: int | None = None  # anomaly render: a bag is in the hand from this frame
    acts: list[Act] = field(default_factory=list)


@dataclass
class Track:
    """Per-frame state of one agent; alive is False while out of the simulation."""

    x: np.ndarray
    y: np.ndarray
    facing: np.ndarray
    tilt: np.ndarray
    bob: np.ndarray
    gait: np.ndarray
    carry: np.ndarray
    alive: np.ndarray


def _person(rng, L: Layout, H: int, *, lane=None, speed=None, front=False, bag=False) -> Agent:
    top, bottom = L.band
    if lane is None:  # event people use the nearer half of the walkway, so passers-by rarely hide them
        lane = rng.uniform((top + bottom) / 2 if front else top, bottom)
    k = L.persp(lane)
    sc = H / 96 * L.zoom
    return Agent(h=rng.uniform(0.095, 0.139) * H * L.zoom * k, wf=rng.uniform(0.85, 1.2),
                 shirt=_CLOTHES[rng.integers(len(_CLOTHES))] + rng.normal(0, 12, 3).astype(np.float32),
                 pants=_CLOTHES[rng.integers(len(_CLOTHES))] * 0.8 + rng.normal(0, 8, 3).astype(np.float32),
                 head=_SKIN[rng.integers(len(_SKIN))], speed=(speed or rng.uniform(0.4, 1.2)) * sc * k,
                 lane=lane, t0=0, x0=0.0, heading=L.flow, phase=rng.uniform(0, math.pi),
                 wobble=(rng.uniform(0, 0.012) * H, rng.uniform(0.01, 0.04), rng.uniform(0, 2 * math.pi)),
                 bag=bag, bag_color=_BAGS[rng.integers(len(_BAGS))])


def _place(ag: Agent, t: int, x: float | None, W: int) -> Agent:
    """Start the agent walking in from its upstream edge so that it is at x (default: the edge) at frame t."""
    entry = -0.4 * ag.h - 2 if ag.heading > 0 else W + 0.4 * ag.h + 2
    x = entry if x is None else x
    steps = max(int((x - entry) * ag.heading / ag.speed), 0)
    ag.t0, ag.x0 = t - steps, x - ag.heading * ag.speed * steps
    return ag


def _reflect(x, facing, lo, hi):
    if x < lo:
        return 2 * lo - x, 1
    if x > hi:
        return 2 * hi - x, -1
    return x, facing


def simulate(ag: Agent, n: int, L: Layout, W: int, anomalies: bool) -> Track:
    z = np.zeros(n, np.float32)
    tr = Track(z.copy(), z.copy(), np.ones(n, np.int8), z.copy(), z.copy(), z.copy(),
               np.zeros(n, bool), np.zeros(n, bool))
    acts = [a for a in ag.acts if anomalies or not a.anomalous]
    x, heading, facing, phase, cur = ag.x0, ag.heading, ag.heading, ag.phase, None
    margin = 0.5 * ag.h + 2
    for t in range(ag.t0, n):
        act = next((a for a in acts if a.start <= t < a.end), None)
        if cur is not None and act is not cur and cur.after is not None:
            heading = L.flow if cur.after == "flow" else facing
        cur = act
        tilt = yoff = 0.0
        x_prev = x
        kind = act.kind if act else "walk"
        u = t - act.start if act else 0
        if kind == "walk":
            facing = heading
            x += heading * ag.speed * (t > ag.t0)
        elif kind in ("run", "wrong", "flee"):
            if u == 0:
                facing = {"run": facing, "wrong": -L.flow,
                          "flee": int(np.sign(x - act.p.get("cx", x))) or facing}[kind]
            x += facing * act.p["speed"]
            tilt = 0.3 if kind != "wrong" else 0.0  # leaning forward reads as running at any size
            if "lo" in act.p:
                x, facing = _reflect(x, facing, act.p["lo"], act.p["hi"])
        elif kind == "loiter":
            v = act.p["vel"][u]
            x += v
            facing = int(np.sign(v)) or facing
            x, facing = _reflect(x, facing, act.p["lo"], act.p["hi"])
            yoff = act.p["yoff"][u]
        elif kind == "fight":
            g = act.p["g0"] + (act.p["gmin"] - act.p["g0"]) * min(1.0, (u + 1) / 3)
            x = act.p["xc"] + act.p["side"] * g / 2 + act.p["jit"][u]
            facing, tilt, yoff = -act.p["side"], act.p["lean"][u], act.p["jy"][u]
        elif kind == "fall":
            k, length = act.p["k"], act.end - act.start
            tilt = math.pi / 2 * min(1.0, (u + 1) / k, (length - u - 0.5) / k)
        moved = abs(x - x_prev)
        phase += math.pi * moved / (0.45 * ag.h)
        gait = abs(math.sin(phase)) if moved > 0 else 0.0
        if t >= 0:
            tr.x[t] = x
            tr.y[t] = (ag.lane + L.slope * (x - W / 2) + yoff
                       + ag.wobble[0] * math.sin(ag.wobble[1] * t + ag.wobble[2]))
            tr.facing[t], tr.tilt[t], tr.gait[t] = facing, tilt, gait
            tr.bob[t] = (0.06 if kind in ("run", "flee") else 0.03) * ag.h * gait
            carry = ag.bag
            if anomalies and ag.bag_drop is not None and t >= ag.bag_drop:
                carry = False
            if anomalies and ag.bag_pick is not None and t >= ag.bag_pick:
                carry = True
            tr.carry[t], tr.alive[t] = carry, True
        if (x < -margin and facing < 0) or (x > W + margin and facing > 0):
            if t > ag.t0 + 1 and kind in ("walk", "flee"):
                break  # walked out of view for good
    return tr


def figure(ag: Agent, tr: Track, t: int):
    """Ellipses (cx, cy, a, b, ang, colour) of legs, torso, head, and their bounding box."""
    h, f, th = ag.h, int(tr.facing[t]), float(tr.tilt[t])
    x, y = float(tr.x[t]), float(tr.y[t]) - float(tr.bob[t])
    ang = f * th
    s, c = math.sin(ang), math.cos(ang)
    ux, uy, fx, fy = s, -c, f * c, f * s  # body axis (up) and facing direction, tipped with the body
    legs = [x + ux * 0.22 * h, y + uy * 0.22 * h, 0.10 * h * ag.wf * (1 + 0.6 * float(tr.gait[t])), 0.21 * h, ang]
    torso = [x + ux * 0.56 * h, y + uy * 0.56 * h, 0.15 * h * ag.wf, 0.21 * h, ang]
    head = [x + ux * 0.86 * h + fx * 0.05 * h, y + uy * 0.86 * h + fy * 0.05 * h, 0.1 * h, 0.1 * h, 0.0]
    # When tipped over, lift the figure so it rests on the ground instead of sinking into it.
    lift = max(0.0, max(p[1] + math.hypot(p[2] * s, p[3] * c) for p in (legs, torso)) - float(tr.y[t]))
    parts = [(p[0], p[1] - lift, *p[2:], col) for p, col in ((legs, ag.pants), (torso, ag.shirt), (head, ag.head))]
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for cx, cy, a, b, an, _ in parts:
        ex, ey = math.hypot(a * math.cos(an), b * math.sin(an)), math.hypot(a * math.sin(an), b * math.cos(an))
        x0, x1, y0, y1 = min(x0, cx - ex), max(x1, cx + ex), min(y0, cy - ey), max(y1, cy + ey)
    return parts, (x0, y0, x1, y1), (fx, fy, ux, uy, lift)


def _draw_agent(img, ag: Agent, tr: Track, t: int):
    parts, _, (fx, fy, ux, uy, lift) = figure(ag, tr, t)
    h, x, y = ag.h, float(tr.x[t]), float(tr.y[t])
    _ellipse(img, x, y, 0.22 * h + 0.3 * h * abs(ux), 0.05 * h, 0.0, (0, 0, 0), 0.3)  # shadow
    for cx, cy, a, b, ang, col in parts:
        _ellipse(img, cx, cy, a, b, ang, col)
    if tr.carry[t]:  # bag held at the hip, on the trailing side
        bx, by = x + ux * 0.32 * h - fx * 0.2 * h, y - float(tr.bob[t]) + uy * 0.32 * h - fy * 0.2 * h - lift
        _rect(img, bx - 0.11 * h, by - 0.1 * h, bx + 0.11 * h, by + 0.1 * h, ag.bag_color)


# ---------------------------------------------------------------- props and effects of events

@dataclass
class Prop:
    """A bag or box left on the ground during [start, end) (anomaly render only)."""

    box: tuple[float, float, float, float]
    color: np.ndarray
    start: int
    end: int


@dataclass
class Blast:
    """An explosion: expanding flash, then a dark smoke cloud that fades until the interval ends."""

    cx: float
    cy: float
    rmax: float
    start: int
    end: int
    tex: np.ndarray  # smoke texture, HxW

    def radius(self, t: int) -> float:
        u, length = t - self.start, self.end - self.start
        return self.rmax * (0.4 + 0.8 * min(1.0, (u + 1) / max(4.0, 0.3 * length)))

    def draw(self, img, t: int):
        u, length, r = t - self.start, self.end - self.start, self.radius(t)
        x0, x1 = max(int(self.cx - r), 0), min(int(self.cx + r) + 1, img.shape[1])
        y0, y1 = max(int(self.cy - r), 0), min(int(self.cy + r) + 1, img.shape[0])
        if x0 >= x1 or y0 >= y1:
            return
        dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - self.cx) / r
        dy = (np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - self.cy) / r
        fall = np.clip(1 - dx * dx - dy * dy, 0, 1)
        tex = np.roll(self.tex, -(u // 2), axis=0)[y0:y1, x0:x1]  # smoke drifts upward
        alpha = (0.75 * min(1.0, (u + 1) / 3) * (1 - 0.8 * u / length)) * fall * (0.6 + 0.4 * tex)
        region = img[y0:y1, x0:x1]
        region += (np.float32(55) - region) * alpha[..., None]
        if u < 14:  # the flash is emissive: added on top, not scaled by the scene lighting
            region += (1.8 * math.exp(-u / 3) * fall * fall)[..., None] * np.array([255, 225, 170], np.float32)

    def box(self, t: int):
        r = self.radius(t)
        return self.cx - r, self.cy - r, self.cx + r, self.cy + r


# ---------------------------------------------------------------- the world of one video

def _free_start(rng, n: int, intervals, length: int) -> int | None:
    """A start frame whose [t, t+length) keeps clear of the anomalous intervals, or None."""
    for _ in range(30):
        t = int(rng.integers(0, max(1, n - length)))
        if all(t + length + 4 <= s or t >= e + 4 for s, e in intervals):
            return t
    return None


def _crowd(spec: VideoSpec, L: Layout, rng) -> tuple[list[Agent], tuple[int, float, int] | None]:
    """Ordinary walkers plus hard negatives; identical in both renders."""
    n, H, W = spec.n_frames, spec.height, spec.width
    people, spans = [], []  # spans: frames in which each ordinary walker is in view

    def add(ag: Agent) -> None:
        exit_x = W + 0.4 * ag.h + 2 if ag.heading > 0 else -0.4 * ag.h - 2
        people.append(ag)
        spans.append((max(ag.t0, 0), ag.t0 + abs(exit_x - ag.x0) / ag.speed))

    for _ in range(int(rng.integers(2, 5))):  # already in view when the video starts
        add(_place(_person(rng, L, H, bag=rng.random() < 0.1), 0, rng.uniform(0, W), W))
    # Random arrivals at a rate that keeps ~density people in view (time in view ~ W * E[1/speed]),
    # nudged to keep 2-6 in view like a real walkway camera.
    rate = L.density * 0.8 * H / 96 * L.zoom / (W * math.log(3))
    for t in range(n):
        here = sum(a <= t < b for a, b in spans)
        if rng.random() < rate * (3.0 if here < 2 else 0.0 if here >= 6 else 1.0):
            add(_place(_person(rng, L, H, bag=rng.random() < 0.1), t, None, W))
    # Hard negatives: look a bit like the anomalies but are normal behaviour. Equally likely in
    # normal and abnormal videos, so only the anomaly tells the two apart (a video-level
    # difference would be a shortcut for MIL training).
    picks = rng.random(5) < spec.hard_negatives
    light = None
    if picks[0]:  # brisk walker, clearly slower than a runner
        people.append(_place(_person(rng, L, H, speed=rng.uniform(1.6, 2.0) * 0.8), int(rng.integers(0, n)),
                             rng.uniform(0.2, 0.8) * W, W))
    if picks[1]:  # lights switching: a global step or ramp, unlike the local flash of an explosion
        t_sw = _free_start(rng, n, spec.intervals, 30)
        if t_sw is not None:
            delta = float(rng.choice([-1, 1]) * rng.uniform(0.12, 0.25))
            light = (t_sw, delta, int(rng.choice([1, rng.integers(5, 30)])))  # instant switch or a ramp
    if picks[2]:  # a group walking together
        t_g, lane, v = int(rng.integers(0, n)), rng.uniform(*L.band), rng.uniform(0.5, 1.0)
        x_g = rng.uniform(0.2, 0.8) * W
        for i in range(int(rng.integers(3, 6))):
            lane_i = float(np.clip(lane + rng.normal(0, 0.03 * H), *L.band))
            ag = _person(rng, L, H, lane=lane_i)
            ag.speed = v * H / 96 * L.zoom * L.persp(lane)  # one pace for the whole group
            people.append(_place(ag, t_g, x_g - L.flow * i * 0.35 * ag.h + rng.normal(0, 0.1 * ag.h), W))
    if picks[3]:  # someone stopping briefly (shorter and stiller than loitering)
        length = int(rng.integers(10, 30))
        t_p = _free_start(rng, n, spec.intervals, length)
        if t_p is not None:
            ag = _place(_person(rng, L, H), t_p, rng.uniform(0.2, 0.8) * W, W)
            ag.acts.append(Act(t_p, t_p + length, "pause", anomalous=False, after=None))
            people.append(ag)
    if picks[4]:  # carrying a bag that is never put down
        people.append(_place(_person(rng, L, H, bag=True), int(rng.integers(0, n)), rng.uniform(0.2, 0.8) * W, W))
    return people, light


def _events(spec: VideoSpec, L: Layout, rng, crowd: list[Agent]):
    """Agents, props and blasts of the anomalies, and per interval the entities to box."""
    H, W, flow = spec.height, spec.width, L.flow
    sc = H / 96 * L.zoom
    agents, props, blasts, entities = [], [], [], []  # entity: (start, end, kind, object)
    for s, e in spec.intervals:
        length = e - s
        if spec.cls in ("Running", "WrongWay", "Loitering", "Falling"):
            ag = _person(rng, L, H, front=True)
            lo, hi = 0.3 * ag.h + 1, W - 0.3 * ag.h - 1  # keeps the whole figure in view
            if spec.cls == "Running":
                v = rng.uniform(3.0, 4.0) * 0.8 * sc * L.persp(ag.lane)
                x_s = lo + rng.uniform(0, 0.35) * (hi - lo)  # start upstream, run with the flow
                x_s = x_s if flow > 0 else W - x_s
                act = Act(s, e, "run", p={"speed": v, "lo": lo, "hi": hi})
            elif spec.cls == "WrongWay":
                v = max(min(ag.speed, 0.95 * (hi - lo) / length), 0.3 * sc)
                span = min(v * length, hi - lo)
                x_s = rng.uniform(min(lo + span, hi), hi) if flow > 0 else rng.uniform(lo, max(hi - span, lo))
                act = Act(s, e, "wrong", p={"speed": v, "lo": lo, "hi": hi})
            elif spec.cls == "Loitering":
                x_s = rng.uniform(0.25, 0.75) * W
                vel, yoff, u, y, d = np.zeros(length), np.zeros(length), 0, 0.0, -flow  # first turns back
                while u < length:
                    seg = int(rng.integers(6, 20))
                    speed = 0.0 if (u and rng.random() < 0.3) else rng.uniform(0.3, 0.6) * ag.speed
                    vel[u:u + seg] = d * speed
                    d = -d if rng.random() < 0.7 else d
                    u += seg
                for i in range(length):
                    y = float(np.clip(y + rng.normal(0, 0.004 * H), -0.04 * H, 0.04 * H))
                    yoff[i] = y
                act = Act(s, e, "loiter", p={"vel": vel, "yoff": yoff, "lo": max(lo, x_s - 0.1 * W),
                                             "hi": min(hi, x_s + 0.1 * W)})
            else:
                x_s = rng.uniform(0.25, 0.75) * W
                act = Act(s, e, "fall", p={"k": int(np.clip(length // 4, 3, 6))})
            ag.acts.append(act)
            agents.append(_place(ag, s, x_s, W))
            entities.append((s, e, "agent", ag))
        elif spec.cls == "Fighting":  # a pair walking together turns on each other
            a = _person(rng, L, H, front=True)
            b = _person(rng, L, H, lane=a.lane, speed=a.speed / (sc * L.persp(a.lane)))
            g0, x_mid = rng.uniform(0.6, 0.9) * a.h, rng.uniform(0.25, 0.75) * W
            for ag, side in ((a, flow), (b, -flow)):
                ag.acts.append(Act(s, e, "fight", p={
                    "xc": x_mid, "side": side, "g0": g0, "gmin": 0.3 * a.h,
                    "jit": rng.normal(0, 0.07 * a.h, length), "lean": rng.normal(0, 0.2, length),
                    "jy": rng.normal(0, 0.03 * a.h, length)}))
                agents.append(_place(ag, s, x_mid + side * g0 / 2, W))
                entities.append((s, e, "agent", ag))
        elif spec.cls == "Abandonment":  # a bag is put down; a later passer-by picks it up at the end
            top, bottom = L.band
            dropper = _person(rng, L, H, lane=rng.uniform(bottom - 0.25 * (bottom - top), bottom), bag=True)
            dropper.bag_drop = s
            x_s = rng.uniform(0.3, 0.7) * W
            agents.append(_place(dropper, s, x_s, W))
            h = dropper.h
            bx = x_s - flow * 0.35 * h
            by = dropper.lane + L.slope * (bx - W / 2) + 0.04 * h  # just in front of the walker's feet
            prop = Prop((bx - 0.13 * h, by - 0.22 * h, bx + 0.13 * h, by), dropper.bag_color, s, e)
            props.append(prop)
            entities.append((s, e, "prop", prop))
            passer = _person(rng, L, H, lane=max(top, dropper.lane - 0.02 * H))
            passer.bag_pick, passer.bag_color = e, dropper.bag_color
            agents.append(_place(passer, e, bx, W))
        elif spec.cls == "Explosion":
            cx = rng.uniform(0.25, 0.75) * W
            cy = L.band[0] + L.slope * (cx - W / 2) + rng.uniform(-0.05, 0.5) * (L.band[1] - L.band[0])
            blast = Blast(cx, cy, rng.uniform(0.14, 0.22) * min(L.zoom, 1.5) * H, s, e,
                          (_smooth_noise(rng, H, W, max(2, H // 24)) * 0.5 + 0.5).clip(0, 1))
            blasts.append(blast)
            entities.append((s, e, "blast", blast))
            for ag in crowd:  # people near the blast run away from it (positions as of this blast)
                if ag.t0 > s:
                    continue
                tr = simulate(ag, s + 1, L, W, anomalies=True)
                if tr.alive[s] and abs(tr.x[s] - cx) < 0.45 * W:
                    v = rng.uniform(3.0, 4.0) * 0.8 * sc * L.persp(ag.lane)
                    ag.acts.insert(0, Act(s, e, "flee", after="keep", p={"speed": v, "cx": cx}))
                    entities.append((s, e, "agent", ag))
        else:
            raise ValueError(f"unknown anomaly class {spec.cls!r}")
    return agents, props, blasts, entities


class World:
    """The simulated video: call :meth:`frame` and :meth:`boxes` for t = 0 .. n_frames-1."""

    def __init__(self, spec: VideoSpec, anomalies: bool = True):
        self.spec = spec
        self.layout = L = build_layout(spec.seed, spec.scene, spec.height, spec.width, spec.zoom, spec.crowd)
        crowd, light = _crowd(spec, L, _rng(spec, 1))
        event_agents, self.props, self.blasts, self.entities = _events(spec, L, _rng(spec, 2), crowd)
        if not anomalies:
            self.props, self.blasts, self.entities = [], [], []
        self.agents = crowd + event_agents
        self.tracks = [simulate(a, spec.n_frames, L, spec.width, anomalies) for a in self.agents]
        self.track_of = {id(a): tr for a, tr in zip(self.agents, self.tracks)}
        t = np.arange(spec.n_frames, dtype=np.float32)
        amp, period, ph = L.drift
        self.light = 1 + amp * np.sin(2 * np.pi * t / period + ph)
        if light is not None:
            t_sw, delta, ramp = light
            self.light *= 1 + delta * np.clip((t - t_sw + 1) / ramp, 0, 1)
        # Sensor noise from its own stream, so both renders share it. Drawing fresh Gaussians per frame
        # would cost more than all the drawing: take a random window of a larger pre-drawn noise field.
        self.noise_rng = _rng(spec, 3)
        H, W = spec.height, spec.width
        self.noise = self.noise_rng.standard_normal((2 * H, 2 * W, 3), dtype=np.float32) * np.float32(L.sigma)

    def frame(self, t: int) -> np.ndarray:
        img = self.layout.bg.copy()
        items = [(float(tr.y[t]), 1, i) for i, tr in enumerate(self.tracks) if tr.alive[t]]
        items += [(p.box[3], 0, i) for i, p in enumerate(self.props) if p.start <= t < p.end]
        for _, kind, i in sorted(items):  # painter's order: nearer (lower) things drawn last
            if kind:
                _draw_agent(img, self.agents[i], self.tracks[i], t)
            else:
                p = self.props[i]
                _rect(img, *p.box, p.color)
                _rect(img, p.box[0], p.box[1], p.box[2], p.box[1] + 0.25 * (p.box[3] - p.box[1]), p.color * 0.6)
        img *= self.light[t]
        for blast in self.blasts:
            if blast.start <= t < blast.end:
                blast.draw(img, t)
        oy, ox = self.noise_rng.integers(0, [img.shape[0] + 1, img.shape[1] + 1])
        img += self.noise[oy:oy + img.shape[0], ox:ox + img.shape[1]]
        np.clip(img, 0, 255, out=img)
        return (img + 0.5).astype(np.uint8)

    def boxes(self, t: int) -> list[tuple[int, int, int, int]]:
        """Integer pixel boxes (x0, y0, x1, y1), x1/y1 exclusive, of every anomalous entity at frame t."""
        out, W, H = [], self.spec.width, self.spec.height
        for s, e, kind, obj in self.entities:
            if not s <= t < e:
                continue
            if kind == "agent":
                tr = self.track_of[id(obj)]
                if not tr.alive[t]:
                    continue
                box = figure(obj, tr, t)[1]
            else:
                box = obj.box if kind == "prop" else obj.box(t)
            x0, y0 = max(math.floor(box[0]), 0), max(math.floor(box[1]), 0)
            x1, y1 = min(math.ceil(box[2]), W), min(math.ceil(box[3]), H)
            if x1 > x0 and y1 > y0:
                out.append((x0, y0, x1, y1))
        return out


def iter_frames(spec: VideoSpec, anomalies: bool = True) -> Iterator[tuple[np.ndarray, list]]:
    """Yield (uint8 HxWx3 RGB frame, anomaly boxes) per frame; the boxes are empty without anomalies."""
    world = World(spec, anomalies)
    for t in range(spec.n_frames):
        yield world.frame(t), world.boxes(t)


def render_video(spec: VideoSpec, anomalies: bool = True) -> tuple[np.ndarray, list[list[tuple]]]:
    """All frames [N, H, W, 3] uint8 in memory and the per-frame anomaly boxes."""
    frames = np.empty((spec.n_frames, spec.height, spec.width, 3), np.uint8)
    boxes = []
    for t, (img, b) in enumerate(iter_frames(spec, anomalies)):
        frames[t] = img
        boxes.append(b)
    return frames, boxes
