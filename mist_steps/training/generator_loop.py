"""Stage-I training pieces: the generator's settings check, its training set in memory and the
batches of sub-bags drawn from it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mist_steps.errors import InputError
from mist_steps.formats.features import FeatureFile
from mist_steps.formats.resume import (
    checkpoint_path,
    load_resume_checkpoint,
    restore_states,
    save_checkpoint,
)
from mist_steps.models.generator import build_generator
from mist_steps.training.mil import (
    CROP_MODES,
    LOSSES,
    SAMPLINGS,
    bag_loss,
    draw_batch,
    prepare_features,
    sparse_continuous_indices,
    uniform_segment_features,
)

log = logging.getLogger(__name__)

CKPT_FORMAT = "mist-generator-ckpt-v2"  # v2: a clip in several slots is scored once


# Keys a resumable checkpoint holds besides format, settings_hash and its progress count.
CKPT_KEYS = ("model", "optimizer", "numpy_rng", "torch_rng", "rows")
LOSS_COLUMNS = ("step", "loss", "hinge", "sparsity", "seconds")


# Every setting that changes the trained weights; a checkpoint resumes only when they match.
RESULT_SETTINGS = ("sampling", "sub_bags", "clips_per_bag", "loss", "topk", "epsilon", "lam",
                   "crops", "l2_normalize", "batch_normal", "batch_abnormal", "lr",
                   "weight_decay", "grad_clip", "seed", "dropout")


def _check_settings(s: dict) -> None:
    if s["sampling"] not in SAMPLINGS:
        raise InputError(f"sampling must be one of {SAMPLINGS}; got {s['sampling']!r}")
    if s["loss"] not in LOSSES:
        raise InputError(f"loss must be one of {LOSSES}; got {s['loss']!r}")
    if s["crops"] not in CROP_MODES:
        raise InputError(f"crops must be one of {CROP_MODES}; got {s['crops']!r}")
    for key in ("sub_bags", "clips_per_bag", "topk", "batch_normal", "batch_abnormal"):
        if int(s[key]) < 1:
            raise InputError(f"{key} must be >= 1; got {s[key]}")
    if s["lr"] <= 0 or s["weight_decay"] < 0 or s["grad_clip"] <= 0 or s["lam"] < 0:
        raise InputError(f"need lr > 0, weight_decay >= 0, grad_clip > 0, lam >= 0; got {s['lr']}, "
                         f"{s['weight_decay']}, {s['grad_clip']}, {s['lam']}")


def _load_training_set(ff: FeatureFile, ids: list[str], settings: dict) -> list[np.ndarray]:
    """Per video, what a training step samples from (keeps memory to what is needed):

    * sparse + crops mean: prepared clip features [n, 1, D] float32 (crop mean done once);
    * sparse + separate: the stored features [n, K, D] in the file's dtype (float16 is
      lossless to keep), prepared per batch;
    * uniform: the segment features [L, K', D] (fixed, no randomness in that sampling).
    """
    keep16 = ff.attrs().get("dtype") == "float16"
    out = []
    for vid in tqdm(ids, desc="load features", unit="video", mininterval=5.0):
        x = torch.from_numpy(ff.read(vid))
        if settings["sampling"] == "uniform":
            x = uniform_segment_features(
                prepare_features(x, settings["crops"], settings["l2_normalize"]),
                settings["sub_bags"], settings["l2_normalize"])
        elif settings["crops"] == "mean":
            x = prepare_features(x, "mean", settings["l2_normalize"])
        elif keep16:
            x = x.half()
        out.append(np.ascontiguousarray(x.numpy()))
    return out


class _Batcher:
    """The instances of a step: ``(clips [U, K', D], index [B, M])`` - the distinct clips of
    the sampled videos, and for each of a video's M sampled slots the row of its clip.

    Sparse continuous sampling draws 32 x T slots per video, so on short videos a clip fills
    several slots; it is scored once (one dropout mask for all its slots): on the synthetic
    benchmark (10-30 clips a video) a step went from 1.6 s to 0.22 s. The gathering is
    numpy work on purpose: torch's small parallel copies cost milliseconds each on a busy
    machine (thread wake-ups), which dominated the step time.
    """

    def __init__(self, data: list[np.ndarray], settings: dict):
        self.data, self.settings = data, settings
        self.uniform = settings["sampling"] == "uniform"

    def __call__(self, picks: list[int],
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        rows, index, offset = [], [], 0
        for v in picks:
            x = self.data[v]
            if self.uniform:  # the L segment features, each its own slot
                rows.append(x)
                index.append(offset + np.arange(len(x)))
            else:
                idx = sparse_continuous_indices(x.shape[0], s["sub_bags"], s["clips_per_bag"],
                                                rng)
                distinct, slot_rows = np.unique(idx.reshape(-1), return_inverse=True)
                rows.append(np.take(x, distinct, axis=0))
                index.append(offset + slot_rows)
            offset += len(rows[-1])
        return torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.stack(index))


def _bag_scores(model, batch: tuple[torch.Tensor, torch.Tensor], settings: dict) -> torch.Tensor:
    """Scores of a step's instances (:class:`_Batcher`) as bags [B*K', L, T] (separate crops:
    a bag per crop)."""
    x, index = batch
    if settings["sampling"] == "sparse" and settings["crops"] == "separate":
        x = prepare_features(x, "separate", settings["l2_normalize"])
    s = model(x.float())[index]  # [U, K'] -> [B, M, K']
    b, _, k = s.shape
    t = settings["clips_per_bag"] if settings["sampling"] == "sparse" else 1
    return s.permute(0, 2, 1).reshape(b * k, settings["sub_bags"], t)


def run_steps(data: list[np.ndarray], normal: list[int], abnormal: list[int], settings: dict, *,
              dim: int, n_bags_normal: int, ckpt_path: Path, settings_hash: str, features_h5,
              checkpoint_every: int, stop_after: int | None = None, keep_final: bool = False):
    """Stage I's optimisation: ``settings["steps"]`` Adagrad steps on batches of normal and
    abnormal videos, resuming from (and periodically writing) the checkpoint at ``ckpt_path``
    (``keep_final``: also after the last step, so a finished restart is not run again).
    Returns ``(model, loss rows)``, or None when ``stop_after`` stopped it as if killed. Runs
    inside the caller's :func:`~mist_steps.training.determinism.seeded_torch`."""
    s = settings
    steps, seed, lr, weight_decay, grad_clip = (s["steps"], s["seed"], s["lr"],
                                                s["weight_decay"], s["grad_clip"])
    batch_normal, batch_abnormal = s["batch_normal"], s["batch_abnormal"]
    loss, topk, epsilon, lam = s["loss"], s["topk"], s["epsilon"], s["lam"]
    batcher = _Batcher(data, settings)
    progress_every = max(1, checkpoint_every // 10)  # log lines: what a killed run had done
    model = build_generator(dim, generator=torch.Generator().manual_seed(seed)).train()
    opt = torch.optim.Adagrad(model.parameters(), lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    rows: list[list[float]] = []
    start = 0
    ckpt = load_resume_checkpoint(ckpt_path, fmt=CKPT_FORMAT, settings_hash=settings_hash,
                                  progress_key="step", target=steps,
                                  required=CKPT_KEYS, log=log)
    if ckpt is not None:
        restore_states(ckpt_path, ckpt, {"model": model, "optimizer": opt})
        rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        rows, start = [list(r) for r in ckpt["rows"]], int(ckpt["step"])
        log.info("resuming from %s at step %d of %d", ckpt_path, start, steps)

    bar = tqdm(range(start, steps), initial=start, total=steps, desc="generator",
               unit="step", mininterval=5.0)
    for step in bar:
        if stop_after is not None and step >= stop_after:
            bar.close()
            log.info("stopping after %d steps (stop_after)", step)
            return None
        t0 = time.perf_counter()
        picks = ([normal[i] for i in draw_batch(len(normal), batch_normal, rng)]
                 + [abnormal[i] for i in draw_batch(len(abnormal), batch_abnormal, rng)])
        bags = _bag_scores(model, batcher(picks, rng), settings)
        parts = bag_loss(bags[:n_bags_normal], bags[n_bags_normal:], loss=loss, topk=topk,
                         epsilon=epsilon, lam=lam)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        total = float(parts.total.detach())
        if not np.isfinite(total):
            raise InputError(f"{features_h5}: the loss became {total} at step {step + 1}; "
                             f"check the features (scale) or lower the learning rate")
        rows.append([step + 1, total, float(parts.hinge.detach()),
                     float(parts.sparsity.detach()), time.perf_counter() - t0])
        bar.set_postfix(loss=f"{total:.4f}", refresh=False)
        if (step + 1) % progress_every == 0:
            log.info("step %d/%d: loss %.4f", step + 1, steps, total)
        if ((step + 1) % checkpoint_every == 0 and step + 1 < steps) or (
                keep_final and step + 1 == steps):
            save_checkpoint(ckpt_path, {
                "format": CKPT_FORMAT, "settings_hash": settings_hash, "step": step + 1,
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "rows": rows})
    bar.close()
    return model, rows


# Fixed draw of the sub-bags that every restart is judged on (any value would do).
OBJECTIVE_SEED = 0


@torch.no_grad()
def training_objective(model, data: list[np.ndarray], normal: list[int], abnormal: list[int],
                       settings: dict) -> float:
    """The training loss over the whole training set at once: every normal x abnormal pair,
    one fixed draw of each video's sub-bags, no dropout. Lower is a better fit of the
    video labels; only video labels go in."""
    was_training = model.training
    model.eval()
    try:
        batch = _Batcher(data, settings)(normal + abnormal,
                                         np.random.default_rng(OBJECTIVE_SEED))
        bags = _bag_scores(model, batch, settings)
        k = len(bags) // len(normal + abnormal)  # bags per video (separate crops: K)
        parts = bag_loss(bags[:len(normal) * k], bags[len(normal) * k:], loss=settings["loss"],
                         topk=settings["topk"], epsilon=settings["epsilon"], lam=settings["lam"])
    finally:
        model.train(was_training)
    return float(parts.total)


def restart_seed(seed: int, restart: int) -> int:
    """The seed of restart ``restart``: restart 0 is ``seed`` itself (so one restart is the
    plain run), the others independent streams derived from it."""
    if restart == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(restart)]).generate_state(1)[0])


def restart_checkpoint(out_pt: Path, restart: int) -> Path:
    """The resumable side file of one restart (restart 0: the plain run's)."""
    return checkpoint_path(out_pt) if restart == 0 else Path(f"{out_pt}.r{restart}.ckpt")
