"""mist_steps.steps.import_features: RTFM / DeepMIL .npy downloads into the feature-file layout."""

from __future__ import annotations

import numpy as np
import pytest

from mist_steps.errors import InputError
from mist_steps.formats.features import list_videos, read_attrs, read_features
from mist_steps.formats.skipped import read_skipped
from mist_steps.steps.import_features import import_features, main

IDS = ("Abuse001_x264", "Normal_Videos_003_x264", "Shooting002_x264")
FRAMES = {"Abuse001_x264": 192, "Normal_Videos_003_x264": 96, "Shooting002_x264": 64}


@pytest.fixture
def videos(tmp_path):
    path = tmp_path / "videos.csv"
    path.write_text("video_id,path,split,label,class,frame_count,fps\n" + "".join(
        f"{v},videos/{v}.mp4,{'test' if i else 'train'},1,Abuse,{FRAMES[v]},30.0\n"
        for i, v in enumerate(IDS)))
    return path


def _features(video_id, crops, dim=16):
    """Values exactly representable in float16, so the round trip is exact."""
    rng = np.random.default_rng(len(video_id))
    shape = (FRAMES[video_id] // 16, crops, dim) if crops else (FRAMES[video_id] // 16, dim)
    return (rng.integers(0, 256, shape) / 64).astype(np.float32)


def test_rtfm_ten_crop_round_trip(tmp_path, videos):
    src = tmp_path / "UCF_Train_ten_crop_i3d"
    (src / "sub").mkdir(parents=True)
    arrays = {v: _features(v, 10) for v in IDS}
    for v, x in arrays.items():
        np.save(src / ("sub" if v.startswith("S") else "") / f"{v}_i3d.npy", x)  # recursive
    np.save(src / "Other999_x264_i3d.npy", arrays[IDS[0]])  # not in the index: ignored
    out = tmp_path / "features.h5"
    summary = import_features(videos, src, out, encoder="i3d", crop_mode="ten",
                              skipped_csv=tmp_path / "skipped.csv")
    assert summary["videos"] == 3 and summary["skipped"] == 0
    assert list_videos(out) == sorted(IDS)
    for v, x in arrays.items():
        assert np.array_equal(read_features(out, v), x)
        attrs = read_attrs(out, v)
        assert attrs["frame_count"] == FRAMES[v] and attrs["fps"] == 30.0
        assert attrs["n_frames_decoded"] == -1 and attrs["crop_mode"] == "ten"
        assert len(attrs["source_sha256"]) == 64
    root = read_attrs(out)
    assert root["source"] == "imported" and root["encoder"] == "i3d"
    assert (root["n_crops"], root["dim"], root["input_size"]) == (10, 16, 224)
    assert root["weights_sha256"] == "unknown" and root["source_sha256"] == summary["source_sha256"]
    assert read_skipped(tmp_path / "skipped.csv") == []

    # the checksum follows the content of the source files
    np.save(src / f"{IDS[1]}_i3d.npy", arrays[IDS[1]] + 1)
    again = import_features(videos, src, tmp_path / "again.h5", encoder="i3d", crop_mode="ten")
    assert again["source_sha256"] != summary["source_sha256"]


def test_two_dimensional_files_are_one_crop(tmp_path, videos):
    src = tmp_path / "c3d"
    src.mkdir()
    arrays = {v: _features(v, 0, dim=8) for v in IDS}
    for v, x in arrays.items():
        np.save(src / f"{v}.npy", x)
    out = tmp_path / "f.h5"
    main(["--videos", str(videos), "--features", str(src), "--out", str(out), "--encoder", "c3d",
          "--crop-mode", "center", "--feature", "fc6", "--dtype", "float32"])
    for v, x in arrays.items():
        assert np.array_equal(read_features(out, v), x[:, None, :])
    root = read_attrs(out)
    assert (root["n_crops"], root["input_size"]) == (1, 112)
    assert (root["feature"], root["dtype"]) == ("fc6", "float32")


def test_one_file_per_crop(tmp_path, videos):
    train, test = tmp_path / "train", tmp_path / "test"  # two folders, as often downloaded
    train.mkdir()
    test.mkdir()
    arrays = {v: _features(v, 10) for v in IDS}
    for i, (v, x) in enumerate(arrays.items()):
        for k in range(10):
            np.save((test if i else train) / f"{v}__{k}.npy", x[:, k])
    out = tmp_path / "f.h5"
    import_features(videos, [train, test], out, encoder="i3d", crop_mode="ten")
    for v, x in arrays.items():
        assert np.array_equal(read_features(out, v), x)


def test_missing_crop_file(tmp_path, videos):
    src = tmp_path / "src"
    src.mkdir()
    for v in IDS:
        for k in range(10):
            if not (v == IDS[2] and k == 3):
                np.save(src / f"{v}__{k}.npy", _features(v, 10)[:, k])
    with pytest.raises(InputError, match=rf"{IDS[2]}__0.npy.*crop\(s\) \[3\] missing"):
        import_features(videos, src, tmp_path / "f.h5", encoder="i3d", crop_mode="ten")


def test_videos_without_features(tmp_path, videos):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / f"{IDS[0]}_i3d.npy", _features(IDS[0], 10))
    out = tmp_path / "f.h5"
    with pytest.raises(InputError) as err:
        import_features(videos, src, out, encoder="i3d", crop_mode="ten")
    message = str(err.value)
    assert "no features for 2 of 3 videos" in message and IDS[1] in message and IDS[2] in message
    assert "on_missing: skip" in message and not out.exists()

    import_features(videos, src, out, encoder="i3d", crop_mode="ten", on_missing="skip",
                    skipped_csv=tmp_path / "skipped.csv")
    assert list_videos(out) == [IDS[0]]
    rows = read_skipped(tmp_path / "skipped.csv")
    assert [r["video_id"] for r in rows] == [IDS[1], IDS[2]]
    assert rows[0]["split"] == "test" and "no precomputed features" in rows[0]["reason"]


