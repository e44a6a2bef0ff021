"""Step train_generator: MIST's multiple-instance pseudo-label generator (stage I).

:func:`train_generator` - the MIL regressor of :mod:`mist_steps.training.mil` on the vanilla
features of the TRAINING videos (video-level labels only). Each step draws ``batch_normal``
normal and ``batch_abnormal`` abnormal training videos - without replacement within a step, or
with replacement when fewer such videos exist (e.g. ShanghaiTech has 63 abnormal training
videos) - samples each into L sub-bags (sparse continuous sampling, or ``uniform`` segments),
and takes one Adagrad step (lr 0.01, weight decay 0.001, gradient norm clipped at 10) on the
chosen loss. The official code walks through shuffled epochs instead; with one batch per
epoch on ShanghaiTech (the only dataset its stage-I script handles) the two coincide in
distribution. The number of steps is the caller's: the official script runs 3001 epochs,
i.e. 3001 steps on ShanghaiTech (min(175, 63) // 40 = 1 batch per epoch) and would run
60 020 on UCF-Crime (800 // 40 = 20 batches per epoch).

Training videos listed in the features' skipped list, or absent from the features file, are
left out with a log line; no normal or no abnormal training video left is an error.

Determinism and resuming: one seed drives the weight initialisation (a torch.Generator), the
batch and shift draws (a numpy Generator) and dropout (torch's RNG, forked so a caller's is
untouched); ``torch.use_deterministic_algorithms`` is on while training. Same inputs, seed
and ``threads`` -> bitwise identical weights on one machine type (CPU). Every
``checkpoint_every`` steps the model, optimizer, both RNG states and the loss rows so far go
to ``<out>.ckpt`` (atomic); a rerun with the same settings (hash over every setting that
changes the result, the features file's sha256 and the training video list - not ``steps``
nor ``threads``) resumes from it and ends with exactly the weights of an uninterrupted run.
The side file is removed once the output is written. The log has a line ``step k/N: loss``
every tenth of ``checkpoint_every`` steps, so a killed run's log tells how far it got.

Speed (``benchmarks/generator_speed.py``, UCF-Crime-sized random I3D features, L = 32, T = 4,
one busy 2-core CPU): ~0.34 s per step with ``threads=1`` (~18 min for 3001 steps, plus
~1 min to hash and load 1610 videos); ``threads=2`` was slower there (~0.57 s), as torch's
thread hand-offs cost more than they gain on a loaded machine. All training data is held in
memory (crop mean: float32 [n, 1, D] per video, ~3 GB for UCF-Crime I3D).

Output ``mist-generator-v1`` (``torch.load(..., weights_only=True)``): a dict with
``format``, ``state_dict``, ``config`` (dim, dropout, crops, l2_normalize, n_crops) and
``meta`` (settings, settings_hash, features {path, sha256, attrs}, train_videos {normal,
abnormal, left_out}, steps_done, final_loss, seconds, threads, torch). The loss CSV
(optional): one row per step - ``step, loss, hinge, sparsity, seconds`` (step 1-based;
seconds = that step's wall time).

Command line: ``python -m mist_steps.steps.train_generator --help``; the score_generator step
scores videos with the trained generator.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import time
from pathlib import Path

import torch

from mist_steps import cpu_kernels
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.selection import select_videos
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path, write_text
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.features import FeatureFile
from mist_steps.formats.generator_file import generator_document
from mist_steps.formats.resume import settings_digest
from mist_steps.models.generator import DROPOUT
from mist_steps.training.determinism import seeded_torch
from mist_steps.training.generator_loop import (
    CKPT_FORMAT,
    LOSS_COLUMNS,
    RESULT_SETTINGS,
    _check_settings,
    _load_training_set,
    restart_checkpoint,
    restart_seed,
    run_steps,
    training_objective,
)
from mist_steps.training.mil import (
    CROP_MODES,
    LOSSES,
    SAMPLINGS,
)

log = logging.getLogger(__name__)


def _settings_hash(settings: dict, features_sha: str, videos: list[tuple[str, int]]) -> str:
    return settings_digest(settings, RESULT_SETTINGS, CKPT_FORMAT, features_sha256=features_sha,
                           videos=videos)


def _write_loss_csv(path, rows: list[list[float]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LOSS_COLUMNS)
    for step, loss, hinge, sparsity, seconds in rows:
        writer.writerow([int(step), f"{loss:.6g}", f"{hinge:.6g}", f"{sparsity:.6g}",
                         f"{seconds:.4f}"])
    write_text(path, buf.getvalue())


def _select_and_load(features_h5: Path, videos_csv, settings: dict):
    """The training videos with features (both classes needed), the feature file's attributes
    and checksum, and the videos' bags loaded for training."""
    table = read_video_table(videos_csv)
    with FeatureFile(features_h5) as ff:
        root = ff.attrs()
        chosen = select_videos(table, ff, "train", videos_csv=videos_csv)
        n_normal = chosen.labels.count(0)
        n_abnormal = chosen.labels.count(1)
        if n_normal == 0 or n_abnormal == 0:
            raise InputError(
                f"{videos_csv} with {features_h5}: {n_normal} normal and {n_abnormal} abnormal "
                f"training videos have features; MIL training needs both (check the split, "
                f"the labels and the skipped videos)")
        log.info("training on %d normal + %d abnormal videos (%d left out) of %s",
                 n_normal, n_abnormal, len(chosen.left_out), features_h5)
        log.info("hashing %s", features_h5)
        features_sha = file_sha256(features_h5)
        data = _load_training_set(ff, chosen.ids, settings)
    return chosen, root, features_sha, data


