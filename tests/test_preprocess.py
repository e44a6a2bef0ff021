"""mist_steps.data.preprocess: resize/crop/normalize recipes of the encoders, on real footage
too."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mist_steps.data.preprocess import (
    C3D_MEAN_BGR,
    Preprocess,
    crop_boxes,
    crop_snippet,
    normalize,
    resize_frame,
    resize_shape,
)
from mist_steps.data.snippets import SnippetReader
from mist_steps.data.video import open_video


def test_resize_shape_public_recipes():
    assert resize_shape("i3d", 800, 1200) == (256, 384)  # short side 256, aspect kept
    assert resize_shape("i3d", 1200, 800) == (384, 256)  # portrait
    assert resize_shape("i3d", 240, 320) == (256, 341)
    assert resize_shape("c3d", 800, 1200) == (128, 171)  # fixed, aspect not kept
    assert resize_shape("c3d", 240, 320) == (128, 171)


def test_resize_shape_scales_with_input_size():
    assert resize_shape("i3d", 800, 1200, 64) == (73, 110)  # 64 * 256 / 224 = 73.1
    assert resize_shape("i3d", 800, 1200, 224) == (256, 384)
    assert resize_shape("c3d", 800, 1200, 56) == (64, 86)  # s = 0.5: 128 * s, 171 * s
    assert resize_shape("c3d", 800, 1200, 112) == (128, 171)
    # a very wide frame still leaves room for the crop on both axes
    h, w = resize_shape("i3d", 10, 2000, 64)
    assert h >= 64 and w >= 64


def test_resize_frame_uint8_matches_float_reference():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    out = resize_frame(frame, (30, 41))
    assert out.shape == (30, 41, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    ref = F.interpolate(torch.from_numpy(frame).permute(2, 0, 1)[None].float(), size=(30, 41),
                        mode="bilinear", antialias=True, align_corners=False)
    ref = ref[0].permute(1, 2, 0).round().clamp(0, 255).numpy()
    assert np.abs(out.astype(float) - ref).max() <= 1
    flat = np.full((50, 70, 3), 77, np.uint8)
    assert (resize_frame(flat, (20, 33)) == 77).all()
    assert resize_frame(flat, (50, 70)) is flat  # right size already: no work


def test_crop_boxes_orders():
    assert crop_boxes(10, 14, 6, "center") == [(2, 4, False)]
    assert crop_boxes(10, 14, 6, "ten") == [
        (0, 0, False), (0, 8, False), (4, 0, False), (4, 8, False), (2, 4, False),
        (0, 0, True), (0, 8, True), (4, 0, True), (4, 8, True), (2, 4, True)]
    with pytest.raises(ValueError):
        crop_boxes(10, 14, 12, "center")
    assert crop_boxes(10, 14, 6, "five") == crop_boxes(10, 14, 6, "ten")[:5]  # FiveCrop
    with pytest.raises(ValueError):
        crop_boxes(10, 14, 6, "six")


def test_ten_crop_is_torchvision_order():
    rng = np.random.default_rng(1)
    snippet = torch.from_numpy(rng.integers(0, 256, (4, 10, 14, 3), dtype=np.uint8))
    crops = crop_snippet(snippet, 6, "ten")
    assert crops.shape == (10, 4, 6, 6, 3) and crops.dtype == torch.uint8
    assert torch.equal(crops[0], snippet[:, :6, :6])  # top-left
    assert torch.equal(crops[1], snippet[:, :6, 8:])  # top-right
    assert torch.equal(crops[2], snippet[:, 4:, :6])  # bottom-left
    assert torch.equal(crops[3], snippet[:, 4:, 8:])  # bottom-right
    assert torch.equal(crops[4], snippet[:, 2:8, 4:10])  # centre
    # the second five come from the mirrored frame: mirror images of the first five, swapped
    # left/right as in torchvision's ten_crop
    mirror = lambda t: t.flip(2)  # noqa: E731
    assert torch.equal(crops[5], mirror(crops[1]))
    assert torch.equal(crops[6], mirror(crops[0]))
    assert torch.equal(crops[7], mirror(crops[3]))
    assert torch.equal(crops[8], mirror(crops[2]))
    assert torch.equal(crops[9], mirror(crops[4]))
    assert torch.equal(crop_snippet(snippet, 6, "center")[0], crops[4])


def test_normalize_conventions():
    clip = torch.zeros(1, 2, 3, 3, 3, dtype=torch.uint8)
    clip[..., 0] = 255  # pure red
    i3d = normalize("i3d", clip)
    assert i3d.shape == (1, 3, 2, 3, 3)
    assert torch.equal(i3d[0, 0], torch.ones(2, 3, 3))  # R at +1
    assert torch.equal(i3d[0, 1], -torch.ones(2, 3, 3))  # G at -1
    c3d = normalize("c3d", clip)
    b, g, r = C3D_MEAN_BGR
    assert torch.allclose(c3d[0, :, 0, 0, 0], torch.tensor([-b, -g, 255 - r]))  # BGR
    with pytest.raises(ValueError):
        normalize("i3d", clip.float())


def test_clips_pads_and_orders_snippet_major():
    prep = Preprocess("i3d", 8, "ten")
    a = np.full((16, 9, 12, 3), 255, np.uint8)
    b = np.zeros((16, 10, 10, 3), np.uint8)  # another size: crops still stack
    x = prep.clips([a, b], pad_to=3)
    assert x.shape == (3 * 10, 3, 16, 8, 8) and x.dtype == torch.float32
    assert (x[:10] == 1).all() and (x[10:] == -1).all()  # snippet a's crops first; pad = 0 → -1
    with pytest.raises(ValueError):
        Preprocess("i3d", 8, "corners")
    with pytest.raises(ValueError):
        Preprocess("x3d")


def test_frame_resizer_fixes_shape_per_video():
    resize = Preprocess("i3d", 64).frame_resizer()
    first = resize(np.zeros((120, 160, 3), np.uint8))
    later = resize(np.zeros((100, 100, 3), np.uint8))  # a resolution change mid-video
    assert first.shape == later.shape == (73, 97, 3)
    square = Preprocess("i3d", 64).frame_resizer()(np.zeros((100, 100, 3), np.uint8))
    assert square.shape == (73, 73, 3)


# --- real footage: GoldenEye.mp4, 1200x800, 961 frames ------------------------------------------


@pytest.fixture(scope="module")
def golden_eye(shared_data):
    return shared_data / "videos" / "GoldenEye.mp4"


def test_real_clip_snippet_count(golden_eye):
    reader = SnippetReader(open_video(golden_eye), transform=Preprocess("i3d", 64).frame_resizer())
    count = 0
    for snippet in reader:
        if count == 0:
            assert snippet.shape == (16, 73, 110, 3) and snippet.dtype == np.uint8
        count += 1
    assert count == 961 // 16 == 60
    assert reader.frames_decoded == 961 and reader.snippets == 60


@pytest.mark.parametrize("arch, mode, crops, side, lo, hi", [
    ("i3d", "center", 1, 224, -1.0, 1.0),
    ("i3d", "ten", 10, 224, -1.0, 1.0),
    ("c3d", "center", 1, 112, -max(C3D_MEAN_BGR), 255 - min(C3D_MEAN_BGR)),
])
def test_real_clip_encoder_input(golden_eye, arch, mode, crops, side, lo, hi):
    prep = Preprocess(arch, None, mode)
    reader = SnippetReader(open_video(golden_eye), transform=prep.frame_resizer())
    snippet = next(itertools.islice(iter(reader), 1))  # the first snippet only
    assert snippet.shape[1:3] == resize_shape(arch, 800, 1200)
    x = prep.clips([snippet])
    assert x.shape == (crops, 3, 16, side, side) and x.dtype == torch.float32
    assert lo - 1e-3 <= float(x.min()) < float(x.max()) <= hi + 1e-3  # float32 rounding
    assert float(x.std()) > 0.05 * (hi - lo)  # real picture content, not a flat frame


def test_whole_frame_mode_resizes_without_cropping():
    prep = Preprocess("i3d", 224, "full", (240, 320))
    frame = np.zeros((480, 640, 3), np.uint8)
    resized = prep.frame_resizer()(frame)
    assert resized.shape == (240, 320, 3) and prep.n_crops == 1
    x = prep.clips([np.repeat(resized[None], 16, axis=0)], pad_to=2)
    assert x.shape == (2, 3, 16, 240, 320)
    with pytest.raises(ValueError, match="resized to \\(240, 320\\) first"):
        prep.clips([np.zeros((16, 200, 320, 3), np.uint8)])
    for bad in (dict(crop_mode="full"), dict(crop_mode="center", frame_size=(240, 320)),
                dict(crop_mode="full", frame_size=(4, 320))):
        with pytest.raises(ValueError):
            Preprocess("i3d", 224, **bad)


def test_whole_frame_attention_covers_the_frame():
    from mist_steps.viz.render import crop_region

    assert crop_region("i3d", 224, 240, 360, "full") == (0.0, 0.0, 360.0, 240.0)
    x0, y0, x1, y1 = crop_region("i3d", 224, 240, 360, "center")
    assert x1 - x0 < 360
