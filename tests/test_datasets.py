"""mist_steps.steps.index_dataset: indexing fake datasets end to end, the real annotation files,
messages."""

from __future__ import annotations

import logging
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from mist_steps.cli import run_cli
from mist_steps.data.dataset_plan import (
    CSV_COLUMNS,
    expected_videos,
    find_missing_videos,
    missing_dataset_message,
)
from mist_steps.errors import InputError
from mist_steps.steps.index_dataset import index_dataset, main

# --- a tiny UCF-Crime-like dataset ---------------------------------------------------------

UCF_TRAIN = """\
Abuse/Abuse001_x264.mp4
Robbery/Robbery007_x264.mp4
Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4
Training_Normal_Videos_Anomaly/Normal_Videos002_x264.mp4
"""
UCF_TEST_7 = (
    "Abuse028_x264.mp4\tAbuse\t5\t20\t-1\t-1\t40\n"
    "Arson011_x264.mp4\tArson\t3\t8\t30\t42\t40\n"  # ends 2 past the end, as the real file does
    "Normal_Videos_003_x264.mp4\tNormal\t-1\t-1\t-1\t-1\t50\n"  # annotation says 50, video has 40
)


@pytest.fixture
def ucf_dataset(tmp_path, make_video):
    root = tmp_path / "UCF_Crimes"
    for rel in UCF_TRAIN.split():
        make_video(root / rel, 40)
    for rel in ("Abuse/Abuse028_x264.mp4", "Arson/Arson011_x264.mp4",
                "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4"):
        make_video(root / rel, 40)
    (tmp_path / "train.txt").write_text(UCF_TRAIN)
    (tmp_path / "test.txt").write_text(UCF_TEST_7)
    return root, tmp_path / "train.txt", tmp_path / "test.txt"


@pytest.mark.parametrize("fmt", ["ucf_crime", "synth"])
def test_index_ucf_like(tmp_path, ucf_dataset, fmt, caplog):
    root, train, test = ucf_dataset
    out_csv, out_h5 = tmp_path / "out" / "videos.csv", tmp_path / "out" / "ground_truth.h5"
    with caplog.at_level(logging.INFO, logger="mist_steps.steps.index_dataset"):
        index_dataset(fmt, out_csv, out_h5, root=root, train_list=train, test_annotations=test)

    table = pd.read_csv(out_csv)
    assert list(table.columns) == CSV_COLUMNS
    assert list(zip(table.split, table.video_id)) == [
        ("test", "Abuse028_x264"), ("test", "Arson011_x264"), ("test", "Normal_Videos_003_x264"),
        ("train", "Abuse001_x264"), ("train", "Normal_Videos001_x264"),
        ("train", "Normal_Videos002_x264"), ("train", "Robbery007_x264"),
    ]
    row = table.set_index("video_id")
    assert row.at["Normal_Videos_003_x264", "path"] == str(root / "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4")
    assert row.at["Arson011_x264", "path"] == str(root / "Arson/Arson011_x264.mp4")
    assert row.at["Robbery007_x264", "path"] == str(root / "Robbery/Robbery007_x264.mp4")
    assert row["label"].to_dict() == {
        "Abuse028_x264": 1, "Arson011_x264": 1, "Normal_Videos_003_x264": 0, "Abuse001_x264": 1,
        "Normal_Videos001_x264": 0, "Normal_Videos002_x264": 0, "Robbery007_x264": 1}
    assert row.at["Normal_Videos001_x264", "class"] == "Normal"
    assert row.at["Robbery007_x264", "class"] == "Robbery"
    assert (table.frame_count == 40).all() and (table.fps == 25.0).all()  # probed, not annotated
    assert any("Normal_Videos_003_x264: 40 frames in the video, 50 in the annotation" in r.message
               for r in caplog.records if r.levelno == logging.WARNING)
    assert any("train: 4 videos (2 normal, 2 abnormal)" in r.message for r in caplog.records)

    with h5py.File(out_h5) as h5:
        assert h5.attrs["format"] == fmt and h5.attrs["snippet_len"] == 16
        assert sorted(h5["labels"]) == ["Abuse028_x264", "Arson011_x264", "Normal_Videos_003_x264"]
        abuse = h5["labels/Abuse028_x264"]
        assert abuse.dtype == np.uint8 and abuse.shape == (32,)
        assert np.flatnonzero(abuse[:]).tolist() == list(range(5, 20))
        assert dict(abuse.attrs) == {"class": "Abuse", "label": 1, "frame_count": 40}
        assert np.flatnonzero(h5["labels/Arson011_x264"][:]).tolist() == [3, 4, 5, 6, 7, 30, 31]
        normal = h5["labels/Normal_Videos_003_x264"]
        assert normal.shape == (32,) and not normal[:].any()
        assert normal.attrs["label"] == 0 and normal.attrs["class"] == "Normal"
    assert sorted(p.name for p in out_csv.parent.iterdir()) == ["ground_truth.h5", "videos.csv"]


