"""mist_steps.data.annotations on the real official files (resources/ copies) and on broken ones."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from mist_steps.data.annotations import (
    END_TOLERANCE,
    frame_labels_from_mask,
    frame_labels_ucf,
    load_sht_mask,
    parse_sht_split,
    parse_ucf_temporal,
    parse_ucf_train_list,
)
from mist_steps.errors import InputError

UCF_FILES = ["Anomaly_Train.txt", "Temporal_Anomaly_Annotation.txt", "Temporal_Anomaly_Annotation_New.txt"]
SHT_FILES = ["SH_Train_new.txt", "SH_Test_NEW.txt"]


@pytest.fixture(scope="module")
def ucf(resources):
    return resources / "ucf_crime"


@pytest.fixture(scope="module")
def sht(resources):
    return resources / "shanghaitech"


# --- the copies are the real files ---------------------------------------------------------


def test_resources_are_byte_identical_to_reference(resources, shared_data):
    pairs = [(f"ucf_crime/{n}", n) for n in UCF_FILES] + [(f"shanghaitech/{n}", n) for n in SHT_FILES]
    masks = sorted((shared_data / "shanghaitech" / "test_frame_mask").glob("*.npy"))
    assert len(masks) == 107
    pairs += [(f"shanghaitech/test_frame_mask/{m.name}", m.name) for m in masks]
    for rel, _ in pairs:
        assert (resources / rel).read_bytes() == (shared_data / rel).read_bytes(), rel
    copied = sorted(p.name for p in (resources / "shanghaitech" / "test_frame_mask").iterdir())
    assert copied == [m.name for m in masks]


# --- UCF-Crime -----------------------------------------------------------------------------


def test_ucf_train_list(ucf):
    entries = parse_ucf_train_list(ucf / "Anomaly_Train.txt")
    assert len(entries) == 1610
    labels = Counter(e.label for e in entries)
    assert labels == {0: 800, 1: 810}
    assert Counter(e.class_name for e in entries) == {
        "Normal": 800, "Abuse": 48, "Arrest": 45, "Arson": 41, "Assault": 47, "Burglary": 87,
        "Explosion": 29, "Fighting": 45, "RoadAccidents": 127, "Robbery": 145, "Shooting": 27,
        "Shoplifting": 29, "Stealing": 95, "Vandalism": 45,
    }
    first, normal = entries[0], next(e for e in entries if e.label == 0)
    assert (first.relpath, first.video_id, first.label, first.class_name) == (
        "Abuse/Abuse001_x264.mp4", "Abuse001_x264", 1, "Abuse")
    assert normal.relpath.startswith("Training_Normal_Videos_Anomaly/Normal_Videos")
    assert normal.class_name == "Normal"
    assert all(e.label == 0 for e in entries if e.relpath.startswith("Training_Normal_Videos_Anomaly/"))


UCF_TEST_CLASSES = {
    "Normal": 150, "Abuse": 2, "Arrest": 5, "Arson": 9, "Assault": 3, "Burglary": 13,
    "Explosion": 21, "Fighting": 5, "RoadAccidents": 23, "Robbery": 5, "Shooting": 23,
    "Shoplifting": 21, "Stealing": 5, "Vandalism": 5,
}


@pytest.mark.parametrize("name", UCF_FILES[1:])
def test_ucf_test_annotations(ucf, name):
    entries = parse_ucf_temporal(ucf / name)
    assert len(entries) == 290
    assert Counter(e.label for e in entries) == {0: 150, 1: 140}
    assert Counter(e.class_name for e in entries) == UCF_TEST_CLASSES
    first = entries[0]
    assert (first.name, first.video_id, first.class_name, first.intervals) == (
        "Abuse028_x264.mp4", "Abuse028_x264", "Abuse", ((165, 240),))
    normal = next(e for e in entries if e.label == 0)
    assert normal.name == "Normal_Videos_003_x264.mp4" and normal.intervals == ()
    assert Counter(len(e.intervals) for e in entries) == {0: 150, 1: 124, 2: 16}
    if name.endswith("_New.txt"):
        assert first.frame_count == 1412 and all(e.frame_count > 0 for e in entries)
    else:
        assert all(e.frame_count is None for e in entries)


def test_ucf_six_and_seven_field_forms_agree(ucf):
    old = parse_ucf_temporal(ucf / "Temporal_Anomaly_Annotation.txt")
    new = parse_ucf_temporal(ucf / "Temporal_Anomaly_Annotation_New.txt")
    assert [(e.name, e.class_name, e.intervals) for e in old] == [
        (e.name, e.class_name, e.intervals) for e in new]


def test_ucf_intervals_are_sane(ucf):
    for e in parse_ucf_temporal(ucf / "Temporal_Anomaly_Annotation_New.txt"):
        assert bool(e.intervals) == (e.label == 1), e.name
        for start, end in e.intervals:
            assert 0 <= start < end, e.name
            assert start < e.frame_count and end <= e.frame_count + 2, e.name  # quirk: see README
        if len(e.intervals) == 2:
            assert e.intervals[0][1] <= e.intervals[1][0], e.name  # ordered, disjoint


def _independent_ucf_totals(text: str) -> tuple[int, int, dict[str, int]]:
    """Scored and anomalous frames from the raw 7-field text, without the module's parser."""
    scored = anomalous = 0
    per_video = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\S+)\t(\S+)\t(-?\d+)\t(-?\d+)\t(-?\d+)\t(-?\d+)\t(\d+)\s*", line)
        if not m:
            assert not line.strip()
            continue
        n = int(m.group(7))
        usable = n - n % 16
        marked = [False] * usable
        for s, e in ((int(m.group(3)), int(m.group(4))), (int(m.group(5)), int(m.group(6)))):
            if s == -1:
                continue
            for f in range(s, e):
                if f < usable:
                    marked[f] = True
        scored += usable
        anomalous += sum(marked)
        per_video[m.group(1)] = sum(marked)
    return scored, anomalous, per_video


