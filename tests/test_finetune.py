"""Stage II fine-tuning: clip targets, balanced batches, freezing, resuming, output, CLI."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, write_frame_folder, write_video

from mist_steps.data.preprocess import Preprocess
from mist_steps.data.video import open_video
from mist_steps.errors import InputError
from mist_steps.formats.encoder_file import load_encoder, save_encoder
from mist_steps.formats.mist_model import load_mist_model
from mist_steps.formats.resume import checkpoint_path
from mist_steps.formats.scores import PSEUDO_LABELS_FORMAT, ScoreWriter
from mist_steps.inference.mist_scorer import MISTScorer
from mist_steps.models import build_encoder
from mist_steps.models.sga import MISTModel
from mist_steps.steps.finetune import finetune, main
from mist_steps.training.clip_feeder import _decode_clips, augment_clip
from mist_steps.training.clip_plan import (
    SAMPLING_FLOOR,
    Clip,
    TrainVideo,
    clip_target,
    clip_targets,
    plan_epoch,
    pseudo_starts,
    start_frames,
)
from mist_steps.training.finetune_setup import learning_rate

SIZE = 32
# two normal + two abnormal clips per pool and epoch -> 2 batches of 4
RUN = dict(input_size=SIZE, epochs=2, clips_per_video=2, batch_size=4, freeze_epochs=1,
           warmup_epochs=1, lr=1e-3, class_weights=(1.2, 0.8), seed=0, threads=1)
TRAIN = {"nor_0": (0, 48), "nor_1": (0, 40), "abn_0": (1, 60), "abn_1": (1, 48)}
PSEUDO = {"abn_0": [0.0, 1.0, 0.2], "abn_1": [0.5, 0.5, 1.0]}


def textured(i, size):
    """Frames with spatial structure (so crops and flips matter), changing with ``i``."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = (xx * 6 + yy * 2 + 7 * i) % 256
    return np.stack([base, base[::-1], (base + 80) % 256], axis=-1).astype(np.uint8)


def write_pseudo(path, labels):
    with ScoreWriter(path, format=PSEUDO_LABELS_FORMAT, attrs={"window": 5, "passes": 2}) as w:
        for vid, values in labels.items():
            w.add(vid, {"raw": values, "refined": values}, attrs={"label": 1})
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    rows = []
    for vid, (label, n) in {**TRAIN, "short": (0, 10)}.items():
        path = write_video(root / f"{vid}.mp4", n, size=(32, 40), pixels=textured)
        rows.append([vid, path, "train", label, "Normal" if label == 0 else "Fight", n, 25.0])
    rows.append(["test_0", root / "nor_0.mp4", "test", 0, "Normal", 48, 25.0])
    videos_csv = root / "videos.csv"
    with open(videos_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["video_id", "path", "split", "label", "class", "frame_count", "fps"])
        w.writerows(rows)
    torch.manual_seed(0)
    encoder = root / "encoder_vanilla.pt"
    save_encoder(encoder, build_encoder("i3d", num_classes=2))
    return {"root": root, "videos": videos_csv, "encoder": encoder,
            "pseudo": write_pseudo(root / "pseudo.h5", PSEUDO)}


@pytest.fixture(scope="module")
def full(data):
    """An uninterrupted 2-epoch run (epoch 1 frozen)."""
    out = data["root"] / "full" / "mist.pt"
    summary = finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
                       loss_csv=out.with_suffix(".csv"), **RUN)
    return out, summary


@pytest.fixture(scope="module")
def stopped(data):
    """The same run killed after its frozen first epoch: the checkpoint it leaves."""
    out = data["root"] / "resumed" / "mist.pt"
    assert finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
                    stop_after=1, **RUN) is None
    assert not out.exists()
    return out, torch.load(checkpoint_path(out), weights_only=True)


