"""Benchmark of MIST stage I: how long does training (and scoring) the generator take?

One command, one report::

    python -m benchmarks.generator_speed [--steps 40] [--clips-per-bag 4] [--sub-bags 32]
        [--dim 1024] [--threads 2] [--scale 1.0] [--crops 1] [--no-score]

Random features shaped like UCF-Crime's: 1610 training videos (800 normal, 810 abnormal) and
290 test videos, clip counts drawn from a lognormal with median 300 clips and sigma 0.9 (mean
~450 clips = ~7200 frames, UCF-Crime's average; clipped to 8..12 000), D = 1024 (I3D),
post-ReLU-like values, stored float16 as the extraction writes them. ``--scale`` shrinks
the video counts for a quick look (the per-step cost does not depend on them).

It runs the real step (:func:`mist_steps.steps.train_generator.train_generator`, default settings:
L = 32 sub-bags of T clips, 40 + 40 videos per step, Adagrad) for ``--steps`` steps, then
reports: the one-time cost (hashing + loading the features), the median seconds per step
(after 5 warm-up steps) and steps/s, and the extrapolated time of full trainings: 3001 steps
(the official script's 3001 epochs, one batch per epoch on ShanghaiTech) and 60 020 steps
(3001 epochs of 800 // 40 = 20 batches, what that script would run on UCF-Crime). With
scoring on, it also times :func:`~mist_steps.steps.score_generator.score_videos` over the test
videos.
Not a test: the numbers depend on the machine and its load. (``python
benchmarks/generator_speed.py ...`` works too.) The suite (``python -m benchmarks``) compares
the same step function with a plain PyTorch loop instead: :mod:`benchmarks.training`.
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mist_steps import SNIPPET_LEN
from mist_steps.formats.features import FeatureWriter
from mist_steps.steps.score_generator import score_videos
from mist_steps.steps.train_generator import train_generator

UCF = {"train_normal": 800, "train_abnormal": 810, "test_normal": 150, "test_abnormal": 140}
RUN_ATTRS = {"encoder": "random", "weights_sha256": "0" * 64, "crop_mode": "center",
             "input_size": 224, "feature": "feature"}
WARMUP = 5
FULL_STEPS = {"official ShanghaiTech (3001 epochs x 1 batch)": 3001,
              "official loop on UCF-Crime (3001 epochs x 20 batches)": 60020}


def make_features(folder: Path, *, scale: float, dim: int, crops: int, seed: int = 0,
                  counts: dict[str, int] = UCF, clip_range: tuple[int, int] | None = None):
    """videos.csv and a float16 feature file of random videos: ``counts`` (default
    UCF-Crime's) times ``scale`` per split and label, with clip counts drawn from
    ``clip_range`` (uniform, inclusive) or, by default, UCF-Crime-like (lognormal)."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, count in counts.items():
        split, kind = key.split("_")
        for i in range(max(2, round(count * scale))):
            n = (int(rng.integers(clip_range[0], clip_range[1] + 1)) if clip_range else
                 int(np.clip(rng.lognormal(np.log(300), 0.9), 8, 12000)))
            rows.append({"video_id": f"{split}_{kind}_{i:04d}", "path": "", "split": split,
                         "label": int(kind == "abnormal"),
                         "class": "Abuse" if kind == "abnormal" else "Normal",
                         "frame_count": n * SNIPPET_LEN, "fps": 30.0})
    table = pd.DataFrame(rows)
    table.to_csv(folder / "videos.csv", index=False)
    t0 = time.perf_counter()
    with FeatureWriter(folder / "features.h5", RUN_ATTRS, dtype="float16") as w:
        for row in table.itertuples(index=False):
            n = row.frame_count // SNIPPET_LEN
            x = np.abs(rng.standard_normal((n, crops, dim), dtype=np.float32))
            w.add(row.video_id, 0.5 * x, fps=30.0, frame_count=row.frame_count,
                  n_frames_decoded=row.frame_count)
    clips = int((table["frame_count"] // SNIPPET_LEN).sum())
    return table, clips, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=40, help="steps to time (default 40)")
    p.add_argument("--clips-per-bag", type=int, default=4, help="T (default 4, UCF-Crime I3D)")
    p.add_argument("--sub-bags", type=int, default=32, help="L (default 32)")
    p.add_argument("--dim", type=int, default=1024, help="feature size (default 1024, I3D)")
    p.add_argument("--crops", type=int, default=1, help="crops per clip stored (default 1)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of UCF-Crime's video "
                   "counts (default 1.0)")
    p.add_argument("--no-score", action="store_true", help="skip timing the scoring")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="mist-genbench-") as tmp:
        tmp = Path(tmp)
        table, clips, t_make = make_features(tmp, scale=args.scale, dim=args.dim,
                                             crops=args.crops)
        size_gb = (tmp / "features.h5").stat().st_size / 1e9
        print(f"features: {len(table)} videos, {clips} clips x {args.crops} crop(s) x "
              f"{args.dim}, {size_gb:.2f} GB on disk (written in {t_make:.0f} s)")

        t0 = time.perf_counter()
        summary = train_generator(tmp / "features.h5", tmp / "videos.csv", tmp / "g.pt",
                                  steps=args.steps, clips_per_bag=args.clips_per_bag,
                                  sub_bags=args.sub_bags, threads=args.threads,
                                  checkpoint_every=10 ** 9, loss_csv=tmp / "loss.csv")
        total = time.perf_counter() - t0
        with open(tmp / "loss.csv") as fh:
            step_s = [float(r["seconds"]) for r in csv.DictReader(fh)]
        per_step = statistics.median(step_s[WARMUP:] or step_s)
        setup = total - sum(step_s)
        print(f"training: {summary['normal']} normal + {summary['abnormal']} abnormal videos, "
              f"L={args.sub_bags}, T={args.clips_per_bag}, 40+40 videos/step, "
              f"{args.threads} thread(s)")
        print(f"  one-time setup (hash + load features): {setup:.1f} s")
        print(f"  {per_step * 1000:.1f} ms/step median -> {1 / per_step:.2f} steps/s "
              f"({args.steps} steps timed, first {WARMUP} excluded)")
        for name, steps in FULL_STEPS.items():
            est = setup + steps * per_step
            print(f"  {steps:>6} steps, {name}: ~{est / 60:.1f} min")

        if not args.no_score:
            t0 = time.perf_counter()
            s = score_videos(tmp / "g.pt", tmp / "features.h5", tmp / "videos.csv",
                             tmp / "scores.h5", split="test", threads=args.threads)
            sec = time.perf_counter() - t0
            print(f"scoring the test split: {s['videos']} videos, {s['clips']} clips in "
                  f"{sec:.1f} s ({s['clips'] / sec:.0f} clips/s, reading included)")


if __name__ == "__main__":
    main()