def train_generator(features_h5, videos_csv, out_pt, *, clips_per_bag: int, steps: int,
                    sampling: str = "sparse", sub_bags: int = 32, loss: str = "paper",
                    topk: int = 7, epsilon: float = 1.0, lam: float = 0.01, crops: str = "mean",
                    l2_normalize: bool = False, batch_normal: int = 40, batch_abnormal: int = 40,
                    lr: float = 0.01, weight_decay: float = 0.001, grad_clip: float = 10.0,
                    seed: int = 0, restarts: int = 1, threads: int = 1,
                    checkpoint_every: int = 100, loss_csv=None,
                    stop_after: int | None = None) -> dict | None:
    """Train the generator (module docstring) and write ``out_pt`` (and ``loss_csv``).

    ``stop_after``: stop after this many steps (counted from step 0 of the first restart) as
    if the job were killed - nothing is written but the checkpoints - and return None; for
    tests and time-sliced runs. Returns a summary dict otherwise.
    """
    settings = {"sampling": sampling, "sub_bags": int(sub_bags),
                "clips_per_bag": int(clips_per_bag), "loss": loss, "topk": int(topk),
                "epsilon": float(epsilon), "lam": float(lam), "crops": crops,
                "l2_normalize": bool(l2_normalize), "steps": int(steps),
                "batch_normal": int(batch_normal), "batch_abnormal": int(batch_abnormal),
                "lr": float(lr), "weight_decay": float(weight_decay),
                "grad_clip": float(grad_clip), "seed": int(seed), "dropout": DROPOUT}
    _check_settings(settings)
    if steps < 1 or checkpoint_every < 1 or threads < 1 or restarts < 1:
        raise InputError(f"steps, restarts, checkpoint_every and threads must be >= 1; got "
                         f"{steps}, {restarts}, {checkpoint_every}, {threads}")
    features_h5, out_pt = Path(features_h5), Path(out_pt)
    t_start = time.perf_counter()
    chosen, root, features_sha, data = _select_and_load(features_h5, videos_csv, settings)
    run = _Run(data, [i for i, lab in enumerate(chosen.labels) if lab == 0],
               [i for i, lab in enumerate(chosen.labels) if lab == 1], settings,
               dim=int(root["dim"]), n_crops=int(root["n_crops"]), out_pt=out_pt,
               features_h5=features_h5, features_sha=features_sha,
               videos=[[v, lab] for v, lab in zip(chosen.ids, chosen.labels)], threads=threads,
               checkpoint_every=checkpoint_every)
    trained = run.best_of(restarts, stop_after)
    if trained is None:
        return None
    model, rows, report = trained
    seconds = time.perf_counter() - t_start
    config = {"dim": run.dim, "dropout": DROPOUT, "crops": crops,
              "l2_normalize": bool(l2_normalize), "n_crops": run.n_crops}
    meta = {"settings": {**settings, "restarts": int(restarts)},
            "settings_hash": run.settings_hash(report["seed"]),
            "features": {"path": str(features_h5), "sha256": features_sha, "attrs": root},
            "train_videos": {"normal": len(run.normal), "abnormal": len(run.abnormal),
                             "left_out": chosen.left_out},
            "restarts": report, "steps_done": steps, "final_loss": rows[-1][1],
            "seconds": seconds, "threads": int(threads), "torch": torch.__version__,
            **cpu_kernels.record()}
    with atomic_path(out_pt) as tmp:
        torch.save(generator_document(model, config, meta), tmp)
    if loss_csv is not None:
        _write_loss_csv(loss_csv, rows)
    for r in range(restarts):
        restart_checkpoint(out_pt, r).unlink(missing_ok=True)
    log.info("generator written to %s: restart %d of %d (seed %d), %d steps, final loss %.4f, "
             "%.1f s", out_pt, report["chosen"], restarts, report["seed"], steps, rows[-1][1],
             seconds)
    return {"steps": steps, "final_loss": rows[-1][1], "seconds": seconds,
            "normal": len(run.normal), "abnormal": len(run.abnormal),
            "left_out": len(chosen.left_out), "restart": report["chosen"]}


