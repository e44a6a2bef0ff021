"""Drawing on frames, for the spatial explanation: where the encoder looks, text, boxes, mp4.

* :func:`crop_region` - the part of a frame the encoder sees: the centre crop of
  :mod:`mist_steps.data.preprocess` (resize, then crop ``input_size``) mapped back to the frame's
  own pixel coordinates ``(x0, y0, x1, y1)`` (floats, x1/y1 exclusive). The SGA attention map
  ``[h, w]`` covers exactly this region, cell ``(r, c)`` the rectangle
  ``x0 + c * (x1 - x0) / w ...`` (:func:`cell_rects`).
* :func:`heat_overlay` - an attention map upsampled (bilinear) onto its region of the frame,
  coloured (matplotlib's ``inferno``) and alpha-blended; outside the region the frame is dimmed
  (the encoder does not see it).
* :class:`TextPainter` - text drawn with matplotlib's FreeType renderer (DejaVu Sans Mono
  Bold, shipped with matplotlib), each string rasterised once and cached.
* :func:`draw_rect` - a rectangle outline; :func:`write_mp4` - RGB frames to an H.264 mp4
  (MPEG-4 Part 2 where PyAV lacks libx264), written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np
import torch
import torch.nn.functional as F

from mist_steps.data.preprocess import (
    CROP_MODES,
    DEFAULT_INPUT_SIZE,
    FULL_FRAME,
    crop_boxes,
    resize_shape,
)
from mist_steps.formats.atomic import atomic_path

Region = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels, x1/y1 exclusive


def crop_region(arch: str, input_size: int | None, height: int, width: int,
                crop_mode: str = "center") -> Region:
    """Where the encoder's centre crop of a ``height`` x ``width`` frame lies in the frame
    (crop mode 'full': the whole frame)."""
    if crop_mode == FULL_FRAME:
        return 0.0, 0.0, float(width), float(height)
    if crop_mode != "center":
        raise ValueError(f"the attention map of crop mode {crop_mode!r} has no single region; "
                         f"stage II scores one centre crop (choose from {list(CROP_MODES)[:1]})")
    rh, rw = resize_shape(arch, height, width, input_size)
    crop = DEFAULT_INPUT_SIZE[arch] if input_size is None else int(input_size)
    top, left, _ = crop_boxes(rh, rw, crop, "center")[0]
    sy, sx = height / rh, width / rw
    return left * sx, top * sy, (left + crop) * sx, (top + crop) * sy


def cell_rects(region: Region, h: int, w: int) -> np.ndarray:
    """``[h, w, 4]`` rectangles (x0, y0, x1, y1) of the attention map's cells in the frame."""
    x0, y0, x1, y1 = region
    xs = x0 + (x1 - x0) * np.arange(w + 1) / w
    ys = y0 + (y1 - y0) * np.arange(h + 1) / h
    out = np.empty((h, w, 4))
    out[..., 0], out[..., 2] = xs[None, :-1], xs[None, 1:]
    out[..., 1], out[..., 3] = ys[:-1, None], ys[1:, None]
    return out


def _colormap(name: str = "inferno") -> np.ndarray:
    from matplotlib import colormaps  # only the drawing steps need matplotlib

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


class HeatPainter:
    """Blend attention maps (values scaled by ``vmax``) onto frames: see :func:`heat_overlay`."""

    def __init__(self, region: Region, height: int, width: int, *, vmax: float = 1.0,
                 alpha: float = 0.5, dim: float = 0.45, colormap: str = "inferno"):
        x0, y0, x1, y1 = region
        self.box = (int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))
        self.height, self.width = height, width
        self.vmax, self.alpha, self.dim = max(float(vmax), 1e-6), float(alpha), float(dim)
        self.lut = _colormap(colormap)

    def upsample(self, attention: np.ndarray) -> np.ndarray:
        """The map bilinearly resized onto its region: ``[y1 - y0, x1 - x0]`` floats."""
        bx0, by0, bx1, by1 = self.box
        x = torch.as_tensor(np.asarray(attention, dtype=np.float32))[None, None]
        y = F.interpolate(x, size=(by1 - by0, bx1 - bx0), mode="bilinear", align_corners=False)
        return y[0, 0].numpy()

    def colour(self, attention: np.ndarray) -> np.ndarray:
        """The map upsampled and coloured: float RGB over the region (reusable per snippet)."""
        level = np.clip(self.upsample(attention) / self.vmax, 0.0, 1.0)
        return self.lut[(level * 255).astype(np.uint8)].astype(np.float32)

    def __call__(self, frame: np.ndarray, attention: np.ndarray | None, *,
                 coloured: np.ndarray | None = None) -> np.ndarray:
        """``frame`` with ``attention`` blended over the region (``coloured``: its
        :meth:`colour`, if already computed); without either, the region is left as is."""
        out = frame.astype(np.float32) * self.dim
        bx0, by0, bx1, by1 = self.box
        inside = frame[by0:by1, bx0:bx1].astype(np.float32)
        if coloured is None and attention is not None:
            coloured = self.colour(attention)
        if coloured is not None:
            inside = (1 - self.alpha) * inside + self.alpha * coloured
        out[by0:by1, bx0:bx1] = inside
        return out.round().clip(0, 255).astype(np.uint8)


