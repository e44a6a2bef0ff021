"""Pedestrians of the synthetic scenes: their looks, tracks along the walkway and drawing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mist_steps.synth.layout import Layout, _ellipse, _rect

_CLOTHES = np.array([[38, 38, 44], [72, 72, 84], [32, 52, 96], [128, 32, 36], [206, 204, 196], [152, 120, 82],
                     [60, 94, 62], [186, 152, 44], [92, 60, 112], [214, 112, 42], [24, 90, 120]], np.float32)


_SKIN = np.array([[232, 192, 160], [204, 152, 112], [152, 102, 72], [102, 72, 52], [44, 34, 30]], np.float32)


_BAGS = np.array([[40, 30, 24], [150, 40, 30], [30, 40, 120], [180, 170, 60], [20, 20, 20]], np.float32)


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
