"""Stage-II scoring (mist_steps.steps.score_mist) on tiny videos with tiny random MIST models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from conftest import write_video
from mil_data import write_ground_truth

from mist_steps.data.preprocess import Preprocess
from mist_steps.data.video import open_video
from mist_steps.errors import InputError
from mist_steps.evaluation.metrics import evaluate
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.mist_model import load_mist_model, save_mist_model
from mist_steps.formats.scores import ScoreFile
from mist_steps.formats.skipped import read_skipped
from mist_steps.models import build_encoder
from mist_steps.models.sga import MISTModel
from mist_steps.steps.score_mist import CSV_COLUMNS, main, score_videos

SIZE = 32  # crop side: tiny, so random I3D/C3D models run fast on two busy cores
COLUMNS = "video_id,path,split,label,class,frame_count,fps\n"
# video_id -> (frames, split, label, class); A1 has 2 clips, N1 3 (+12 dropped frames), T1 3
VIDEOS = {"A1": (40, "test", 1, "Fighting"), "N1": (60, "test", 0, "Normal"),
          "T1": (50, "train", 0, "Normal")}


def _noise(seed):
    def pixels(i, size):
        rng = np.random.default_rng(1000 * seed + i)
        return rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    return pixels


def _write_index(path, rows):
    path.write_text(COLUMNS + "".join(f"{v},{p},{s},{lab},{c},{n},25.0\n"
                                      for v, p, s, lab, c, n in rows))
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    paths = {v: write_video(root / f"{v}.mp4", n, size=(36, 48), pixels=_noise(k))
             for k, (v, (n, *_)) in enumerate(VIDEOS.items())}
    rows = [(v, paths[v], s, lab, c, n) for v, (n, s, lab, c) in VIDEOS.items()]
    return _write_index(root / "videos.csv", rows), paths


def _model(tmp_path_factory, arch, **kw):
    torch.manual_seed(0)
    model = MISTModel(build_encoder(arch, 2), input_size=SIZE, **kw)
    path = tmp_path_factory.mktemp("model") / f"{arch}_mist.pt"
    save_mist_model(path, model, {"seed": 0})
    return path


@pytest.fixture(scope="module")
def i3d(tmp_path_factory):
    return _model(tmp_path_factory, "i3d")


def _by_hand(model_pt, path):
    """Scores and attention of every clip of ``path``, decoded and batched independently."""
    model, _ = load_mist_model(model_pt)
    prep = Preprocess(model.arch, model.input_size, "center")
    resize = prep.frame_resizer()
    frames = [resize(f) for f in open_video(path).iter_frames()]
    snippets = [np.stack(frames[16 * i:16 * i + 16]) for i in range(len(frames) // 16)]
    with torch.inference_mode():
        x = prep.clips(snippets)
        att = model(x).attention
        return model.score(x).numpy(), None if att is None else att.numpy()


def _read(path, group="scores"):
    with ScoreFile(path) as f:
        return {v: f.read(v, group) for v in f.videos(group)}


def test_scores_match_the_model_and_evaluate(tmp_path, videos, i3d):
    videos_csv, paths = videos
    out, table = tmp_path / "scores.h5", tmp_path / "scores.csv"
    summary = score_videos(i3d, videos_csv, out, out_csv=table, batch_size=8)
    assert summary["videos"] == 2 and summary["clips"] == 5 and summary["skipped"] == 0
    scores, att = _read(out), _read(out, "attention")
    assert sorted(scores) == ["A1", "N1"]  # the training video T1 is not scored
    for vid in scores:
        want, want_att = _by_hand(i3d, paths[vid])
        assert scores[vid].shape == (VIDEOS[vid][0] // 16,)
        np.testing.assert_allclose(scores[vid], want, rtol=0, atol=1e-5)
        assert att[vid].shape == (VIDEOS[vid][0] // 16, 1, 1)  # I3D at 32 px: 1x1 final map
        np.testing.assert_allclose(att[vid], want_att, rtol=0, atol=1e-5)
    with ScoreFile(out) as f:
        root = f.attrs()
        assert root["stage"] == "mist" and root["model_sha256"] == file_sha256(i3d)
        assert root["arch"] == "i3d" and root["input_size"] == SIZE and root["sga"]
        assert json.loads(root["skipped"]) == [] and json.loads(root["model_meta"]) == {"seed": 0}
        want = {"label": 1, "class": "Fighting", "split": "test", "frame_count": 40, "fps": 25.0}
        assert f.attrs("A1").items() >= want.items()

    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS and [r["video_id"] for r in rows] == ["A1", "N1"]
    for r in rows:
        s = scores[r["video_id"]]
        peak = int(np.argmax(s))
        assert int(r["clips"]) == s.size and int(r["frame_count"]) == VIDEOS[r["video_id"]][0]
        assert float(r["max_score"]) == pytest.approx(s.max(), abs=5e-5)
        assert float(r["mean_score"]) == pytest.approx(s.mean(), abs=5e-5)
        assert int(r["peak_clip"]) == peak
        assert float(r["peak_time_s"]) == pytest.approx(peak * 16 / 25.0)
        assert float(r["share_above_threshold"]) == pytest.approx((s > 0.5).mean(), abs=5e-5)

    gt = tmp_path / "gt.h5"
    write_ground_truth(gt, {"A1": (np.repeat(np.array([0, 1], np.uint8), 16), "Fighting", 1, 40),
                            "N1": (np.zeros(48, np.uint8), "Normal", 0, 60)})
    result = evaluate(out, gt, videos_csv, tmp_path / "auc.json")
    assert result["counts"]["videos"] == 2 and result["counts"]["frames"] == 80
    assert result["auc"] is not None and 0.0 <= result["auc"] <= 1.0


def test_batch_size_does_not_change_the_scores(tmp_path, videos, i3d):
    one, eight = tmp_path / "b1.h5", tmp_path / "b8.h5"
    score_videos(i3d, videos[0], one, batch_size=1)
    score_videos(i3d, videos[0], eight, batch_size=8)
    a, b = _read(one), _read(eight)
    assert sorted(a) == sorted(b) == ["A1", "N1"]
    for vid in a:
        # fixed-size padded batches: equal up to kernel rounding (batch shapes differ)
        np.testing.assert_allclose(a[vid], b[vid], rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch,sga,keep,shape", [
    ("c3d", True, True, (2, 2)),  # C3D at 32 px: a 2x2 final map
    ("i3d", False, True, None),  # no SGA, no attention to keep (--no-attention: test_cli)
])
def test_attention_kept_only_with_sga_cam_always(tmp_path_factory, tmp_path, videos, arch, sga,
                                                 keep, shape):
    model_pt = _model(tmp_path_factory, arch, sga=sga)
    rows = [("A1", videos[1]["A1"], "test", 1, "Fighting", 40)]
    videos_csv = _write_index(tmp_path / "videos.csv", rows)
    out = tmp_path / "scores.h5"
    score_videos(model_pt, videos_csv, out, keep_attention=keep, batch_size=2)
    want, _ = _by_hand(model_pt, videos[1]["A1"])
    np.testing.assert_allclose(_read(out)["A1"], want, rtol=0, atol=1e-5)
    with ScoreFile(out) as f:
        assert f.attrs()["sga"] == sga and f.attrs()["arch"] == arch
        if shape is None:
            assert f.groups() == ["cam", "scores"]  # the CAM needs no SGA
        else:
            assert f.read("A1", "attention").shape == (2, *shape)
            assert f.read("A1", "cam").shape == (2, *shape)
    model_pt.unlink()  # the C3D file is large (~340 MB)


def test_bad_video_errors_or_is_skipped(tmp_path, videos, i3d):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n" * 10)
    rows = [("A1", videos[1]["A1"], "test", 1, "Fighting", 40),
            ("B0", broken, "test", 0, "Normal", 48)]
    videos_csv = _write_index(tmp_path / "videos.csv", rows)
    out = tmp_path / "scores.h5"
    with pytest.raises(InputError) as err:
        score_videos(i3d, videos_csv, out)
    assert "B0" in str(err.value) and str(broken) in str(err.value)
    assert "on_bad_video: skip" in str(err.value) and not out.exists()

    skipped = tmp_path / "skipped.csv"
    summary = score_videos(i3d, videos_csv, out, on_bad_video="skip", skipped_csv=skipped,
                           out_csv=tmp_path / "s.csv")
    assert summary["videos"] == 1 and summary["skipped"] == 1
    assert list(_read(out)) == ["A1"]
    rows = read_skipped(skipped)
    assert [r["video_id"] for r in rows] == ["B0"] and str(broken) in rows[0]["reason"]
    with ScoreFile(out) as f:
        assert [r["video_id"] for r in json.loads(f.attrs()["skipped"])] == ["B0"]


def test_cli(tmp_path, videos, i3d, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "--no-attention" in capsys.readouterr().out
    out = tmp_path / "scores.h5"  # an SGA model, but the attention is not asked for
    main(["--model", str(i3d), "--videos", str(videos[0]), "--out", str(out), "--csv",
          str(tmp_path / "s.csv"), "--split", "train", "--batch-size", "3", "--threads", "1",
          "--threshold", "0.2", "--no-attention"])
    with ScoreFile(out) as f:
        assert f.videos() == ["T1"] and f.groups() == ["scores"]
    with pytest.raises(InputError, match="not a mist-model-v1 file"):
        bogus = tmp_path / "bogus.pt"
        torch.save({"format": "something-else"}, bogus)
        main(["--model", str(bogus), "--videos", str(videos[0]), "--out", str(out)])


def test_whole_non_square_frames_score_with_maps_of_their_shape(i3d, videos, tmp_path):
    """The official I3D test input: the whole frame resized (here 64x96), no crop - one
    score and one non-square attention map and CAM per snippet, equal to the model's own
    output."""
    index, paths = videos
    out = tmp_path / "full.h5"
    main(["--model", str(i3d), "--videos", str(index), "--out", str(out), "--split", "test",
          "--frame-size", "64", "96", "--threads", "1"])
    model, _ = load_mist_model(i3d)
    prep = Preprocess("i3d", SIZE, "full", (64, 96))
    with ScoreFile(out) as sf:
        assert sf.attrs()["crop_mode"] == "full" and sf.attrs()["frame_size"] == "64x96"
        for vid in ("A1", "N1"):
            scores, att, cam = sf.read(vid), sf.read(vid, "attention"), sf.read(vid, "cam")
            n = VIDEOS[vid][0] // 16
            assert scores.shape == (n,) and att.shape == cam.shape == (n, 2, 3)  # 64/32, 96/32
            resize = prep.frame_resizer()
            frames = [resize(f) for f in open_video(paths[vid]).iter_frames()]
            x = prep.clips([np.stack(frames[16 * i:16 * i + 16]) for i in range(n)])
            assert x.shape == (n, 3, 16, 64, 96)
            with torch.inference_mode():
                expected = model.eval().score(x).numpy(), model(x).attention.numpy()
            np.testing.assert_allclose(scores, expected[0], atol=1e-5)
            np.testing.assert_allclose(att, expected[1], atol=1e-5)


def test_a_frame_size_the_model_cannot_take_is_refused(tmp_path_factory, videos, tmp_path):
    c3d = _model(tmp_path_factory, "c3d")  # C3D's pool5 floors 15 -> 7 where SGA gives 8
    with pytest.raises(InputError, match="frame size 120x160 does not fit the c3d model"):
        score_videos(c3d, videos[0], tmp_path / "s.h5", frame_size=(120, 160), threads=1)
