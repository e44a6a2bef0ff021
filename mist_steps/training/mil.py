"""Building block: MIST's multiple-instance pseudo-label generator (stage I, paper Alg. 1 l. 2-3).

Network, sampling, losses, clip scoring and the ``mist-generator-v1`` file, shared by the
generator training/scoring step and the pseudo-label step. Choices follow the official code
(fjchange/MIST_VAD, ``stage1training/``) unless noted.

Network
    Linear(D, 512) - ReLU - Dropout(0.6) - Linear(512, 32) - Dropout(0.6) - Linear(32, 1) -
    Sigmoid; Kaiming-normal weights (fan-in, ReLU gain), zero biases. One score per clip.

Clip features (:func:`prepare_features`)
    ``crops="mean"``: the crops of a clip are averaged into one feature before the network;
    ``crops="separate"``: every crop is its own instance (and, in training, its own bag: a video
    with K crops gives K bags sampled at the same clip indices); a clip's score is then the mean
    of its crops' scores. ``l2_normalize``: each clip feature (after the crop mean, or each crop)
    is divided by its L2 norm (the official ``--norm 2``).

Sampling of a training video of n clips into L sub-bags of T clips
    ``sparse`` (sparse continuous sampling, :func:`sparse_continuous_indices`), as the official
    ``sample_feat`` does it: start points ``floor(linspace(0, n - T, L + 1))``, the first L
    kept, plus ONE random shift shared by all sub-bags, drawn uniformly from
    ``[0, (n - T) // (L + 1))`` (no shift when that range is empty). Every sub-bag lies inside
    the video; the first starts at the shift (so shift 0 covers clip 0); over the possible
    shifts the last can end within ``(n - T) / (L (L + 1)) + 3`` clips of the video's end (the
    official code's flooring leaves those few final clips unsampled). Short videos:

    * ``T <= n`` and ``n - T < L + 1``: no shift; start points repeat (several sub-bags share
      a start) - the sub-bags overlap, every clip index is still valid;
    * ``n < L * T`` in general: neighbouring sub-bags overlap (start spacing < T);
    * ``n < T`` (the official code would index before the video start, wrapping to its end):
      every sub-bag is clips ``0 .. n-1`` followed by the last clip repeated up to T.

    ``uniform`` (Sultani et al. 2018, the baseline of the paper's Table 4): the video is cut
    into L segments at ``round(linspace(0, n, L + 1))`` and each segment's (prepared) clip
    features are averaged (then re-normalised when ``l2_normalize``, so training sees unit
    vectors as scoring does); a segment is one instance, i.e. T = 1. A video shorter than L
    clips gives empty ranges; such a segment takes the single clip ``floor(l * n / L)``.

Losses on the sub-bag scores S_l (mean of the T clip scores of sub-bag l)
    ``paper`` (Eq. 7): ``(eps - max_l S^a_l + max_l S^n_l)_+ + (lam / L) sum_l S^a_l``,
    averaged over every normal x abnormal pair of the batch (:func:`paper_loss`);
    ``topk`` (official code): bag score = mean of the k highest clip scores over all L*T
    sampled clips, same hinge over pairs, sparsity ``lam * mean`` of all abnormal clip scores
    (:func:`topk_loss`). The two sparsity terms are the same number (mean of S^a_l = mean of
    the clip scores); the official smoothness term has weight 0 there and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mist_steps.models.generator import Generator

SAMPLINGS = ("sparse", "uniform")
LOSSES = ("paper", "topk")
CROP_MODES = ("mean", "separate")
SCORE_BATCH_CLIPS = 8192  # rows per forward pass when scoring (bounded memory on long videos)


# --------------------------------------------------------------------------- features


def prepare_features(x: torch.Tensor, crops: str, l2_normalize: bool) -> torch.Tensor:
    """Clip features ``[..., K, D]`` (K crops) -> network inputs ``[..., K', D]`` float32.

    ``crops="mean"``: K' = 1, the crop average; ``"separate"``: K' = K. With
    ``l2_normalize`` each resulting row is divided by its norm (a zero row stays zero).
    """
    if crops not in CROP_MODES:
        raise ValueError(f"crops must be one of {CROP_MODES}; got {crops!r}")
    x = x.float()
    if crops == "mean":
        x = x.mean(dim=-2, keepdim=True)
    if l2_normalize:
        x = nn.functional.normalize(x, dim=-1)
    return x


# --------------------------------------------------------------------------- sampling


def sparse_continuous_indices(n_clips: int, sub_bags: int, clips_per_bag: int,
                              rng: np.random.Generator) -> np.ndarray:
    """Clip indices ``[L, T]`` of one video's sub-bags (module docstring for the rules)."""
    n, L, T = int(n_clips), int(sub_bags), int(clips_per_bag)
    if n < 1 or L < 1 or T < 1:
        raise ValueError(f"need n_clips, sub_bags, clips_per_bag >= 1; got {n}, {L}, {T}")
    if n < T:
        # Too short for one sub-bag: the whole video, its last clip repeated to fill T.
        return np.tile(np.minimum(np.arange(T), n - 1), (L, 1))
    starts = np.linspace(0, n - T, L + 1).astype(np.int64)[:L]
    room = (n - T) // (L + 1)
    shift = int(rng.integers(room)) if room >= 1 else 0
    return (starts + shift)[:, None] + np.arange(T)[None, :]


def uniform_segment_bounds(n_clips: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) clip of each of ``segments`` equal segments;
    every segment holds at least one clip (module docstring)."""
    n, L = int(n_clips), int(segments)
    if n < 1 or L < 1:
        raise ValueError(f"need n_clips, segments >= 1; got {n}, {L}")
    edges = np.round(np.linspace(0, n, L + 1)).astype(np.int64)
    starts, ends = edges[:-1].copy(), edges[1:].copy()
    empty = ends <= starts
    starts[empty] = (np.arange(L)[empty] * n) // L
    ends[empty] = starts[empty] + 1
    return starts, ends


def segment_means(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mean of ``x[s:e]`` along axis 0 for every segment; float32 ``[L, *x.shape[1:]]``."""
    # float64 running sums: exact enough over thousands of clips, one pass for all segments.
    c = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0, dtype=np.float64)])
    counts = (ends - starts).reshape(-1, *([1] * (x.ndim - 1)))
    return ((c[ends] - c[starts]) / counts).astype(np.float32)


