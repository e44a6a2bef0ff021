"""The multi-label motion proxy (second pretraining task): clips and what their targets say."""

from __future__ import annotations

import numpy as np
import pytest

from mist_steps.synth.motion_clips import (
    FAST,
    PRIMITIVES,
    SLOW,
    make_motion_batch,
    make_motion_clip,
)

SIZE = 48


def test_clip_target_shape_and_determinism():
    clip, target = make_motion_clip(3, 5, size=32)
    assert clip.shape == (16, 32, 32, 3) and clip.dtype == np.uint8
    assert target.shape == (len(PRIMITIVES),) and target.dtype == np.float32
    assert set(np.unique(target)) <= {0.0, 1.0} and target.sum() >= 1
    again, target_again = make_motion_clip(3, 5, size=32)
    assert np.array_equal(again, clip) and np.array_equal(target_again, target)
    assert not np.array_equal(make_motion_clip(3, 6, size=32)[0], clip)
    assert not np.array_equal(make_motion_clip(4, 5, size=32)[0], clip)
    assert not np.array_equal(make_motion_clip(3, 5, size=32, split="val")[0], clip)
    batch, targets = make_motion_batch(3, [4, 5], size=32)
    assert batch.shape == (2, 16, 32, 32, 3) and targets.shape == (2, len(PRIMITIVES))
    assert np.array_equal(batch[1], clip) and np.array_equal(targets[1], target)


def test_every_primitive_occurs_and_clutter_adds_movers():
    _, easy = make_motion_batch(0, range(300), size=16, difficulty=0.0)
    _, hard = make_motion_batch(0, range(300), size=16, difficulty=1.0)
    assert (easy.sum(1) == 1).all()  # one moving object on a plain background
    assert hard.sum(1).mean() > 1.8 and hard.sum(1).max() >= 3
    assert (hard.sum(0) > 10).all() and (easy.sum(0) > 5).all()  # every primitive, often


def _object_track(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the centroid (x, y) in px and the area of the pixels that differ from the
    plain background of a difficulty-0 clip (its median grey)."""
    f = clip.astype(np.float32).mean(-1)
    mask = np.abs(f - np.median(f)) > 25
    ys, xs = np.mgrid[: f.shape[1], : f.shape[2]]
    area = mask.sum((1, 2)).astype(np.float64)
    safe = np.maximum(area, 1)
    return np.stack([(mask * xs).sum((1, 2)) / safe, (mask * ys).sum((1, 2)) / safe], 1), area


def _single_movers(primitive: str, n: int = 12) -> list[np.ndarray]:
    k = PRIMITIVES.index(primitive)
    found, index = [], 0
    while len(found) < n:
        clip, target = make_motion_clip(5, index, size=SIZE, difficulty=0.0)
        if target[k]:
            found.append(clip)
        index += 1
    return found


@pytest.mark.parametrize("direction, axis, sign", [("left", 0, -1), ("right", 0, 1),
                                                   ("up", 1, -1), ("down", 1, 1)])
def test_translations_go_their_way_at_their_speed(direction, axis, sign):
    """Seen in pixels only: the object's centroid moves the named way, fast ones several
    times farther than slow ones (paths in frame units: SLOW, FAST)."""
    moved = {}
    for speed in ("slow", "fast"):
        shifts = []
        for clip in _single_movers(f"{speed}_{direction}"):
            track, area = _object_track(clip)
            seen = area > 4
            first, last = np.flatnonzero(seen)[[0, -1]]
            shifts.append((track[last, axis] - track[first, axis]) / (last - first) * 15)
        moved[speed] = sign * np.array(shifts) / SIZE
        assert np.mean(moved[speed] > 0) >= 0.9, (speed, moved[speed])
    assert SLOW[0] * 0.5 < np.median(moved["slow"]) < SLOW[1] * 1.2
    assert np.median(moved["fast"]) > 2 * np.median(moved["slow"])
    assert np.median(moved["fast"]) > FAST[0] * 0.7


def test_blink_and_pulse_change_what_is_seen_in_place():
    for clip in _single_movers("blink", 6):
        track, area = _object_track(clip)
        assert area.min() < 0.5 * area.max()
    for clip in _single_movers("pulse", 6):
        track, area = _object_track(clip)
        assert area.max() > 1.5 * area.min() > 0
        assert np.ptp(track, axis=0).max() < 0.1 * SIZE  # stays where it is


def test_bad_arguments_refused():
    with pytest.raises(ValueError, match="difficulty"):
        make_motion_clip(0, 0, difficulty=1.5)
    with pytest.raises(ValueError, match="size"):
        make_motion_clip(0, 0, size=4)
    with pytest.raises(ValueError, match="split"):
        make_motion_clip(0, 0, split="test")
