"""mist_steps.steps.extract_shard (shard/gather) and mist_steps.formats.features, end to end on
tiny videos."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
import torch
from conftest import write_frame_folder, write_video
from test_video import write_truncated_mp4, write_vfr_video

from mist_steps.errors import InputError
from mist_steps.formats.digest import weights_sha256
from mist_steps.formats.encoder_file import save_encoder
from mist_steps.formats.features import (
    FeatureWriter,
    list_videos,
    read_attrs,
    read_features,
    read_meta,
)
from mist_steps.formats.skipped import read_skipped
from mist_steps.inference.extraction import resolve_feature, shard_of
from mist_steps.models import build_encoder
from mist_steps.steps.extract_shard import extract_shard
from mist_steps.steps.extract_shard import main as shard_main
from mist_steps.steps.gather_features import gather
from mist_steps.steps.gather_features import main as gather_main

SIZE = 32  # crop side: tiny, so a random I3D runs fast on two busy cores
COLUMNS = "video_id,path,split,label,class,frame_count,fps\n"


def _write_index(path, rows):
    path.write_text(COLUMNS + "".join(f"{v},{p},{s},0,Normal,{n},{fps}\n"
                                      for v, p, s, n, fps in rows))
    return path


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    torch.manual_seed(0)
    model = build_encoder("i3d", 4)
    path = tmp_path_factory.mktemp("enc") / "i3d_vanilla.pt"
    save_encoder(path, model, {"stage": "vanilla"})
    return path, weights_sha256(model)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Small videos of several kinds (mp4/avi/mkv, H.264/MPEG-4/FFV1, JPEG folder, odd size,
    variable frame rate, grey); returns (videos.csv, {video_id: frames})."""
    root = tmp_path_factory.mktemp("videos")
    frames = {"a_plain": 40, "b_short_tail": 33, "c_one": 17, "d_long": 50, "e_frames": 20,
              "f_odd": 20, "g_vfr": 40, "h_gray": 18}
    paths = {
        "a_plain": write_video(root / "a_plain.mp4", 40, size=(48, 64)),
        "b_short_tail": write_video(root / "b_short_tail.avi", 33, size=(40, 40), codec="mpeg4"),
        "c_one": write_video(root / "c_one.mkv", 17, size=(36, 48)),
        "d_long": write_video(root / "d_long.mp4", 50, size=(48, 64)),
        "e_frames": write_frame_folder(root / "e_frames", 20, size=(40, 56)),
        "f_odd": write_video(root / "f_odd.mp4", 20, size=(33, 47), pix_fmt="yuv444p"),
        "g_vfr": write_vfr_video(root / "g_vfr.mp4", 40),
        "h_gray": write_video(root / "h_gray.mkv", 18, size=(24, 32), codec="ffv1", pix_fmt="gray"),
    }
    rows = [(v, paths[v], "train" if i % 2 else "test", n, "nan" if v == "e_frames" else 25.0)
            for i, (v, n) in enumerate(frames.items())]
    return _write_index(root / "videos.csv", rows), frames


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory, dataset, encoder):
    out = tmp_path_factory.mktemp("one")
    summary = extract_shard(dataset[0], encoder[0], out / "shard0.h5", input_size=SIZE,
                            batch_size=3, threads=1, skipped_csv=out / "skipped0.csv")
    gather([out / "shard0.h5"], out / "features.h5", [out / "skipped0.csv"], out / "skipped.csv")
    return out, summary


