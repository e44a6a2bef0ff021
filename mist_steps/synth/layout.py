"""Scene layouts of the synthetic benchmark: background, walkway, walking direction, crowd
density, sensor noise and lighting drift."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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


def _buildings(bg: np.ndarray, rng, horizon: float, H: int, W: int) -> None:
    """Building blocks with window grids along the far side, drawn into ``bg``."""
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


def _street_props(bg: np.ndarray, rng, base_top: float, slope: float, H: int, W: int) -> None:
    """One to three lamp poles, benches or trees behind the walkway, drawn into ``bg``."""
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
    _buildings(bg, rng, horizon, H, W)
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
    _street_props(bg, rng, base_top, slope, H, W)
    bg += _smooth_noise(rng, H, W, max(3, H // 16))[..., None] * rng.uniform(4, 9)
    bg += rng.standard_normal((H, W, 1)).astype(np.float32) * 2.0  # static surface grain
    bg *= (1 - 0.12 * (((xs - W / 2) / W) ** 2 + ((ys - H / 2) / H) ** 2))[..., None]  # lens vignette
    np.clip(bg, 0, 255, out=bg)
    band = (walk_c - walk_half, walk_c + walk_half)
    return Layout(bg, int(rng.choice([-1, 1])), band, slope, rng.uniform(2.0, 4.5) * crowd, rng.uniform(2.0, 4.0),
                  (rng.uniform(0.02, 0.04), rng.uniform(150, 400), rng.uniform(0, 2 * math.pi)), zoom)
