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
from dataclasses import dataclass

import numpy as np

from mist_steps.synth.layout import Layout, _rect, _smooth_noise, build_layout
from mist_steps.synth.people import (
    Act,
    Agent,
    _draw_agent,
    _person,
    _place,
    figure,
    simulate,
)
from mist_steps.synth.plan import VideoSpec, _rng

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


@dataclass
class _EventParts:
    """What the anomalies add to a video: agents, props, blasts, and the entities to box."""
    agents: list
    props: list
    blasts: list
    entities: list  # (start, end, kind, object)


def _walker_event(spec: VideoSpec, L: Layout, rng, s: int, e: int, out: _EventParts) -> None:
    """Running, WrongWay, Loitering, Falling: one walker acts out the anomaly."""
    H, W, flow = spec.height, spec.width, L.flow
    sc = H / 96 * L.zoom
    length = e - s
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
    out.agents.append(_place(ag, s, x_s, W))
    out.entities.append((s, e, "agent", ag))


def _fight_event(spec: VideoSpec, L: Layout, rng, s: int, e: int, out: _EventParts) -> None:
    """Fighting: a pair walking together turns on each other."""
    H, W, flow = spec.height, spec.width, L.flow
    sc = H / 96 * L.zoom
    length = e - s
    a = _person(rng, L, H, front=True)
    b = _person(rng, L, H, lane=a.lane, speed=a.speed / (sc * L.persp(a.lane)))
    g0, x_mid = rng.uniform(0.6, 0.9) * a.h, rng.uniform(0.25, 0.75) * W
    for ag, side in ((a, flow), (b, -flow)):
        ag.acts.append(Act(s, e, "fight", p={
            "xc": x_mid, "side": side, "g0": g0, "gmin": 0.3 * a.h,
            "jit": rng.normal(0, 0.07 * a.h, length), "lean": rng.normal(0, 0.2, length),
            "jy": rng.normal(0, 0.03 * a.h, length)}))
        out.agents.append(_place(ag, s, x_mid + side * g0 / 2, W))
        out.entities.append((s, e, "agent", ag))


def _abandonment_event(spec: VideoSpec, L: Layout, rng, s: int, e: int, out: _EventParts) -> None:
    """Abandonment: a bag is put down; a later passer-by picks it up at the end."""
    H, W, flow = spec.height, spec.width, L.flow
    top, bottom = L.band
    dropper = _person(rng, L, H, lane=rng.uniform(bottom - 0.25 * (bottom - top), bottom), bag=True)
    dropper.bag_drop = s
    x_s = rng.uniform(0.3, 0.7) * W
    out.agents.append(_place(dropper, s, x_s, W))
    h = dropper.h
    bx = x_s - flow * 0.35 * h
    by = dropper.lane + L.slope * (bx - W / 2) + 0.04 * h  # just in front of the walker's feet
    prop = Prop((bx - 0.13 * h, by - 0.22 * h, bx + 0.13 * h, by), dropper.bag_color, s, e)
    out.props.append(prop)
    out.entities.append((s, e, "prop", prop))
    passer = _person(rng, L, H, lane=max(top, dropper.lane - 0.02 * H))
    passer.bag_pick, passer.bag_color = e, dropper.bag_color
    out.agents.append(_place(passer, e, bx, W))


def _explosion_event(spec: VideoSpec, L: Layout, rng, s: int, e: int, out: _EventParts,
                     crowd: list[Agent]) -> None:
    """Explosion: a blast; people near it run away from it."""
    H, W = spec.height, spec.width
    sc = H / 96 * L.zoom
    cx = rng.uniform(0.25, 0.75) * W
    cy = L.band[0] + L.slope * (cx - W / 2) + rng.uniform(-0.05, 0.5) * (L.band[1] - L.band[0])
    blast = Blast(cx, cy, rng.uniform(0.14, 0.22) * min(L.zoom, 1.5) * H, s, e,
                  (_smooth_noise(rng, H, W, max(2, H // 24)) * 0.5 + 0.5).clip(0, 1))
    out.blasts.append(blast)
    out.entities.append((s, e, "blast", blast))
    for ag in crowd:  # people near the blast run away from it (positions as of this blast)
        if ag.t0 > s:
            continue
        tr = simulate(ag, s + 1, L, W, anomalies=True)
        if tr.alive[s] and abs(tr.x[s] - cx) < 0.45 * W:
            v = rng.uniform(3.0, 4.0) * 0.8 * sc * L.persp(ag.lane)
            ag.acts.insert(0, Act(s, e, "flee", after="keep", p={"speed": v, "cx": cx}))
            out.entities.append((s, e, "agent", ag))


def _events(spec: VideoSpec, L: Layout, rng, crowd: list[Agent]):
    """Agents, props and blasts of the anomalies, and per interval the entities to box."""
    out = _EventParts([], [], [], [])
    for s, e in spec.intervals:
        if spec.cls in ("Running", "WrongWay", "Loitering", "Falling"):
            _walker_event(spec, L, rng, s, e, out)
        elif spec.cls == "Fighting":
            _fight_event(spec, L, rng, s, e, out)
        elif spec.cls == "Abandonment":
            _abandonment_event(spec, L, rng, s, e, out)
        elif spec.cls == "Explosion":
            _explosion_event(spec, L, rng, s, e, out, crowd)
        else:
            raise ValueError(f"unknown anomaly class {spec.cls!r}")
    return out.agents, out.props, out.blasts, out.entities


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