def test_end_to_end_shapes_and_attributes(one_shard, dataset, encoder):
    out, summary = one_shard
    _, frames = dataset
    path = out / "features.h5"
    assert list_videos(path) == sorted(frames)
    assert summary["clips"] == sum(n // 16 for n in frames.values()) and summary["skipped"] == 0
    for video_id, n in frames.items():
        x = read_features(path, video_id)
        assert x.shape == (n // 16, 1, 1024) and x.dtype == np.float32
        attrs = read_attrs(path, video_id)
        assert attrs["frame_count"] == n and attrs["n_frames_decoded"] == n
        assert attrs["encoder"] == "i3d" and attrs["weights_sha256"] == encoder[1]
        assert attrs["crop_mode"] == "center" and attrs["input_size"] == SIZE
        assert attrs["feature"] == "feature"
        assert np.isnan(attrs["fps"]) if video_id == "e_frames" else attrs["fps"] == 25.0
    root = read_attrs(path)
    assert root["format"] == "mist-features-v1" and root["source"] == "extracted"
    assert (root["n_crops"], root["dim"], root["dtype"]) == (1, 1024, "float16")
    assert root["n_videos"] == 8
    assert root["weights_sha256"] == encoder[1] and '"stage": "vanilla"' in root["encoder_meta"]
    with h5py.File(path) as h5:
        ds = h5["features/d_long"]
        assert ds.dtype == np.float16 and ds.compression == "gzip" and ds.shuffle
        assert ds.chunks[1:] == (1, 1024)
    assert (out / "skipped.csv").read_text() == "video_id,path,split,reason\n"  # header only


def test_clip_features_follow_the_frames(one_shard):
    """Different footage gives different features; identical clips give identical ones."""
    path = one_shard[0] / "features.h5"
    x = read_features(path, "d_long")[:, 0]
    assert not np.array_equal(x[0], x[1])
    # a_plain and d_long start with the same 32 frames (same maker, same size)
    assert np.array_equal(read_features(path, "a_plain")[:2], read_features(path, "d_long")[:2])


def test_three_shards_equal_one_bit_for_bit(tmp_path, one_shard, dataset, encoder):
    videos, frames = dataset
    shards, skipped = [], []
    for k in range(3):  # through the command line
        shards.append(tmp_path / f"shard{k}.h5")
        skipped.append(tmp_path / f"skipped{k}.csv")
        shard_main(["--videos", str(videos), "--encoder", str(encoder[0]), "--out",
                   str(shards[k]), "--shard-index", str(k), "--num-shards", "3", "--input-size",
                   str(SIZE), "--batch-size", "3", "--threads", "1", "--skipped-out", str(skipped[k])])
    ids = sorted(frames)
    for k in range(3):  # the deterministic round-robin rule
        assert list_videos(shards[k]) == [v for i, v in enumerate(ids) if shard_of(i, 3) == k]
    gather_main(["--out", str(tmp_path / "features.h5"), "--skipped-out",
                str(tmp_path / "skipped.csv"), "--shard-skipped", *map(str, skipped), "--",
                *map(str, shards)])
    one, three = one_shard[0] / "features.h5", tmp_path / "features.h5"
    assert list_videos(three) == list_videos(one)
    for video_id in frames:
        assert np.array_equal(read_features(three, video_id), read_features(one, video_id))
        np.testing.assert_equal(read_attrs(three, video_id), read_attrs(one, video_id))  # NaN fps
    assert read_attrs(three) == read_attrs(one)


def test_ten_crops(tmp_path, dataset, encoder, one_shard):
    videos, frames = dataset
    with open(videos) as fh:
        rows = [r for r in csv.DictReader(fh) if r["video_id"] in ("c_one", "f_odd")]
    small = _write_index(tmp_path / "videos.csv", [
        (r["video_id"], r["path"], r["split"], r["frame_count"], r["fps"]) for r in rows])
    extract_shard(small, encoder[0], tmp_path / "ten.h5", input_size=SIZE, crop_mode="ten",
                  batch_size=2)
    assert read_attrs(tmp_path / "ten.h5")["n_crops"] == 10
    assert read_attrs(tmp_path / "ten.h5", "c_one")["crop_mode"] == "ten"
    ten = read_features(tmp_path / "ten.h5", "c_one")
    assert ten.shape == read_features(tmp_path / "ten.h5", "f_odd").shape == (1, 10, 1024)
    # crop 4 is the centre crop: the same clip as the centre-crop extraction
    center = read_features(one_shard[0] / "features.h5", "c_one")
    assert np.array_equal(ten[:, 4], center[:, 0])


# --- bad videos ----------------------------------------------------------------------------------


def _bad_videos(folder):
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.mp4"
    empty.touch()
    text = folder / "text.mp4"
    text.write_text("not a video\n" * 10)
    return {
        "truncated": write_truncated_mp4(folder, faststart=True),
        "truncated_index": write_truncated_mp4(folder, faststart=False),
        "empty": empty,
        "text": text,
        "short": write_video(folder / "short.mp4", 15),
        "missing": folder / "missing.mp4",
    }


@pytest.mark.parametrize("kind", ["truncated", "truncated_index", "empty", "text", "short",
                                  "missing"])
def test_bad_video_is_an_error_naming_it(tmp_path, encoder, kind):
    path = _bad_videos(tmp_path / "v")[kind]
    videos = _write_index(tmp_path / "videos.csv", [(kind, path, "test", 64, 25.0)])
    out = tmp_path / "shard.h5"
    with pytest.raises(InputError) as err:
        extract_shard(videos, encoder[0], out, input_size=SIZE)
    assert str(path) in str(err.value) and "on_bad_video: skip" in str(err.value)
    assert not out.exists()  # no half-written output


def test_bad_videos_skipped_and_listed(tmp_path, encoder):
    bad = _bad_videos(tmp_path / "v")
    good = write_video(tmp_path / "v" / "good.mp4", 32)
    rows = [(k, p, "test", 64, 25.0) for k, p in bad.items()] + [("good", good, "train", 32, 25.0)]
    videos = _write_index(tmp_path / "videos.csv", rows)
    for k in range(2):
        extract_shard(videos, encoder[0], tmp_path / f"s{k}.h5", shard_index=k, num_shards=2,
                      input_size=SIZE, batch_size=4, on_bad_video="skip",
                      skipped_csv=tmp_path / f"s{k}.csv")
    gather([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "f.h5",
           [tmp_path / "s1.csv", tmp_path / "s0.csv"], tmp_path / "skipped.csv")
    assert list_videos(tmp_path / "f.h5") == ["good"]
    assert read_features(tmp_path / "f.h5", "good").shape == (2, 1, 1024)
    rows = read_skipped(tmp_path / "skipped.csv")
    assert [r["video_id"] for r in rows] == sorted(bad)
    for r in rows:
        assert r["path"] == str(bad[r["video_id"]]) and r["split"] == "test"
        assert str(bad[r["video_id"]]) in r["reason"]
    assert len(read_meta(tmp_path / "f.h5", "skipped")) == len(bad)


# --- gather checks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory, encoder):
    folder = tmp_path_factory.mktemp("two")
    rows = [(f"v{i}", write_video(folder / f"v{i}.mp4", 16), "test", 16, 25.0) for i in range(3)]
    videos = _write_index(folder / "videos.csv", rows)
    for k in range(2):
        extract_shard(videos, encoder[0], folder / f"s{k}.h5", shard_index=k, num_shards=2,
                      input_size=SIZE, batch_size=2)
    return folder


def test_gather_refuses_incomplete_or_repeated_shards(two_shards, tmp_path):
    s0, s1 = two_shards / "s0.h5", two_shards / "s1.h5"
    with pytest.raises(InputError, match="shard 0 of 2, but 1 shard file"):
        gather([s0], tmp_path / "f.h5", None, tmp_path / "s.csv")
    with pytest.raises(InputError, match="both shard 0"):
        gather([s0, s0], tmp_path / "f.h5", None, tmp_path / "s.csv")
    assert not (tmp_path / "f.h5").exists()
    gather([s1, s0], tmp_path / "f.h5", None, tmp_path / "s.csv")  # any order
    assert list_videos(tmp_path / "f.h5") == ["v0", "v1", "v2"]


def test_gather_detects_a_missing_video(two_shards, tmp_path):
    broken = tmp_path / "s0.h5"
    broken.write_bytes((two_shards / "s0.h5").read_bytes())
    with h5py.File(broken, "a") as h5:
        del h5["features/v2"]
    with pytest.raises(InputError, match=r"missing \['v2'\]"):
        gather([broken, two_shards / "s1.h5"], tmp_path / "f.h5", None, tmp_path / "s.csv")


def test_gather_refuses_a_non_shard_file(tmp_path):
    run = {"encoder": "i3d", "weights_sha256": "x", "crop_mode": "center", "input_size": 8,
           "feature": "feature"}
    with FeatureWriter(tmp_path / "plain.h5", run) as writer:
        writer.add("v", np.ones((1, 1, 4)), fps=25.0, frame_count=16, n_frames_decoded=16)
    with pytest.raises(InputError, match="not a shard file"):
        gather([tmp_path / "plain.h5"], tmp_path / "f.h5", None, tmp_path / "s.csv")


# --- settings and the feature file ---------------------------------------------------------------


def test_feature_choice():
    assert resolve_feature("i3d", "default", 224, "e.pt") == "feature"
    assert resolve_feature("c3d", "default", 112, "e.pt") == "fc6"
    assert resolve_feature("c3d", "feature", 64, "e.pt") == "feature"
    with pytest.raises(InputError, match="fc6 features need 112-pixel crops"):
        resolve_feature("c3d", "default", 64, "e.pt")
    with pytest.raises(InputError, match="not available for the i3d encoder"):
        resolve_feature("i3d", "fc6", 224, "e.pt")


def test_nan_features_are_an_error_naming_the_video(tmp_path, two_shards):
    path = tmp_path / "f.h5"
    path.write_bytes((two_shards / "s0.h5").read_bytes())
    with h5py.File(path, "a") as h5:
        ds = h5["features/v0"]
        x = ds[()]
        x[0, 0, 5] = np.nan
        ds[...] = x
    with pytest.raises(InputError, match=f"{path}: features of video v0 contain 1 NaN"):
        read_features(path, "v0")
    run = {"encoder": "i3d", "weights_sha256": "x", "crop_mode": "center", "input_size": 8,
           "feature": "feature"}
    with pytest.raises(InputError, match="video w contain NaN"):
        with FeatureWriter(tmp_path / "w.h5", run) as writer:
            writer.add("w", np.full((2, 1, 4), np.inf), fps=None, frame_count=32,
                       n_frames_decoded=32)
    assert not (tmp_path / "w.h5").exists()


def test_float16_range_and_float32_option(tmp_path):
    run = {"encoder": "i3d", "weights_sha256": "x", "crop_mode": "center", "input_size": 8,
           "feature": "feature"}
    big = np.full((1, 1, 4), 1e5, np.float32)
    with pytest.raises(InputError, match="beyond the float16 range"):
        with FeatureWriter(tmp_path / "a.h5", run) as writer:
            writer.add("v", big, fps=25.0, frame_count=16, n_frames_decoded=16)
    with FeatureWriter(tmp_path / "b.h5", run, dtype="float32") as writer:
        writer.add("v", big, fps=25.0, frame_count=16, n_frames_decoded=16)
    assert read_features(tmp_path / "b.h5", "v")[0, 0, 0] == 1e5
    with pytest.raises(InputError, match="not found"):
        read_features(tmp_path / "none.h5", "v")
    with pytest.raises(InputError, match="no features for video 'x'"):
        read_features(tmp_path / "b.h5", "x")


def test_command_line_error_is_one_line(tmp_path, encoder, capsys):
    from mist_steps.cli import run_cli

    bad = tmp_path / "text.mp4"
    bad.write_text("not a video")
    videos = _write_index(tmp_path / "videos.csv", [("text", bad, "test", 64, 25.0)])
    with pytest.raises(SystemExit) as exit_:
        run_cli(shard_main, ["--videos", str(videos), "--encoder", str(encoder[0]), "--out",
                str(tmp_path / "s.h5"), "--input-size", str(SIZE)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"error: video text: {bad}: not a readable video" in err and "Traceback" not in err
