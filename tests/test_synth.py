"""Synthetic benchmark: UCF-Crime layout, exact formats, decodable videos, determinism, and an
annotation that says exactly where (and when) anomalies were rendered."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import av
import numpy as np
import pytest

from mist_steps import SNIPPET_LEN
from mist_steps.errors import InputError
from mist_steps.steps.make_synth import generate_benchmark, main
from mist_steps.synth.benchmark import pick_codec, plan_benchmark, video_relpath
from mist_steps.synth.plan import ALL_CLASSES, plan_video
from mist_steps.synth.scene import render_video

SMALL = dict(train_normal=2, train_abnormal=len(ALL_CLASSES), test_normal=2, test_abnormal=len(ALL_CLASSES),
             min_frames=40, max_frames=80, height=48, width=64, fps=25)
ANNOTATION = re.compile(r"^(\S+\.mp4)  (\w+)  (-?\d+)  (-?\d+)  (-?\d+)  (-?\d+)  $")
TEXT_FILES = ("Anomaly_Train.txt", "Temporal_Anomaly_Annotation.txt", "anomaly_boxes.csv")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The same small benchmark made twice (1 and 2 workers) and once with another seed."""
    root = tmp_path_factory.mktemp("synth")
    generate_benchmark(root / "a", seed=3, workers=1, **SMALL)
    generate_benchmark(root / "b", seed=3, workers=2, **SMALL)
    generate_benchmark(root / "c", seed=4, workers=1, **SMALL)
    return root


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def read_annotation(path: Path) -> dict[str, tuple[str, list[tuple[int, int]]]]:
    out = {}
    for line in path.read_text().splitlines(keepends=True):
        m = ANNOTATION.match(line.rstrip("\n"))
        assert m and line.endswith("  \n"), repr(line)
        name, cls, *b = m.groups()
        b = list(map(int, b))
        out[name] = (cls, [(b[i], b[i + 1]) for i in (0, 2) if b[i] != -1])
    return out


def test_layout_and_file_formats(bench):
    out = bench / "a"
    train = out.joinpath("Anomaly_Train.txt").read_text().splitlines()
    assert len(train) == SMALL["train_normal"] + SMALL["train_abnormal"]
    for line in train:
        assert re.fullmatch(r"(\w+)/\1\d{3}_synth\.mp4|Training_Normal_Videos_Anomaly/Normal_Videos\d{3}_synth\.mp4",
                            line), line
        assert (out / "videos" / line).is_file()
    ann = read_annotation(out / "Temporal_Anomaly_Annotation.txt")
    assert len(ann) == SMALL["test_normal"] + SMALL["test_abnormal"]
    train_idx: dict[str, set[int]] = {}
    for line in train:
        cls = "Normal" if line.startswith("Training_Normal") else line.split("/")[0]
        train_idx.setdefault(cls, set()).add(int(re.search(r"(\d{3})_synth", line)[1]))
    for name, (cls, intervals) in ann.items():
        if cls == "Normal":
            assert re.fullmatch(r"Normal_Videos_\d{3}_synth\.mp4", name) and intervals == []
            assert (out / "videos/Testing_Normal_Videos_Anomaly" / name).is_file()
        else:
            assert cls in ALL_CLASSES and re.fullmatch(rf"{cls}\d{{3}}_synth\.mp4", name)
            assert (out / "videos" / cls / name).is_file() and 1 <= len(intervals) <= 2
        # numbering is unique per class and runs on from train into test
        assert int(re.search(r"(\d{3})_synth", name)[1]) > max(train_idx.get(cls, {0}))
    # enough abnormal videos were asked for: every class is in both splits
    assert {c for c, _ in ann.values()} - {"Normal"} == set(ALL_CLASSES)
    assert set(train_idx) - {"Normal"} == set(ALL_CLASSES)


def test_boxes_match_annotation_and_coverage(bench):
    out = bench / "a"
    lines = out.joinpath("anomaly_boxes.csv").read_text().splitlines()
    assert lines[0] == "video_id,split,frame,x0,y0,x1,y1"
    frames_of: dict[str, set[int]] = {}
    for row in lines[1:]:
        vid, split, t, x0, y0, x1, y1 = row.split(",")
        assert split in ("train", "test")
        x0, y0, x1, y1 = map(int, (x0, y0, x1, y1))
        assert 0 <= x0 < x1 <= SMALL["width"] and 0 <= y0 < y1 <= SMALL["height"]
        frames_of.setdefault(vid, set()).add(int(t))
    assert any(vid.startswith(c) for c in ALL_CLASSES for vid in frames_of)  # train videos have boxes too
    n_frames = {Path(video_relpath(s)).stem: s.n_frames for s in plan_benchmark(seed=3, **{
        k: v for k, v in SMALL.items() if k != "fps"})}
    for name, (cls, intervals) in read_annotation(out / "Temporal_Anomaly_Annotation.txt").items():
        annotated = {t for s, e in intervals for t in range(s, e)}  # start-inclusive, end-exclusive
        assert frames_of.get(Path(name).stem, set()) == annotated, name
        if cls != "Normal":
            scored = n_frames[Path(name).stem] // SNIPPET_LEN * SNIPPET_LEN  # evaluation drops the partial snippet
            assert all(e - s >= SNIPPET_LEN and 0 < s < e <= scored for s, e in intervals)
            assert 0.05 <= len(annotated) / n_frames[Path(name).stem] <= 0.40