@pytest.mark.parametrize("cache_mb, cached", [(64, 4), (0, 0)])
def test_frame_cache_changes_no_weight(data, full, cache_mb, cached, monkeypatch):
    """Frames kept in memory across epochs give the run of direct reads, bit for bit; with the
    cache, each training video is decoded once."""
    import mist_steps.training.frame_cache as fc

    opened = []
    real_open = fc.open_video
    monkeypatch.setattr(fc, "open_video", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    out = data["root"] / f"cached_{cache_mb}" / "mist.pt"
    summary = finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
                       frame_cache_mb=cache_mb, **RUN)
    assert summary["cached_videos"] == cached and len(opened) == cached
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in (full[0], out))
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _loss_rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_clip_target_is_frame_weighted_mean():
    labels = np.array([0.0, 1.0, 0.2])  # a 48..63-frame video: snippets 0-15, 16-31, 32-47
    assert clip_target(labels, 0) == 0.0
    assert clip_target(labels, 10) == pytest.approx((6 * 0.0 + 10 * 1.0) / 16)
    assert clip_target(labels, 28) == pytest.approx((4 * 1.0 + 12 * 0.2) / 16)
    # frames 48.. lie past the last full snippet: they count with its label
    assert clip_target(labels, 40) == pytest.approx(0.2)
    assert clip_target(labels, 44) == pytest.approx(0.2)


def test_plan_epoch_segments_targets_and_balanced_batches():
    assert start_frames(16, 3, np.random.default_rng(0)) == [0, 0, 0]
    rng = np.random.default_rng(1)
    for _ in range(20):  # one start per equal segment of 0..84
        starts = start_frames(100, 3, rng)
        assert 0 <= starts[0] < 28 <= starts[1] < 56 <= starts[2] <= 84
    pseudo = np.array([0.0, 1.0, 0.3, 0.9])
    videos = [TrainVideo(f"n{i}", "-", None, 64, 0, None) for i in range(3)] + \
        [TrainVideo("a", "-", None, 64, 1, pseudo), TrainVideo("b", "-", None, 40, 1, None)]
    clips, batches = plan_epoch(videos, clips_per_video=2, batch_size=4, gray=True,
                                rng=np.random.default_rng([0, 3]))
    again = plan_epoch(videos, clips_per_video=2, batch_size=4, gray=True,
                       rng=np.random.default_rng([0, 3]))
    assert (clips, batches) == again  # a function of (seed, epoch) only
    for c in clips:
        label = videos[c.video].label
        expected = 0.0 if label == 0 else 1.0 if c.video == 4 else clip_target(pseudo, c.start)
        assert c.target == pytest.approx(expected) and c.scale in (1.0, 0.875, 0.75, 0.66)
    # 6 normal and 4 abnormal clips: ceil(6 / 2) = 3 batches, every one half/half
    assert len(batches) == 3
    for batch in batches:
        assert [videos[clips[j].video].label for j in batch] == [0, 0, 1, 1]
    normal_used = sorted(j for batch in batches for j in batch[:2])
    assert normal_used == sorted(j for j, c in enumerate(clips) if videos[c.video].label == 0)
    # crop_scales replaces the multi-scale set; 1.0 alone keeps every clip's whole frame
    whole, _ = plan_epoch(videos, clips_per_video=2, batch_size=4, gray=True,
                          rng=np.random.default_rng([0, 3]), crop_scales=(1.0,))
    assert {c.scale for c in whole} == {1.0} and {c.scale for c in clips} != {1.0}
    assert [(c.start, c.flip) for c in whole] == [(c.start, c.flip) for c in clips]


def test_learning_rate_warm_up_then_cosine_or_constant():
    rates = [learning_rate(i, lr=1.0, warmup_steps=4, total_steps=14) for i in range(14)]
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warm-up
    # cosine over the 10 steps after it: 0.5 * (1 + cos(pi * k / 10)), k = 0..9: full rate
    # first, a small but non-zero one last (a one-step run still learns)
    assert rates[4:] == pytest.approx([0.5 * (1 + np.cos(np.pi * k / 10)) for k in range(10)])
    assert rates[9] == pytest.approx(0.5) and 0 < rates[-1] < 0.03
    assert learning_rate(0, lr=1.0, warmup_steps=0, total_steps=1) == 1.0
    assert all(a >= b for a, b in zip(rates[3:], rates[4:]))
    flat = [learning_rate(i, lr=2.0, warmup_steps=0, total_steps=5, schedule="constant")
            for i in range(5)]
    assert flat == [2.0] * 5


