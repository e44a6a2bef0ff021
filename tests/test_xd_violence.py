"""XD-Violence as a dataset format: names, split lists, annotations, indexing without videos,
results that lead with AP, and a features-only run of stage I through the workflow."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from workflow_utils import REPO, load_config, snakemake, write_config

from mist_steps.data.dataset_plan import plan_videos
from mist_steps.data.xd_violence import classes_of, parse_xd_annotations, parse_xd_list
from mist_steps.errors import InputError
from mist_steps.evaluation.metrics import evaluate
from mist_steps.formats.scores import write_scores
from mist_steps.steps.index_dataset import index_dataset

SHIPPED = REPO / "resources" / "xd_violence"
NAMES = {  # video -> clips of its features
    "Movie.A__#00-01-02_00-01-30_label_A": 6,
    "Movie.B__#00-10-00_00-11-00_label_B2-G-0": 5,
    "Movie.C__#01-00-00_01-00-40_label_A": 4,
    "Movie.D__#02-00-00_02-00-30_label_B1-0-0": 5,
}
TRAIN, TEST = list(NAMES)[:2], list(NAMES)[2:]


def test_labels_and_classes_come_from_the_name():
    assert classes_of("x_label_A", "l") == ()
    assert classes_of("Bad.Boys__#01_label_G-B2-B6", "l") == ("Explosion", "Shooting",
                                                              "Car accident")
    assert classes_of("v__#1_label_B4-0-0", "l") == ("Riot",)
    with pytest.raises(InputError, match=r"rgb.list, line 3.*_label_"):
        classes_of("video_without_label", "rgb.list, line 3")
    with pytest.raises(InputError, match="B3"):
        classes_of("v_label_B3-0-0", "l")


def _write_list(path, names, crops=5, windows=False):
    sep = "\\" if windows else "/"
    lines = [f"D:{sep}feats{sep}{n}__{k}.npy" if windows else f"/media/feats/{n}__{k}.npy"
             for n in names for k in range(crops)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_split_lists_give_each_video_once_in_order(tmp_path):
    videos = parse_xd_list(_write_list(tmp_path / "rgb.list", NAMES, windows=True))
    assert [v.video_id for v in videos] == list(NAMES)
    assert [(v.label, v.class_name) for v in videos] == [
        (0, "Normal"), (1, "Shooting"), (0, "Normal"), (1, "Fighting")]
    assert videos[1].classes == ("Shooting", "Explosion")
    plain = tmp_path / "videos.txt"
    plain.write_text("".join(f"{n}.mp4\n" for n in NAMES))
    same = lambda vs: [(v.video_id, v.label, v.class_name, v.classes) for v in vs]  # noqa: E731
    assert same(parse_xd_list(plain)) == same(videos)
    (tmp_path / "bad.list").write_text("a_label_A.avi\n")
    with pytest.raises(InputError, match=r"bad.list, line 1.*neither"):
        parse_xd_list(tmp_path / "bad.list")


def test_annotations_are_start_inclusive_end_exclusive_pairs(tmp_path):
    path = tmp_path / "annotations.txt"
    path.write_text(f"{TEST[1]} 20 40 50 56\n\n{TRAIN[1]}.mp4 0 16\n")
    notes = parse_xd_annotations(path)
    assert notes[TEST[1]][0] == ((20, 40), (50, 56))
    assert notes[TRAIN[1]] == (((0, 16),), f"{path}, line 3")
    for text, message in (("v 1 2 3\n", "pairs"), ("v 5 5\n", "empty"), ("v 1 x\n", "integers"),
                          ("v 1 2\nv 3 4\n", "already annotated")):
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            parse_xd_annotations(path)
    with pytest.raises(InputError, match="download XD-Violence's annotations.txt"):
        parse_xd_annotations(tmp_path / "absent.txt")


def _dataset(tmp_path):
    """Lists, annotations and 5-crop features of a four-video XD-Violence stand-in."""
    lists = (_write_list(tmp_path / "rgb.list", TRAIN),
             _write_list(tmp_path / "rgb_test.list", TEST))
    notes = tmp_path / "annotations.txt"
    notes.write_text(f"{TEST[1]} 20 40 70 95 84 90\n")
    feats = tmp_path / "feats"
    feats.mkdir()
    rng = np.random.default_rng(0)
    for name, clips in NAMES.items():
        for k in range(5):
            np.save(feats / f"{name}__{k}.npy", rng.random((clips, 8), dtype=np.float32))
    return lists, notes, feats


def test_the_annotations_must_cover_exactly_the_violent_test_videos(tmp_path):
    (train, test), notes, _ = _dataset(tmp_path)
    planned = plan_videos("xd_violence", train, notes, test)
    assert [(p.video_id, p.split, p.relpath.split("/")[0]) for p in planned][:3] == [
        (TRAIN[0], "train", "train"), (TRAIN[1], "train", "train"), (TEST[0], "test", "test")]
    assert planned[3].intervals == ((20, 40), (70, 95), (84, 90))
    for text, message in ((f"{TEST[0]} 1 5\n{TEST[1]} 1 5\n", "is a normal video"),
                          (f"{TRAIN[0]} 1 5\n", f"no line for the violent test video {TEST[1]}"),
                          (f"{TEST[1]} 1 5\nother_label_B1-0-0 1 5\n", "is no test video")):
        notes.write_text(text)
        with pytest.raises(InputError, match=message):
            plan_videos("xd_violence", train, notes, test)


def test_indexing_without_videos_sizes_the_ground_truth_by_the_features(tmp_path):
    (train, test), notes, feats = _dataset(tmp_path)
    table = index_dataset("xd_violence", tmp_path / "videos.csv", tmp_path / "gt.h5",
                          root=tmp_path / "no_videos", train_list=train, test_list=test,
                          test_annotations=notes, check_videos=False, feature_dirs=[feats],
                          feature_lists=[train, test])
    assert dict(zip(table["video_id"], table["frame_count"])) == {
        n: 16 * c for n, c in NAMES.items()}
    with h5py.File(tmp_path / "gt.h5") as gt:
        assert gt.attrs["format"] == "xd_violence"
        labels = gt["labels"][TEST[1]][()]
        normal = gt["labels"][TEST[0]][()]
    # 5 clips = 80 frames; (70, 95) ends and (84, 90) lies in the 0-15 frames the count
    # from the features leaves out: no error, and no label past the scored frames
    assert labels.size == 80 and np.flatnonzero(labels).tolist() == [*range(20, 40), *range(70, 80)]
    assert normal.size == 64 and not normal.any()


def test_results_lead_with_ap_for_xd_violence_only(tmp_path):
    (train, test), notes, feats = _dataset(tmp_path)
    index_dataset("xd_violence", tmp_path / "videos.csv", tmp_path / "gt.h5",
                  root=tmp_path, train_list=train, test_list=test, test_annotations=notes,
                  check_videos=False, feature_dirs=[feats])
    scores = {TEST[0]: np.full(4, 0.2, np.float32), TEST[1]: np.linspace(0, 1, 5, dtype=np.float32)}
    write_scores(tmp_path / "scores.h5", scores, attrs={"model": "generator"})
    out = evaluate(tmp_path / "scores.h5", tmp_path / "gt.h5", tmp_path / "videos.csv",
                   tmp_path / "auc.json")
    on_disk = json.loads((tmp_path / "auc.json").read_text())
    assert list(on_disk)[:5] == ["format", "primary_metric", "pr_auc", "ap", "auc"]
    assert out["primary_metric"] == "pr_auc" and out["per_class"]["Fighting"]["videos"] == 1
    with h5py.File(tmp_path / "gt.h5", "a") as gt:
        gt.attrs["format"] = "ucf_crime"
    out = evaluate(tmp_path / "scores.h5", tmp_path / "gt.h5", tmp_path / "videos.csv",
                   tmp_path / "auc.json")
    assert list(out)[1:3] == ["primary_metric", "auc"] and out["primary_metric"] == "auc"


def test_shipped_splits_are_the_real_lists(shared_data):
    """The shipped .mp4 lists hold the videos of XDVioDet's rgb.list / rgb_test.list."""
    for real, shipped, total, normal in (("rgb.list", "train_videos.txt", 3954, 2049),
                                         ("rgb_test.list", "test_videos.txt", 800, 300)):
        videos = parse_xd_list(shared_data / "xd_violence" / real)
        assert len(videos) == total and sum(v.label == 0 for v in videos) == normal
        assert all((v.label == 0) == ("_label_A" in v.video_id) for v in videos)
        ids = [v.video_id for v in videos]
        assert [v.video_id for v in parse_xd_list(SHIPPED / shipped)] == ids