def test_index_reports_missing_videos(tmp_path, ucf_dataset):
    root, train, test = ucf_dataset
    (root / "Abuse/Abuse001_x264.mp4").unlink()
    out_csv, out_h5 = tmp_path / "videos.csv", tmp_path / "gt.h5"
    with pytest.raises(InputError) as err:
        index_dataset("ucf_crime", out_csv, out_h5, root=root, train_list=train, test_annotations=test)
    assert "1 of 7 expected videos are missing" in str(err.value)
    assert str(root / "Abuse/Abuse001_x264.mp4") in str(err.value)
    assert not out_csv.exists() and not out_h5.exists()


def test_index_rejects_broken_video(tmp_path, ucf_dataset):
    root, train, test = ucf_dataset
    broken = root / "Arson/Arson011_x264.mp4"
    broken.write_text("not a video")
    with pytest.raises(InputError, match=re.escape(str(broken))):
        index_dataset("ucf_crime", tmp_path / "v.csv", tmp_path / "g.h5", root=root,
                      train_list=train, test_annotations=test)


def test_index_rejects_interval_past_short_video(tmp_path, ucf_dataset, make_video):
    root, train, test = ucf_dataset
    make_video(root / "Abuse/Abuse028_x264.mp4", 4)  # annotated 5..20, the video has 4 frames
    with pytest.raises(InputError, match="video Abuse028_x264: interval \\(5, 20\\) is past the video's end"):
        index_dataset("ucf_crime", tmp_path / "v.csv", tmp_path / "g.h5", root=root,
                      train_list=train, test_annotations=test)


# --- a tiny ShanghaiTech-like dataset ------------------------------------------------------


@pytest.fixture
def sht_dataset(tmp_path, make_video, make_frame_folder):
    root = tmp_path / "shanghaitech"
    make_video(root / "training/videos/01_001.avi", 40, fps=24, codec="mpeg4")  # train normal
    make_video(root / "training/videos/01_002.avi", 36, fps=24, codec="mpeg4")  # test normal
    make_frame_folder(root / "testing/frames/01_0014", 20)  # train abnormal
    make_frame_folder(root / "testing/frames/01_0015", 35)  # test abnormal
    masks = tmp_path / "masks"
    masks.mkdir()
    np.save(masks / "01_0014.npy", np.ones(20, dtype=np.uint8))
    np.save(masks / "01_0015.npy", np.array([0] * 10 + [1] * 12 + [0] * 13, dtype=np.uint8))
    (tmp_path / "SH_Train.txt").write_text("01_0014,1\n01_001,0\n")
    (tmp_path / "SH_Test.txt").write_text("01_002,0,36\n01_0015,1,-1\n")
    return dict(root=root, train_list=tmp_path / "SH_Train.txt", test_list=tmp_path / "SH_Test.txt",
                masks=masks)


def test_index_shanghaitech_like(tmp_path, sht_dataset):
    out_csv, out_h5 = tmp_path / "videos.csv", tmp_path / "gt.h5"
    index_dataset("shanghaitech", out_csv, out_h5, frames_fps=24.0, **sht_dataset)
    root = sht_dataset["root"]
    table = pd.read_csv(out_csv)
    assert table.to_dict("records") == [
        {"video_id": "01_0015", "path": str(root / "testing/frames/01_0015"), "split": "test",
         "label": 1, "class": "Anomaly", "frame_count": 35, "fps": 24.0},
        {"video_id": "01_002", "path": str(root / "training/videos/01_002.avi"), "split": "test",
         "label": 0, "class": "Normal", "frame_count": 36, "fps": 24.0},
        {"video_id": "01_001", "path": str(root / "training/videos/01_001.avi"), "split": "train",
         "label": 0, "class": "Normal", "frame_count": 40, "fps": 24.0},
        {"video_id": "01_0014", "path": str(root / "testing/frames/01_0014"), "split": "train",
         "label": 1, "class": "Anomaly", "frame_count": 20, "fps": 24.0},
    ]
    with h5py.File(out_h5) as h5:
        assert h5.attrs["format"] == "shanghaitech"
        assert sorted(h5["labels"]) == ["01_0015", "01_002"]
        abnormal = h5["labels/01_0015"]
        assert abnormal[:].tolist() == [0] * 10 + [1] * 12 + [0] * 10  # mask cut to 32 frames
        assert dict(abnormal.attrs) == {"class": "Anomaly", "label": 1, "frame_count": 35}
        assert h5["labels/01_002"][:].tolist() == [0] * 32


