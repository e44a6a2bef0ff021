"""The generator step: training on planted-signal features, resuming, scoring, CLI."""

from __future__ import annotations

import csv
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from mil_data import make_mil_dataset

from mist_steps.errors import InputError
from mist_steps.evaluation.metrics import evaluate
from mist_steps.formats.generator_file import GENERATOR_FORMAT, load_generator
from mist_steps.formats.resume import checkpoint_path
from mist_steps.formats.scores import ScoreFile
from mist_steps.steps.score_generator import main as score_main
from mist_steps.steps.score_generator import score_videos
from mist_steps.steps.train_generator import main as train_main
from mist_steps.steps.train_generator import train_generator

SMALL = {"clips_per_bag": 2, "sub_bags": 8, "batch_normal": 8, "batch_abnormal": 8}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_mil_dataset(tmp_path_factory.mktemp("mil"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "generator.pt"
    train_generator(data.features, data.videos_csv, out, steps=150, seed=0,
                    loss_csv=out.with_suffix(".csv"), **SMALL)
    return out


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _loss_rows(path):
    with open(path) as fh:
        return [row[:4] for row in csv.reader(fh)]


def test_planted_signal_is_found(data, trained, tmp_path):
    scores = tmp_path / "scores.h5"
    summary = score_videos(trained, data.features, data.videos_csv, scores, split="test")
    assert summary["videos"] == 12
    result = evaluate(scores, data.ground_truth, data.videos_csv, tmp_path / "auc.json")
    assert result["auc"] > 0.9
    assert result["auc_abnormal"] > 0.85
    assert result["score_gap"] > 0.2
    with ScoreFile(scores) as f:
        for vid in f.videos():
            assert f.read(vid).shape == (data.n_clips[vid],)  # one score per clip
            assert f.attrs(vid)["split"] == "test"


def test_output_file_and_loss_csv(trained):
    doc = torch.load(trained, weights_only=True)
    assert doc["format"] == GENERATOR_FORMAT
    assert doc["config"] == {"dim": 16, "dropout": 0.6, "crops": "mean", "l2_normalize": False,
                             "n_crops": 1}
    meta = doc["meta"]
    assert meta["settings"]["steps"] == 150 and meta["settings"]["loss"] == "paper"
    assert len(meta["features"]["sha256"]) == 64 and meta["features"]["attrs"]["dim"] == 16
    assert meta["train_videos"]["normal"] == 16 and meta["train_videos"]["abnormal"] == 16
    model, config, _ = load_generator(trained)
    assert not model.training and config["dim"] == 16
    rows = _loss_rows(trained.with_suffix(".csv"))
    assert rows[0] == ["step", "loss", "hinge", "sparsity"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 151))
    losses = np.array([float(r[1]) for r in rows[1:]])
    assert losses[-20:].mean() < losses[:20].mean() - 0.2  # it learned
    assert not checkpoint_path(trained).exists()


def test_resume_after_kill_equals_uninterrupted(data, tmp_path):
    settings = dict(steps=9, checkpoint_every=3, seed=3, loss="topk", topk=3, **SMALL)
    whole, cut = tmp_path / "whole.pt", tmp_path / "cut.pt"
    train_generator(data.features, data.videos_csv, whole, loss_csv=tmp_path / "whole.csv",
                    **settings)
    # killed after 7 steps: only the checkpoint of step 6 survives, step 7 is redone
    assert train_generator(data.features, data.videos_csv, cut, stop_after=7,
                           loss_csv=tmp_path / "cut.csv", **settings) is None
    assert not cut.exists() and checkpoint_path(cut).exists()
    assert torch.load(checkpoint_path(cut), weights_only=True)["step"] == 6
    train_generator(data.features, data.videos_csv, cut, loss_csv=tmp_path / "cut.csv",
                    **settings)
    a, b = _weights(whole), _weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _loss_rows(tmp_path / "whole.csv") == _loss_rows(tmp_path / "cut.csv")
    assert not checkpoint_path(cut).exists()


def test_checkpoint_of_other_settings_is_not_resumed(data, tmp_path):
    out = tmp_path / "g.pt"
    train_generator(data.features, data.videos_csv, out, steps=4, checkpoint_every=2,
                    stop_after=3, lr=0.05, **SMALL)
    assert checkpoint_path(out).exists()
    train_generator(data.features, data.videos_csv, out, steps=4, checkpoint_every=2, **SMALL)
    fresh = tmp_path / "fresh.pt"
    train_generator(data.features, data.videos_csv, fresh, steps=4, checkpoint_every=2, **SMALL)
    a, b = _weights(out), _weights(fresh)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_seed_changes_weights_and_same_seed_repeats(data, tmp_path):
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        runs[name] = tmp_path / f"{name}.pt"
        train_generator(data.features, data.videos_csv, runs[name], steps=3, seed=seed, **SMALL)
    a, b, c = (_weights(runs[k]) for k in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.0.weight"], c["net.0.weight"])


def test_uniform_sampling_separate_crops_l2(tmp_path):
    data = make_mil_dataset(tmp_path / "d", train_normal=6, train_abnormal=6, test_normal=2,
                            test_abnormal=2, n_crops=3, clips=(5, 40), dtype="float16")
    out = tmp_path / "g.pt"
    train_generator(data.features, data.videos_csv, out, steps=5, sampling="uniform",
                    crops="separate", l2_normalize=True, loss="topk", **SMALL)
    _, config, meta = load_generator(out)
    assert config["crops"] == "separate" and config["l2_normalize"] and config["n_crops"] == 3
    assert meta["settings"]["sampling"] == "uniform"
    score_videos(out, data.features, data.videos_csv, tmp_path / "s.h5", split="all")
    with ScoreFile(tmp_path / "s.h5") as f:
        assert len(f.videos()) == 16
        for vid in f.videos():
            s = f.read(vid)
            assert s.shape == (data.n_clips[vid],) and ((s > 0) & (s < 1)).all()
    # sparse sampling with separate crops (bags per crop) and short videos runs too
    train_generator(data.features, data.videos_csv, out, steps=3, crops="separate",
                    clips_per_bag=8, sub_bags=8, batch_normal=4, batch_abnormal=8)


def test_skipped_and_missing_videos_are_left_out(tmp_path, caplog):
    data = make_mil_dataset(tmp_path / "d", train_normal=4, train_abnormal=4, test_normal=1,
                            test_abnormal=1, skipped=("train_abn_004",))
    table = pd.read_csv(data.videos_csv)
    extra = {**table.iloc[0].to_dict(), "video_id": "train_nor_999", "split": "train",
             "label": 0, "class": "Normal"}  # absent from the feature file
    pd.concat([table, pd.DataFrame([extra])]).to_csv(data.videos_csv, index=False)
    out = tmp_path / "g.pt"
    with caplog.at_level("WARNING"):
        summary = train_generator(data.features, data.videos_csv, out, steps=2, **SMALL)
    assert summary["normal"] == 4 and summary["abnormal"] == 3 and summary["left_out"] == 2
    assert "train_abn_004" in caplog.text and "train_nor_999" in caplog.text
    left = {r["video_id"]: r["reason"] for r in load_generator(out)[2]["train_videos"]["left_out"]}
    assert "skipped" in left["train_abn_004"] and "no features" in left["train_nor_999"]


def test_no_abnormal_training_video_is_an_error(tmp_path):
    data = make_mil_dataset(tmp_path / "d", train_normal=3, train_abnormal=2, test_normal=1,
                            test_abnormal=1, skipped=("train_abn_003", "train_abn_004"))
    with pytest.raises(InputError, match="0 abnormal"):
        train_generator(data.features, data.videos_csv, tmp_path / "g.pt", steps=2, **SMALL)


def test_score_rejects_other_feature_dim(data, trained, tmp_path):
    other = make_mil_dataset(tmp_path / "d", train_normal=2, train_abnormal=2, test_normal=1,
                             test_abnormal=1, dim=8)
    with pytest.raises(InputError, match="8-d"):
        score_videos(trained, other.features, other.videos_csv, tmp_path / "s.h5")


def test_cli_train_and_score(data, tmp_path):
    out = tmp_path / "g.pt"
    train_main(["--features", str(data.features), "--videos", str(data.videos_csv),
               "--out", str(out), "--loss-csv", str(tmp_path / "loss.csv"), "--steps", "3",
                "--clips-per-bag", "2", "--sub-bags", "8", "--batch-normal", "4",
                "--batch-abnormal", "4", "--l2-normalize", "--lambda", "0.02", "--loss", "topk"])
    meta = load_generator(out)[2]
    assert meta["settings"]["lam"] == 0.02 and meta["settings"]["l2_normalize"] is True
    score_main(["--generator", str(out), "--features", str(data.features), "--videos",
                str(data.videos_csv), "--out", str(tmp_path / "s.h5"), "--split", "train"])
    with h5py.File(tmp_path / "s.h5") as h5:
        assert len(h5["scores"]) == 32 and h5.attrs["split"] == "train"
        assert json.loads(h5.attrs["left_out"]) == []
    # bounds are the function's (library and CLI alike), checked before any file is read
    message = "steps, restarts, checkpoint_every and threads must be >= 1"
    with pytest.raises(InputError, match=message):
        train_main(["--features", "f", "--videos", "v", "--out", "o", "--steps", "0",
                    "--clips-per-bag", "2"])
    with pytest.raises(InputError, match="sub_bags must be >= 1"):
        train_main(["--features", "f", "--videos", "v", "--out", "o", "--steps", "1",
                    "--clips-per-bag", "2", "--sub-bags", "0"])


def test_restarts_keep_the_lowest_training_objective(data, tmp_path):
    """Several restarts: each is the plain run of its seed, and the file keeps the one with
    the lowest training objective over the whole training set (video labels only)."""
    best = tmp_path / "best.pt"
    summary = train_generator(data.features, data.videos_csv, best, steps=6, seed=4,
                              restarts=3, **SMALL)
    report = torch.load(best, weights_only=True)["meta"]["restarts"]
    tried = report["tried"]
    assert [t["restart"] for t in tried] == [0, 1, 2] and tried[0]["seed"] == 4
    assert len({t["seed"] for t in tried}) == 3
    objectives = [t["objective"] for t in tried]
    assert len(set(objectives)) == 3  # the draws differ, so do the fits
    assert report["chosen"] == summary["restart"] == int(np.argmin(objectives))
    assert report["seed"] == tried[report["chosen"]]["seed"]
    plain = tmp_path / "plain.pt"
    train_generator(data.features, data.videos_csv, plain, steps=6, seed=report["seed"],
                    **SMALL)
    a, b = _weights(best), _weights(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(tmp_path.glob("*.ckpt"))


def test_restarts_resume_after_kill(data, tmp_path):
    settings = dict(steps=4, checkpoint_every=2, seed=1, restarts=3, **SMALL)
    whole, cut = tmp_path / "whole.pt", tmp_path / "cut.pt"
    train_generator(data.features, data.videos_csv, whole, **settings)
    # killed in the second restart: the first one's final state and the second's step 2 kept
    assert train_generator(data.features, data.videos_csv, cut, stop_after=7, **settings) is None
    assert torch.load(checkpoint_path(cut), weights_only=True)["step"] == 4
    assert torch.load(f"{cut}.r1.ckpt", weights_only=True)["step"] == 2
    train_generator(data.features, data.videos_csv, cut, **settings)
    a, b = _weights(whole), _weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(tmp_path.glob("*.ckpt"))