def test_features_only_xd_violence_runs_stage_one(tmp_path):
    """From XD-Violence's lists and 5-crop features alone: index, import, generator, AP first."""
    data = tmp_path / "data"
    data.mkdir()
    (train, test), notes, feats = _dataset(data)
    config = load_config(overrides={
        "generator": {"restarts": 1, "steps": 5},
        "datasets": {"xdmini": {
            "format": "xd_violence", "clips_per_bag": {"i3d": 2, "c3d": 2},
            "class_weights": {"i3d": [1.0, 1.0], "c3d": [1.0, 1.0]},
            "root": str(tmp_path / "no_videos"), "train_list": str(train),
            "test_list": str(test), "test_annotations": str(notes),
            "features": {"i3d": {"list": [str(train), str(test)], "dir": str(feats),
                                 "crop_mode": "five", "feature": "xd-i3d"}}}}})
    write_config(tmp_path, config)
    run = snakemake(tmp_path, "--cores", "1", "results/xdmini_i3d_generator_auc.json")
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "results/xdmini_i3d_generator_auc.json").read_text())
    assert result["primary_metric"] == "pr_auc" and list(result)[2:4] == ["pr_auc", "ap"]
    assert result["counts"]["videos"] == 2 and result["counts"]["frames"] == 64 + 80
