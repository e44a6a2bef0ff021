"""Step: MIST stage II - fine-tune the encoder with self-guided attention on pseudo labels.

:func:`finetune` builds :class:`~mist_steps.models.sga.MISTModel` (the vanilla encoder of
stage I plus SGA and the heads H_c / H_g) and trains it on 16-frame clips of the TRAINING
videos of ``videos.csv`` (``split == "train"``; ``label`` 0 normal, 1 abnormal).

How clips are drawn, read and augmented: :mod:`mist_steps.training.clip_plan`; the loss, the
schedule, the freezing rule, determinism and resuming:
:mod:`mist_steps.training.finetune_loop`.

Outputs: ``out_pt``, a ``mist-model-v1`` file (:func:`~mist_steps.formats.mist_model.save_mist_model`;
meta: settings, settings_hash, epochs, final_loss, seconds, clips_per_second, encoder
{path, sha256, weights_sha256}, pseudo_labels {path, sha256} or None, train_videos, device,
torch); optionally ``loss_csv``, one row per epoch: ``epoch, lr, loss, loss_c, loss_g, clips,
seconds, frozen`` (lr of the epoch's last step; losses are batch means). The checkpoint is
removed once ``out_pt`` is written.

Command line: ``python -m mist_steps.steps.finetune --help``.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mist_steps import cpu_kernels
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.preprocess import FULL_FRAME, Preprocess
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.atomic import write_text
from mist_steps.formats.digest import file_sha256, weights_sha256
from mist_steps.formats.encoder_file import load_encoder
from mist_steps.formats.mist_model import save_mist_model
from mist_steps.formats.resume import (
    checkpoint_path,
    settings_digest,
)
from mist_steps.formats.scores import read_pseudo_labels
from mist_steps.models.sga import MISTModel, frame_size_problem
from mist_steps.training.clip_plan import (
    CROP_SCALES,
    LABEL_MODES,
    SAMPLING_MODES,
    TrainVideo,
)
from mist_steps.training.determinism import seeded_torch
from mist_steps.training.devices import resolve_device
from mist_steps.training.finetune_loop import EpochPlan, resume, train_epochs
from mist_steps.training.finetune_setup import (
    CKPT_FORMAT,
    LOSS_COLUMNS,
    LR_SCHEDULES,
    RESULT_SETTINGS,
    WARMUPS,
    _training_videos,
    run_settings,
)
from mist_steps.training.frame_cache import FrameCache

log = logging.getLogger(__name__)


def _settings_hash(settings: dict, encoder_sha: str, labels_sha: str | None,
                   videos: list[TrainVideo]) -> str:
    return settings_digest(settings, RESULT_SETTINGS, CKPT_FORMAT, encoder_sha256=encoder_sha,
                           pseudo_labels_sha256=labels_sha,
                           videos=[[v.video_id, v.label, v.frame_count] for v in videos])


def _write_loss_csv(path, rows: list[list[float]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LOSS_COLUMNS)
    for epoch, lr, loss, loss_c, loss_g, clips, seconds, frozen in rows:
        writer.writerow([int(epoch), f"{lr:.6g}", f"{loss:.6g}", f"{loss_c:.6g}",
                         f"{loss_g:.6g}", int(clips), f"{seconds:.3f}", int(frozen)])
    write_text(path, buf.getvalue())


def finetune(encoder_pt, videos_csv, out_pt, *, pseudo_labels_h5=None, labels: str = "pseudo",
             sampling: str = "pseudo", input_size: int | None = None,
             class_weights: Sequence[float] = (1.0, 1.0),
             crop_scales: Sequence[float] = CROP_SCALES,
             train_frame: Sequence[int] | None = None, epochs: int = 8,
             clips_per_video: int = 3, batch_size: int = 8, accumulate: int = 1,
             lr: float = 1e-4, weight_decay: float = 5e-4, warmup_epochs: int = 5,
             warmup: str = "step", lr_schedule: str = "cosine", freeze_epochs: int = 1,
             freeze_bn_stats: bool = True,
             train_from: str | None = None, grad_clip: float = 10.0,
             k: int = 8, dropout: float = 0.8,
             sga: bool = True, guided_head: bool = True, seed: int = 0, threads: int = 2,
             device: str = "cpu", frame_cache_mb: int = 0, loss_csv=None,
             stop_after: int | None = None) -> dict | None:
    """Fine-tune the MIST model (module docstring) and write ``out_pt`` (and ``loss_csv``).

    ``frame_cache_mb``: keep the training videos' resized frames in memory across epochs up
    to this many MiB (:class:`~mist_steps.training.frame_cache.FrameCache`; 0: read every epoch) - the
    weights are the same either way.
    ``stop_after``: stop after this many epochs (counted from epoch 0) as if the job were
    killed - only the checkpoint is written - and return None. Otherwise returns a summary:
    epochs, clips and seconds (training, over all epochs), clips_per_second, final_loss and
    resumed_from (the 1-based epoch the run resumed at, None for a fresh start) and
    cached_videos (videos the frame cache held at the end).
    """
    settings = run_settings(locals())  # first: the parameters and nothing else
    t_start = time.perf_counter()
    dev = resolve_device(device)
    out_pt = Path(out_pt)
    src = _load_inputs(encoder_pt, videos_csv, pseudo_labels_h5, labels=labels,
                       input_size=input_size, train_frame=train_frame, train_from=train_from)
    settings.update(arch=src.encoder.arch, input_size=src.prep.crop)
    videos, n_normal = src.videos, sum(v.label == 0 for v in src.videos)
    settings_hash = _settings_hash(settings, src.encoder_sha, src.labels_sha, videos)
    ckpt_path = checkpoint_path(out_pt)
    plan, n_batches = _epoch_plan(settings, videos, n_normal)
    log.info("fine-tuning %s %d px on %d normal + %d abnormal training videos (%d left out), "
             "%s labels, %d batches of %d clips per epoch, on %s", src.encoder.arch,
             src.prep.crop, n_normal, len(videos) - n_normal, len(src.skipped), labels,
             n_batches, batch_size, dev)
    with seeded_torch(threads, seed, dev):
        model = _build_model(src, settings, encoder_pt, dev)
        # fused: one kernel over all parameters; on CPU the step of the ~25 M trainable
        # parameters (SGA's F1 alone is 19 M) drops from ~150 to ~36 ms (I3D, batch 8)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay,
                               fused=True)
        progress = resume(ckpt_path, settings_hash, model, opt, dev, epochs)
        cache = FrameCache(frame_cache_mb * 2**20) if frame_cache_mb > 0 else None
        if not train_epochs(model, opt, videos, src.prep, plan, progress, dev=dev,
                            ckpt_path=ckpt_path, settings_hash=settings_hash, cache=cache,
                            stop_after=stop_after):
            return None
    if cache is not None:
        log.info("frame cache: %d of %d videos, %.0f MiB of %d", len(cache), len(videos),
                 cache.used / 2**20, frame_cache_mb)
    summary = _write_model(out_pt, model, progress.rows, src, settings=settings,
                           settings_hash=settings_hash, encoder_pt=encoder_pt,
                           pseudo_labels_h5=pseudo_labels_h5, seconds=time.perf_counter() - t_start,
                           dev=dev, loss_csv=loss_csv)
    ckpt_path.unlink(missing_ok=True)
    return {**summary, "resumed_from": progress.resumed_from,
            "cached_videos": len(cache) if cache else 0}


def _epoch_plan(s: dict, videos: list[TrainVideo], n_normal: int) -> tuple[EpochPlan, int]:
    """The epoch loop's plan from the settings ``s``, and the batches per epoch (the larger
    class sets it: one half-batch of each class per batch)."""
    n_batches = math.ceil(max(n_normal, len(videos) - n_normal) * s["clips_per_video"]
                          / (s["batch_size"] // 2))
    steps_per_epoch = math.ceil(n_batches / s["accumulate"])
    plan = EpochPlan(epochs=s["epochs"], clips_per_video=s["clips_per_video"],
                     batch_size=s["batch_size"], accumulate=s["accumulate"],
                     sampling=s["sampling"], crop_scales=s["crop_scales"],
                     class_weights=s["class_weights"], lr=s["lr"],
                     lr_schedule=s["lr_schedule"],
                     warmup_steps=s["warmup_epochs"] * steps_per_epoch,
                     steps_per_epoch=steps_per_epoch, freeze_epochs=s["freeze_epochs"],
                     warmup=s["warmup"], freeze_bn_stats=s["freeze_bn_stats"],
                     train_from=s["train_from"], grad_clip=s["grad_clip"], seed=s["seed"],
                     threads=s["threads"])
    return plan, n_batches


def _build_model(src: "_Inputs", s: dict, encoder_pt, dev) -> MISTModel:
    try:
        model = MISTModel(src.encoder, input_size=src.prep.crop, k=s["k"], dropout=s["dropout"],
                          sga=s["sga"], guided_head=s["guided_head"]).to(dev)
    except ValueError as err:
        raise InputError(f"fine-tuning settings: cannot build the MIST model on {encoder_pt} "
                         f"at input size {src.prep.crop}: {err}") from None
    if s["train_frame"] and (problem := frame_size_problem(model, s["train_frame"])):
        h, w = s["train_frame"]
        raise InputError(f"fine-tuning settings: train frame {h}x{w} does not fit the "
                         f"{model.arch} model on {encoder_pt} ({problem}); use sides that are "
                         f"multiples of 32 (datasets.<name>.train_frame in the config)")
    return model


@dataclass
class _Inputs:
    encoder: nn.Module
    vanilla_weights: str
    encoder_sha: str
    prep: Preprocess
    labels_sha: str | None
    videos: list[TrainVideo]
    skipped: list


def _load_inputs(encoder_pt, videos_csv, pseudo_labels_h5, *, labels: str,
                 input_size: int | None, train_frame: Sequence[int] | None,
                 train_from: str | None) -> _Inputs:
    """The vanilla encoder, its preprocessing and the training videos with their labels."""
    encoder, _ = load_encoder(encoder_pt)
    if isinstance(encoder, MISTModel):
        raise InputError(f"{encoder_pt}: already a fine-tuned MIST model; stage II starts from "
                         f"the vanilla encoder (encoder_vanilla.pt)")
    vanilla_weights = weights_sha256(encoder)
    if train_from and train_from not in encoder.endpoints:
        raise InputError(f"fine-tuning settings: train_from {train_from!r} is not an endpoint "
                         f"of the {encoder.arch.upper()} encoder of {encoder_pt}; choose one of "
                         f"{', '.join(encoder.endpoints)} (datasets.<name>.train_from in the "
                         f"config), or leave it out to fine-tune the whole encoder")
    # whole frames: resized straight to train_frame, as score_mist's --frame-size at test
    prep = (Preprocess(encoder.arch, input_size, FULL_FRAME, tuple(train_frame)) if train_frame
            else Preprocess(encoder.arch, input_size))
    labels_by_video = labels_sha = None
    if labels == "pseudo":
        labels_by_video = read_pseudo_labels(pseudo_labels_h5)
        labels_sha = file_sha256(pseudo_labels_h5)
    table = read_video_table(videos_csv)
    videos, skipped = _training_videos(table, labels_by_video, videos_csv, pseudo_labels_h5)
    return _Inputs(encoder, vanilla_weights, file_sha256(encoder_pt), prep, labels_sha, videos,
                   skipped)


def _write_model(out_pt: Path, model: MISTModel, rows: list[list[float]], src: _Inputs, *,
                 settings: dict, settings_hash: str, encoder_pt, pseudo_labels_h5,
                 seconds: float, dev, loss_csv) -> dict:
    """Save the trained model with its meta (and the loss CSV); the run's summary."""
    model.eval()
    epochs = settings["epochs"]
    n_normal = sum(v.label == 0 for v in src.videos)
    total_clips = int(sum(r[5] for r in rows))
    train_seconds = float(sum(r[6] for r in rows))
    clips_per_second = total_clips / train_seconds if train_seconds > 0 else 0.0
    final_loss = float(rows[-1][2])
    meta = {"settings": settings, "settings_hash": settings_hash, "epochs": epochs,
            "final_loss": final_loss, "seconds": seconds,
            "train_seconds": train_seconds, "clips_per_second": clips_per_second,
            "encoder": {"path": str(encoder_pt), "sha256": src.encoder_sha,
                        "weights_sha256": src.vanilla_weights},
            "pseudo_labels": (None if src.labels_sha is None
                              else {"path": str(pseudo_labels_h5), "sha256": src.labels_sha}),
            "train_videos": {"normal": n_normal, "abnormal": len(src.videos) - n_normal,
                             "left_out": src.skipped},
            "device": dev.type, "torch": torch.__version__, **cpu_kernels.record()}
    digest = save_mist_model(out_pt, model.cpu(), meta)
    if loss_csv is not None:
        _write_loss_csv(loss_csv, rows)
    log.info("MIST model written to %s [weights %s]: %d epochs, final loss %.4f, %.2f clips/s",
             out_pt, digest[:12], epochs, final_loss, clips_per_second)
    return {"epochs": epochs, "clips": total_clips, "seconds": train_seconds,
            "clips_per_second": clips_per_second, "final_loss": final_loss}