def uniform_segment_features(x: torch.Tensor, segments: int, l2_normalize: bool) -> torch.Tensor:
    """Prepared clip features ``[n, K', D]`` -> segment features ``[L, K', D]`` (uniform)."""
    starts, ends = uniform_segment_bounds(x.shape[0], segments)
    seg = torch.from_numpy(segment_means(x.numpy(), starts, ends))
    return nn.functional.normalize(seg, dim=-1) if l2_normalize else seg


def draw_batch(n_videos: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``batch`` videos out of ``n_videos``: without replacement, or with
    replacement when fewer videos exist than the batch needs."""
    return rng.choice(n_videos, size=batch, replace=n_videos < batch)


# --------------------------------------------------------------------------- losses


@dataclass
class LossParts:
    total: torch.Tensor
    hinge: torch.Tensor
    sparsity: torch.Tensor


def pairwise_hinge(bag_normal: torch.Tensor, bag_abnormal: torch.Tensor,
                   epsilon: float) -> torch.Tensor:
    """``mean_{i,j} (eps - a_j + n_i)_+`` over every normal i x abnormal j pair."""
    return torch.relu(epsilon - bag_abnormal[None, :] + bag_normal[:, None]).mean()


def paper_loss(sub_normal: torch.Tensor, sub_abnormal: torch.Tensor, *, epsilon: float = 1.0,
               lam: float = 0.01) -> LossParts:
    """Eq. 7 on sub-bag scores ``[Bn, L]`` and ``[Ba, L]``, averaged over all pairs."""
    hinge = pairwise_hinge(sub_normal.max(dim=1).values, sub_abnormal.max(dim=1).values, epsilon)
    # (lam / L) sum_l S^a_l does not depend on the normal bag: its mean over the pairs is the
    # mean over the abnormal bags.
    sparsity = lam * sub_abnormal.mean(dim=1).mean()
    return LossParts(hinge + sparsity, hinge, sparsity)


def topk_loss(clip_normal: torch.Tensor, clip_abnormal: torch.Tensor, *, k: int = 7,
              epsilon: float = 1.0, lam: float = 0.01) -> LossParts:
    """The official code's variant on clip scores ``[Bn, M]`` and ``[Ba, M]`` (M sampled
    clips per bag): bag score = mean of the top ``k`` (``k`` capped at M)."""
    k = min(int(k), clip_normal.shape[1])
    bag_n = clip_normal.topk(k, dim=1).values.mean(dim=1)
    bag_a = clip_abnormal.topk(k, dim=1).values.mean(dim=1)
    hinge = pairwise_hinge(bag_n, bag_a, epsilon)
    sparsity = lam * clip_abnormal.mean()
    return LossParts(hinge + sparsity, hinge, sparsity)


def bag_loss(scores_normal: torch.Tensor, scores_abnormal: torch.Tensor, *, loss: str,
             topk: int, epsilon: float, lam: float) -> LossParts:
    """Clip scores ``[B, L, T]`` of the normal and abnormal bags -> the chosen loss."""
    if loss == "paper":
        return paper_loss(scores_normal.mean(dim=2), scores_abnormal.mean(dim=2),
                          epsilon=epsilon, lam=lam)
    if loss == "topk":
        return topk_loss(scores_normal.flatten(1), scores_abnormal.flatten(1), k=topk,
                         epsilon=epsilon, lam=lam)
    raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")


# --------------------------------------------------------------------------- scoring


@torch.no_grad()
def score_features(model: Generator, features: np.ndarray | torch.Tensor, *, crops: str,
                   l2_normalize: bool, batch_clips: int = SCORE_BATCH_CLIPS) -> np.ndarray:
    """Score every clip of one video: features ``[n, K, D]`` -> float32 ``[n]``.

    Consistent with training: ``crops="mean"`` averages the crop features first,
    ``"separate"`` averages the crop scores. Eval mode (no dropout); batched over clips.
    """
    x = torch.as_tensor(features)
    if x.ndim != 3 or x.shape[-1] != model.dim:
        raise ValueError(f"features must be [n_clips, n_crops, {model.dim}]; got {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    try:
        out = [model(prepare_features(x[i:i + batch_clips], crops, l2_normalize)).mean(dim=-1)
               for i in range(0, x.shape[0], batch_clips)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32, copy=False)
