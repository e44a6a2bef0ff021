"""The synthetic action proxy and the vanilla-encoder step (proxy pretraining and import)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from mist_steps.cli import run_cli
from mist_steps.errors import InputError
from mist_steps.formats.digest import file_sha256, state_dict_sha256, weights_sha256
from mist_steps.formats.encoder_file import load_encoder, save_encoder
from mist_steps.models import build_encoder
from mist_steps.steps.pretrain_encoder import log_path, main, make_vanilla_encoder
from mist_steps.synth.motion_clips import PRIMITIVES
from mist_steps.synth.proxy_clips import (
    CLASSES,
    DEFAULT_CLASSES,
    clip_label,
    make_batch,
    make_clip,
)

TINY = {"arch": "i3d", "input_size": 32, "steps": 3, "batch_size": 4, "lr": 3e-4,
        "weight_decay": 1e-4, "val_clips": 6, "seed": 7, "threads": 1, "progress": False,
        "classes": ("translate_left", "translate_right", "static")}


# -- proxy clips ----------------------------------------------------------------------------------
def test_clip_shape_dtype_and_determinism():
    clip, label = make_clip(3, 5, size=32)
    assert clip.shape == (16, 32, 32, 3) and clip.dtype == np.uint8
    assert 0 <= label < len(CLASSES)
    again, label_again = make_clip(3, 5, size=32)
    assert label_again == label and np.array_equal(again, clip)
    assert not np.array_equal(make_clip(3, 6, size=32)[0], clip)  # another index
    assert not np.array_equal(make_clip(4, 5, size=32)[0], clip)  # another seed
    assert not np.array_equal(make_clip(3, 5, size=32, split="val")[0], clip)  # another split
    # a clip is the same whether made alone or inside a batch, and frames really change
    batch, labels = make_batch(3, [4, 5], size=32)
    assert batch.shape == (2, 16, 32, 32, 3) and labels.dtype == np.int64
    assert np.array_equal(batch[1], clip) and labels[1] == label
    assert np.abs(clip[-1].astype(int) - clip[0].astype(int)).mean() > 0.5


def test_labels_are_balanced_and_shuffled():
    k = len(DEFAULT_CLASSES)
    labels = [clip_label(0, i, k) for i in range(10 * k)]
    assert np.bincount(labels, minlength=k).tolist() == [10] * k
    blocks = {tuple(labels[b * k:(b + 1) * k]) for b in range(10)}
    assert len(blocks) > 1  # not a fixed cycle
    _, batch_labels = make_batch(1, range(3 * k), size=16, classes=DEFAULT_CLASSES)
    assert np.bincount(batch_labels, minlength=k).tolist() == [3] * k


def test_bad_classes_refused():
    with pytest.raises(ValueError, match="proxy classes"):
        make_clip(0, 0, classes=("translate_left", "jump"))
    with pytest.raises(ValueError, match="proxy classes"):
        make_clip(0, 0, classes=("static",))


def _motion_centroid_shift(clip: np.ndarray) -> tuple[float, float]:
    """Horizontal and vertical drift of the centroid of frame-difference energy: a crude
    optical-flow proxy computed from pixels alone."""
    f = clip.astype(np.float32).mean(-1)
    energy = np.abs(np.diff(f, axis=0))  # [T-1, H, W]
    energy = np.where(energy > 8, energy, 0)  # ignore sensor noise
    ys, xs = np.mgrid[: f.shape[1], : f.shape[2]]
    mass = energy.sum((1, 2)) + 1e-6
    cx = (energy * xs).sum((1, 2)) / mass
    cy = (energy * ys).sum((1, 2)) / mass
    half = len(cx) // 2
    return float(cx[half:].mean() - cx[:half].mean()), float(cy[half:].mean() - cy[:half].mean())


def test_translation_classes_differ_in_temporal_direction():
    """Left vs right (and up vs down) clips differ by the sign of their motion, seen in pixels
    only; a generator that swapped or froze the motion fails this."""
    classes = ("translate_left", "translate_right", "translate_up", "translate_down")
    clips, labels = make_batch(11, range(4 * 12), size=48, classes=classes)
    shifts = np.array([_motion_centroid_shift(c) for c in clips])
    dx, dy = shifts[:, 0], shifts[:, 1]
    left, right, up, down = (labels == i for i in range(4))
    assert np.mean(dx[left] < 0) >= 0.8 and np.mean(dx[right] > 0) >= 0.8
    assert np.mean(dy[up] < 0) >= 0.8 and np.mean(dy[down] > 0) >= 0.8
    assert dx[left].mean() < -2 and dx[right].mean() > 2  # pixels over half a clip
    # and it is along the class's axis
    assert abs(dx[left].mean()) > 2 * abs(dy[left].mean())
    assert abs(dy[down].mean()) > 2 * abs(dx[down].mean())


# -- pretraining on the proxy ---------------------------------------------------------------------
def test_tiny_pretraining_writes_a_loadable_deterministic_artifact(tmp_path):
    out = tmp_path / "enc" / "i3d_vanilla.pt"
    meta = make_vanilla_encoder(out, **TINY)
    model, stored = load_encoder(out)
    assert stored == meta
    assert stored["source"] == "proxy" and stored["seed"] == 7
    assert stored["proxy"]["classes"] == list(TINY["classes"])
    assert stored["proxy"]["input_size"] == 32 and stored["proxy"]["steps"] == 3
    assert 0.0 <= stored["val_accuracy"] <= 1.0 and 0.0 <= stored["train_accuracy"] <= 1.0
    assert model.num_classes == 3 and model.config["dropout"] == 0.5  # rate restored
    # BN statistics were re-estimated on proxy clips (not the fresh-module 0 / 1)
    bn = model.Conv3d_1a_7x7.bn
    assert bn.running_mean.abs().sum() > 0 and not torch.allclose(bn.running_var, torch.ones(64))
    with open(log_path(out), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["task"], int(r["step"])) for r in rows] == [("classes", i) for i in range(3)]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert not list(out.parent.glob(".*.tmp"))  # no temporary left behind

    again = tmp_path / "again.pt"
    make_vanilla_encoder(again, **TINY)
    assert weights_sha256(load_encoder(again)[0]) == weights_sha256(model)
    other = tmp_path / "other.pt"
    make_vanilla_encoder(other, **{**TINY, "seed": 8})
    assert weights_sha256(load_encoder(other)[0]) != weights_sha256(model)


def test_pretraining_learns_the_proxy(tmp_path):
    """A short I3D run (32 px) tells leftward from rightward motion on held-out clips at full
    clutter, far above chance: no single frame shows the direction, so the encoder learned
    motion, and the training loop works. (Measured: 0.97 on 32 clips; seeds 0/2 give
    0.66/0.97 after these 30 steps - the seed is part of the test.)"""
    meta = make_vanilla_encoder(
        tmp_path / "i3d.pt", arch="i3d", input_size=32, steps=30, batch_size=8, lr=3e-4,
        classes=("translate_left", "translate_right"), weight_decay=1e-4, val_clips=32, seed=1,
        threads=1, progress=False)
    assert meta["chance"] == 0.5
    assert meta["val_accuracy"] >= 0.75, meta


def test_the_motion_task_continues_the_trunk(tmp_path):
    """With motion_steps the encoder trains on the multi-label motion task after the classes
    task: the file keeps the motion head, the trunk the second task moved, both tasks' steps
    in the log, the motion summary in the meta; deterministic like the first task alone."""
    first = make_vanilla_encoder(tmp_path / "first.pt", **TINY)
    both_path = tmp_path / "both.pt"
    meta = make_vanilla_encoder(both_path, **TINY, motion_steps=2)
    model, stored = load_encoder(both_path)
    assert stored == meta and meta["proxy"]["motion_steps"] == 2
    assert meta["proxy"]["motion_primitives"] == list(PRIMITIVES)
    assert meta["val_accuracy"] == first["val_accuracy"]  # the first task ran the same
    assert meta["motion"]["steps"] == 2 and 0.0 <= meta["motion"]["val_map"] <= 1.0
    assert set(meta["motion"]["val_ap_per_primitive"]) <= set(PRIMITIVES)
    assert model.num_classes == len(PRIMITIVES) and model.config["dropout"] == 0.5
    trunk_only = load_encoder(tmp_path / "first.pt")[0].state_dict()
    moved = [k for k, v in model.state_dict().items()
             if k in trunk_only and k.endswith("weight") and not torch.equal(v, trunk_only[k])]
    assert any(k.startswith("Conv3d_1a") for k in moved) and any("Mixed_5c" in k for k in moved)
    with open(log_path(both_path), newline="") as fh:
        rows = [(r["task"], int(r["step"])) for r in csv.DictReader(fh)]
    assert rows == [("classes", 0), ("classes", 1), ("classes", 2), ("motion", 0), ("motion", 1)]
    again = tmp_path / "again.pt"
    make_vanilla_encoder(again, **TINY, motion_steps=2)
    assert weights_sha256(load_encoder(again)[0]) == weights_sha256(model)


def test_bad_settings_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="steps must be >= 1"):
        make_vanilla_encoder(tmp_path / "x.pt", **{**TINY, "steps": 0})
    with pytest.raises(InputError, match="motion steps >= 0"):
        make_vanilla_encoder(tmp_path / "x.pt", **{**TINY, "motion_steps": -1})
    with pytest.raises(InputError, match="proxy classes"):
        make_vanilla_encoder(tmp_path / "x.pt", **{**TINY, "classes": ("walk", "run")})
    assert not (tmp_path / "x.pt").exists()


# -- importing public weights ---------------------------------------------------------------
def test_import_piergiaj_style_checkpoint(tmp_path):
    torch.manual_seed(1)
    reference = build_encoder("i3d", 400).state_dict()
    ckpt = tmp_path / "rgb_imagenet.pt"
    torch.save(reference, ckpt)
    out = tmp_path / "i3d_vanilla.pt"
    meta = make_vanilla_encoder(out, arch="i3d", weights=ckpt, seed=0, threads=1)
    model, stored = load_encoder(out)
    assert stored == meta
    assert stored["source"] == "imported" and stored["format"] == "piergiaj"
    assert stored["weights_file"] == str(ckpt) and stored["weights_sha256"] == file_sha256(ckpt)
    # policy: built with the checkpoint's own class count, every weight (head included) kept
    assert model.num_classes == 400 and stored["head"] == "loaded"
    assert state_dict_sha256(model.state_dict()) == state_dict_sha256(reference)
    assert log_path(out).read_text().splitlines() == [
        "task,step,lr,loss,side_loss,accuracy,seconds"]

    # an explicit head size keeps the trunk and gives a fresh head
    out3 = tmp_path / "i3d_3.pt"
    make_vanilla_encoder(out3, arch="i3d", weights=ckpt, num_classes=3, seed=0, threads=1)
    small, meta3 = load_encoder(out3)
    assert small.num_classes == 3 and meta3["head"] == "kept"
    trunk = {k: v for k, v in reference.items() if not k.startswith("logits.")}
    assert state_dict_sha256({k: small.state_dict()[k] for k in trunk}) == state_dict_sha256(trunk)


def test_import_of_a_workflow_encoder_keeps_its_history(tmp_path):
    """A mist-encoder-v1 file (e.g. the shipped proxy-pretrained I3D) imports as is, and the
    meta it was written with travels along as `origin`."""
    torch.manual_seed(2)
    source = tmp_path / "shipped.pt"
    save_encoder(source, build_encoder("i3d", 8),
                 {"source": "proxy", "seed": 0, "val_accuracy": 0.9})
    out = tmp_path / "i3d_vanilla.pt"
    make_vanilla_encoder(out, arch="i3d", weights=source, seed=0, threads=1)
    model, stored = load_encoder(out)
    assert stored["source"] == "imported" and stored["format"] == "mist-encoder-v1"
    assert stored["origin"] == {"source": "proxy", "seed": 0, "val_accuracy": 0.9}
    assert model.num_classes == 8 and stored["head"] == "loaded"
    original = load_encoder(source)[0].state_dict()
    assert state_dict_sha256(model.state_dict()) == state_dict_sha256(original)


def test_corrupt_weights_file_is_an_input_error_naming_it(tmp_path, capsys):
    bad = tmp_path / "rgb_imagenet.pt"
    bad.write_bytes(b"\x80\x02 certainly not a checkpoint" * 10)
    out = tmp_path / "i3d_vanilla.pt"
    with pytest.raises(InputError, match="rgb_imagenet.pt"):
        make_vanilla_encoder(out, arch="i3d", weights=bad)
    assert not out.exists()
    # the command line turns it into one line on stderr and exit status 2
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--arch", "i3d", "--out", str(out), "--weights", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "rgb_imagenet.pt" in err and "Traceback" not in err
    # a readable file with the wrong network in it: the loader's key check names it too
    wrong = tmp_path / "c3d.pickle"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3, 3), "fc8.bias": torch.zeros(487)}, wrong)
    with pytest.raises(InputError, match="c3d.pickle"):
        make_vanilla_encoder(out, arch="i3d", weights=wrong)
