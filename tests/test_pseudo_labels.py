"""Pseudo labels: smoothing and min-max on known arrays, the step's output file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mil_data import make_mil_dataset

from mist_steps.formats.atomic import atomic_path
from mist_steps.formats.generator_file import generator_document
from mist_steps.formats.scores import (
    PSEUDO_LABELS_FORMAT,
    ScoreFile,
    read_pseudo_labels,
    read_scores,
)
from mist_steps.models.generator import build_generator
from mist_steps.steps.pseudo_labels import main, make_pseudo_labels
from mist_steps.steps.score_generator import score_videos
from mist_steps.steps.train_generator import train_generator
from mist_steps.training.pseudo_labels import min_max, moving_average, refine


def test_moving_average_known_arrays():
    np.testing.assert_allclose(moving_average([0, 0, 6, 0, 0], 3), [0, 2, 2, 2, 0], atol=1e-6)
    # edges replicated: [1 1 1 2 3 3 3] averaged over 5
    np.testing.assert_allclose(moving_average([1, 2, 3], 5), [1.6, 2.0, 2.4], rtol=1e-6)
    # two passes = the filter applied to its own output
    x = np.array([0, 0, 0, 10, 0, 0, 0, 0], dtype=float)
    once = moving_average(x, 5)
    np.testing.assert_allclose(once, [0, 2, 2, 2, 2, 2, 0, 0], atol=1e-6)
    twice = moving_average(x, 5, passes=2)
    np.testing.assert_allclose(twice, moving_average(once, 5), rtol=1e-6)
    np.testing.assert_allclose(twice, [0.8, 1.2, 1.6, 2.0, 1.6, 1.2, 0.8, 0.4], rtol=1e-6)
    np.testing.assert_array_equal(moving_average(x, 5, passes=0), x)
    assert moving_average([7.0], 5).tolist() == [7.0]
    with pytest.raises(ValueError, match="odd"):
        moving_average(x, 4)


def test_min_max_known_arrays(caplog):
    np.testing.assert_allclose(min_max([1.0, 3.0, 2.0]), [0, 1, 0.5])
    with caplog.at_level("WARNING"):
        out = min_max(np.full(6, 0.37), video_id="vid_const")
    assert out.tolist() == [0.0] * 6 and not np.isnan(out).any()
    assert "vid_const" in caplog.text and "constant" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert min_max([0.9], video_id="one_clip").tolist() == [0.0]
    assert "one_clip" in caplog.text
    np.testing.assert_allclose(refine([0, 0, 6, 0, 0], window=3, passes=1), [0, 1, 1, 1, 0],
                               atol=1e-6)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_mil_dataset(tmp_path_factory.mktemp("pl"), train_normal=8, train_abnormal=8,
                            test_normal=2, test_abnormal=2, clips=(1, 40),
                            skipped=("train_nor_002",), lengths={"train_abn_008": 1})


@pytest.fixture(scope="module")
def generator(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "g.pt"
    train_generator(data.features, data.videos_csv, out, steps=20, clips_per_bag=2, sub_bags=8,
                    batch_normal=4, batch_abnormal=4)
    return out


def test_pseudo_labels_file(data, generator, tmp_path):
    out = tmp_path / "pl.h5"
    summary = make_pseudo_labels(generator, data.features, data.videos_csv, out, window=5,
                                 smooth_passes=2)
    assert summary["videos"] == 15 and summary["left_out"] == 1
    raw = read_scores(out, "raw", formats=(PSEUDO_LABELS_FORMAT,))
    refined = read_pseudo_labels(out)
    train_ids = {v for v in data.n_clips if v.startswith("train")} - {"train_nor_002"}
    assert set(raw) == set(refined) == train_ids
    scored = tmp_path / "s.h5"
    score_videos(generator, data.features, data.videos_csv, scored, split="train")
    same = read_scores(scored)
    with ScoreFile(out, formats=(PSEUDO_LABELS_FORMAT,)) as f:
        assert f.attrs()["window"] == 5 and f.attrs()["passes"] == 2
        constant = json.loads(f.attrs()["constant_videos"])
        for vid in train_ids:
            assert raw[vid].shape == refined[vid].shape == (data.n_clips[vid],)
            np.testing.assert_array_equal(raw[vid], same[vid])
            label = f.attrs(vid, "refined")["label"]
            if label == 0:
                assert not refined[vid].any()
            else:
                np.testing.assert_allclose(refined[vid], refine(raw[vid], window=5, passes=2))
                if vid in constant:
                    assert not refined[vid].any()
                else:
                    assert refined[vid].min() == 0 and refined[vid].max() == pytest.approx(1)
    assert "train_abn_008" in constant  # one clip: nothing to normalise, all 0 (not NaN)


def test_constant_generator_gives_zero_labels_not_nan(data, tmp_path, caplog):
    model = build_generator(16)
    for p in model.parameters():
        torch.nn.init.zeros_(p)  # every clip scores sigmoid(0) = 0.5
    flat = tmp_path / "flat.pt"
    with atomic_path(flat) as tmp:
        torch.save(generator_document(model, {"dim": 16, "dropout": 0.6, "crops": "mean",
                                               "l2_normalize": False, "n_crops": 1}, {}), tmp)
    out = tmp_path / "pl.h5"
    with caplog.at_level("WARNING"):
        summary = make_pseudo_labels(flat, data.features, data.videos_csv, out)
    assert len(summary["constant"]) == 8  # every abnormal training video
    refined = read_pseudo_labels(out)
    assert all(not v.any() and not np.isnan(v).any() for v in refined.values())
    assert "constant scores" in caplog.text


def test_cli(data, generator, tmp_path):
    out = tmp_path / "pl.h5"
    main(["--generator", str(generator), "--features", str(data.features), "--videos",
          str(data.videos_csv), "--out", str(out), "--window", "3", "--smooth-passes", "1"])
    with ScoreFile(out, formats=(PSEUDO_LABELS_FORMAT,)) as f:
        assert f.attrs()["window"] == 3 and f.attrs()["passes"] == 1
    with pytest.raises(SystemExit):
        main(["--generator", "g", "--features", "f", "--videos", "v", "--out", "o",
              "--window", "4"])
