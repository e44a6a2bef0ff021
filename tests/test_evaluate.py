"""Evaluation metrics on a hand-counted example, its error cases, and the score files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from mil_data import write_ground_truth

from mist_steps.errors import InputError
from mist_steps.evaluation.metrics import evaluate, frame_scores
from mist_steps.formats.scores import ScoreFile, ScoreWriter, read_scores, write_scores
from mist_steps.formats.skipped import write_skipped
from mist_steps.steps.evaluate_mist import main

# Clip-level example; every clip is 16 frames, so frame-level AUC = clip-level AUC.
#   N1 normal   scores .1 .4          gt 0 0
#   A1 Fighting scores .2 .9 .7       gt 0 1 1
#   A2 Running  scores .75 .5         gt 0 1
CLIPS = {"N1": ([0.1, 0.4], [0, 0]), "A1": ([0.2, 0.9, 0.7], [0, 1, 1]),
         "A2": ([0.75, 0.5], [0, 1])}
INFO = {"N1": (0, "Normal"), "A1": (1, "Fighting"), "A2": (1, "Running"),
        "T1": (0, "Normal")}  # T1: a training video, never evaluated


def _write(tmp_path, clips=CLIPS, *, scores=None, gt_only=()):
    rows = [{"video_id": v, "path": f"/x/{v}.mp4", "split": "train" if v == "T1" else "test",
             "label": INFO[v][0], "class": INFO[v][1], "frame_count": 16 * 3 + 5, "fps": 25.0}
            for v in sorted(INFO)]
    pd.DataFrame(rows).to_csv(tmp_path / "videos.csv", index=False)
    write_ground_truth(tmp_path / "gt.h5", {
        v: (np.repeat(np.array(gt, dtype=np.uint8), 16), INFO[v][1], INFO[v][0], 16 * len(gt) + 3)
        for v, (_, gt) in clips.items()})
    scores = scores if scores is not None else {v: np.array(s) for v, (s, _) in clips.items()
                                                if v not in gt_only}
    write_scores(tmp_path / "scores.h5", {**scores, "T1": np.array([0.5])})
    return tmp_path / "scores.h5", tmp_path / "gt.h5", tmp_path / "videos.csv"


def test_metrics_by_hand(tmp_path):
    scores, gt, videos = _write(tmp_path)
    result = evaluate(scores, gt, videos, tmp_path / "auc.json", threshold=0.5,
                      extra={"config": {"seed": 0}})
    # positives .9 .7 .5 vs negatives .1 .4 .2 .75: .9 beats 4, .7 beats 3, .5 beats 3 -> 10/12
    assert result["auc"] == pytest.approx(10 / 12)
    # abnormal videos only: negatives .2 .75 -> .9 beats 2, .7 beats 1, .5 beats 1 -> 4/6
    assert result["auc_abnormal"] == pytest.approx(4 / 6)
    assert result["far"] == 0.0  # N1: .1 and .4, none above .5
    assert result["far_negative_frames"] == pytest.approx(1 / 4)  # only .75
    gap = (0.9 + 0.7 + 0.5) / 3 - (0.1 + 0.4 + 0.2 + 0.75) / 4
    assert result["score_gap"] == pytest.approx(gap)
    # AP: ranked .9 P, .75 N, .7 P, .5 P -> precision at each positive 1, 2/3, 3/4 -> 29/36
    assert result["ap"] == pytest.approx(29 / 36)
    # XD-Violence's PR-AUC: trapezoids over (recall, precision) = (1, 3/4), (2/3, 2/3),
    # (1/3, 1/2), (1/3, 1), (0, 1): 17/72 + 14/72 + 0 + 24/72
    assert result["pr_auc"] == pytest.approx(55 / 72)
    # per class, with all normal videos: Fighting .9 .7 vs .2 .1 .4 -> 1; Running .5 vs .75 .1 .4
    assert result["per_class"]["Fighting"] == {"auc": 1.0, "ap": 1.0, "pr_auc": 1.0,
                                               "videos": 1, "frames": 48,
                                               "anomalous_frames": 32}
    assert result["per_class"]["Running"]["auc"] == pytest.approx(2 / 3)
    # Running: .75 N then .5 P -> AP 1/2; PR points (1, 1/2), (0, 0), (0, 1) -> 1/4
    assert result["per_class"]["Running"]["ap"] == pytest.approx(1 / 2)
    assert result["per_class"]["Running"]["pr_auc"] == pytest.approx(1 / 4)
    assert result["counts"] == {"videos": 3, "normal_videos": 1, "abnormal_videos": 2,
                                "frames": 112, "anomalous_frames": 48,
                                "normal_video_frames": 32, "skipped": 0}
    assert result["notes"] == {} and result["skipped"] == []
    on_disk = json.loads((tmp_path / "auc.json").read_text())
    assert on_disk["extra"] == {"config": {"seed": 0}} and on_disk["auc"] == result["auc"]
    assert on_disk["format"] == "mist-evaluation-v1"
    # a lower threshold raises the false alarms: .4 > .3 on N1
    assert evaluate(scores, gt, videos, tmp_path / "b.json", threshold=0.3)["far"] == 0.5


def test_frame_scores_repeat_each_clip():
    assert frame_scores([0.25, 1.0]).tolist() == [0.25] * 16 + [1.0] * 16


@pytest.mark.parametrize("n_clips", [2, 4])
def test_length_mismatch_names_the_video(tmp_path, n_clips):
    scores = {v: np.array(s) for v, (s, _) in CLIPS.items()}
    scores["A1"] = np.full(n_clips, 0.5)  # ground truth has 3 clips
    paths = _write(tmp_path, scores=scores)
    with pytest.raises(InputError, match=r"A1 has %d clips.*48 frames" % n_clips):
        evaluate(*paths, tmp_path / "auc.json")
    assert not (tmp_path / "auc.json").exists()


def test_nan_score_is_an_error(tmp_path):
    paths = _write(tmp_path)
    with h5py.File(paths[0], "a") as h5:
        h5["scores/A2"][1] = np.nan
    with pytest.raises(InputError, match="A2.*NaN"):
        evaluate(*paths, tmp_path / "auc.json")


def test_missing_scores_error_unless_skipped(tmp_path):
    paths = _write(tmp_path, gt_only=("A2",))
    with pytest.raises(InputError, match="no scores for test video A2"):
        evaluate(*paths, tmp_path / "auc.json")
    write_skipped(tmp_path / "skipped.csv", [
        {"video_id": "A2", "path": "/x/A2.mp4", "split": "test", "reason": "unreadable"},
        {"video_id": "T1", "path": "/x/T1.mp4", "split": "train", "reason": "unreadable"}])
    result = evaluate(*paths, tmp_path / "auc.json", skipped_csv=tmp_path / "skipped.csv")
    assert result["skipped"] == [{"video_id": "A2", "reason": "unreadable"}]
    assert result["counts"]["videos"] == 2 and result["counts"]["skipped"] == 1
    assert "Running" not in result["per_class"]
    # N1 + A1 only: positives .9 .7 vs .1 .4 .2
    assert result["auc"] == 1.0


def test_single_class_ground_truth_gives_null_not_nan(tmp_path):
    only_normal = {"N1": CLIPS["N1"]}
    scores, gt, videos = _write(tmp_path, only_normal)
    table = pd.read_csv(videos)
    table[table["video_id"].isin(["N1", "T1"])].to_csv(videos, index=False)
    result = evaluate(scores, gt, videos, tmp_path / "auc.json")
    assert result["auc"] is None and result["auc_abnormal"] is None
    assert result["score_gap"] is None and result["per_class"] == {}
    assert "only label 0" in result["notes"]["auc"] and "auc_abnormal" in result["notes"]
    assert result["ap"] is None and result["pr_auc"] is None
    assert result["notes"]["ap"].startswith("AP undefined: only label 0")
    assert result["far"] == 0.0
    text = (tmp_path / "auc.json").read_text()
    assert "NaN" not in text and json.loads(text)["auc"] is None


def test_cli_with_extra(tmp_path):
    scores, gt, videos = _write(tmp_path)
    out = tmp_path / "auc.json"
    main(["--scores", str(scores), "--ground-truth", str(gt), "--videos", str(videos),
          "--out", str(out), "--extra", '{"encoder": "i3d"}'])
    assert json.loads(out.read_text())["extra"] == {"encoder": "i3d"}
    with pytest.raises(InputError, match="not valid JSON"):
        main(["--scores", str(scores), "--ground-truth", str(gt), "--videos", str(videos),
              "--out", str(out), "--extra", "{oops"])


def test_score_files(tmp_path):
    path = tmp_path / "s.h5"
    with ScoreWriter(path, attrs={"split": "test"}) as w:
        w.add("v1", {"scores": [0.1, 0.2], "attention": np.ones((2, 3, 3))},
              attrs={"label": 1, "class": "Fighting"})
        w.add("v2", {"scores": [0.3]})
    with ScoreFile(path) as f:
        assert f.videos() == ["v1", "v2"] and f.groups() == ["attention", "scores"]
        assert f.read("v1").dtype == np.float32 and f.read("v1", "attention").shape == (2, 3, 3)
        assert f.attrs()["split"] == "test" and f.attrs()["n_videos"] == 2
        assert f.attrs("v1")["class"] == "Fighting"
        with pytest.raises(InputError, match="no scores for video 'v3'"):
            f.read("v3")
    assert read_scores(path)["v2"].tolist() == pytest.approx([0.3])
    with pytest.raises(InputError, match="NaN/inf.*video bad"):
        with ScoreWriter(tmp_path / "bad.h5") as w:
            w.add("bad", {"scores": [0.1, np.inf]})
    assert not (tmp_path / "bad.h5").exists()
    with pytest.raises(InputError, match="format"):
        ScoreFile(path, formats=("mist-pseudo-labels-v1",))
