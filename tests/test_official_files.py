"""The official code's files (resources/mist_official/, real files): the released pseudo labels
imported as the pseudo-label file stage II reads, the UCF-Crime spatial boxes read; broken
files refused with the file named."""

from __future__ import annotations

import csv
import pickle
import re

import numpy as np
import pytest

from mist_steps.data.annotations import load_sht_mask, parse_sht_split, parse_ucf_temporal
from mist_steps.errors import InputError
from mist_steps.formats.official_files import read_released_pseudo_labels, read_spatial_boxes
from mist_steps.formats.scores import ScoreFile, read_pseudo_labels
from mist_steps.steps.import_pseudo_labels import import_pseudo_labels, main

FILES = ("SHT_I3D_PLs.npy", "SHT_C3D_PLs.npy")


@pytest.fixture(scope="module")
def sht_videos(resources, tmp_path_factory):
    """videos.csv of ShanghaiTech's weak training split: abnormal frame counts from their
    masks (the real lengths), normal ones 320 frames (stage II ignores their labels)."""
    sht = resources / "shanghaitech"
    path = tmp_path_factory.mktemp("sht") / "videos.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["video_id", "path", "split", "label", "class", "frame_count", "fps"])
        for e in parse_sht_split(sht / "SH_Train_new.txt", with_frames=False):
            frames = (len(load_sht_mask(sht / "test_frame_mask", e.name)) if e.label
                      else 320)
            out.writerow([e.name, f"{e.name}.avi", "train", e.label,
                          "Abnormal" if e.label else "Normal", frames, 24.0])
        out.writerow(["01_0015", "01_0015", "test", 1, "Abnormal", 160, 24.0])
    return path


def _rows(videos_csv) -> dict[str, dict]:
    with open(videos_csv, newline="") as f:
        return {r["video_id"]: r for r in csv.DictReader(f)}


def test_shipped_copies_are_the_real_files(resources, shared_data):
    for name in FILES:
        shipped = (resources / "mist_official" / name).read_bytes()
        assert shipped == (shared_data / "mist_official" / name).read_bytes(), name


@pytest.mark.parametrize("name, n_padded", [("SHT_I3D_PLs.npy", 0), ("SHT_C3D_PLs.npy", 26)])
def test_real_files_import_with_lengths_and_values(resources, sht_videos, tmp_path, name,
                                                   n_padded):
    released = resources / "mist_official" / name
    file_labels = read_released_pseudo_labels(released)
    assert len(file_labels) == 238
    out = tmp_path / "pl.h5"
    summary = import_pseudo_labels(released, sht_videos, out)
    assert summary["abnormal"] == 63 and summary["videos"] == 238
    assert len(summary["padded"]) == n_padded and summary["extra_videos"] == 0
    labels = read_pseudo_labels(out)  # what stage II reads
    rows = _rows(sht_videos)
    assert sorted(labels) == sorted(v for v, r in rows.items() if r["split"] == "train")
    for vid, row in rows.items():
        if row["split"] != "train":
            continue
        n = int(row["frame_count"]) // 16
        assert labels[vid].shape == (n,), vid
        if row["label"] == "0":
            assert not labels[vid].any(), vid
            continue
        released_values = file_labels[vid].astype(np.float32)
        assert np.array_equal(labels[vid][:released_values.size], released_values), vid
        if vid in summary["padded"]:
            assert released_values.size == n - 1 and labels[vid][-1] == released_values[-1]
    with ScoreFile(out, formats=("mist-pseudo-labels-v1",)) as f:
        assert f.attrs()["source"] == "released" and len(f.videos("raw")) == 238
        assert np.array_equal(f.read("01_0014", "raw"), file_labels["01_0014"].astype(np.float32))


def _save(path, obj):
    np.save(path, np.array(obj, dtype=object), allow_pickle=True)
    return path


def test_broken_files_are_refused_with_the_file_named(resources, sht_videos, tmp_path):
    real = read_released_pseudo_labels(resources / "mist_official" / "SHT_I3D_PLs.npy")
    cases = {
        "missing.npy": ({f"{k}.npy": v for k, v in real.items() if k != "01_0014"},
                        "no pseudo labels for 1 of the 63 abnormal"),
        "short.npy": ({f"{k}.npy": (v[:-2] if k == "01_0014" else v) for k, v in real.items()},
                      "video 01_0014 has 14 pseudo labels, but"),
        "range.npy": ({f"{k}.npy": (v * 3 if k == "01_0016" else v) for k, v in real.items()},
                      "leave [0, 1]"),
        "keys.npy": ({"01_0014": np.zeros(3)}, "is not '<video>.npy'"),
    }
    for name, (content, message) in cases.items():
        path = _save(tmp_path / name, content)
        with pytest.raises(InputError, match=re.escape(message)) as err:
            import_pseudo_labels(path, sht_videos, tmp_path / "out.h5")
        assert str(path) in str(err.value)
    np.save(tmp_path / "array.npy", np.zeros((3, 4)))
    with pytest.raises(InputError, match="not a pickled dict"):
        read_released_pseudo_labels(tmp_path / "array.npy")
    assert not (tmp_path / "out.h5").exists()  # nothing half-written


class _Unsafe:  # a pickle that would call os.getcwd on load
    def __reduce__(self):
        import os
        return (os.getcwd, ())


def test_pickled_code_is_never_run(tmp_path):
    path = tmp_path / "unsafe.npy"
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|O", "fortran_order": False, "shape": ()})
        f.write(pickle.dumps({"a.npy": _Unsafe()}, protocol=3))
    with pytest.raises(InputError, match="refusing to load posix.getcwd|refusing to load os"):
        read_released_pseudo_labels(path)


def test_command_line(resources, sht_videos, tmp_path, capsys):
    out = tmp_path / "pl.h5"
    main(["--released", str(resources / "mist_official" / "SHT_I3D_PLs.npy"), "--videos",
          str(sht_videos), "--out", str(out)])
    assert len(read_pseudo_labels(out)) == 238


def test_official_spatial_annotation_reads(resources, shared_data):
    shipped = resources / "mist_official" / "Test_Spatial_Annotation.npy"
    assert shipped.read_bytes() == (shared_data / "mist_official" / shipped.name).read_bytes()
    boxes = read_spatial_boxes(shipped)
    assert len(boxes) == 140 and all(v.endswith("_x264") for v in boxes)
    assert sum(len(frames) for frames in boxes.values()) == 3102
    assert boxes["Abuse028_x264"][180] == [(3.0, 83.0, 82.0, 150.0)]
    corners = np.array([b for frames in boxes.values() for bs in frames.values() for b in bs])
    assert corners[:, :2].min() >= 0 and corners[:, 2].max() <= 320 and corners[:, 3].max() <= 240
    ucf_test = {e.video_id for e in parse_ucf_temporal(resources / "ucf_crime" /
                                                       "Temporal_Anomaly_Annotation_New.txt")
                if e.class_name != "Normal"}
    assert set(boxes) <= ucf_test  # abnormal test videos of the official split


def test_broken_spatial_annotation_is_refused(tmp_path):
    path = _save(tmp_path / "boxes.npy", {"Abuse028_x264": {180: [10, 5, 3, 50]}})
    with pytest.raises(InputError, match="is empty or not finite"):
        read_spatial_boxes(path)
    path = _save(tmp_path / "short.npy", {"Abuse028_x264": {180: [10, 5]}})
    with pytest.raises(InputError, match=r"is not \[x1, y1, x2, y2\]"):
        read_spatial_boxes(path)