def main(argv: list[str] | None = None) -> None:
    p = StepParser(finetune, "MIST stage II: fine-tune the vanilla encoder with self-guided "
                   "attention on clip-level pseudo labels (balanced normal/abnormal batches, "
                   "resumable).")
    p.add_argument("--encoder", required=True, help="vanilla encoder file (mist-encoder-v1 .pt)")
    p.shared("videos", out="output MIST model (.pt); the resumable checkpoint is kept beside "
             "it as <out>.ckpt while training")
    p.add_argument("--pseudo-labels",
                   help="pseudo-label file (.h5) of stage I (needed with --labels pseudo)")
    p.add_argument("--labels", choices=LABEL_MODES,
                   help="pseudo: clip targets from the pseudo labels; video: every clip of an "
                   "abnormal video is 1 (ablation)")
    p.add_argument("--sampling", choices=SAMPLING_MODES, help="abnormal videos' clips: pseudo: "
                   "in proportion to the pseudo labels; uniform: one per segment")
    p.add_argument("--input-size", type=int,
                   help="crop side in px (default: the encoder's, I3D 224 / C3D 112)")
    p.add_argument("--class-weights", type=float, nargs=2, metavar=("W0", "W1"),
                   help="weights of the anomalous and normal loss terms (the paper uses "
                   "1.2 0.8 for UCF-Crime I3D)")
    p.add_argument("--crop-scales", type=float, nargs="+", metavar="S",
                   help="crop side / frame short side, one drawn per clip (1.0 alone: flips "
                   "only)")
    p.add_argument("--train-frame", type=int, nargs=2, metavar=("H", "W"),
                   help="train on whole frames resized to H x W (no crop; --crop-scales unused)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--clips-per-video", type=int, help="per epoch")
    p.add_argument("--batch-size", type=int,
                   help="clips per batch, even: half normal, half abnormal")
    p.add_argument("--accumulate", type=int, help="micro-batches per optimiser step")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--warmup-epochs", type=int,
                   help="linear warm-up of the learning rate over these epochs")
    p.add_argument("--warmup", choices=WARMUPS, help="by optimiser step, or by epoch (official)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="after the warm-up: cosine decay towards 0, or constant")
    p.add_argument("--freeze-epochs", type=int,
                   help="epochs with the backbone (weights and BatchNorm statistics) frozen")
    p.add_argument("--freeze-bn-stats", action=argparse.BooleanOptionalAction,
                   help="hold the frozen backbone's BatchNorm statistics too (--no-...: they "
                   "keep updating, the official SHT I3D's --use_bn_sta)")
    p.add_argument("--train-from", metavar="ENDPOINT",
                   help="train the encoder from this endpoint on (e.g. mixed_5b), the blocks "
                   "before it frozen throughout (default: the whole encoder, as the paper)")
    p.add_argument("--grad-clip", type=float, help="gradient-norm clip, 0 disables")
    p.add_argument("--k", type=int, help="SGA's k (2k channels)")
    p.add_argument("--dropout", type=float, help="before H_c")
    p.add_argument("--sga", action=argparse.BooleanOptionalAction,
                   help="self-guided attention (--no-sga, ablation: H_c on the final map only)")
    p.add_argument("--guided-head", action=argparse.BooleanOptionalAction,
                   help="the guided head H_g and its loss (--no-guided-head: attention without "
                   "them, ablation)")
    p.shared("seed", "threads", "device", "determinism")
    p.add_argument("--frame-cache-mb", type=int, metavar="MIB",
                   help="keep resized training frames in memory across epochs up to this "
                   "many MiB (0: decode every epoch; same weights either way)")
    p.add_argument("--loss-csv", help="output CSV of the per-epoch loss")
    p.add_argument("--stop-after", type=int,
                   help="stop after this many epochs as if killed (testing; default: run all)")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
