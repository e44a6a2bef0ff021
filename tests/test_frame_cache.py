"""The in-memory frame cache of stage II: the frames of a direct read, within its budget."""

import numpy as np
from conftest import write_frame_folder, write_video

from mist_steps.data.preprocess import Preprocess
from mist_steps.data.video import list_frame_files, open_video, read_image
from mist_steps.training.frame_cache import FrameCache


def _direct(path, prep):
    resize = prep.frame_resizer()
    if path.is_dir():
        return np.stack([resize(read_image(f)) for f in list_frame_files(path)])
    return np.stack([resize(f) for f in open_video(path).iter_frames(threads=1)])


def test_cache_keeps_whole_videos_within_its_budget(tmp_path):
    prep = Preprocess("i3d", 32)
    paths = [write_video(tmp_path / "v0.mp4", 20, size=(32, 40)),
             write_frame_folder(tmp_path / "v1", 24, size=(32, 40)),
             write_video(tmp_path / "v2.mp4", 28, size=(32, 40))]
    want = [_direct(p, prep) for p in paths]
    budget = want[0].nbytes + want[1].nbytes + want[2].nbytes // 2  # two fit, the third not
    cache = FrameCache(budget)
    for i, path in enumerate(paths[:2]):
        got = cache.load(i, path, len(want[i]), None, prep.frame_resizer())
        assert np.array_equal(got, want[i]) and cache.get(i) is got
    assert cache.load(2, paths[2], len(want[2]), None, prep.frame_resizer()) is None
    assert cache.full and len(cache) == 2 and cache.used == want[0].nbytes + want[1].nbytes
    # once full, a miss decodes nothing (the caller reads directly); hits still come back
    assert cache.load(2, paths[2], len(want[2]), None, None) is None
    assert cache.load(0, paths[0], len(want[0]), None, None) is cache.get(0)


def test_zero_budget_holds_nothing(tmp_path):
    path = write_video(tmp_path / "v.mp4", 20, size=(32, 40))
    cache = FrameCache(0)
    assert cache.full and cache.load("v", path, 20, None, None) is None and not len(cache)
