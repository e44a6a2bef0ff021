"""Benchmark of the training steps: does the pipeline add anything to the work itself?

Suite entries (``python -m benchmarks``): the real step functions against a plain PyTorch loop
written here, doing the same work, timed in turns (:func:`benchmarks.common.side_by_side`);
goal ratio >= 0.9.

**Generator (stage I)**: steps/s of :func:`mist_steps.steps.train_generator.train_generator` on
random
float16 features shaped like the synthetic default's training set (32 normal + 32 abnormal
videos of 10-30 clips, D = 1024; the step's defaults: L = 32 sub-bags of T = 4 clips, 40 + 40
videos a step, Adagrad, one thread), counted as steps / (wall time - the same call's set-up,
timed by a call that stops before step 1): hashing and loading the features are left out;
the progress bar, loss rows and a checkpoint every 15 steps (the workflow: every 50) are in.
The plain loop holds the same features in memory (float32 [n, 1, D], as the step keeps them)
and runs, per step: draw 40 normal and 40 abnormal videos (with replacement when fewer), sample
each by sparse continuous sampling, score each **distinct** sampled clip of a video once and
spread its score over the slots it fills (as the step's ``_Batcher`` does: "same work" means
the same forward and backward passes over the same rows, not the 32 x T slots of every video),
Eq. 7 of the paper, backward, gradient-norm clip, Adagrad step. Same model
(:func:`mist_steps.models.generator.build_generator`), same seed, same RNG draws, same torch
settings
(:func:`mist_steps.training.determinism.seeded_torch`): its losses equal the step's, which the suite
checks and reports (``same losses``), so the two do the same arithmetic.

**Fine-tuning (stage II)**: clips/s of :func:`mist_steps.steps.finetune.finetune` (its summary:
clips over the time of its epochs - decoding, augmenting and batching in its background
threads included; loading the encoder and the per-epoch checkpoints are left out and the
checkpoints' cost shown apart) on videos of the synthetic benchmark's renderer (96x96, 64-px
input, batch 8, 3 clips per video, backbone not frozen, 2 threads), against the plain loop:
the same :class:`~mist_steps.models.sga.MISTModel` on the same vanilla encoder, the same
number of batches of the same shape (uint8 clips [8, 16, 64, 64, 3] cut from the same videos
before timing, half normal and half abnormal), normalised, forward, the two class-weighted
cross-entropies, backward, gradient-norm clip, Adam. What the plain loop does not do is read
videos: the ratio is the share of the training time the data pipeline does not hide.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from benchmarks.common import (
    SYNTH_FRAME,
    SYNTH_INPUT,
    Row,
    per_run,
    render_synth_video,
    side_by_side,
    threads_text,
    timed,
    write_index,
)
from benchmarks.generator_speed import make_features
from mist_steps.models.generator import build_generator
from mist_steps.training.determinism import seeded_torch
from mist_steps.training.mil import sparse_continuous_indices

# -- stage I --------------------------------------------------------------------------------
SYNTH_COUNTS = {"train_normal": 32, "train_abnormal": 32, "test_normal": 2, "test_abnormal": 2}


@dataclass
class GeneratorSetup:
    """The generator's work per step (mist_steps.steps.train_generator defaults) and the
    benchmark's size."""

    steps: int = 30
    checkpoint_every: int = 15
    sub_bags: int = 32
    clips_per_bag: int = 4
    batch_normal: int = 40
    batch_abnormal: int = 40
    lr: float = 0.01
    weight_decay: float = 0.001
    grad_clip: float = 10.0
    epsilon: float = 1.0
    lam: float = 0.01
    seed: int = 0
    threads: int = 1
    dim: int = 1024
    counts: dict | None = None
    clip_range: tuple[int, int] = (10, 30)


