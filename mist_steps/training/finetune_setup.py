"""Stage-II settings: the check, the learning-rate schedule, the training videos with their pseudo
labels, and freezing the backbone.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping

import numpy as np
from torch import nn

from mist_steps import SNIPPET_LEN
from mist_steps.errors import InputError
from mist_steps.models.sga import MISTModel
from mist_steps.training.clip_plan import LABEL_MODES, SAMPLING_MODES, TrainVideo

log = logging.getLogger(__name__)
CKPT_FORMAT = "mist-finetune-ckpt-v1"


# Keys a resumable checkpoint holds besides format, settings_hash and its progress count.
CKPT_KEYS = ("model", "optimizer", "torch_rng", "rows", "step")
DEVICES = ("cpu", "cuda", "auto")
LOSS_COLUMNS = ("epoch", "lr", "loss", "loss_c", "loss_g", "clips", "seconds", "frozen")


# Every setting that changes the trained weights; a checkpoint resumes only when they match.
RESULT_SETTINGS = ("arch", "labels", "sampling", "input_size", "class_weights", "crop_scales",
                   "train_frame",
                   "clips_per_video", "batch_size", "accumulate", "lr", "weight_decay",
                   "warmup_epochs", "warmup", "lr_schedule", "schedule_epochs",
                   "freeze_epochs", "freeze_bn_stats", "train_from", "grad_clip", "k",
                   "dropout", "sga", "guided_head", "seed")

LR_SCHEDULES = ("cosine", "constant")
# per optimiser step from lr / steps, or per epoch as the official code: lr (e + 0.5) / W
WARMUPS = ("step", "epoch")


# -- training -----------------------------------------------------------------------------------
def learning_rate(step: int, *, lr: float, warmup_steps: int, total_steps: int,
                  schedule: str = "cosine", steps_per_epoch: int | None = None) -> float:
    """Rate of optimiser step ``step`` (0-based): linear warm-up to ``lr`` over
    ``warmup_steps``, then constant or a cosine decay from ``lr`` towards 0 over the remaining
    steps (the last step keeps a small rate, so even a one-step run learns). With
    ``steps_per_epoch`` the warm-up goes by epoch as the official code's LambdaLR does
    (utils.get_lr_scheduler): ``lr * (e + 0.5) / W`` through epoch e < W warm-up epochs."""
    if step < warmup_steps:
        if steps_per_epoch:
            epochs = warmup_steps // steps_per_epoch
            return lr * (step // steps_per_epoch + 0.5) / epochs
        return lr * (step + 1) / warmup_steps
    if schedule == "constant" or total_steps <= warmup_steps:
        return lr
    done = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 at the first step after
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))  # the warm-up, < 1 at the last


def run_settings(p: Mapping) -> dict:
    """The settings of a fine-tuning run (they make its hash), typed and checked, from the
    parameters ``p`` of :func:`~mist_steps.steps.finetune.finetune`."""
    s = {"labels": p["labels"], "sampling": p["sampling"], "input_size": p["input_size"],
         "class_weights": [float(w) for w in p["class_weights"]],
         "crop_scales": [float(c) for c in p["crop_scales"]], "epochs": int(p["epochs"]),
         "train_frame": [int(v) for v in p["train_frame"]] if p["train_frame"] else None,
         "clips_per_video": int(p["clips_per_video"]), "batch_size": int(p["batch_size"]),
         "accumulate": int(p["accumulate"]), "lr": float(p["lr"]),
         "weight_decay": float(p["weight_decay"]), "warmup_epochs": int(p["warmup_epochs"]),
         "warmup": p["warmup"], "lr_schedule": p["lr_schedule"],
         # the cosine's length shapes every epoch; a constant rate's epochs can be added
         "schedule_epochs": int(p["epochs"]) if p["lr_schedule"] == "cosine" else None,
         "freeze_epochs": int(p["freeze_epochs"]),
         "freeze_bn_stats": bool(p["freeze_bn_stats"]), "train_from": p["train_from"] or None,
         "grad_clip": float(p["grad_clip"]), "k": int(p["k"]), "dropout": float(p["dropout"]),
         "sga": bool(p["sga"]), "guided_head": bool(p["guided_head"]), "seed": int(p["seed"]),
         "threads": int(p["threads"]), "device": p["device"],
         "frame_cache_mb": int(p["frame_cache_mb"])}
    _check_settings(s)
    if s["labels"] == "pseudo" and p["pseudo_labels_h5"] is None:
        raise InputError("fine-tuning settings: labels='pseudo' needs the pseudo-label file "
                         "(--pseudo-labels); or use labels='video' for the ablation without "
                         "pseudo labels")
    return s


def _check_settings(s: dict) -> None:
    problems = []
    if s["labels"] not in LABEL_MODES:
        problems.append(f"labels must be one of {LABEL_MODES} (got {s['labels']!r})")
    if s["sampling"] not in SAMPLING_MODES:
        problems.append(f"sampling must be one of {SAMPLING_MODES} (got {s['sampling']!r})")
    if s["warmup"] not in WARMUPS:
        problems.append(f"warmup must be one of {WARMUPS} (got {s['warmup']!r})")
    if s["lr_schedule"] not in LR_SCHEDULES:
        problems.append(f"lr_schedule must be one of {LR_SCHEDULES} "
                        f"(got {s['lr_schedule']!r})")
    if s["device"] not in DEVICES and not re.fullmatch(r"cuda:\d+", s["device"]):
        problems.append(f"device must be one of {DEVICES} (got {s['device']!r})")
    if s["epochs"] < 1:
        problems.append(f"epochs must be >= 1 (got {s['epochs']})")
    if s["batch_size"] < 2 or s["batch_size"] % 2:
        problems.append(f"batch size must be even and >= 2, half normal and half abnormal "
                        f"clips (got {s['batch_size']})")
    for key in ("clips_per_video", "accumulate", "k", "threads"):
        if s[key] < 1:
            problems.append(f"{key} must be >= 1 (got {s[key]})")
    if not s["lr"] > 0 or s["weight_decay"] < 0 or s["grad_clip"] < 0:
        problems.append(f"need lr > 0, weight decay >= 0 and grad clip >= 0 (got {s['lr']}, "
                        f"{s['weight_decay']}, {s['grad_clip']})")
    if not s["crop_scales"] or not all(0 < c <= 1 for c in s["crop_scales"]):
        problems.append(f"crop scales must be one or more numbers in (0, 1], the crop side "
                        f"over the frame's short side (got {s['crop_scales']})")
    if s["train_frame"] is not None and (len(s["train_frame"]) != 2 or min(s["train_frame"]) < 32):
        problems.append(f"train frame must be [H, W] of >= 32 px (got {s['train_frame']})")
    if s["frame_cache_mb"] < 0:
        problems.append(f"frame cache must be >= 0 MiB (got {s['frame_cache_mb']})")
    if s["warmup_epochs"] < 0:
        problems.append(f"warm-up epochs must be >= 0 (got {s['warmup_epochs']})")
    if not 0 <= s["freeze_epochs"] <= s["epochs"]:
        problems.append(f"freeze epochs must be in 0..epochs ({s['epochs']}) "
                        f"(got {s['freeze_epochs']})")
    w = s["class_weights"]
    if len(w) != 2 or min(w) < 0 or not all(math.isfinite(x) for x in w):
        problems.append(f"class weights must be two finite numbers >= 0 (got {w})")
    if not 0.0 <= s["dropout"] < 1.0:
        problems.append(f"dropout must be in [0, 1) (got {s['dropout']})")
    if s["input_size"] is not None and s["input_size"] < 32:
        problems.append(f"input size must be >= 32 px (got {s['input_size']})")
    if problems:
        raise InputError("fine-tuning settings: " + "; ".join(problems) +
                         "; fix them in the config (finetune section) or on the command line")


def _training_videos(table, labels_by_video: dict[str, np.ndarray] | None, videos_csv,
                     pseudo_labels_h5) -> tuple[list[TrainVideo], list[str]]:
    """The usable training videos (with their snippet labels) and the ids left out."""
    videos, skipped = [], []
    for row in table[table["split"] == "train"].itertuples(index=False):
        vid, n, label = row.video_id, int(row.frame_count), int(row.label)
        if label not in (0, 1):
            raise InputError(f"{videos_csv}: video {vid} has label {row.label}; expected 0 "
                             f"(normal) or 1 (abnormal)")
        if n < SNIPPET_LEN:
            log.warning("%s: training video %s has %d frames, fewer than one %d-frame clip; "
                        "left out", videos_csv, vid, n, SNIPPET_LEN)
            skipped.append(vid)
            continue
        snippets = None
        if label == 1 and labels_by_video is not None:
            if vid not in labels_by_video:
                raise InputError(f"{pseudo_labels_h5}: no pseudo labels for abnormal training "
                                 f"video {vid} of {videos_csv}; rebuild the pseudo labels from "
                                 f"the same videos.csv")
            snippets = np.asarray(labels_by_video[vid], dtype=np.float64)
            if snippets.shape != (n // SNIPPET_LEN,):
                raise InputError(f"{pseudo_labels_h5}: video {vid} has {snippets.size} pseudo "
                                 f"labels, but {videos_csv} says {n} frames, i.e. "
                                 f"{n // SNIPPET_LEN} snippets; rebuild the pseudo labels from "
                                 f"the same videos.csv")
        fps = None if math.isnan(row.fps) else float(row.fps)
        videos.append(TrainVideo(vid, row.path, fps, n, label, snippets))
    n_normal = sum(v.label == 0 for v in videos)
    if n_normal == 0 or n_normal == len(videos):
        raise InputError(f"{videos_csv}: {n_normal} normal and {len(videos) - n_normal} abnormal "
                         f"usable training videos; balanced fine-tuning needs both (check the "
                         f"split and label columns)")
    return videos, skipped


def _set_frozen(model: MISTModel, frozen: bool, train_from: str | None = None,
                bn_stats: bool = True) -> None:
    """Train mode; with ``frozen`` the backbone gets no gradients and its BatchNorms keep
    their running statistics (eval mode; with ``bn_stats`` False they keep updating, the
    official SHT I3D's --use_bn_sta); otherwise so do the blocks before ``train_from``."""
    model.train()
    for p in model.encoder.parameters():
        p.requires_grad_(True)
    if frozen:
        held = [model.encoder]
    else:
        held = model.encoder.modules_before(train_from) if train_from else []
    for block in held:
        for p in block.parameters():
            p.requires_grad_(False)
        if frozen and not bn_stats:
            continue
        for m in block.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