def test_clip_targets_of_every_start():
    labels = np.array([0.0, 1.0, 0.2, 0.6])
    targets = clip_targets(labels, 70)  # frames 64..69 count with the last snippet
    assert targets.shape == (70 - 16 + 1,)
    # the frame-weighted mean, written out per start (frame f has label labels[min(f//16, 3)])
    expected = [np.mean([labels[min(f // 16, 3)] for f in range(s, s + 16)]) for s in range(55)]
    assert targets == pytest.approx(expected)


def test_pseudo_label_sampling_follows_the_labels():
    labels = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # only snippet 2 (frames 32-47) anomalous
    starts = np.array(pseudo_starts(clip_targets(labels, 96), 4000, np.random.default_rng(0)))
    weights = clip_targets(labels, 96) + SAMPLING_FLOOR
    # clips overlapping frames 32-47 (starts 17..47) carry 1 - floor share of the weight
    share = weights[17:48].sum() / weights.sum()
    assert ((starts >= 17) & (starts <= 47)).mean() == pytest.approx(share, abs=0.03)
    assert share > 0.9 and (starts < 17).any()  # the floor keeps the rest reachable
    videos = [TrainVideo("n", "-", None, 96, 0, None), TrainVideo("a", "-", None, 96, 1, labels)]
    by_label, _ = plan_epoch(videos, clips_per_video=200, batch_size=4, gray=False,
                             rng=np.random.default_rng(1))
    uniform, _ = plan_epoch(videos, clips_per_video=200, batch_size=4, gray=False,
                            rng=np.random.default_rng(1), sampling="uniform")
    mean_target = {name: np.mean([c.target for c in clips if c.video == 1])
                   for name, clips in (("pseudo", by_label), ("uniform", uniform))}
    assert mean_target["pseudo"] > 0.5 > 0.3 > mean_target["uniform"]
    normal = [c.start for c in by_label if c.video == 0]  # normal videos: one per segment
    assert all(j * 81 // 200 <= s < max((j + 1) * 81 // 200, j * 81 // 200 + 1)
               for j, s in enumerate(normal))


def test_augment_clip_crop_flip_gray():
    frames = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 3), dtype=np.uint8)
    plain = Clip(0, 0, 0.0, 1.0, 0.0, 0.0, False, False)
    np.testing.assert_array_equal(augment_clip(frames, plain, SIZE), frames)
    flipped = augment_clip(frames, Clip(0, 0, 0.0, 1.0, 0.0, 0.0, True, False), SIZE)
    np.testing.assert_array_equal(flipped, frames[:, :, ::-1])
    gray = augment_clip(frames, Clip(0, 0, 0.0, 1.0, 0.0, 0.0, False, True), SIZE)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    small = augment_clip(frames, Clip(0, 0, 0.0, 0.66, 0.99, 0.5, False, False), SIZE)
    assert small.shape == (16, SIZE, SIZE, 3) and small.dtype == np.uint8


def test_whole_frame_clips_keep_the_frame_and_flip_whole(tmp_path):
    """train_frame: clips are the whole frame resized to (H, W), never cropped; a flip
    mirrors the whole frame."""
    path = write_video(tmp_path / "v.mp4", 20, size=(32, 40), pixels=textured)
    video = TrainVideo("v", str(path), None, 20, 0, None)
    prep = Preprocess("i3d", SIZE, "full", (32, 48))
    # crop scale and position are unused
    out = _decode_clips(video, {0: Clip(0, 2, 0.0, 0.5, 0.9, 0.9, False, False),
                                1: Clip(0, 2, 0.0, 0.5, 0.9, 0.9, True, False)}, prep)
    plain, flipped = out[0][0], out[1][0]
    assert plain.shape == flipped.shape == (16, 32, 48, 3)
    np.testing.assert_array_equal(flipped, plain[:, :, ::-1])
    resize = prep.frame_resizer()
    decoded = list(itertools.islice(open_video(path).iter_frames(), 18))[2:]
    np.testing.assert_array_equal(plain, np.stack([resize(f) for f in decoded]))


def test_decoding_keeps_the_clips_frames(tmp_path):
    # default frames are flat grey at level (20 + 10 i) mod 240: the levels tell the frames
    path = write_video(tmp_path / "v.mp4", 30, size=(32, 40))
    video = TrainVideo("v", str(path), None, 30, 0, None)
    wanted = {0: Clip(0, 3, 0.0, 1.0, 0.5, 0.5, False, False),
              1: Clip(0, 14, 0.0, 0.75, 0.1, 0.9, True, False)}
    out = _decode_clips(video, wanted, Preprocess("i3d", SIZE))
    for j, c in wanted.items():
        clip, target = out[j]
        assert clip.shape == (16, SIZE, SIZE, 3) and target == 0.0
        levels = clip.reshape(16, -1).mean(axis=1)
        np.testing.assert_allclose(levels, (20 + 10 * np.arange(c.start, c.start + 16)) % 240,
                                   atol=3)


def test_frame_folder_and_short_video(tmp_path, caplog):
    folder = write_frame_folder(tmp_path / "frames", 20, size=(32, 40))
    video = TrainVideo("f", str(folder), 25.0, 20, 0, None)
    clip, _ = _decode_clips(video, {0: Clip(0, 2, 0.0, 1.0, 0.0, 0.0, False, False)},
                            Preprocess("i3d", SIZE))[0]
    np.testing.assert_allclose(clip.reshape(16, -1).mean(axis=1), 20 + 10 * np.arange(2, 18),
                               atol=3)
    # videos.csv claims 40 frames, 30 decode: the late clip moves to the last 16 frames and
    # its target follows the frames it now covers
    path = write_video(tmp_path / "v.mp4", 30, size=(32, 40))
    video = TrainVideo("v", str(path), None, 40, 1, np.array([0.0, 1.0]))
    with caplog.at_level("WARNING"):
        clip, target = _decode_clips(video, {0: Clip(0, 22, 1.0, 1.0, 0.0, 0.0, False, False)},
                                     Preprocess("i3d", SIZE))[0]
    assert "only 30 are readable" in caplog.text
    np.testing.assert_allclose(clip.reshape(16, -1).mean(axis=1),
                               (20 + 10 * np.arange(14, 30)) % 240, atol=3)
    assert target == pytest.approx(clip_target(np.array([0.0, 1.0]), 14))


def test_frozen_epoch_trains_only_the_new_layers(data, stopped):
    _, ckpt = stopped
    assert ckpt["epoch"] == 1 and ckpt["rows"][0][-1] == 1  # frozen
    vanilla, _ = load_encoder(data["encoder"])
    for key, value in vanilla.state_dict().items():  # weights AND BN running statistics
        assert torch.equal(ckpt["model"][f"encoder.{key}"], value), key
    torch.manual_seed(RUN["seed"])  # the new layers are initialised right after seeding
    initial = MISTModel(vanilla, input_size=SIZE).state_dict()
    new = [k for k in initial if k.startswith(("sga.", "head_c."))]
    assert len(new) == 10
    for key in new:
        assert not torch.equal(ckpt["model"][key], initial[key]), key


def test_resume_equals_uninterrupted_and_backbone_trains_after_unfreezing(
        data, full, stopped, caplog):
    out_full, summary_full = full
    out, _ = stopped
    with caplog.at_level("INFO", logger="mist_steps"):
        summary = finetune(data["encoder"], data["videos"], out,
                           pseudo_labels_h5=data["pseudo"], loss_csv=out.with_suffix(".csv"),
                           **RUN)
    assert "resuming from epoch 2" in caplog.text
    assert summary["resumed_from"] == 2 and summary_full["resumed_from"] is None
    assert not checkpoint_path(out).exists() and not checkpoint_path(out_full).exists()
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in (out_full, out))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows_a, rows_b = _loss_rows(out_full.with_suffix(".csv")), _loss_rows(out.with_suffix(".csv"))
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]
    assert [(r["epoch"], r["frozen"], r["clips"]) for r in rows_a] == [("1", "1", "8"),
                                                                        ("2", "0", "8")]
    # epoch 2 trained the backbone: weights and running statistics moved
    vanilla = load_encoder(data["encoder"])[0].state_dict()
    conv = "Conv3d_1a_7x7.conv3d.weight"
    assert not torch.equal(a[f"encoder.{conv}"], vanilla[conv])
    assert not torch.equal(a["encoder.Mixed_4f.b0.bn.running_mean"],
                           vanilla["Mixed_4f.b0.bn.running_mean"])


def test_train_from_keeps_the_blocks_before_it_frozen(data, full, tmp_path):
    """With train_from, the unfrozen epoch trains the encoder from that block on only: the
    blocks before keep weights and BatchNorm statistics; the result differs from full
    fine-tuning, whose file records no train_from."""
    out = tmp_path / "top" / "mist.pt"
    finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
             train_from="mixed_5b", **RUN)
    top = torch.load(out, weights_only=True)
    vanilla = load_encoder(data["encoder"])[0].state_dict()
    for key, value in vanilla.items():
        block = key.split(".")[0]
        if block in ("Mixed_5b", "Mixed_5c"):
            if key.endswith(("conv3d.weight", "running_mean")):
                assert not torch.equal(top["state_dict"][f"encoder.{key}"], value), key
        elif block != "logits":  # the proxy head is not used by stage II
            assert torch.equal(top["state_dict"][f"encoder.{key}"], value), key
    assert top["meta"]["settings"]["train_from"] == "mixed_5b"
    whole = torch.load(full[0], weights_only=True)
    assert whole["meta"]["settings"]["train_from"] is None
    assert not torch.equal(whole["state_dict"]["head_c.weight"], top["state_dict"]["head_c.weight"])