def _load_means(features: Path, table) -> tuple[list[np.ndarray], list[int], list[int]]:
    """The training videos' crop-mean features float32 [n, 1, D], and the positions of the
    normal and abnormal ones (in videos.csv order, as the step orders them)."""
    train = table[table["split"] == "train"]
    data = []
    with h5py.File(features, "r") as f:
        for vid in train["video_id"]:
            x = torch.from_numpy(f["features"][vid][()])
            data.append(np.ascontiguousarray(x.float().mean(dim=-2, keepdim=True).numpy()))
    labels = train["label"].tolist()
    return (data, [i for i, y in enumerate(labels) if y == 0],
            [i for i, y in enumerate(labels) if y == 1])


def plain_generator_loop(data: list[np.ndarray], normal: list[int], abnormal: list[int],
                         g: GeneratorSetup) -> tuple[float, list[float]]:
    """The step's work in a plain loop (module docstring); returns (steps/s, losses)."""
    bn, ba, L, T = g.batch_normal, g.batch_abnormal, g.sub_bags, g.clips_per_bag
    with seeded_torch(g.threads, g.seed):
        model = build_generator(g.dim, generator=torch.Generator().manual_seed(g.seed)).train()
        opt = torch.optim.Adagrad(model.parameters(), lr=g.lr, weight_decay=g.weight_decay)
        rng = np.random.default_rng(g.seed)
        losses = []
        start = time.perf_counter()
        for _ in range(g.steps):
            picks = ([normal[i] for i in rng.choice(len(normal), bn, replace=len(normal) < bn)]
                     + [abnormal[i] for i in rng.choice(len(abnormal), ba,
                                                       replace=len(abnormal) < ba)])
            rows, slots, offset = [], [], 0
            for v in picks:
                idx = sparse_continuous_indices(len(data[v]), L, T, rng).reshape(-1)
                distinct, where = np.unique(idx, return_inverse=True)
                rows.append(data[v][distinct])
                slots.append(offset + where)
                offset += len(distinct)
            x = torch.from_numpy(np.concatenate(rows))
            scores = model(x)[torch.from_numpy(np.stack(slots))]  # [B, L*T, 1]
            sub = scores.permute(0, 2, 1).reshape(bn + ba, L, T).mean(dim=2)
            hinge = torch.relu(g.epsilon - sub[bn:].max(dim=1).values[None, :]
                               + sub[:bn].max(dim=1).values[:, None]).mean()
            loss = hinge + g.lam * sub[bn:].mean(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), g.grad_clip)
            opt.step()
            losses.append(float(loss.detach()))
        seconds = time.perf_counter() - start
    return g.steps / seconds, losses


def generator_ratio(tmp: Path, g: GeneratorSetup, repeats: int, quick: bool = False) -> dict:
    """Steps/s of the real step over the plain loop's, in turns (``quick``: no warm-up, no
    closing plain run)."""
    import pandas as pd

    from mist_steps.steps.train_generator import train_generator

    folder = tmp / "generator"
    folder.mkdir(exist_ok=True)
    table, clips, _ = make_features(folder, scale=1.0, dim=g.dim, crops=1,
                                    counts=g.counts or SYNTH_COUNTS, clip_range=g.clip_range)
    data, normal, abnormal = _load_means(folder / "features.h5", table)
    kw = dict(steps=g.steps, clips_per_bag=g.clips_per_bag, sub_bags=g.sub_bags,
              batch_normal=g.batch_normal, batch_abnormal=g.batch_abnormal, lr=g.lr,
              weight_decay=g.weight_decay, grad_clip=g.grad_clip, epsilon=g.epsilon,
              lam=g.lam, seed=g.seed, threads=g.threads, checkpoint_every=g.checkpoint_every)
    args = (folder / "features.h5", folder / "videos.csv", folder / "generator.pt")
    plain_losses: list[float] = []
    setups = []

    def real() -> float:
        _, setup = timed(lambda: train_generator(*args, **kw, stop_after=0))
        _, wall = timed(lambda: train_generator(*args, **kw, loss_csv=folder / "loss.csv"))
        setups.append(setup)
        return g.steps / (wall - setup)

    def plain() -> float:
        rate, losses = plain_generator_loop(data, normal, abnormal, g)
        plain_losses[:] = losses
        return rate

    if not quick:
        plain()  # warm-up
    turns = side_by_side(plain, real, repeats, bracket=not quick)
    real_losses = pd.read_csv(folder / "loss.csv")["loss"].to_numpy()
    same = bool(np.allclose(real_losses, plain_losses, rtol=1e-5, atol=1e-7))
    return {"ratio": turns.ratio, "ratios": turns.ratios, "real": statistics.median(turns.b),
            "plain": statistics.median(turns.a), "same_losses": same,
            "setup_s": statistics.median(setups), "videos": len(normal) + len(abnormal),
            "clips": clips}