def test_shanghaitech_frames_fps_defaults_to_nan(tmp_path, sht_dataset):
    table = index_dataset("shanghaitech", tmp_path / "v.csv", tmp_path / "g.h5", **sht_dataset)
    assert table.set_index("video_id")["fps"].isna().to_dict() == {
        "01_0015": True, "01_002": False, "01_0014": True, "01_001": False}


def test_shanghaitech_mask_length_must_match(tmp_path, sht_dataset):
    np.save(sht_dataset["masks"] / "01_0015.npy", np.zeros(34, dtype=np.uint8))
    with pytest.raises(InputError, match="video 01_0015 .*35 frames but its mask .*01_0015.npy has 34"):
        index_dataset("shanghaitech", tmp_path / "v.csv", tmp_path / "g.h5", **sht_dataset)


def test_shanghaitech_missing_mask(tmp_path, sht_dataset):
    (sht_dataset["masks"] / "01_0015.npy").unlink()
    with pytest.raises(InputError, match="01_0015.npy: frame mask of abnormal video 01_0015 not found"):
        index_dataset("shanghaitech", tmp_path / "v.csv", tmp_path / "g.h5", **sht_dataset)


# --- the real annotation files, without videos ---------------------------------------------


def test_real_ucf_ground_truth_from_annotations(tmp_path, resources):
    ucf = resources / "ucf_crime"
    out_csv, out_h5 = tmp_path / "videos.csv", tmp_path / "gt.h5"
    table = index_dataset("ucf_crime", out_csv, out_h5, root=tmp_path / "absent",
                          train_list=ucf / "Anomaly_Train.txt",
                          test_annotations=ucf / "Temporal_Anomaly_Annotation_New.txt",
                          check_videos=False)
    assert table.groupby(["split", "label"]).size().to_dict() == {
        ("test", 0): 150, ("test", 1): 140, ("train", 0): 800, ("train", 1): 810}
    assert (table[table.split == "train"].frame_count == -1).all()
    # independent reading of the raw 7-field text
    expected = {}
    for line in (ucf / "Temporal_Anomaly_Annotation_New.txt").read_text().splitlines():
        name, _, s1, e1, s2, e2, n = line.split("\t")
        n = int(n) // 16 * 16
        frames = set()
        for s, e in ((int(s1), int(e1)), (int(s2), int(e2))):
            frames |= set(range(s, min(e, n))) if s >= 0 else set()
        expected[name.removesuffix(".mp4")] = (n, len(frames))
    with h5py.File(out_h5) as h5:
        got = {k: (len(v), int(v[:].sum())) for k, v in h5["labels"].items()}
    assert got == expected
    assert sum(a for _, a in got.values()) > 0


def test_real_ucf_six_field_needs_videos(tmp_path, resources):
    ucf = resources / "ucf_crime"
    with pytest.raises(InputError, match="frame count unknown"):
        index_dataset("ucf_crime", tmp_path / "v.csv", tmp_path / "g.h5", root=tmp_path,
                      train_list=ucf / "Anomaly_Train.txt",
                      test_annotations=ucf / "Temporal_Anomaly_Annotation.txt", check_videos=False)