def test_whole_frame_training_records_its_frame_and_scores_at_it(data, full, tmp_path):
    """A run with train_frame trains on whole non-square frames (its file says so) and
    differs from the crop run; the model scores snippets of that shape."""
    out = tmp_path / "whole" / "mist.pt"
    finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
             train_frame=(32, 48), **RUN)
    model, meta = load_mist_model(out)
    assert meta["settings"]["train_frame"] == [32, 48]
    assert load_mist_model(full[0])[1]["settings"]["train_frame"] is None
    head = [torch.load(p, weights_only=True)["state_dict"]["head_c.weight"] for p in (out, full[0])]
    assert not torch.equal(*head)
    with torch.no_grad():
        assert model.score(torch.randn(2, 3, 16, 32, 48)).shape == (2,)
    # scorers default to the frame it was trained on; the crop run's to its centre crop
    assert MISTScorer(out).prep.frame_size == (32, 48)
    assert MISTScorer(full[0]).prep.frame_size is None


def test_output_loads_and_scores(data, full):
    out, summary = full
    assert summary["epochs"] == 2 and summary["clips"] == 16 and summary["clips_per_second"] > 0
    model, meta = load_mist_model(out)
    assert not model.training and model.config["input_size"] == SIZE and model.use_sga
    assert meta["settings"]["labels"] == "pseudo" and meta["settings"]["input_size"] == SIZE
    assert meta["train_videos"] == {"normal": 2, "abnormal": 2, "left_out": ["short"]}
    assert meta["pseudo_labels"]["path"] == str(data["pseudo"])
    assert meta["final_loss"] == pytest.approx(summary["final_loss"])
    with torch.no_grad():
        scores = model.score(torch.randn(3, 3, 16, SIZE, SIZE))
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()


