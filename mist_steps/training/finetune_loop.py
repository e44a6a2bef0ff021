"""Stage-II epoch loop: resume from a checkpoint, train epoch after epoch, checkpoint each one.

The finetune step builds the model, the optimizer and the training videos; this module runs
the optimisation. A checkpoint after every epoch holds the model, the optimizer, the RNG
state and the loss rows, so a killed run resumes to exactly the weights of an uninterrupted one.

Training
--------
Loss: ``weighted_cross_entropy(H_c) + weighted_cross_entropy(H_g)`` (the second without SGA or
H_g is absent), class weights ``(w0, w1)`` for the anomalous / normal terms. Adam (fused)
over all parameters (lr, weight decay), linear warm-up per optimiser step over the first
``warmup_epochs`` epochs (from lr / warm-up steps up to lr; ``warmup="epoch"``: per epoch,
lr (e + 0.5) / warmup_epochs, the official code's), then constant
(``lr_schedule="constant"``) or, by default, a cosine decay towards 0 over the rest
(``"cosine"``: the last epochs' small steps leave a settled model, where a constant rate left
the final weights - the ones scored - at a random point of a noisy path); gradients of
``accumulate`` micro-batches are summed (each scaled by 1 / group size) before a step, and
their norm clipped at ``grad_clip`` (0: no clipping).

Freezing rule: during the first ``freeze_epochs`` epochs the backbone (``model.encoder``,
BatchNorm affine parameters included) has ``requires_grad`` False and every BatchNorm of the
encoder runs in eval mode, so neither its weights nor its running statistics change (with
``freeze_bn_stats`` False the statistics keep updating, as the official SHT I3D run's
``--use_bn_sta``); only the
new layers (``model.new_parameters()``: SGA and H_c) learn. Adam skips parameters without a
gradient, weight decay included, so one optimiser serves both phases. From epoch
``freeze_epochs`` on everything trains, the encoder in train mode - or, with ``train_from``
(an encoder endpoint, e.g. I3D ``mixed_5b``), only the encoder from that endpoint on: the
blocks before it stay frozen as above for the whole run (weights and BatchNorm statistics),
so no gradient flows through them and a step costs about 0.6x a full one (I3D, 64 px,
mixed_5b; 0.75x from mixed_4b). The paper fine-tunes the whole encoder (``train_from`` None);
the synthetic default trains from Mixed_5b, which is what lets 17 epochs fit its CPU budget
(docs/results.md; docs/synthetic-results-history.md).

Determinism and resuming: the new layers are initialised right after ``torch.manual_seed(seed)``
(the caller's RNG state is restored afterwards); all data randomness of epoch e (clip starts,
augmentation, shuffles) derives from ``np.random.default_rng([seed, e])`` alone, so the
background thread's timing never changes the data. On CPU, deterministic algorithms are on:
same inputs, seed and ``threads`` -> bitwise identical weights. After every epoch
``<out_pt>.ckpt`` is written atomically (``torch.save``, read back weights-only): format
(:data:`CKPT_FORMAT`), settings_hash, epoch (epochs done), step (optimiser steps done), model
and optimizer state dicts, torch_rng (and cuda_rng on CUDA, for dropout), rows (the loss
rows so far). A rerun with the same
settings hash (every setting that changes the result - not ``epochs``, ``threads`` nor
``device`` - plus the sha256 of the encoder and pseudo-label files and the training video
list) resumes after the last finished epoch and ends with exactly the weights of an
uninterrupted run; a mismatching checkpoint is ignored with a warning. CUDA runs use bf16
autocast and are not bitwise reproducible.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mist_steps.data.preprocess import Preprocess, normalize
from mist_steps.errors import InputError
from mist_steps.formats.resume import (
    load_resume_checkpoint,
    restore_states,
    save_checkpoint,
)
from mist_steps.models.sga import MISTModel, weighted_cross_entropy
from mist_steps.training.clip_feeder import _Feeder
from mist_steps.training.clip_plan import TrainVideo, plan_epoch
from mist_steps.training.finetune_setup import (
    CKPT_FORMAT,
    CKPT_KEYS,
    _set_frozen,
    learning_rate,
)
from mist_steps.training.frame_cache import FrameCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochPlan:
    """What every epoch does: its clips, its optimiser steps and its rate schedule."""

    epochs: int
    clips_per_video: int
    batch_size: int
    accumulate: int
    sampling: str
    crop_scales: Sequence[float]
    class_weights: Sequence[float]
    lr: float
    lr_schedule: str
    warmup_steps: int
    steps_per_epoch: int
    freeze_epochs: int
    train_from: str | None
    grad_clip: float
    seed: int
    threads: int
    warmup: str = "step"  # or "epoch": the official per-epoch warm-up
    freeze_bn_stats: bool = True


@dataclass
class Progress:
    """Where training stands: loss rows so far, the next epoch, optimiser steps taken."""

    rows: list[list[float]]
    start: int = 0
    step: int = 0
    resumed_from: int | None = None


def resume(ckpt_path: Path, settings_hash: str, model: nn.Module, opt, dev: torch.device,
           epochs: int) -> Progress:
    """The progress of a matching checkpoint at ``ckpt_path`` (its states restored into
    ``model``, ``opt`` and the RNGs), or a fresh start."""
    ckpt = load_resume_checkpoint(ckpt_path, fmt=CKPT_FORMAT, settings_hash=settings_hash,
                                  progress_key="epoch", target=epochs,
                                  required=CKPT_KEYS, log=log)
    if ckpt is None:
        return Progress(rows=[])
    restore_states(ckpt_path, ckpt, {"model": model, "optimizer": opt})
    torch.set_rng_state(ckpt["torch_rng"])
    if dev.type == "cuda" and ckpt.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(ckpt["cuda_rng"], dev)
    start = int(ckpt["epoch"])
    log.info("resuming from epoch %d of %d (%s)", start + 1, epochs, ckpt_path)
    return Progress(rows=[list(r) for r in ckpt["rows"]], start=start, step=int(ckpt["step"]),
                    resumed_from=start + 1)


def train_epochs(model: MISTModel, opt, videos: list[TrainVideo], prep: Preprocess,
                 plan: EpochPlan, progress: Progress, *, dev: torch.device, ckpt_path: Path,
                 settings_hash: str, cache: FrameCache | None,
                 stop_after: int | None = None) -> bool:
    """Train from ``progress.start`` to ``plan.epochs``, checkpointing each epoch; False when
    ``stop_after`` stopped it early (as if killed), True when every epoch is done."""
    arch = model.arch
    for epoch in range(progress.start, plan.epochs):
        if stop_after is not None and epoch >= stop_after:
            log.info("stopping after %d epochs (stop_after)", epoch)
            return False
        t0 = time.perf_counter()
        log.info("epoch %d/%d started", epoch + 1, plan.epochs)
        frozen = epoch < plan.freeze_epochs
        _set_frozen(model, frozen, plan.train_from, plan.freeze_bn_stats)
        clips, batches = plan_epoch(videos, clips_per_video=plan.clips_per_video,
                                    batch_size=plan.batch_size, gray=arch == "c3d",
                                    rng=np.random.default_rng([plan.seed, epoch]),
                                    sampling=plan.sampling, crop_scales=plan.crop_scales)
        feeder = _Feeder(videos, clips, batches, prep, workers=plan.threads, cache=cache)
        mean, rate = _one_epoch(model, opt, feeder, len(batches), plan, progress, dev=dev,
                                epoch=epoch)
        seconds = time.perf_counter() - t0
        n_clips = len(batches) * plan.batch_size
        progress.rows.append([epoch + 1, rate, *mean.tolist(), n_clips, seconds, int(frozen)])
        log.info("epoch %d/%d%s: loss %.4f (H_c %.4f, H_g %.4f), lr %.3g, %d clips in "
                 "%.1f s (%.2f clips/s)", epoch + 1, plan.epochs,
                 " (backbone frozen)" * frozen, *mean, rate, n_clips, seconds,
                 n_clips / seconds)
        save_checkpoint(ckpt_path, {
            "format": CKPT_FORMAT, "settings_hash": settings_hash, "epoch": epoch + 1,
            "step": progress.step, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "rows": progress.rows,
            "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None})
    return True


def _one_epoch(model: MISTModel, opt, feeder: _Feeder, n_batches: int, plan: EpochPlan,
               progress: Progress, *, dev: torch.device, epoch: int) -> tuple[np.ndarray, float]:
    """One pass over ``feeder``'s batches (``plan.accumulate`` micro-batches per optimiser
    step); returns the mean loss parts (total, H_c, H_g) and the last learning rate."""
    acc = plan.accumulate
    w0, w1 = plan.class_weights
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda"
                else contextlib.nullcontext())
    sums, rate = np.zeros(3), plan.lr
    bar = tqdm(feeder, total=n_batches, desc=f"finetune {epoch + 1}/{plan.epochs}",
               unit="batch", mininterval=5.0)
    try:
        for b, (x, y) in enumerate(bar):
            group_len = min(acc, n_batches - b // acc * acc)
            if b % acc == 0:
                opt.zero_grad(set_to_none=True)
            x = normalize(model.arch, x.to(dev, non_blocking=True))
            y = y.to(dev)
            with autocast:
                out = model(x)
            loss_c = weighted_cross_entropy(out.logits, y, w0, w1)
            loss_g = (weighted_cross_entropy(out.guided_logits, y, w0, w1)
                      if out.guided_logits is not None else torch.zeros((), device=dev))
            loss = loss_c + loss_g
            (loss / group_len).backward()
            parts = [float(loss.detach()), float(loss_c.detach()), float(loss_g.detach())]
            if not math.isfinite(parts[0]):
                raise InputError(f"fine-tuning diverged: loss {parts[0]} in epoch {epoch + 1}, "
                                 f"batch {b + 1}; lower the learning rate (now {plan.lr}) or "
                                 f"check the pseudo labels")
            sums += parts
            if b % acc == group_len - 1:  # last micro-batch of its group
                rate = _optimiser_step(model, opt, plan, progress.step)
                progress.step += 1
            bar.set_postfix(loss=f"{parts[0]:.4f}", refresh=False)
    finally:
        bar.close()
        feeder.close()
    return sums / n_batches, rate


def _optimiser_step(model: nn.Module, opt, plan: EpochPlan, step: int) -> float:
    rate = learning_rate(step, lr=plan.lr, warmup_steps=plan.warmup_steps,
                         total_steps=plan.epochs * plan.steps_per_epoch,
                         schedule=plan.lr_schedule,
                         steps_per_epoch=plan.steps_per_epoch if plan.warmup == "epoch" else None)
    for g in opt.param_groups:
        g["lr"] = rate
    if plan.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), plan.grad_clip)
    opt.step()
    return rate
