"""The bad-input catalogue (issue #7): one test per kind of bad input, each driving the step a
user runs (its function or its command line) and checking the error names the file, line,
video or key at fault and the fix - never a bare traceback, a NaN metric or a half-written
file that looks complete. Some rows are also tested closer to their code elsewhere
(test_video, test_extract, test_annotations, test_encoders, test_evaluate, ...)."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re
import shutil

import h5py
import numpy as np
import pytest
import torch
import yaml
from conftest import write_video
from mil_data import make_mil_dataset
from test_video import _set_mp4_rotation, write_truncated_mp4, write_vfr_video
from workflow_utils import REPO, load_config, snakemake, write_config

from mist_steps.cli import run_cli
from mist_steps.config_schema import problems
from mist_steps.data import dataset_plan
from mist_steps.data.video import open_video
from mist_steps.errors import InputError
from mist_steps.evaluation.metrics import evaluate as evaluate_metrics
from mist_steps.formats.encoder_file import FORMAT as ENCODER_FORMAT
from mist_steps.formats.encoder_file import load_encoder, save_encoder
from mist_steps.formats.generator_file import generator_document, load_generator
from mist_steps.formats.mist_model import load_mist_model, save_mist_model
from mist_steps.formats.public_weights import load_encoder_weights
from mist_steps.formats.resume import load_resume_checkpoint, restore_states
from mist_steps.formats.scores import PSEUDO_LABELS_FORMAT, ScoreWriter, write_scores
from mist_steps.formats.skipped import read_skipped
from mist_steps.models import build_encoder
from mist_steps.models.generator import DROPOUT, build_generator
from mist_steps.models.i3d import InceptionI3d
from mist_steps.models.sga import MISTModel
from mist_steps.steps import (
    evaluate_mist,
    extract_shard,
    finetune,
    gather_features,
    pseudo_labels,
    score_generator,
    train_generator,
)
from mist_steps.steps import index_dataset as datasets
from mist_steps.training import generator_loop

SIZE = 32  # encoder input: tiny, so a random I3D runs fast on two busy cores
TRAIN = ("Abuse/Abuse001_x264.mp4\n"
         "Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4\n")
TEST = ("Abuse028_x264.mp4  Abuse  16  40  -1  -1\n"
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n")


def _cli(capsys, main, argv) -> str:
    """Run a step's command line in-process: it must stop with exit 2 and an error line (after
    any progress bars), which is returned with what follows it."""
    with pytest.raises(SystemExit) as stop:
        run_cli(main, [str(a) for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err and "Traceback" not in err, err
    return err[err.rindex("error: "):]


def _no_temporaries(folder: pathlib.Path) -> None:
    assert not list(folder.rglob(".*.tmp")), list(folder.rglob(".*.tmp"))


def _ucf(root: pathlib.Path, *, train_extra="", test_extra="", videos=None) -> dict:
    """A tiny UCF-Crime-like dataset; ``videos``: further relpath -> writer(path)."""
    for rel, n in (("Abuse/Abuse001_x264.mp4", 40),
                   ("Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4", 40),
                   ("Abuse/Abuse028_x264.mp4", 48),
                   ("Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4", 48)):
        write_video(root / "videos" / rel, n)
    for rel, make in (videos or {}).items():
        (root / "videos" / rel).parent.mkdir(parents=True, exist_ok=True)
        make(root / "videos" / rel)
    (root / "Anomaly_Train.txt").write_text(TRAIN + train_extra)
    (root / "Temporal_Anomaly_Annotation.txt").write_text(TEST + test_extra)
    return {"root": root / "videos", "train": root / "Anomaly_Train.txt",
            "test": root / "Temporal_Anomaly_Annotation.txt",
            "videos_csv": root / "out" / "videos.csv", "gt": root / "out" / "ground_truth.h5"}


def _index_argv(d: dict, *extra) -> list:
    return ["--format", "ucf_crime", "--root", d["root"], "--train-list", d["train"],
            "--test-annotations", d["test"], "--out-videos", d["videos_csv"],
            "--out-ground-truth", d["gt"], *extra]


def _extract_argv(videos_csv, encoder_pt, out, *extra) -> list:
    return ["--videos", videos_csv, "--encoder", encoder_pt, "--out", out,
            "--input-size", SIZE, "--batch-size", 4, "--threads", 1, *extra]


def _truncated(faststart: bool):
    def make(path):
        shutil.move(write_truncated_mp4(path.parent, faststart), path)
    return make


def _text(path):
    path.write_text("this is not a video\n" * 20)


BAD = {  # kind -> (test video name, writer); truncated with the index first still probes
    "truncated_index_last": ("Abuse030_x264.mp4", _truncated(False)),
    "truncated_index_first": ("Abuse031_x264.mp4", _truncated(True)),
    "zero_byte": ("Abuse032_x264.mp4", lambda p: p.touch()),
    "text_named_mp4": ("Abuse033_x264.mp4", _text),
}
SHORT = ("Abuse034_x264.mp4", lambda p: write_video(p, 12))  # < one 16-frame snippet


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("enc") / "i3d_vanilla.pt"
    save_encoder(path, build_encoder("i3d", 4))
    return path


@pytest.fixture(scope="module")
def skip_run(tmp_path_factory, encoder):
    """Every bad video in one dataset, run with ``on_bad_video: skip`` from indexing to the
    generator-only evaluation, as the workflow chains the steps."""
    tmp = tmp_path_factory.mktemp("skip")
    test_lines = "".join(f"{name}  Abuse  2  8  -1  -1\n" for name, _ in [*BAD.values(), SHORT])
    bad = {f"Abuse/{name}": make for name, make in [*BAD.values(), SHORT]}
    bad["Abuse/Abuse002_x264.mp4"] = lambda p: write_video(p, 10)  # a short training video
    d = _ucf(tmp, train_extra="Abuse/Abuse002_x264.mp4\n", test_extra=test_lines, videos=bad)
    datasets.index_dataset("ucf_crime", d["videos_csv"], d["gt"], root=d["root"],
                           train_list=d["train"], test_annotations=d["test"],
                           on_bad_video="skip")
    out = tmp / "out"
    extract_shard.extract_shard(d["videos_csv"], encoder, out / "shard.h5", input_size=SIZE,
                                batch_size=4, threads=1, on_bad_video="skip",
                                skipped_csv=out / "shard_skipped.csv")
    gather_features.gather([out / "shard.h5"], out / "features.h5", [out / "shard_skipped.csv"],
                           out / "skipped.csv")
    train_generator.train_generator(out / "features.h5", d["videos_csv"], out / "generator.pt",
                                    clips_per_bag=1, steps=2, sub_bags=4, batch_normal=1,
                                    batch_abnormal=1)
    score_generator.score_videos(out / "generator.pt", out / "features.h5", d["videos_csv"],
                                 out / "scores.h5")
    metrics = evaluate_metrics(out / "scores.h5", d["gt"], d["videos_csv"], out / "auc.json",
                               skipped_csv=out / "skipped.csv")
    return {**d, "out": out, "metrics": metrics,
            "skipped": {r["video_id"]: r for r in read_skipped(out / "skipped.csv")}}


# -- row 1: truncated mp4, zero-byte file, a text file named .mp4 ---------------------------------
@pytest.mark.parametrize("kind", sorted(BAD))
def test_row01_broken_video_file_is_named_or_recorded_as_skipped(tmp_path, capsys, encoder,
                                                                 skip_run, kind):
    name, make = BAD[kind]
    d = _ucf(tmp_path, test_extra=f"{name}  Abuse  2  8  -1  -1\n",
             videos={f"Abuse/{name}": make})
    path = d["root"] / "Abuse" / name
    # on_bad_video: error (the default): the first step that opens it stops, naming the file
    if kind == "truncated_index_first":  # its header is intact: indexing counts its frames
        run_cli(datasets.main, [str(a) for a in _index_argv(d)])
        err = _cli(capsys, extract_shard.main, _extract_argv(d["videos_csv"], encoder,
                                                             tmp_path / "shard.h5"))
        assert "[step mist_steps.steps.extract_shard]" in err
        assert not (tmp_path / "shard.h5").exists()
    else:
        err = _cli(capsys, datasets.main, _index_argv(d))
        assert "[step mist_steps.steps.index_dataset]" in err
        assert not d["videos_csv"].exists() and not d["gt"].exists()
    assert str(path) in err and ("on_bad_video: skip" in err or "--on-bad-video skip" in err)
    # on_bad_video: skip: recorded with its reason, left out of the features and the metrics
    vid = name.removesuffix(".mp4")
    assert str(skip_run["root"] / "Abuse" / name) in skip_run["skipped"][vid]["reason"]
    with h5py.File(skip_run["out"] / "features.h5") as f:
        assert vid not in f["features"]
    assert vid in {r["video_id"] for r in skip_run["metrics"]["skipped"]}


# -- row 2: a video shorter than one 16-frame snippet ---------------------------------------------
def test_row02_video_shorter_than_a_snippet_is_never_a_crash_downstream(tmp_path, capsys,
                                                                        encoder, skip_run):
    name, make = SHORT
    d = _ucf(tmp_path, test_extra=f"{name}  Abuse  2  8  -1  -1\n",
             videos={f"Abuse/{name}": make})
    run_cli(datasets.main, [str(a) for a in _index_argv(d)])  # 12 frames: indexable
    err = _cli(capsys, extract_shard.main, _extract_argv(d["videos_csv"], encoder, tmp_path / "s.h5"))
    assert str(d["root"] / "Abuse" / name) in err and "shorter than one 16-frame snippet" in err
    # skipped: training leaves the short training video out, evaluation the short test video,
    # and the metrics stay numbers
    assert {"Abuse002_x264", "Abuse034_x264"} <= set(skip_run["skipped"])
    doc = json.loads((skip_run["out"] / "auc.json").read_text())
    assert doc["counts"]["videos"] == 2 and doc["counts"]["skipped"] == 5
    assert 0.0 <= doc["auc"] <= 1.0
    meta = load_generator(skip_run["out"] / "generator.pt")[2]
    assert "Abuse002_x264" in {r["video_id"] for r in meta["train_videos"]["left_out"]}


# -- row 3: odd frame size, grayscale, variable frame rate, rotation metadata ---------------------
def _left_band(i, size):
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[:, :8] = 255
    return pixels


def test_row03_awkward_but_valid_videos_are_extracted(tmp_path, encoder):
    folder = tmp_path / "v"
    rotated = write_video(folder / "rotated.mp4", 32, size=(32, 48), pixels=_left_band)
    _set_mp4_rotation(rotated, [0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000])  # portrait
    videos = {
        "odd_size": (write_video(folder / "odd.mp4", 33, size=(33, 47), pix_fmt="yuv444p"), 33),
        "grayscale": (write_video(folder / "gray.mkv", 32, size=(24, 32), codec="ffv1",
                                  pix_fmt="gray"), 32),
        "vfr": (write_vfr_video(folder / "vfr.mp4", 40), 40),
        "rotated": (rotated, 32),
    }
    csv = tmp_path / "videos.csv"
    csv.write_text("video_id,path,split,label,class,frame_count,fps\n" + "".join(
        f"{v},{p},test,0,Normal,{n},25.0\n" for v, (p, n) in videos.items()))
    extract_shard.extract_shard(csv, encoder, tmp_path / "f.h5", input_size=SIZE, batch_size=4,
                                threads=1)  # on_bad_video: error - any failure raises
    with h5py.File(tmp_path / "f.h5") as f:
        for vid, (_, n) in videos.items():
            assert f["features"][vid].shape == (n // 16, 1, 1024), vid
            assert f["features"][vid].attrs["n_frames_decoded"] == n, vid
            assert np.isfinite(f["features"][vid][()]).all()
    frame = next(iter(open_video(rotated).iter_frames()))
    assert frame.shape == (48, 32, 3) and frame[:8].mean() > 200  # turned upright


# -- row 4: a listed video missing on disk, or a path out of the dataset root ---------------------
ESCAPES = {  # case -> (file to edit, its text, what the error names)
    "train_list": ("train", TRAIN + "Abuse/../../../../etc/passwd\n", "line 3"),
    "test_annotations": ("test", TEST + "../../../etc/passwd  Abuse  2  8  -1  -1\n", "line 3"),
    "test_class": ("test", TEST + "passwd  ../../../etc  2  8  -1  -1\n", "line 3"),
}


@pytest.mark.parametrize("case", ["missing_at_indexing", "missing_after_indexing",
                                  "videos_csv_id", "shanghaitech_split", *ESCAPES])
def test_row04_missing_video_or_path_out_of_the_root_is_named(tmp_path, capsys, encoder,
                                                              monkeypatch, case):
    d = _ucf(tmp_path)
    opened = []
    real_probe = datasets.probe
    monkeypatch.setattr(datasets, "probe", lambda p, **kw: opened.append(p) or real_probe(p, **kw))
    if case == "missing_at_indexing":
        gone = d["root"] / "Abuse/Abuse028_x264.mp4"
        gone.unlink()
        err = _cli(capsys, datasets.main, _index_argv(d))
        assert str(gone) in err and "1 of 4 expected videos are missing" in err
    elif case == "missing_after_indexing":
        run_cli(datasets.main, [str(a) for a in _index_argv(d)])
        gone = d["root"] / "Abuse/Abuse028_x264.mp4"
        gone.unlink()
        err = _cli(capsys, extract_shard.main, _extract_argv(d["videos_csv"], encoder,
                                                             tmp_path / "s.h5"))
        assert f"video Abuse028_x264: {gone}: video not found" in err
    elif case == "videos_csv_id":
        run_cli(datasets.main, [str(a) for a in _index_argv(d)])
        text = d["videos_csv"].read_text().replace("Abuse001_x264,", "../../etc/passwd,")
        d["videos_csv"].write_text(text)
        err = _cli(capsys, extract_shard.main, _extract_argv(d["videos_csv"], encoder,
                                                             tmp_path / "s.h5"))
        assert f"{d['videos_csv']}: video_id '../../etc/passwd'" in err and "line" in err
    elif case == "shanghaitech_split":
        split = tmp_path / "SH_Train.txt"
        split.write_text("01_001,0\n../../../etc/passwd,1\n")
        for call in (lambda: dataset_plan.expected_videos("shanghaitech", tmp_path, split,
                                                          test_list=split),
                     lambda: datasets.index_dataset("shanghaitech", tmp_path / "v.csv",
                                                    tmp_path / "g.h5", root=tmp_path,
                                                    train_list=split, test_list=split,
                                                    masks=tmp_path)):
            with pytest.raises(InputError, match=re.escape(
                    f"{split}, line 2: video name '../../../etc/passwd' is not a plain name")):
                call()
    else:
        key, text, where = ESCAPES[case]
        d[key].write_text(text)
        # the workflow checks the expected videos before any job: the same error there
        with pytest.raises(InputError, match=re.escape(f"{d[key]}, {where}")):
            dataset_plan.expected_videos("ucf_crime", d["root"], d["train"],
                                         test_annotations=d["test"])
        err = _cli(capsys, datasets.main, _index_argv(d))
        assert f"{d[key]}, {where}:" in err and "etc" in err
        assert "inside the dataset root" in err
    assert all(pathlib.Path(p).resolve().is_relative_to(d["root"].resolve()) for p in opened)


# -- row 5: annotation interval past the video's end, start > end, malformed line -----------------
ANNOTATIONS = {
    "interval_past_the_end": ("Abuse035_x264.mp4  Abuse  100  120  -1  -1\n",
                              "interval (100, 120) is past the video's end"),
    "start_after_end": ("Abuse035_x264.mp4  Abuse  30  20  -1  -1\n", "start is after end"),
    "malformed_line": ("Abuse035_x264.mp4  Abuse  30  40  -1\n", "expected 6 fields"),
    "not_a_number": ("Abuse035_x264.mp4  Abuse  30  4O  -1  -1\n", "'4O' is not an integer"),
}


@pytest.mark.parametrize("case", sorted(ANNOTATIONS))
def test_row05_bad_annotation_names_file_and_line(tmp_path, capsys, case):
    line, what = ANNOTATIONS[case]
    d = _ucf(tmp_path, test_extra=line,
             videos={"Abuse/Abuse035_x264.mp4": lambda p: write_video(p, 48)})
    err = _cli(capsys, datasets.main, _index_argv(d))
    assert f"{d['test']}, line 3:" in err and what in err
    assert not d["videos_csv"].exists() and not d["gt"].exists()


# -- row 6: NaN / inf in features or scores -------------------------------------------------------
@pytest.fixture(scope="module")
def mil(tmp_path_factory):
    """Features, index and ground truth of a few videos (16-d features: fast)."""
    return make_mil_dataset(tmp_path_factory.mktemp("mil"), train_normal=3, train_abnormal=3,
                            test_normal=2, test_abnormal=2, clips=(4, 8))


def _poison(path, group, vid, value=np.nan):
    """Put ``value`` into one stored array (the writers refuse it: edit the file afterwards)."""
    with h5py.File(path, "r+") as f:
        data = f[group][vid][()]
        data.flat[0] = value
        f[group][vid][...] = data


def _generator_file(path, dim=16, *, poison=False):
    model = build_generator(dim, generator=torch.Generator().manual_seed(0))
    if poison:  # a diverged run: its output layer turned NaN
        with torch.no_grad():
            list(model.parameters())[-1].fill_(float("nan"))
    config = {"dim": dim, "dropout": DROPOUT, "crops": "mean", "l2_normalize": False,
              "n_crops": 1}
    torch.save(generator_document(model, config, {}), path)
    return path


@pytest.mark.parametrize("stage", ["train_generator", "pseudo_labels", "score_generator",
                                   "finetune", "evaluate_mist"])
def test_row06_nan_or_inf_names_the_video_and_the_stage(tmp_path, capsys, mil, encoder, stage):
    train_abn = next(v for v in mil.anomaly if v.startswith("train"))
    test_abn = next(v for v in mil.anomaly if v.startswith("test"))
    if stage == "train_generator":
        features = shutil.copy(mil.features, tmp_path / "features.h5")
        _poison(features, "features", train_abn, np.inf)
        argv = ["--features", features, "--videos", mil.videos_csv, "--out",
                tmp_path / "g.pt", "--steps", 2, "--clips-per-bag", 1, "--sub-bags", 2,
                "--batch-normal", 1, "--batch-abnormal", 1]
        main, vid, out, names = train_generator.main, train_abn, tmp_path / "g.pt", features
    elif stage in ("pseudo_labels", "score_generator"):
        broken = _generator_file(tmp_path / "generator.pt", poison=True)
        out = tmp_path / "out.h5"
        args = ["--generator", broken, "--features", mil.features, "--videos", mil.videos_csv,
                "--out", out]
        if stage == "pseudo_labels":
            main, argv, vid = pseudo_labels.main, args, min(v for v in mil.n_clips
                                                            if v.startswith("train"))
        else:
            main, argv, vid = score_generator.main, args, min(
                v for v in mil.n_clips if v.startswith("test"))
        names = out
    elif stage == "finetune":
        labels = tmp_path / "pseudo_labels.h5"
        with ScoreWriter(labels, format=PSEUDO_LABELS_FORMAT) as w:
            w.add(train_abn, {"raw": np.zeros(3), "refined": np.zeros(3)})
        _poison(labels, "refined", train_abn)
        out = tmp_path / "mist.pt"
        main, vid, names = finetune.main, train_abn, labels
        argv = ["--encoder", encoder, "--videos", mil.videos_csv, "--pseudo-labels", labels,
                "--out", out, "--input-size", SIZE]
    else:
        scores = tmp_path / "scores.h5"
        write_scores(scores, {v: np.full(n, 0.5) for v, n in mil.n_clips.items()
                              if v.startswith("test")})
        _poison(scores, "scores", test_abn, -np.inf)
        out = tmp_path / "auc.json"
        main, vid, names = evaluate_mist.main, test_abn, scores
        argv = ["--scores", scores, "--ground-truth", mil.ground_truth, "--videos",
                mil.videos_csv, "--out", out]
    err = _cli(capsys, main, argv)
    assert f"video {vid}" in err and "NaN/inf" in err and str(names) in err
    assert f"[step mist_steps.steps.{stage}]" in err
    assert not out.exists()  # nothing written: in particular never a NaN AUC


# -- row 7: unknown or mistyped config key, wrong type, out-of-range value ------------------------
CONFIG_MISTAKES = {  # override -> the line the user reads
    "mistyped_key": ({"generator": {"stpes": 3}}, "generator.stpes: unknown key (did you mean "
                                                  "'steps'?)"),
    "unknown_top_key": ({"finetuning": {}}, "finetuning: unknown key (did you mean "
                                            "'finetune'?)"),
    "wrong_type": ({"finetune": {"epochs": "six"}}, "finetune.epochs: expected integer, got str "
                                                    "'six'"),
    "negative_lr": ({"generator": {"lr": -0.01}}, "generator.lr: -0.01 is less than or equal "
                                                  "to the minimum of 0"),
    "window_zero": ({"pseudo_labels": {"window": 0}}, "pseudo_labels.window: 0 is less than the "
                                                      "minimum of 1"),
    "bad_choice": ({"extract": {"on_bad_video": "ignore"}}, "extract.on_bad_video: 'ignore' is "
                                                            "not one of ['error', 'skip']"),
}


def test_row07_config_mistakes_are_schema_errors_naming_the_key(tmp_path):
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    overrides = {}
    for name, (override, line) in CONFIG_MISTAKES.items():
        found = problems(load_config(overrides=override), schema)
        assert len(found) == 1 and found[0].startswith(line), (name, found)
        for section, values in override.items():
            overrides.setdefault(section, {}).update(values)
    # as a user meets them: the workflow stops before any job, listing every one
    write_config(tmp_path, load_config(overrides=overrides))
    run = snakemake(tmp_path, "-n")
    out = run.stdout + run.stderr
    assert run.returncode != 0 and "Traceback" not in out
    for _, line in CONFIG_MISTAKES.values():
        assert line in out, line
    assert not (tmp_path / "results").exists()


# -- row 8: checkpoints with wrong or missing keys; a pickle that carries code --------------------
class _Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def _checkpoint(kind, path, case, marker):
    """A ``kind`` file at ``path``: ``case`` 'keys' (missing and unexpected keys) or 'code'."""
    torch.manual_seed(0)
    if kind == "public_weights":
        state = build_encoder("i3d", 400).state_dict()
    elif kind == "encoder":
        model = build_encoder("i3d", 4)
        state = model.state_dict()
        doc = {"format": ENCODER_FORMAT, "arch": "i3d", "config": dict(model.config)}
    elif kind == "generator":
        model = build_generator(16)
        state = model.state_dict()
        doc = generator_document(model, {"dim": 16, "crops": "mean", "l2_normalize": False}, {})
    elif kind == "mist_model":
        save_mist_model(path, MISTModel(build_encoder("i3d", 2), input_size=SIZE))
        doc = torch.load(path, weights_only=True)
        doc.pop("weights_sha256")
        state = doc["state_dict"]
    else:  # a resumable training checkpoint (generator.pt.ckpt)
        model = build_generator(16)
        state = model.state_dict()
        doc = {"format": generator_loop.CKPT_FORMAT, "settings_hash": "h", "step": 10, "rows": [],
               "optimizer": torch.optim.Adagrad(model.parameters()).state_dict(),
               "numpy_rng": {}, "torch_rng": torch.get_rng_state()}
    first = next(iter(state))
    state = dict(state)
    if case == "keys":
        state[first.replace(".", "_renamed.", 1)] = state.pop(first)
    else:
        state[first] = _Payload(marker)
    if kind == "public_weights":
        torch.save(state, path)
    else:
        doc["model" if kind == "resume_checkpoint" else "state_dict"] = state
        torch.save(doc, path)
    return first


LOADERS = {
    "public_weights": lambda p: load_encoder_weights(InceptionI3d(num_classes=400), p),
    "encoder": load_encoder,
    "generator": load_generator,
    "mist_model": load_mist_model,
}


@pytest.mark.parametrize("case", ["keys", "code"])
@pytest.mark.parametrize("kind", [*LOADERS, "resume_checkpoint"])
def test_row08_bad_checkpoint_is_refused_and_never_runs_code(tmp_path, caplog, kind, case):
    marker = tmp_path / "payload_ran"
    path = tmp_path / f"{kind}.pt"
    first = _checkpoint(kind, path, case, marker)
    if kind == "resume_checkpoint":
        doc = load_resume_checkpoint(path, fmt=generator_loop.CKPT_FORMAT, settings_hash="h",
                                     progress_key="step", target=20,
                                     required=generator_loop.CKPT_KEYS)
        if case == "code":  # refused unread: the run starts over, with a warning naming it
            assert doc is None and str(path) in caplog.text
        else:  # the keys are checked when the states are restored: an error naming the file
            model = build_generator(16)
            opt = torch.optim.Adagrad(model.parameters())
            with pytest.raises(InputError, match=re.escape(f"{path}: the checkpoint does not fit")):
                restore_states(path, doc, {"model": model, "optimizer": opt})
    else:
        with pytest.raises(InputError) as err:
            LOADERS[kind](path)
        msg = str(err.value)
        assert str(path) in msg
        if case == "keys" and kind != "generator":  # strict key check, keys listed
            assert first in msg and first.replace(".", "_renamed.", 1) in msg
        elif case == "keys":
            assert "weights do not fit" in msg and first in msg
        else:
            assert "refused" in msg or "Unsupported global" in msg
    assert not marker.exists()
    if case == "code":  # the payload is live: a full unpickling would have run it
        torch.load(path, weights_only=False)
        assert marker.exists()


# -- row 9: score / ground-truth length mismatch --------------------------------------------------
@pytest.mark.parametrize("extra_clips", [-1, 1])
def test_row09_score_and_ground_truth_length_mismatch_names_the_video(tmp_path, capsys, mil,
                                                                      extra_clips):
    tests = {v: n for v, n in mil.n_clips.items() if v.startswith("test")}
    odd = sorted(tests)[1]
    scores = tmp_path / "scores.h5"
    write_scores(scores, {v: np.full(n + extra_clips * (v == odd), 0.5) for v, n in tests.items()})
    out = tmp_path / "auc.json"
    err = _cli(capsys, evaluate_mist.main, ["--scores", scores, "--ground-truth", mil.ground_truth,
                                            "--videos", mil.videos_csv, "--out", out])
    n = tests[odd]
    assert f"test video {odd} has {n + extra_clips} clips" in err
    assert f"ground truth in {mil.ground_truth} has {16 * n} frames" in err
    assert not out.exists()


# -- row 10: disk full while writing an artifact --------------------------------------------------
def _disk_full(*_, **__):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("artifact", ["hdf5_scores", "torch_generator", "json_metrics"])
def test_row10_disk_full_leaves_no_partial_file_that_looks_complete(tmp_path, capsys, mil,
                                                                    monkeypatch, artifact):
    if artifact == "hdf5_scores":
        out = tmp_path / "test_scores_generator.h5"
        argv = ["--generator", _generator_file(tmp_path / "g.pt"), "--features",
                mil.features, "--videos", mil.videos_csv, "--out", out]
        main, real = score_generator.main, h5py.Group.create_dataset
        calls = []

        def fault(self, *args, **kwargs):  # the disk fills after the first video
            calls.append(1)
            return _disk_full() if len(calls) > 1 else real(self, *args, **kwargs)
        monkeypatch.setattr(h5py.Group, "create_dataset", fault)
    elif artifact == "torch_generator":
        out = tmp_path / "generator.pt"
        argv = ["--features", mil.features, "--videos", mil.videos_csv, "--out", out,
                "--steps", 2, "--clips-per-bag", 1, "--sub-bags", 2, "--batch-normal", 1,
                "--batch-abnormal", 1]
        main, real = train_generator.main, torch.save

        def fault(obj, f, *args, **kwargs):  # half the bytes reach the disk, then it is full
            real(obj, f, *args, **kwargs)
            data = pathlib.Path(f).read_bytes()
            pathlib.Path(f).write_bytes(data[: len(data) // 2])
            _disk_full()
        monkeypatch.setattr(torch, "save", fault)
    else:
        out = tmp_path / "auc.json"
        scores = tmp_path / "scores.h5"
        write_scores(scores, {v: np.full(n, 0.5) for v, n in mil.n_clips.items()
                              if v.startswith("test")})
        argv = ["--scores", scores, "--ground-truth", mil.ground_truth, "--videos",
                mil.videos_csv, "--out", out]
        main, real = evaluate_mist.main, pathlib.Path.write_text

        def fault(self, text, *args, **kwargs):
            real(self, text[: len(text) // 2], *args, **kwargs)
            _disk_full()
        monkeypatch.setattr(pathlib.Path, "write_text", fault)
    stale = tmp_path / f".{out.name}.killed01.tmp"  # what a SIGKILLed earlier run leaves
    stale.write_bytes(b"partial")
    err = _cli(capsys, main, argv)
    assert "disk full" in err and str(out) in err and "no partial output was kept" in err
    assert not out.exists()
    _no_temporaries(tmp_path)
    monkeypatch.undo()  # space freed: the rerun writes the complete file
    run_cli(main, [str(a) for a in argv])
    assert out.exists()
    _no_temporaries(tmp_path)