def test_video_labels_need_no_pseudo_labels_cli(data, caplog):
    out = data["root"] / "video" / "mist.pt"
    out.parent.mkdir()  # a stale checkpoint of other settings is not resumed
    torch.save({"format": "mist-finetune-ckpt-v1", "settings_hash": "other", "epoch": 1},
               checkpoint_path(out))
    main(["--encoder", str(data["encoder"]), "--videos", str(data["videos"]), "--out", str(out),
          "--labels", "video", "--input-size", str(SIZE), "--epochs", "1", "--freeze-epochs",
          "0", "--clips-per-video", "1", "--batch-size", "2", "--accumulate", "2",
          "--no-sga", "--threads", "1"])
    assert "other settings or inputs; training from the start" in caplog.text
    assert not checkpoint_path(out).exists()
    model, meta = load_mist_model(out)
    assert not model.use_sga and meta["pseudo_labels"] is None
    assert meta["settings"]["labels"] == "video" and meta["settings"]["accumulate"] == 2


def test_bad_pseudo_labels_name_the_video(data, tmp_path):
    kw = dict(RUN, pseudo_labels_h5=write_pseudo(tmp_path / "pl.h5", {"abn_0": PSEUDO["abn_0"]}))
    with pytest.raises(InputError, match=r"pl\.h5.*abn_1"):
        finetune(data["encoder"], data["videos"], tmp_path / "m.pt", **kw)
    kw["pseudo_labels_h5"] = write_pseudo(tmp_path / "pl2.h5", {**PSEUDO, "abn_0": [0.0, 1.0]})
    with pytest.raises(InputError, match=r"pl2\.h5.*abn_0 has 2 pseudo labels.*3 snippets"):
        finetune(data["encoder"], data["videos"], tmp_path / "m.pt", **kw)
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("bad, message", [
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"batch_size": 5}, "even"),
    ({"freeze_epochs": 3}, "freeze epochs"),
    ({"labels": "frames"}, "labels must be one of"),
    ({"sampling": "random"}, "sampling must be one of"),
    ({"lr_schedule": "step"}, "lr_schedule must be one of"),
    ({"lr": -1.0}, "lr > 0"),
    ({"pseudo_labels_h5": None}, "needs the pseudo-label file"),
    ({"train_from": "Mixed_5b"}, r"train_from 'Mixed_5b' is not an endpoint.*mixed_5b"),
    ({"crop_scales": (1.0, 1.2)}, r"crop scales must be .* in \(0, 1\]"),
    ({"crop_scales": ()}, "crop scales must be one or more"),
    ({"frame_cache_mb": -1}, "frame cache must be >= 0"),
    ({"train_frame": (16, 48)}, r"train frame must be \[H, W\] of >= 32 px"),
])
def test_bad_settings(data, tmp_path, bad, message):
    kw = {**RUN, "pseudo_labels_h5": data["pseudo"], **bad}
    with pytest.raises(InputError, match=message):
        finetune(data["encoder"], data["videos"], tmp_path / "m.pt", **kw)