def test_nan_in_a_file_names_it(tmp_path, videos):
    src = tmp_path / "src"
    src.mkdir()
    for v in IDS:
        x = _features(v, 10)
        if v == IDS[1]:
            x[2, 4, 7] = np.nan
        np.save(src / f"{v}_i3d.npy", x)
    with pytest.raises(InputError, match=rf"{IDS[1]}_i3d.npy: 1 NaN/inf"):
        import_features(videos, src, tmp_path / "f.h5", encoder="i3d", crop_mode="ten")


@pytest.mark.parametrize("case, match", [
    ("crops", "10 crop\\(s\\) per clip, but crop_mode 'center' means 1"),
    ("dims", "-d features, but earlier videos have 16"),
    ("crops_first", "transpose it to \\[T, crops, D\\]"),
    ("not_npy", "not a readable .npy array"),
    ("duplicate", "two feature files for video"),
])
def test_inconsistent_files(tmp_path, videos, case, match):
    src = tmp_path / "src"
    src.mkdir()
    for v in IDS:
        np.save(src / f"{v}_i3d.npy", _features(v, 1 if case == "crops" and v != IDS[1] else 10))
    crop_mode = "center" if case == "crops" else "ten"
    if case == "dims":
        np.save(src / f"{IDS[2]}_i3d.npy", _features(IDS[2], 10, dim=32))
    elif case == "crops_first":
        np.save(src / f"{IDS[0]}_i3d.npy", _features(IDS[0], 10).transpose(1, 0, 2))
    elif case == "not_npy":
        (src / f"{IDS[0]}_i3d.npy").write_text("hello")
    elif case == "duplicate":
        np.save(src / f"{IDS[0]}.npy", _features(IDS[0], 10))
    with pytest.raises(InputError, match=match):
        import_features(videos, src, tmp_path / "f.h5", encoder="i3d", crop_mode=crop_mode)
    assert not (tmp_path / "f.h5").exists()


# -- feature lists (RTFM, XD-Violence) and other names -------------------------------------------


def test_video_features_rgb_naming(tmp_path, videos):
    src = tmp_path / "video_features"
    src.mkdir()
    for v in IDS:
        np.save(src / f"{v}_rgb.npy", _features(v, 0))  # v-iashin/video_features: [T, D]
    summary = import_features(videos, src, tmp_path / "f.h5", encoder="i3d", crop_mode="center")
    assert summary["videos"] == 3