def test_real_shanghaitech_ground_truth_from_masks(tmp_path, resources):
    sht = resources / "shanghaitech"
    out_h5 = tmp_path / "gt.h5"
    index_dataset("shanghaitech", tmp_path / "v.csv", out_h5, root=tmp_path,
                  train_list=sht / "SH_Train_new.txt", test_list=sht / "SH_Test_NEW.txt",
                  masks=sht / "test_frame_mask", check_videos=False)
    listed = {}
    for line in (sht / "SH_Test_NEW.txt").read_text().split():
        name, label, frames = line.split(",")
        listed[name] = (int(label), int(frames))
    with h5py.File(out_h5) as h5:
        assert len(h5["labels"]) == 199
        for name, (label, frames) in listed.items():
            gt = h5[f"labels/{name}"][:]
            if label == 1:
                raw = np.load(sht / "test_frame_mask" / f"{name}.npy")
                assert np.array_equal(gt, raw[: len(raw) // 16 * 16]), name
            else:
                assert len(gt) == frames // 16 * 16 and not gt.any(), name


def test_real_lists_with_no_videos_fail_with_guidance(tmp_path, resources):
    ucf = resources / "ucf_crime"
    with pytest.raises(InputError, match="1900 of 1900 expected videos are missing"):
        index_dataset("ucf_crime", tmp_path / "v.csv", tmp_path / "g.h5", root=tmp_path,
                      train_list=ucf / "Anomaly_Train.txt",
                      test_annotations=ucf / "Temporal_Anomaly_Annotation.txt")


# --- missing-dataset check and message -----------------------------------------------------


def test_find_missing_videos(ucf_dataset):
    root, train, test = ucf_dataset
    assert find_missing_videos("ucf_crime", root, train, test) == []
    (root / "Robbery/Robbery007_x264.mp4").unlink()
    (root / "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4").unlink()
    assert find_missing_videos("ucf_crime", root, train, test) == [
        root / "Robbery/Robbery007_x264.mp4",
        root / "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4",
    ]
    assert len(expected_videos("ucf_crime", root, train, test)) == 7


def test_find_missing_shanghaitech(sht_dataset):
    args = dict(train_list=sht_dataset["train_list"], test_list=sht_dataset["test_list"])
    root = sht_dataset["root"]
    assert find_missing_videos("shanghaitech", root, **args) == []
    assert find_missing_videos("shanghaitech", root / "elsewhere", **args) == [
        root / "elsewhere" / p for p in ("testing/frames/01_0014", "testing/frames/01_0015",
                                         "training/videos/01_001.avi", "training/videos/01_002.avi")]


def test_missing_message_ucf(tmp_path, resources):
    ucf = resources / "ucf_crime"
    root = tmp_path / "UCF_Crimes"
    args = ("ucf_crime", root, ucf / "Anomaly_Train.txt", ucf / "Temporal_Anomaly_Annotation.txt")
    missing = find_missing_videos(*args)
    assert len(missing) == 1900
    message = missing_dataset_message("ucf", "ucf_crime", root, missing, "datasets.ucf.root",
                                      total=len(expected_videos(*args)))
    for part in [str(root), "does not exist", "1900 of 1900", str(root / "Abuse/Abuse001_x264.mp4"),
                 "Sultani", "https://www.crcv.ucf.edu/projects/real-world/",
                 "Training_Normal_Videos_Anomaly", "Testing_Normal_Videos_Anomaly",
                 "datasets.ucf.root"]:
        assert part in message, part
    root.mkdir()
    message = missing_dataset_message("ucf", "ucf_crime", root, missing[:3], "datasets.ucf.root", total=1900)
    assert f"3 of 1900 expected videos are missing under the dataset root {root}" in message


def test_missing_message_shanghaitech(tmp_path, resources):
    sht = resources / "shanghaitech"
    root = tmp_path / "ShanghaiTech"
    args = ("shanghaitech", root, sht / "SH_Train_new.txt", sht / "SH_Test_NEW.txt")
    missing = find_missing_videos(args[0], root, args[2], test_list=args[3])
    assert len(missing) == 437
    message = missing_dataset_message("sht", "shanghaitech", root, missing, "datasets.sht.root",
                                      total=437)
    # one example of each kind: an original training .avi and a test frame folder
    for part in [str(root), "437 of 437", str(root / "testing/frames/01_0014"),
                 str(root / "training/videos/01_001.avi"), "ShanghaiTech Campus",
                 "training/videos/", "testing/frames/", "datasets.sht.root"]:
        assert part in message, part
    without_total = missing_dataset_message("sht", "shanghaitech", root, missing[:2], "--root")
    assert "(2 expected videos missing)" in without_total and "pass --root" in without_total


# --- command line --------------------------------------------------------------------------


def test_cli(tmp_path, sht_dataset, capsys):
    out_csv, out_h5 = tmp_path / "cli" / "videos.csv", tmp_path / "cli" / "gt.h5"
    main(["--format", "shanghaitech", "--root", str(sht_dataset["root"]),
          "--train-list", str(sht_dataset["train_list"]), "--test-list", str(sht_dataset["test_list"]),
          "--masks", str(sht_dataset["masks"]), "--frames-fps", "24",
          "--out-videos", str(out_csv), "--out-ground-truth", str(out_h5)])
    assert len(pd.read_csv(out_csv)) == 4 and out_h5.is_file()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ["--format", "--root", "--train-list", "--test-annotations", "--test-list",
                 "--masks", "--out-videos", "--out-ground-truth", "ground_truth.h5"]:
        assert flag in out


def test_cli_input_error_is_one_line(tmp_path, sht_dataset, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, ["--format", "shanghaitech", "--root", str(sht_dataset["root"]),
                       "--train-list", str(sht_dataset["train_list"]),
                       "--out-videos", str(tmp_path / "v.csv"), "--out-ground-truth", str(tmp_path / "g.h5")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: format 'shanghaitech' needs a test split file (--test-list)" in err
    assert "Traceback" not in err