def test_a_train_frame_the_model_cannot_take_is_refused_before_training(data, tmp_path):
    """C3D's pool5 floors 15 -> 7 where SGA's strided convolution gives 8 (120x160 frames):
    refused up front with the setting named, as the scorer refuses that frame size."""
    c3d = tmp_path / "c3d_vanilla.pt"
    save_encoder(c3d, build_encoder("c3d", num_classes=2))
    kw = {**RUN, "pseudo_labels_h5": data["pseudo"], "train_frame": (120, 160)}
    with pytest.raises(InputError, match=r"train frame 120x160 does not fit the c3d model.*"
                                         r"datasets.<name>.train_frame"):
        finetune(c3d, data["videos"], tmp_path / "m.pt", **kw)
    assert not (tmp_path / "m.pt").exists() and not checkpoint_path(tmp_path / "m.pt").exists()


def test_cli_help():
    result = subprocess.run([sys.executable, "-m", "mist_steps.steps.finetune", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in ("--pseudo-labels", "--class-weights", "--freeze-epochs", "--no-guided-head",
                 "--train-from", "--crop-scales", "--frame-cache-mb"):
        assert flag in result.stdout


@pytest.mark.parametrize("start", ["fresh", "resumed"])
def test_killed_after_the_last_checkpoint_resumes_to_the_same_weights(
        data, full, stopped, monkeypatch, start):
    """A kill between the last epoch's checkpoint and the output - of a fresh run, or of one
    that had itself resumed from the epoch-1 checkpoint: the rerun trains nothing and writes
    exactly the uninterrupted run's weights."""
    import mist_steps.steps.finetune as ft

    out = data["root"] / f"late_kill_{start}" / "mist.pt"
    out.parent.mkdir()
    if start == "resumed":  # the epoch-1 checkpoint (as loaded: another test resumes from it)
        torch.save(stopped[1], checkpoint_path(out))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the output")

    with monkeypatch.context() as m:
        m.setattr(ft, "save_mist_model", killed)
        with pytest.raises(KeyboardInterrupt):
            finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
                     **RUN)
    assert not out.exists()
    last = torch.load(checkpoint_path(out), weights_only=True)
    assert last["epoch"] == RUN["epochs"]
    summary = finetune(data["encoder"], data["videos"], out, pseudo_labels_h5=data["pseudo"],
                       **RUN)
    assert summary["resumed_from"] == RUN["epochs"] + 1
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in (full[0], out))
    for key in a:
        assert torch.equal(a[key], b[key]) and torch.equal(a[key], last["model"][key]), key
