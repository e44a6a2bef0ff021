"""The proxy pretraining loop of a vanilla encoder (curriculum, deep supervision, precise
BatchNorm); see the pretrain_encoder step. It runs the ``classes`` task, then - with
``motion_steps`` - the ``motion`` task from where the first left off
(:mod:`mist_steps.training.proxy_tasks`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mist_steps import SNIPPET_LEN, cpu_kernels
from mist_steps.data.background import BackgroundFeeder
from mist_steps.data.preprocess import normalize
from mist_steps.errors import InputError
from mist_steps.formats.encoder_file import save_encoder
from mist_steps.models import build_encoder
from mist_steps.synth.proxy_clips import DEFAULT_CLASSES, check_classes
from mist_steps.training.pretrain_log import log_motion_results, log_results, write_log
from mist_steps.training.proxy_tasks import ProxyTask, classes_task, motion_task

log = logging.getLogger(__name__)


# Defaults sized for the whole default pipeline to fit ~10 min on 2 CPU cores (see README).
DEFAULTS = {
    "input_size": 64, "steps": 100, "motion_steps": 0, "batch_size": 8, "lr": 3e-4,
    "weight_decay": 1e-4, "val_clips": 64, "seed": 0, "threads": 2,
}

WARMUP_FRACTION = 0.1  # of the steps, linear warm-up before the cosine decay


# Curriculum: the proxy's clutter ramps from none to full over this fraction of the steps. From
# scratch, a network stalls for hundreds of steps on cluttered clips but picks up the motion
# cues quickly on clean ones, then keeps them as the clutter comes in.
CURRICULUM_FRACTION = 0.5
TRAIN_BN_MOMENTUM = 0.1  # during proxy training (the I3D modules keep 0.01 otherwise)
BN_CALIBRATION_CLIPS = 32  # fresh clips for the final running-statistics estimate
GRAD_CLIP = 5.0
SIDE_WEIGHT = 0.5  # deep supervision on the stage-II tap (see _ProxyNet)
C3D_FC_SIZE = 112  # C3D's fc6 only fits 16x112x112 clips


# head bias key -> class count, per accepted checkpoint naming (see encoders.checkpoints)
_HEAD_BIAS = ("logits.conv3d.bias", "conv3d_0c_1x1.conv3d.bias", "fc8.bias")


# -- proxy training ---------------------------------------------------------------------------
class _Prefetch(BackgroundFeeder):
    """Generate proxy batches in a background thread while the model trains.

    ``jobs`` is a list of (split, indices, difficulty); batches come out in that order. Clips
    are pure functions of these and the seed, so the thread's timing never changes the data.
    """

    def __init__(self, jobs: Sequence[tuple[str, Sequence[int], float]], *, seed: int, size: int,
                 task: ProxyTask, depth: int = 3) -> None:
        self._jobs, self._seed, self._size, self._task = list(jobs), seed, size, task
        super().__init__(depth=depth, name="proxy-clips")

    def _produce(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for split, indices, difficulty in self._jobs:
            yield self._task.make_batch(self._seed, indices, self._size, split, difficulty)


def _difficulty_at(step: int, steps: int) -> float:
    """Proxy clutter for training step ``step`` (see CURRICULUM_FRACTION)."""
    ramp = CURRICULUM_FRACTION * steps
    return 1.0 if ramp <= 1 else min(1.0, step / ramp)


def _lr_at(step: int, steps: int, lr: float) -> float:
    """Linear warm-up over the first WARMUP_FRACTION of the steps, then cosine decay to 0."""
    warm = max(1, round(WARMUP_FRACTION * steps))
    if step < warm:
        return lr * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return lr * 0.5 * (1 + math.cos(math.pi * progress))


class _ProxyNet(nn.Module):
    """The encoder plus temporary training heads (discarded after training).

    ``side``: a linear classifier on the pooled stage-II tap (I3D Mixed_4f, C3D conv4b), i.e.
    deep supervision as in GoogLeNet's auxiliary classifiers: a short gradient path into the
    lower layers, which is what a from-scratch run of only a few dozen steps is short of.
    ``head``: where the encoder's own head cannot be used (C3D fc6 off 112 px), a linear
    classifier on the pooled final map replaces it.
    Both temporary heads and the encoder's own head start at zero: the loss starts at exactly
    ln(K) and the first, noisiest steps do not push random-feature gradients into the trunk.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, own_head: bool, side: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = None if own_head else nn.Linear(encoder.final_channels, num_classes)
        self.side = nn.Linear(encoder.stage2_tap_channels, num_classes) if side else None
        with torch.no_grad():
            for name, param in self.named_parameters():
                if not name.startswith("encoder.") or name[len("encoder."):] in encoder.head_keys:
                    param.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        enc = self.encoder
        if self.side is None:
            final, side = enc.trunk(x), None
        else:
            maps = enc.forward_features(x, [enc.stage2_tap, enc.final_tap])
            final, side = maps[enc.final_tap], self.side(enc.pool(maps[enc.stage2_tap]))
        logits = enc.head(final) if self.head is None else self.head(enc.pool(final))
        return logits, side


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def _calibrate_bn(model: nn.Module, batches, arch: str) -> None:
    """Re-estimate BatchNorm running statistics as exact averages over ``batches`` ("precise
    BN"): the weights no longer change, and the slow training momentum lags behind them."""
    norms = _batch_norms(model)
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    for clips, _ in batches:
        model(normalize(arch, torch.from_numpy(clips)))
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum


