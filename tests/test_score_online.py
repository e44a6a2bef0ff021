"""Online scoring (mist_steps.score): JSON lines as the batch step scores, pipes, bad streams."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import REPO, write_video

from mist_steps.cli import run_cli
from mist_steps.formats.mist_model import save_mist_model
from mist_steps.formats.scores import ScoreFile
from mist_steps.models import build_encoder
from mist_steps.models.sga import MISTModel
from mist_steps.score import FIELDS, main
from mist_steps.steps.score_mist import score_videos

FRAMES = 88  # 5 snippets and 8 trailing frames


def _noise(i, size):
    return np.random.default_rng(i).integers(0, 256, (*size, 3), dtype=np.uint8)


def _remux(src: Path, dst: Path, fmt: str) -> Path:
    """The same packets in another container (so the decoded frames are identical)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    video = write_video(root / "clip.mp4", FRAMES, size=(40, 48), pixels=_noise)
    torch.manual_seed(0)
    model = root / "encoder_mist.pt"
    save_mist_model(model, MISTModel(build_encoder("i3d", 2), input_size=32), {"seed": 0})
    index = root / "videos.csv"
    index.write_text("video_id,path,split,label,class,frame_count,fps\n"
                     f"clip,{video},test,1,Fighting,{FRAMES},25.0\n")
    batch = root / "batch.h5"
    score_videos(model, index, batch, batch_size=4, threads=1)
    with ScoreFile(batch) as sf:
        reference = sf.read("clip")
    return {"root": root, "video": video, "model": model, "reference": reference,
            "mkv": _remux(video, root / "clip.mkv", "matroska")}


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _cli(media, source: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "mist_steps.score", "--model",
                           str(media["model"]), "--threads", "1", source],
                          input=stdin, capture_output=True, env=env, timeout=300)


def test_lines_match_the_batch_scores_and_the_csv(media, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    main(["--model", str(media["model"]), "--threads", "1", "--threshold", "0.5",
          "--out", str(out), str(media["video"])])
    lines = _lines(capsys.readouterr().out)
    assert [line["snippet"] for line in lines] == [0, 1, 2, 3, 4]  # the 8 trailing frames: none
    assert set(lines[0]) == set(FIELDS)
    assert lines[1] == {**lines[1], "start_frame": 16, "end_frame": 31, "start_s": 0.64,
                        "end_s": 1.28}
    scores = np.array([line["score"] for line in lines])
    np.testing.assert_allclose(scores, media["reference"], atol=2e-6)  # same model, same crops
    assert [line["alarm"] for line in lines] == [bool(s > 0.5) for s in scores]
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["score"]) for r in rows] == list(scores)
    assert [int(r["alarm"]) for r in rows] == [int(line["alarm"]) for line in lines]


def test_stdin_pipe(media):
    run = _cli(media, "-", stdin=media["mkv"].read_bytes())
    assert run.returncode == 0, run.stderr.decode()
    scores = [line["score"] for line in _lines(run.stdout.decode())]
    np.testing.assert_allclose(scores, media["reference"], atol=2e-6)
    assert "real-time factor" in run.stderr.decode()


def _run(media, source: str, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        run_cli(main, ["--model", str(media["model"]), "--threads", "1", source])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@contextlib.contextmanager
def _pipe(path: Path):
    """FFmpeg's pipe protocol on an open file: read front to back, never seeked, as stdin."""
    fd = os.open(path, os.O_RDONLY)
    try:
        yield f"pipe:{fd}"
    finally:
        os.close(fd)


def test_cut_truncated_and_garbage_inputs(media, tmp_path, capsys):
    mkv = media["mkv"].read_bytes()
    cut_mkv = tmp_path / "cut.mkv"  # the writer stopped mid-stream
    cut_mkv.write_bytes(mkv[:int(len(mkv) * 0.7)])
    with _pipe(cut_mkv) as source:
        code, out, err = _run(media, source, capsys)
    assert code == 2 and "the stream broke off" in err and "their lines stand" in err, err
    assert out.endswith("\n")  # whole lines only, the ones before the cut
    lines = _lines(out)
    assert 1 <= len(lines) < 5
    np.testing.assert_allclose([line["score"] for line in lines],
                               media["reference"][:len(lines)], atol=2e-6)

    data = media["video"].read_bytes()
    cut = tmp_path / "cut.mp4"  # index (moov) at the end: nothing is readable
    cut.write_bytes(data[:len(data) // 2])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    for path, expected in ((cut, "not a readable video stream"),
                           (garbage, "not a readable video stream"),
                           (tmp_path / "missing.mp4", "video not found")):
        code, out, err = _run(media, str(path), capsys)
        assert code == 2 and out == ""
        assert str(path) in err and expected in err, err
    with _pipe(media["video"]) as source:  # an mp4 on a pipe
        code, out, err = _run(media, source, capsys)
    assert code == 2 and out == "" and "+faststart" in err, err


def test_whole_frames_score_as_the_batch_step_scores_them(media, tmp_path, capsys):
    """--frame-size: the whole frame resized, no crop - as score_mist with a dataset's
    test_frame; the same scores line by line."""
    torch.manual_seed(0)
    model = MISTModel(build_encoder("i3d", 2), input_size=32)
    with torch.no_grad():
        model.head_c.weight.mul_(1e4)  # scores that move with the input
    model_pt = tmp_path / "sharp.pt"
    save_mist_model(model_pt, model, {"seed": 0})
    index = media["root"] / "videos.csv"
    runs = {}
    for name, size in (("full", (64, 96)), ("crop", None)):
        score_videos(model_pt, index, tmp_path / f"{name}.h5", batch_size=4, threads=1,
                     frame_size=size)
        with ScoreFile(tmp_path / f"{name}.h5") as sf:
            runs[name] = sf.read("clip")
    main(["--model", str(model_pt), "--threads", "1", "--frame-size", "64", "96",
          str(media["video"])])
    scores = [line["score"] for line in _lines(capsys.readouterr().out)]
    np.testing.assert_allclose(scores, runs["full"], atol=2e-6)
    assert np.abs(runs["full"] - runs["crop"]).max() > 1e-3  # not the centre crop's