def test_ucf_ground_truth_totals(ucf):
    path = ucf / "Temporal_Anomaly_Annotation_New.txt"
    scored, anomalous, per_video = _independent_ucf_totals(path.read_text())
    assert len(per_video) == 290
    labels = {e.name: frame_labels_ucf(e.intervals, e.frame_count, video_id=e.video_id)
              for e in parse_ucf_temporal(path)}
    assert sum(len(v) for v in labels.values()) == scored
    assert sum(int(v.sum()) for v in labels.values()) == anomalous
    assert {k: int(v.sum()) for k, v in labels.items()} == per_video
    assert 0 < anomalous < scored


# --- ShanghaiTech --------------------------------------------------------------------------


def test_sht_splits(sht):
    train = parse_sht_split(sht / "SH_Train_new.txt", with_frames=False)
    test = parse_sht_split(sht / "SH_Test_NEW.txt", with_frames=True)
    assert len(train) == 238 and Counter(e.label for e in train) == {1: 63, 0: 175}
    assert len(test) == 199 and Counter(e.label for e in test) == {1: 44, 0: 155}
    assert not {e.name for e in train} & {e.name for e in test}
    assert all(e.frame_count is None for e in train)
    assert all((e.frame_count is None) == (e.label == 1) for e in test)  # -1 for abnormal ones
    assert test[0].name == "01_001" and test[0].frame_count == 764


def test_sht_masks(sht):
    train = parse_sht_split(sht / "SH_Train_new.txt", with_frames=False)
    test = parse_sht_split(sht / "SH_Test_NEW.txt", with_frames=True)
    abnormal = {e.name for e in train + test if e.label == 1}
    mask_dir = sht / "test_frame_mask"
    assert {p.stem for p in mask_dir.glob("*.npy")} == abnormal  # exactly one per abnormal video
    masks = {name: load_sht_mask(mask_dir, name) for name in abnormal}
    # the 107 videos of the original ShanghaiTech test set hold 40,791 frames in all
    assert sum(len(m) for m in masks.values()) == 40791
    for name, m in masks.items():
        assert m.dtype == np.uint8 and m.ndim == 1 and 16 <= len(m), name
        assert m.any(), name  # every abnormal video has anomalous frames
        raw = np.load(mask_dir / f"{name}.npy")
        gt = frame_labels_from_mask(raw)
        assert len(gt) == len(raw) // 16 * 16 and np.array_equal(gt, raw[: len(gt)]), name


# --- frame labels --------------------------------------------------------------------------


def test_frame_labels_end_exclusive_and_truncated():
    labels = frame_labels_ucf([(5, 20), (30, 40)], 40)
    assert labels.dtype == np.uint8 and len(labels) == 32
    assert labels[4] == 0 and labels[5] == 1 and labels[19] == 1 and labels[20] == 0
    assert labels[29] == 0 and labels[30:].tolist() == [1, 1]  # 32..39 dropped with the tail
    assert labels.sum() == 15 + 2
    assert frame_labels_ucf([], 47).tolist() == [0] * 32
    assert len(frame_labels_ucf([], 15)) == 0


def test_frame_labels_interval_in_dropped_tail_marks_nothing():
    assert frame_labels_ucf([(35, 39)], 40).sum() == 0


def test_frame_labels_end_slightly_past_video_is_clipped():
    # the official annotation overshoots by up to 2 frames; the official evaluation clips
    assert frame_labels_ucf([(20, 42)], 40).sum() == 12
    assert frame_labels_ucf([(20, 40 + END_TOLERANCE)], 40).sum() == 12


@pytest.mark.parametrize("interval", [(40, 45), (100, 200), (10, 40 + END_TOLERANCE + 1)])
def test_frame_labels_interval_past_video_end(interval):
    with pytest.raises(InputError, match=r"video Arson011_x264: interval .* past the video's end"):
        frame_labels_ucf([interval], 40, video_id="Arson011_x264")


