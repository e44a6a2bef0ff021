"""Determinism on CPU (issue #7): the stages after feature extraction - generator, pseudo
labels, generator scores, fine-tuning, MIST scores and both evaluations, through their step
functions - run twice with one seed give bit-identical files; another seed gives other
numbers. The features are synthetic, with a planted anomaly signal (a random encoder's
features are nearly constant, which would leave the generator nothing to tell apart). The
whole tiny workflow, extraction included, is compared bit for bit by
``tests/chaos/kill_resume.py`` (``--kills 0``: two clean runs)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import write_video
from mil_data import RUN_ATTRS, write_ground_truth

from mist_steps import SNIPPET_LEN
from mist_steps.evaluation.metrics import evaluate
from mist_steps.formats.encoder_file import save_encoder
from mist_steps.formats.features import FeatureWriter
from mist_steps.formats.skipped import write_skipped
from mist_steps.models import build_encoder
from mist_steps.steps.finetune import finetune
from mist_steps.steps.pseudo_labels import make_pseudo_labels
from mist_steps.steps.score_generator import score_videos as score_generator
from mist_steps.steps.score_mist import score_videos as score_mist
from mist_steps.steps.train_generator import train_generator

SIZE = 32
DIM = 16
# video -> (split, label, frames, anomalous snippets [start, end))
VIDEOS = {"train_nor_0": ("train", 0, 64, None), "train_nor_1": ("train", 0, 48, None),
          "train_abn_0": ("train", 1, 64, (1, 3)), "train_abn_1": ("train", 1, 56, (2, 3)),
          "test_nor_0": ("test", 0, 48, None), "test_abn_0": ("test", 1, 64, (1, 3))}


def _pixels(seed):
    def pixels(i, size):
        rng = np.random.default_rng(100 * seed + i)
        return rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    return pixels


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Videos, index, ground truth, a random vanilla encoder and features."""
    root = tmp_path_factory.mktemp("inputs")
    rows, labels, features = [], {}, {}
    rng = np.random.default_rng(0)
    direction = rng.normal(size=DIM).astype(np.float32)
    for k, (vid, (split, label, n, anomaly)) in enumerate(VIDEOS.items()):
        path = write_video(root / f"{vid}.mp4", n, size=(32, 40), pixels=_pixels(k))
        rows.append([vid, path, split, label, "Fighting" if label else "Normal", n, 25.0])
        features[vid] = rng.normal(size=(n // SNIPPET_LEN, 1, DIM)).astype(np.float32)
        if anomaly:
            features[vid][anomaly[0]:anomaly[1]] += 3 * direction
        if split == "test":
            gt = np.zeros(n // SNIPPET_LEN * SNIPPET_LEN, dtype=np.uint8)
            if anomaly:
                gt[anomaly[0] * SNIPPET_LEN:anomaly[1] * SNIPPET_LEN] = 1
            labels[vid] = (gt, rows[-1][4], label, n)
    videos = root / "videos.csv"
    with open(videos, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["video_id", "path", "split", "label", "class", "frame_count", "fps"])
        writer.writerows(rows)
    write_ground_truth(root / "ground_truth.h5", labels)
    torch.manual_seed(0)
    encoder = root / "i3d_vanilla.pt"
    save_encoder(encoder, build_encoder("i3d", 4))
    with FeatureWriter(root / "features.h5", RUN_ATTRS, dtype="float32") as writer:
        for vid, x in features.items():
            n = VIDEOS[vid][2]
            writer.add(vid, x, fps=25.0, frame_count=n, n_frames_decoded=n)
    write_skipped(root / "skipped.csv", [])
    return {"videos": videos, "encoder": encoder, "features": root / "features.h5",
            "gt": root / "ground_truth.h5", "skipped": root / "skipped.csv"}


def _run(folder, inputs, seed, monkeypatch):
    """Stages I and II with ``seed`` in ``folder`` (relative output paths, as the workflow
    writes them, so the recorded paths agree between runs)."""
    folder.mkdir()
    monkeypatch.chdir(folder)
    i = inputs
    train_generator(i["features"], i["videos"], "generator.pt", clips_per_bag=1,
                    steps=30, sub_bags=4, batch_normal=2, batch_abnormal=2,
                    seed=seed, checkpoint_every=10, loss_csv="generator_loss.csv")
    make_pseudo_labels("generator.pt", i["features"], i["videos"],
                       "pseudo_labels.h5", window=3)
    score_generator("generator.pt", i["features"], i["videos"], "scores_generator.h5")
    evaluate("scores_generator.h5", i["gt"], i["videos"], "generator_auc.json",
             skipped_csv=i["skipped"])
    finetune(i["encoder"], i["videos"], "encoder_mist.pt",
             pseudo_labels_h5="pseudo_labels.h5", input_size=SIZE, epochs=1,
             clips_per_video=1, batch_size=4, warmup_epochs=0, freeze_epochs=0,
             seed=seed, threads=1, loss_csv="finetune_loss.csv")
    score_mist("encoder_mist.pt", i["videos"], "test_scores.h5",
               out_csv="test_scores.csv", batch_size=4, threads=1,
               skipped_csv="test_scores_skipped.csv")
    evaluate("test_scores.h5", i["gt"], i["videos"], "auc.json",
             skipped_csv="test_scores_skipped.csv")
    return folder


def _arrays(path):
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        return out


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, inputs):
    base = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        return {name: _run(base / name, inputs, seed, mp)
                for name, seed in (("a", 0), ("b", 0), ("other_seed", 1))}


def test_same_seed_gives_bit_identical_results(runs):
    a, b = runs["a"], runs["b"]
    for name in ("generator_auc.json", "auc.json", "test_scores.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ("pseudo_labels.h5", "scores_generator.h5", "test_scores.h5"):
        x, y = _arrays(a / name), _arrays(b / name)
        assert x.keys() == y.keys() and x, name
        for key in x:
            assert x[key].dtype == y[key].dtype and np.array_equal(x[key], y[key]), (name, key)
    for name in ("generator.pt", "encoder_mist.pt"):
        x, y = _weights(a / name), _weights(b / name)
        assert all(torch.equal(x[k], y[k]) for k in x), name
    for name in ("generator_loss.csv", "finetune_loss.csv"):  # all but the wall times
        x, y = (list(csv.DictReader((p / name).read_text().splitlines())) for p in (a, b))
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in x] == \
            [{k: v for k, v in r.items() if k != "seconds"} for r in y], name


def test_another_seed_gives_other_numbers(runs):
    a, other = runs["a"], runs["other_seed"]
    x, y = _weights(a / "generator.pt"), _weights(other / "generator.pt")
    assert not all(torch.equal(x[k], y[k]) for k in x)
    for name in ("scores_generator.h5", "pseudo_labels.h5", "test_scores.h5"):
        x, y = _arrays(a / name), _arrays(other / name)
        assert x.keys() == y.keys()
        assert any(not np.array_equal(x[k], y[k]) for k in x), name
    m, n = (json.loads((p / "generator_auc.json").read_text()) for p in (a, other))
    assert m["score_gap"] != n["score_gap"] and m != n
    # the tiny random MIST model scores every clip about alike (its AUC and score gap may be
    # at the float noise level in both runs): its per-video summary shows the other numbers
    assert (a / "test_scores.csv").read_text() != (other / "test_scores.csv").read_text()


def test_deterministic_switch_sets_the_eager_flags_without_loading_inductor():
    """``seeded_torch`` turns deterministic algorithms on (warn-only) and restores them, in a
    fresh process and without importing Inductor (2.5 s of every job's start-up)."""
    code = (
        "import sys, torch\n"
        "from mist_steps.training.determinism import seeded_torch\n"
        "with seeded_torch(1, 0):\n"
        "    on = (torch.are_deterministic_algorithms_enabled(),\n"
        "          torch.is_deterministic_algorithms_warn_only_enabled())\n"
        "after = torch.are_deterministic_algorithms_enabled()\n"
        "print(on, after, 'torch._inductor' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == "(True, True) False False"