def test_real_lists_parse_and_name_the_official_splits(resources, shared_data):
    """The RTFM and XD-Violence list files as published (Windows and POSIX paths)."""
    from mist_steps.data.annotations import parse_sht_split, parse_ucf_train_list
    from mist_steps.data.feature_files import _video_of, read_feature_list

    def ids(name, known):
        listed = read_feature_list(shared_data / name)
        return [_video_of(n[:-4], known, "i3d")[0] for _, n in listed]

    ucf = {e.video_id for e in parse_ucf_train_list(resources / "ucf_crime" / "Anomaly_Train.txt")}
    assert sorted(ids("rtfm/ucf-i3d.list", ucf)) == sorted(ucf)  # G:\...\<video>_i3d.npy
    sht = {e.name for e in parse_sht_split(resources / "shanghaitech" / "SH_Train_new.txt",
                                           with_frames=False)}
    assert sorted(ids("rtfm/shanghai-i3d-train-10crop.list", sht)) == sorted(sht)
    xd = read_feature_list(shared_data / "xd_violence" / "rgb.list")
    videos = {n.rsplit("__", 1)[0] for _, n in xd}
    assert len(xd) == 19770 and len(videos) == 3954  # 5 crops each
    crops = {v: {int(n.rsplit("__", 1)[1][:-4]) for _, n in xd if n.startswith(v + "__")}
             for v in list(videos)[:20]}
    assert all(c == {0, 1, 2, 3, 4} for c in crops.values())
    assert len(read_feature_list(shared_data / "xd_violence" / "rgb_test.list")) == 4000


def test_listed_files_import_from_a_local_folder(tmp_path, videos):
    """Lines of another machine's paths (Windows and POSIX), found here by file name; the
    folder's other files are not imported."""
    src = tmp_path / "downloads"
    src.mkdir()
    arrays = {v: _features(v, 10) for v in IDS}
    for v, x in arrays.items():
        np.save(src / f"{v}_i3d.npy", x)
    listed = tmp_path / "ucf-i3d.list"
    listed.write_text(f"G:\\UCF_Train_ten_crop_i3d\\{IDS[0]}_i3d.npy\n\n"
                      f"/home/yu/UCF_Test_ten_crop_i3d/{IDS[2]}_i3d.npy\n")
    out = tmp_path / "f.h5"
    summary = import_features(videos, src, out, encoder="i3d", crop_mode="ten",
                              on_missing="skip", feature_lists=[listed], feature="i3d-resnet50")
    assert summary["videos"] == 2 and summary["skipped"] == 1  # Normal_Videos_003 not listed
    assert list_videos(out) == [IDS[0], IDS[2]] and read_attrs(out)["feature"] == "i3d-resnet50"
    assert np.array_equal(read_features(out, IDS[2]), arrays[IDS[2]])
    main(["--videos", str(videos), "--features", str(src), "--out", str(tmp_path / "g.h5"),
          "--encoder", "i3d", "--crop-mode", "ten", "--on-missing", "skip", "--lists",
          str(listed)])
    assert list_videos(tmp_path / "g.h5") == [IDS[0], IDS[2]]


@pytest.mark.parametrize("line, match", [
    ("/x/Other999_x264_i3d.npy", r"line 2: Other999_x264_i3d.npy names no video"),
    ("/x/Shooting002_x264_i3d.npy", r"line 2: Shooting002_x264_i3d.npy is in none of"),
    ("/x/Abuse001_x264_i3d.npy", r"line 2: Abuse001_x264_i3d.npy is listed again \(line 1\)"),
    ("/x/readme.txt", r"line 2: '/x/readme.txt' is not the path of a .npy file"),
])
def test_list_mismatches_name_the_line(tmp_path, videos, line, match):
    src = tmp_path / "downloads"
    src.mkdir()
    np.save(src / f"{IDS[0]}_i3d.npy", _features(IDS[0], 10))
    listed = tmp_path / "x.list"
    listed.write_text(f"C:\\f\\{IDS[0]}_i3d.npy\n{line}\n")
    with pytest.raises(InputError, match=match) as err:
        import_features(videos, src, tmp_path / "f.h5", encoder="i3d", crop_mode="ten",
                        feature_lists=[listed])
    assert str(listed) in str(err.value)