# -- stage II -------------------------------------------------------------------------------
@dataclass
class FinetuneSetup:
    """Fine-tuning as the workflow runs it on the synthetic default, scaled down."""

    videos: int = 8  # per label
    frames: tuple[int, int] = (161, 321)
    frame_size: int = SYNTH_FRAME
    input_size: int = SYNTH_INPUT
    batch_size: int = 8
    clips_per_video: int = 3
    epochs: int = 1
    lr: float = 1e-4
    weight_decay: float = 5e-4
    grad_clip: float = 10.0
    threads: int = 2
    seed: int = 0

    @property
    def batches(self) -> int:
        half = self.batch_size // 2
        return self.epochs * -(-self.videos * self.clips_per_video // half)


def _training_videos(tmp: Path, f: FinetuneSetup) -> Path:
    """``f.videos`` normal and abnormal training videos of the synthetic renderer; videos.csv."""
    rng = np.random.default_rng(0)
    rows = []
    for label, cls in ((0, "Normal"), (1, "Fighting")):
        for i in range(f.videos):
            path = tmp / f"ft_{cls}_{i}.mp4"
            n = render_synth_video(path, int(rng.integers(f.frames[0], f.frames[1] + 1)),
                                   f.frame_size, index=i + 1, cls=cls)
            rows.append((path, n, label, "train"))
    return write_index(tmp / "ft_videos.csv", rows)


def _ready_batches(videos_csv: Path, f: FinetuneSetup, arch: str) -> list[tuple]:
    """``f.batches`` batches (uint8 clips [B, 16, S, S, 3], targets [B]) of centre crops of
    the videos' snippets, half normal and half abnormal, cut before any timing."""
    import pandas as pd

    from mist_steps.data.preprocess import Preprocess, crop_snippet
    from mist_steps.data.snippets import SnippetReader
    from mist_steps.data.video import open_video

    prep = Preprocess(arch, f.input_size)
    pools: dict[int, list[torch.Tensor]] = {0: [], 1: []}
    for row in pd.read_csv(videos_csv).itertuples():
        for snippet in SnippetReader(open_video(row.path), transform=prep.frame_resizer()):
            pools[row.label].append(crop_snippet(torch.from_numpy(snippet), prep.crop,
                                                 "center")[0])
    half = f.batch_size // 2
    out = []
    for b in range(f.batches):
        pick = [pools[y][(b * half + j) % len(pools[y])] for y in (0, 1) for j in range(half)]
        out.append((torch.stack(pick), torch.tensor([0.0] * half + [1.0] * half)))
    return out


def plain_finetune_loop(encoder_pt: Path, batches: list[tuple], f: FinetuneSetup) -> float:
    """Clips/s of the same training arithmetic on ready uint8 batches (module docstring)."""
    from mist_steps.data.preprocess import normalize
    from mist_steps.formats.encoder_file import load_encoder
    from mist_steps.models.sga import MISTModel, weighted_cross_entropy

    encoder, _ = load_encoder(encoder_pt)
    with seeded_torch(f.threads, f.seed):
        model = MISTModel(encoder, input_size=f.input_size).train()
        opt = torch.optim.Adam(model.parameters(), lr=f.lr, weight_decay=f.weight_decay)
        start = time.perf_counter()
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            out = model(normalize(encoder.arch, x))
            loss = (weighted_cross_entropy(out.logits, y, 1.0, 1.0)
                    + weighted_cross_entropy(out.guided_logits, y, 1.0, 1.0))
            loss.backward()
            float(loss.detach())
            torch.nn.utils.clip_grad_norm_(model.parameters(), f.grad_clip)
            opt.step()
        seconds = time.perf_counter() - start
    return len(batches) * f.batch_size / seconds


def finetune_ratio(tmp: Path, f: FinetuneSetup, repeats: int, quick: bool = False) -> dict:
    """Clips/s of the real fine-tuning step over the plain loop's, in turns (``quick``: no
    warm-up, no closing plain run)."""
    from benchmarks.common import random_encoder
    from mist_steps.data.preprocess import normalize
    from mist_steps.steps.finetune import finetune

    videos_csv = _training_videos(tmp, f)
    batches = _ready_batches(videos_csv, f, "i3d")
    encoder_pt = tmp / "ft_encoder.pt"
    random_encoder(encoder_pt, "i3d", [normalize("i3d", batches[0][0])])
    kw = dict(labels="video", input_size=f.input_size, epochs=f.epochs,
              clips_per_video=f.clips_per_video, batch_size=f.batch_size, lr=f.lr,
              weight_decay=f.weight_decay, warmup_epochs=0, freeze_epochs=0,
              grad_clip=f.grad_clip, seed=f.seed, threads=f.threads, device="cpu")
    saves = []

    def real() -> float:
        _, setup = timed(lambda: finetune(encoder_pt, videos_csv, tmp / "ft_mist.pt", **kw,
                                          stop_after=0))
        summary, wall = timed(lambda: finetune(encoder_pt, videos_csv, tmp / "ft_mist.pt",
                                               **kw))
        saves.append(wall - setup - summary["seconds"])
        return summary["clips_per_second"]

    if not quick:
        plain_finetune_loop(encoder_pt, batches[:1], f)  # warm-up
    turns = side_by_side(lambda: plain_finetune_loop(encoder_pt, batches, f), real, repeats,
                         bracket=not quick)
    return {"ratio": turns.ratio, "ratios": turns.ratios, "real": statistics.median(turns.b),
            "plain": statistics.median(turns.a), "save_s": statistics.median(saves),
            "batches": f.batches}


def suite_rows(tmp: Path, *, quick: bool, repeats: int) -> list[Row]:
    """The two training rows for ``python -m benchmarks`` (``quick``: tiny sizes)."""
    g = GeneratorSetup()
    f = FinetuneSetup()
    if quick:
        g = GeneratorSetup(steps=4, checkpoint_every=2, batch_normal=4, batch_abnormal=4,
                           dim=64, counts={"train_normal": 4, "train_abnormal": 4,
                                           "test_normal": 2, "test_abnormal": 2})
        f = FinetuneSetup(videos=1, frames=(40, 48), frame_size=48, input_size=32,
                          batch_size=2, clips_per_video=1, threads=1)
    gen = generator_ratio(tmp, g, repeats, quick)
    ft = finetune_ratio(tmp, f, repeats, quick)
    return [
        Row("G", "generator training: step / plain loop (steps/s)", gen["ratio"], "ratio",
            (">=", 0.9),
            f"{gen['real']:.2f} vs {gen['plain']:.2f} steps/s; {gen['videos']} training videos "
            f"of {g.clip_range[0]}-{g.clip_range[1]} clips, D={g.dim}, "
            f"{g.batch_normal}+{g.batch_abnormal} videos/step, L={g.sub_bags}, "
            f"T={g.clips_per_bag}, {threads_text(g.threads)}, {g.steps} steps; same losses: "
            f"{'yes' if gen['same_losses'] else 'NO'}; {per_run(gen['ratios'])}", extra=gen),
        Row("F", "fine-tuning: step / plain loop (clips/s)", ft["ratio"], "ratio", (">=", 0.9),
            f"{ft['real']:.2f} vs {ft['plain']:.2f} clips/s; I3D {f.input_size} px, "
            f"{ft['batches']} batches of {f.batch_size}, {2 * f.videos} videos of "
            f"{f.frame_size}x{f.frame_size}, {threads_text(f.threads)}; "
            f"{per_run(ft['ratios'])}; checkpoints + final save "
            f"{ft['save_s']:.1f} s a run, not counted", extra=ft),
    ]