@torch.no_grad()
def _evaluate(model: nn.Module, batches, arch: str, task: ProxyTask) -> dict:
    """The task's validation summary, in eval mode."""
    model.eval()
    logits, targets = [], []
    for clips, target in batches:
        logits.append(model(normalize(arch, torch.from_numpy(clips)))[0].numpy())
        targets.append(target)
    return task.summarise(np.concatenate(logits), np.concatenate(targets))


def _chunks(start: int, count: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, start + count))) for i in range(start, start + count, size)]


def _check_settings(arch: str, input_size: int, steps: int, batch_size: int, lr: float,
                    weight_decay: float, val_clips: int, threads: int,
                    motion_steps: int = 0) -> None:
    problems = []
    if arch not in ("i3d", "c3d"):
        problems.append(f"arch must be 'i3d' or 'c3d' (got {arch!r})")
    if input_size < 32:
        problems.append(f"input size must be >= 32 px (got {input_size})")
    if steps < 1 or motion_steps < 0:
        problems.append(f"steps must be >= 1 and motion steps >= 0 (got {steps}, {motion_steps})")
    if batch_size < 2:
        problems.append(f"batch size must be >= 2 for BatchNorm (got {batch_size})")
    if not lr > 0 or weight_decay < 0:
        problems.append(f"lr must be > 0 and weight decay >= 0 (got {lr}, {weight_decay})")
    if val_clips < 1 or threads < 1:
        problems.append(f"val clips and threads must be >= 1 (got {val_clips}, {threads})")
    if problems:
        raise InputError("pretraining settings: " + "; ".join(problems) +
                         "; fix them in the config (encoders section) or on the command line")


def _jobs(steps: int, batch_size: int, calib: int, val_clips: int) -> list[tuple]:
    """The feeder's batches in order: training (clutter ramping up), BatchNorm calibration,
    validation; each (split, clip indices, difficulty)."""
    return ([("train", ix, _difficulty_at(i, steps))
             for i, ix in enumerate(_chunks(0, steps * batch_size, batch_size))]
            + [("train", ix, 1.0) for ix in _chunks(steps * batch_size, calib, batch_size)]
            + [("val", ix, 1.0) for ix in _chunks(0, val_clips, batch_size)])