def heat_overlay(frame: np.ndarray, attention: np.ndarray, region: Region, *,
                 vmax: float = 1.0) -> np.ndarray:
    """One frame with ``attention`` drawn over ``region`` (see :class:`HeatPainter`)."""
    return HeatPainter(region, *frame.shape[:2], vmax=vmax)(frame, attention)


def draw_rect(frame: np.ndarray, rect, colour, thickness: int = 1) -> None:
    """Outline ``rect`` (x0, y0, x1, y1, x1/y1 exclusive) on ``frame`` in place, clipped."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in rect)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    t = max(1, int(thickness))
    colour = np.asarray(colour, dtype=np.uint8)
    frame[y0:min(y0 + t, y1), x0:x1] = colour
    frame[max(y1 - t, y0):y1, x0:x1] = colour
    frame[y0:y1, x0:min(x0 + t, x1)] = colour
    frame[y0:y1, max(x1 - t, x0):x1] = colour


class TextPainter:
    """Draw short strings on RGB frames with a monospace TrueType font shipped with matplotlib
    (rasterised by FreeType once per distinct string, then blitted)."""

    def __init__(self, size_px: int = 12):
        from matplotlib import font_manager
        from matplotlib.ft2font import FT2Font

        path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans Mono",
                                                                  weight="bold"))
        self._font = FT2Font(path)
        self._font.set_size(max(4, int(size_px)), 72)
        self._cache: dict[str, np.ndarray] = {}

    def mask(self, text: str) -> np.ndarray:
        """Coverage ``[h, w]`` in [0, 1] of ``text``."""
        if text not in self._cache:
            self._font.set_text(text, 0.0)
            self._font.draw_glyphs_to_bitmap(antialiased=True)
            self._cache[text] = np.asarray(self._font.get_image(), dtype=np.float32) / 255.0
        return self._cache[text]

    def draw(self, frame: np.ndarray, text: str, x: int, y: int, *, colour=(255, 255, 255),
             background=(0, 0, 0), pad: int = 2) -> tuple[int, int]:
        """Draw ``text`` with its top-left corner at (x, y) on a ``background`` box (None: no
        box), in place, clipped to the frame; returns the box's (width, height)."""
        m = self.mask(text)
        bh, bw = m.shape[0] + 2 * pad, m.shape[1] + 2 * pad
        h, w = frame.shape[:2]
        if background is not None:
            frame[max(y, 0):min(y + bh, h), max(x, 0):min(x + bw, w)] = background
        ty, tx = y + pad, x + pad
        ys = slice(max(ty, 0), min(ty + m.shape[0], h))
        xs = slice(max(tx, 0), min(tx + m.shape[1], w))
        sub = m[ys.start - ty:ys.stop - ty, xs.start - tx:xs.stop - tx][..., None]
        if sub.size:
            region = frame[ys, xs].astype(np.float32)
            frame[ys, xs] = (region * (1 - sub) + np.asarray(colour, np.float32) * sub).round()
        return bw, bh


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Encode RGB uint8 frames (all one size) into an mp4 at ``fps``, atomically; odd sizes
    are padded by one black row/column (yuv420p needs even sizes). Returns the frame count."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = None
        for rgb in frames:
            if stream is None:
                h, w = rgb.shape[:2]
                stream = container.add_stream(codec, rate=rate)
                stream.height, stream.width = h + h % 2, w + w % 2
                stream.pix_fmt = "yuv420p"
                stream.options = ({"crf": "20", "preset": "veryfast"} if codec == "libx264"
                                  else {"qmin": "3", "qmax": "3"})
            if rgb.shape[0] % 2 or rgb.shape[1] % 2:
                rgb = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb), format="rgb24")))
            count += 1
        if stream is None:
            raise ValueError(f"{path}: no frame to write")
        container.mux(stream.encode(None))
    return count