def test_frame_labels_from_mask():
    mask = np.array([0] * 10 + [1] * 25, dtype=np.uint8)
    assert frame_labels_from_mask(mask).tolist() == [0] * 10 + [1] * 22


# --- malformed files -----------------------------------------------------------------------

GOOD6 = "Abuse028_x264.mp4  Abuse  165  240  -1  -1  "
GOOD7 = "Abuse028_x264.mp4\tAbuse\t165\t240\t-1\t-1\t1412"


def _write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_blank_lines_skipped(tmp_path):
    path = _write(tmp_path, "ann.txt", ["", GOOD6, "   ", "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1"])
    entries = parse_ucf_temporal(path)
    assert [e.video_id for e in entries] == ["Abuse028_x264", "Normal_Videos_003_x264"]


@pytest.mark.parametrize(
    "bad, what",
    [
        ("Arson011_x264.mp4  Arson  150  420  680", "expected 6 fields"),
        ("Arson011_x264.mp4\tArson\t150\t420\t680\t1267\t1266\t9", "got 8"),
        ("Arson011_x264.mp4  Arson  150  4x0  -1  -1", "'4x0' is not an integer"),
        ("Arson011_x264.mp4  Arson  420  150  -1  -1", "start is after end"),
        ("Arson011_x264.mp4  Arson  150  -1  -1  -1", "only one of start/end is -1"),
        ("Arson011_x264.mp4  Arson  150  420  -1  700", "only one of start/end is -1"),
        ("Arson011_x264.mp4  Arson  -5  420  -1  -1", "must be >= 0"),
        ("Arson011_x264.mp4\tArson\t150\t420\t-1\t-1\tmany", "frame count 'many'"),
        ("Arson011_x264.mp4\tArson\t150\t420\t-1\t-1\t0", "frame count must be > 0"),
        ("Normal_Videos_003_x264.mp4  Normal  10  20  -1  -1", "class Normal has anomaly intervals"),
        ("Abuse028_x264.mp4  Abuse  1  2  -1  -1", "already listed on line 1"),
    ],
)
def test_ucf_temporal_errors_name_file_and_line(tmp_path, bad, what):
    path = _write(tmp_path, "Temporal_Anomaly_Annotation.txt", [GOOD6, "", bad, GOOD7.replace("Abuse028", "Abuse030")])
    with pytest.raises(InputError) as err:
        parse_ucf_temporal(path)
    message = str(err.value)
    assert f"{path}, line 3:" in message  # blank line 2 still counts
    assert what in message


@pytest.mark.parametrize(
    "bad, what",
    [
        ("Abuse001_x264.mp4", "expected one 'ClassFolder/Name.mp4' path"),
        ("Abuse/Abuse001 x264.mp4", "expected one"),
        ("Abuse/Abuse002_x264.mp4", "already listed on line 2"),
    ],
)
def test_ucf_train_list_errors(tmp_path, bad, what):
    path = _write(tmp_path, "Anomaly_Train.txt", ["Abuse/Abuse000_x264.mp4", "Abuse/Abuse002_x264.mp4", bad])
    with pytest.raises(InputError, match=re.escape(f"{path}, line 3:") + ".*" + re.escape(what)):
        parse_ucf_train_list(path)


@pytest.mark.parametrize(
    "with_frames, bad, what",
    [
        (False, "01_0014,1,265", "expected 'name,label'"),
        (True, "01_0014,1", "expected 'name,label,frames'"),
        (False, "01_0014,2", "label must be 0 or 1"),
        (False, "01_0014,yes", "label 'yes' is not an integer"),
        (True, "01_0014,0,0", "frame count must be > 0 or -1"),
        (True, "01_001,0,10", "already listed on line 1"),
    ],
)
def test_sht_split_errors(tmp_path, with_frames, bad, what):
    first = "01_001,0,764" if with_frames else "01_001,0"
    path = _write(tmp_path, "split.txt", [first, bad])
    with pytest.raises(InputError, match=re.escape(f"{path}, line 2:") + ".*" + re.escape(what)):
        parse_sht_split(path, with_frames=with_frames)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        parse_ucf_train_list(tmp_path / "nope.txt")
    empty = _write(tmp_path, "empty.txt", [""])
    with pytest.raises(InputError, match=re.escape(f"{empty}: file is empty")):
        parse_ucf_temporal(empty)


def test_mask_errors(tmp_path):
    with pytest.raises(InputError, match="frame mask of abnormal video 01_0099 not found"):
        load_sht_mask(tmp_path, "01_0099")
    np.save(tmp_path / "two.npy", np.array([0, 2, 1]))
    with pytest.raises(InputError, match="values must be 0 or 1"):
        load_sht_mask(tmp_path, "two")
    (tmp_path / "junk.npy").write_text("junk")
    with pytest.raises(InputError, match="junk.npy: not a readable .npy"):
        load_sht_mask(tmp_path, "junk")