def _proxy_classes(classes: Sequence[str], num_classes: int | None, arch: str,
                   input_size: int) -> tuple[tuple[str, ...], int, bool]:
    """The checked proxy classes, the head size, and whether the encoder's own head trains."""
    try:
        classes = check_classes(classes)
    except ValueError as err:
        raise InputError(f"pretraining settings: {err}") from None
    n_classes = len(classes) if num_classes is None else int(num_classes)
    if n_classes < len(classes):
        raise InputError(f"pretraining settings: num_classes {n_classes} < the {len(classes)} "
                         f"proxy classes; leave it unset to use the proxy's count")
    own_head = arch != "c3d" or input_size == C3D_FC_SIZE
    if not own_head:
        log.warning("C3D at %d px: fc6 needs 112 px clips, so the trunk is trained through a "
                    "temporary head on pooled conv5b; fc6-fc8 keep their initialisation",
                    input_size)
    return classes, n_classes, own_head


def _train_steps(net: _ProxyNet, optimizer, batches, *, arch: str, task: ProxyTask,
                 steps: int, lr: float, t0: float, progress: bool) -> list[tuple]:
    """The proxy training loop; one row (task, step, lr, loss, side loss, batch accuracy,
    seconds) a step."""
    rows = []
    net.train()
    bar = tqdm(range(steps), desc=f"proxy-pretrain {arch} {task.name}", unit="step",
               disable=not progress)
    ema_loss = ema_acc = None
    for step in bar:
        clips, labels = next(batches)
        rate = _lr_at(step, steps, lr)
        for group in optimizer.param_groups:
            group["lr"] = rate
        x = normalize(arch, torch.from_numpy(clips))
        target = torch.from_numpy(labels)
        logits, side = net(x)
        main_loss = task.loss(logits, target)
        side_loss = task.loss(side, target) if side is not None else torch.zeros(())
        loss = main_loss + SIDE_WEIGHT * side_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
        optimizer.step()
        acc = task.accuracy(logits.detach(), target)
        loss_value = float(main_loss.detach())
        if not math.isfinite(float(loss.detach())):
            raise InputError(f"proxy pretraining diverged at {task.name} step {step} (loss "
                             f"{loss_value}); lower the learning rate (now {lr}) in the config "
                             f"or with --lr")
        ema_loss = loss_value if ema_loss is None else 0.9 * ema_loss + 0.1 * loss_value
        ema_acc = acc if ema_acc is None else 0.9 * ema_acc + 0.1 * acc
        bar.set_postfix(loss=f"{ema_loss:.3f}", acc=f"{ema_acc:.2f}", lr=f"{rate:.2g}")
        rows.append((task.name, step, rate, loss_value, float(side_loss.detach()), acc,
                     time.perf_counter() - t0))
    return rows


def _run_task(encoder: nn.Module, task: ProxyTask, *, arch: str, input_size: int,
              own_head: bool, steps: int, batch_size: int, lr: float, weight_decay: float,
              val_clips: int, seed: int, progress: bool) -> tuple[list[tuple], dict, float]:
    """Train ``encoder`` in place on ``task`` (fresh temporary heads and optimizer), then
    re-estimate its BatchNorm statistics and validate it: (log rows, validation summary,
    training seconds)."""
    net = _ProxyNet(encoder, encoder.num_classes, own_head, side=SIDE_WEIGHT > 0)
    # No dropout during the short proxy run (it only slows learning); the module's own rate,
    # recorded in its config, is restored before saving. So are the BatchNorm momenta.
    own_dropout = encoder.dropout.p
    encoder.dropout.p = 0.0
    norms = _batch_norms(net)
    own_momentum = [m.momentum for m in norms]
    for m in norms:
        m.momentum = TRAIN_BN_MOMENTUM
    # fused: one kernel for all parameters, several times faster than the per-tensor loop on CPU
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    calib = BN_CALIBRATION_CLIPS if norms else 0
    jobs = _jobs(steps, batch_size, calib, val_clips)
    n_calib = len(_chunks(0, calib, batch_size))
    t0 = time.perf_counter()
    feed = _Prefetch(jobs, seed=seed, size=input_size, task=task)
    try:
        batches = iter(feed)
        rows = _train_steps(net, optimizer, batches, arch=arch, task=task, steps=steps, lr=lr,
                            t0=t0, progress=progress)
        train_seconds = time.perf_counter() - t0
        for m, momentum in zip(norms, own_momentum, strict=True):
            m.momentum = momentum
        encoder.dropout.p = own_dropout
        _calibrate_bn(net, (next(batches) for _ in range(n_calib)), arch)
        val = _evaluate(net, (next(batches) for _ in range(len(jobs) - steps - n_calib)), arch,
                        task)
    finally:
        feed.close()
    return rows, val, train_seconds