def test_videos_decode_to_the_planned_frame_count(bench):
    specs = plan_benchmark(seed=3, **{k: v for k, v in SMALL.items() if k != "fps"})
    for spec in specs:
        frames = decode(bench / "a/videos" / video_relpath(spec))
        assert frames.shape == (spec.n_frames, SMALL["height"], SMALL["width"], 3)
        assert spec.n_frames % SNIPPET_LEN and SMALL["min_frames"] <= spec.n_frames <= SMALL["max_frames"]


def test_deterministic_whatever_the_workers_and_seed_dependent(bench):
    for name in TEXT_FILES:
        assert (bench / "a" / name).read_bytes() == (bench / "b" / name).read_bytes()
    videos = sorted(p.relative_to(bench / "a") for p in (bench / "a/videos").rglob("*.mp4"))
    assert videos == sorted(p.relative_to(bench / "b") for p in (bench / "b/videos").rglob("*.mp4"))
    for rel in videos:
        assert np.array_equal(decode(bench / "a" / rel), decode(bench / "b" / rel)), rel
    assert (bench / "a/anomaly_boxes.csv").read_bytes() != (bench / "c/anomaly_boxes.csv").read_bytes()
    a, c = decode(bench / "a" / videos[0]), decode(bench / "c" / videos[0])
    assert a.shape != c.shape or not np.array_equal(a, c)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_annotation_is_where_the_anomaly_is_rendered(cls):
    for index in (1, 2):
        spec = plan_video(5, "test", cls, index, min_frames=40, max_frames=120, height=48, width=64)
        with_a, boxes = render_video(spec, anomalies=True)
        without, no_boxes = render_video(spec, anomalies=False)
        first = spec.intervals[0][0]
        assert first > 0 and np.array_equal(with_a[:first], without[:first])  # only the events differ
        assert not any(no_boxes)
        annotated = {t for s, e in spec.intervals for t in range(s, e)}
        assert {t for t, b in enumerate(boxes) if b} == annotated
        assert 0.05 <= len(annotated) / spec.n_frames <= 0.40
        for t in sorted(annotated):  # inside its boxes, every anomalous frame shows something else
            inside = np.zeros(with_a.shape[1:3], bool)
            for x0, y0, x1, y1 in boxes[t]:
                inside[y0:y1, x0:x1] = True
            assert (with_a[t][inside] != without[t][inside]).any(), (cls, index, t)


def test_invalid_parameters_are_input_errors(tmp_path):
    args = dict(SMALL, train_normal=1, train_abnormal=0, test_normal=0, test_abnormal=0)
    with pytest.raises(InputError, match="height"):
        generate_benchmark(tmp_path / "x", seed=0, **dict(args, height=47))
    with pytest.raises(InputError, match="width"):
        generate_benchmark(tmp_path / "x", seed=0, **dict(args, width=63))
    with pytest.raises(InputError, match="Robbery"):
        main(["--out", str(tmp_path / "x"), "--classes", "Running,Robbery"])
    assert not (tmp_path / "x").exists()


def test_mpeg4_and_fallback_without_libx264(tmp_path, monkeypatch, caplog):
    generate_benchmark(tmp_path / "m", seed=1, codec="mpeg4", **dict(SMALL, train_normal=0, train_abnormal=1,
                                                                       test_normal=0, test_abnormal=0))
    (spec,) = plan_benchmark(seed=1, train_normal=0, train_abnormal=1, test_normal=0, test_abnormal=0,
                             min_frames=40, max_frames=80, height=48, width=64)
    path = tmp_path / "m/videos" / video_relpath(spec)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert len(decode(path)) == spec.n_frames
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libx264"})
    with caplog.at_level(logging.WARNING):
        assert pick_codec("h264") == "mpeg4"
    assert "libx264" in caplog.text


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--train-abnormal" in capsys.readouterr().out