class _Run:
    """One stage-I training set and its settings; :meth:`best_of` trains the restarts."""

    def __init__(self, data, normal, abnormal, settings, *, dim, n_crops, out_pt, features_h5,
                 features_sha, videos, threads, checkpoint_every):
        self.data, self.normal, self.abnormal, self.settings = data, normal, abnormal, settings
        self.dim, self.n_crops, self.out_pt, self.features_h5 = dim, n_crops, out_pt, features_h5
        self.features_sha, self.videos, self.threads = features_sha, videos, threads
        self.checkpoint_every = checkpoint_every

    def settings_hash(self, seed: int) -> str:
        return _settings_hash({**self.settings, "seed": seed}, self.features_sha, self.videos)

    def _one(self, restart: int, seed: int, stop_after: int | None, keep_final: bool):
        s = {**self.settings, "seed": seed}
        n_bags_normal = s["batch_normal"] * (self.n_crops if s["crops"] == "separate" else 1)
        with seeded_torch(self.threads, seed):
            trained = run_steps(self.data, self.normal, self.abnormal, s, dim=self.dim,
                                n_bags_normal=n_bags_normal,
                                ckpt_path=restart_checkpoint(self.out_pt, restart),
                                settings_hash=self.settings_hash(seed),
                                features_h5=self.features_h5,
                                checkpoint_every=self.checkpoint_every, stop_after=stop_after,
                                keep_final=keep_final)
            if trained is None:
                return None
            return (*trained, training_objective(trained[0], self.data, self.normal,
                                                 self.abnormal, s))

    def best_of(self, restarts: int, stop_after: int | None):
        """Train ``restarts`` generators (seeds :func:`restart_seed`) and keep the one whose
        training objective over the whole training set is lowest (the first on a tie):
        ``(model, loss rows, report)``, or None when ``stop_after`` stopped it."""
        steps, best, tried = self.settings["steps"], None, []
        for r in range(restarts):
            left = None if stop_after is None else stop_after - r * steps
            if left is not None and left <= 0:
                return None
            seed = restart_seed(self.settings["seed"], r)
            trained = self._one(r, seed, left if left is not None and left < steps else None,
                                keep_final=restarts > 1)
            if trained is None:
                return None
            model, rows, objective = trained
            tried.append({"restart": r, "seed": seed, "objective": objective,
                          "final_loss": rows[-1][1]})
            log.info("restart %d/%d (seed %d): training objective %.4f", r + 1, restarts, seed,
                     objective)
            if best is None or objective < best[2]:
                best = (model, rows, objective, r, seed)
        model, rows, _, chosen, seed = best
        return model, rows, {"chosen": chosen, "seed": seed, "tried": tried}


def main(argv: list[str] | None = None) -> None:
    p = StepParser(train_generator, "MIST stage I: train the multiple-instance pseudo-label "
                   "generator on video-level labels.")
    p.add_argument("--features", required=True, help="vanilla feature file (.h5)")
    p.shared("videos", out="output generator file (.pt); the resumable checkpoint is kept "
             "beside it as <out>.ckpt while training")
    p.add_argument("--loss-csv", help="output CSV of the per-step loss (optional)")
    p.add_argument("--steps", type=int, required=True,
                   help="optimisation steps (official: 3001 epochs = 3001 steps on ShanghaiTech)")
    p.add_argument("--clips-per-bag", type=int, required=True, metavar="T",
                   help="clips per sub-bag (authors: 4 UCF-Crime I3D, 3 UCF-Crime C3D, "
                   "7 ShanghaiTech)")
    p.add_argument("--sub-bags", type=int, metavar="L",
                   help="sub-bags per video (uniform: segments)")
    p.add_argument("--sampling", choices=SAMPLINGS,
                   help="sparse: sparse continuous sampling (MIST); uniform: L averaged "
                   "segments (Sultani et al.)")
    p.add_argument("--loss", choices=LOSSES,
                   help="paper: Eq. 7 on sub-bag max scores; topk: the official code's "
                   "mean of the top-k clip scores")
    p.add_argument("--topk", type=int, help="k of --loss topk")
    p.add_argument("--epsilon", type=float, help="hinge margin")
    p.add_argument("--lambda", dest="lam", type=float, help="sparsity weight")
    p.add_argument("--crops", choices=CROP_MODES,
                   help="mean: average the crops of a clip; separate: every crop its own bag")
    p.add_argument("--l2-normalize", action=argparse.BooleanOptionalAction,
                   help="L2-normalise every clip feature")
    p.add_argument("--batch-normal", type=int, help="normal videos per step")
    p.add_argument("--batch-abnormal", type=int, help="abnormal videos per step")
    p.add_argument("--lr", type=float, help="Adagrad learning rate")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--grad-clip", type=float, help="gradient-norm clip")
    p.shared("seed", "threads", "determinism")
    p.add_argument("--restarts", type=int,
                   help="train this many generators (seed, then seeds derived from it) and keep "
                   "the one with the lowest training objective over the whole training set")
    p.add_argument("--checkpoint-every", type=int, help="steps between resumable checkpoints")
    p.add_argument("--stop-after", type=int,
                   help="stop after this many steps as if killed (testing; default: run all)")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