def _motion_encoder(first: nn.Module, arch: str) -> nn.Module:
    """A copy of ``first`` with a head for the motion primitives (the trunk carried over)."""
    encoder = build_encoder(arch, len(motion_task().labels))
    trunk = {k: v for k, v in first.state_dict().items() if k not in first.head_keys}
    encoder.load_state_dict(trunk, strict=False)  # the head is zeroed by _ProxyNet
    return encoder


def train_proxy_encoder(out_path: str | Path, *, arch: str, input_size: int = 64,
                        num_classes: int | None = None, classes: Sequence[str] = DEFAULT_CLASSES,
                        steps: int = DEFAULTS["steps"],
                        motion_steps: int = DEFAULTS["motion_steps"],
                        batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
                        weight_decay: float = DEFAULTS["weight_decay"],
                        val_clips: int = DEFAULTS["val_clips"], seed: int = 0,
                        threads: int = DEFAULTS["threads"], progress: bool = True) -> dict:
    """Train ``arch`` from scratch on the proxy and write it; returns the meta stored with it.
    ``steps`` of the ``classes`` task, then ``motion_steps`` of the ``motion`` task (0: none);
    the file keeps the last task's head."""
    classes, n_classes, own_head = _proxy_classes(classes, num_classes, arch, input_size)
    torch.manual_seed(seed)
    encoder = build_encoder(arch, n_classes)
    common = {"arch": arch, "input_size": input_size, "own_head": own_head,
              "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
              "val_clips": val_clips, "seed": seed, "progress": progress}
    t0 = time.perf_counter()
    rows, val, seconds = _run_task(encoder, classes_task(classes), steps=steps, **common)
    meta = {"source": "proxy", "seed": seed, "threads": threads,
            "proxy": _recipe(classes, input_size, steps, motion_steps, batch_size, lr,
                             weight_decay, val_clips, own_head, bool(_batch_norms(encoder))),
            **log_results(rows, classes, val, arch=arch, input_size=input_size,
                          batch_size=batch_size, train_seconds=seconds)}
    if motion_steps:
        encoder = _motion_encoder(encoder, arch)
        more, val, seconds = _run_task(encoder, motion_task(), steps=motion_steps, **common)
        rows += more
        meta["motion"] = log_motion_results(more, val, train_seconds=seconds)
    meta.update(seconds=round(time.perf_counter() - t0, 2), torch=torch.__version__,
                **cpu_kernels.record())
    write_log(out_path, rows)
    digest = save_encoder(out_path, encoder, meta)
    log.info("wrote %s [weights %s]", out_path, digest[:12])
    return meta


def _recipe(classes, input_size, steps, motion_steps, batch_size, lr, weight_decay, val_clips,
            own_head, has_bn) -> dict:
    """The meta's record of how the proxy pretraining ran."""
    return {"classes": list(classes), "input_size": input_size, "frames": SNIPPET_LEN,
            "steps": steps, "motion_steps": motion_steps,
            "motion_primitives": list(motion_task().labels) if motion_steps else [],
            "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
            "optimizer": "AdamW", "warmup_fraction": WARMUP_FRACTION,
            "schedule": "linear warm-up, cosine decay (per task)", "grad_clip": GRAD_CLIP,
            "curriculum_fraction": CURRICULUM_FRACTION,
            "bn_calibration_clips": BN_CALIBRATION_CLIPS if has_bn else 0,
            "val_clips": val_clips,
            "trained_head": "own" if own_head else "temporary linear head on pooled conv5b",
            "deep_supervision_weight": SIDE_WEIGHT}
