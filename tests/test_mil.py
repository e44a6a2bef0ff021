"""The MIL building block: network, sampling, losses and clip scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mist_steps.models.generator import Generator, build_generator
from mist_steps.training.mil import (
    bag_loss,
    draw_batch,
    paper_loss,
    prepare_features,
    score_features,
    segment_means,
    sparse_continuous_indices,
    topk_loss,
    uniform_segment_bounds,
)


def _starts(n, L, T):
    return np.linspace(0, n - T, L + 1).astype(int)[:L]


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("n,L,T", [(450, 32, 4), (1000, 32, 7), (200, 32, 3), (97, 8, 5)])
def test_sparse_indices_shape_continuity_and_shared_shift(n, L, T):
    rng = np.random.default_rng(1)
    room = (n - T) // (L + 1)
    shifts = set()
    for _ in range(50):
        idx = sparse_continuous_indices(n, L, T, rng)
        assert idx.shape == (L, T) and idx.size == L * T
        assert (np.diff(idx, axis=1) == 1).all()  # consecutive clips inside a sub-bag
        assert idx.min() >= 0 and idx.max() <= n - 1
        shift = idx[:, 0] - _starts(n, L, T)
        assert (shift == shift[0]).all()  # ONE shift, shared by every sub-bag
        assert 0 <= shift[0] < room
        shifts.add(int(shift[0]))
    assert len(shifts) > 1  # the shift is random


def test_sparse_indices_cover_the_video_from_start_to_end():
    n, L, T = 450, 32, 4
    starts, room = _starts(n, L, T), (n - T) // (L + 1)
    covered = set()
    for shift in range(room):  # every shift the sampler can draw
        covered |= set((starts[:, None] + shift + np.arange(T)).ravel().tolist())
    last = max(covered)
    assert min(covered) == 0
    assert covered == set(range(last + 1))  # no clip between the first and last is unreachable
    assert n - 1 - last <= (n - T) / (L * (L + 1)) + 3
    # and the sampler really reaches both ends
    rng = np.random.default_rng(0)
    draws = [sparse_continuous_indices(n, L, T, rng) for _ in range(400)]
    assert min(d.min() for d in draws) == 0
    assert max(d.max() for d in draws) == last


def test_sparse_indices_short_videos():
    rng = np.random.default_rng(0)
    # shorter than one sub-bag: the whole video, its last clip repeated
    idx = sparse_continuous_indices(3, 32, 4, rng)
    assert idx.shape == (32, 4) and (idx == [0, 1, 2, 2]).all()
    assert (sparse_continuous_indices(1, 5, 3, rng) == 0).all()
    # exactly one sub-bag long: every sub-bag is the whole video
    assert (sparse_continuous_indices(4, 32, 4, rng) == np.arange(4)).all()
    # shorter than L*T: no room for a shift, start points repeat, sub-bags overlap
    for n in (20, 40, 100):
        for _ in range(10):
            idx = sparse_continuous_indices(n, 32, 4, rng)
            assert idx.max() <= n - 1 and (np.diff(idx, axis=1) == 1).all()
            assert (np.diff(idx[:, 0]) >= 0).all()
            if (n - 4) // 33 == 0:
                assert (idx[:, 0] == _starts(n, 32, 4)).all()
    assert len(set(sparse_continuous_indices(20, 32, 4, rng)[:, 0].tolist())) < 32


def test_uniform_segments():
    starts, ends = uniform_segment_bounds(100, 32)
    assert starts[0] == 0 and ends[-1] == 100
    assert (starts[1:] == ends[:-1]).all() and (ends > starts).all()
    starts, ends = uniform_segment_bounds(10, 32)  # shorter than L: one clip per segment
    assert (ends - starts == 1).all()
    assert (starts == (np.arange(32) * 10) // 32).all()
    x = np.arange(10, dtype=np.float32)[:, None]
    means = segment_means(x, np.array([0, 3, 9]), np.array([3, 9, 10]))
    assert means[:, 0].tolist() == pytest.approx([1.0, 5.5, 9.0])


def test_draw_batch_without_then_with_replacement():
    rng = np.random.default_rng(0)
    picks = draw_batch(50, 40, rng)
    assert len(set(picks.tolist())) == 40
    picks = draw_batch(10, 40, rng)
    assert len(picks) == 40 and set(picks.tolist()) <= set(range(10))


# --------------------------------------------------------------------------- losses


def test_paper_loss_by_hand():
    sub_n = torch.tensor([[0.1, 0.3], [0.2, 0.4]])  # max 0.3, 0.4
    sub_a = torch.tensor([[0.9, 0.5], [0.2, 0.6]])  # max 0.9, 0.6
    parts = paper_loss(sub_n, sub_a, epsilon=1.0, lam=0.01)
    # pairs: 1-.9+.3=.4, 1-.6+.3=.7, 1-.9+.4=.5, 1-.6+.4=.8 -> mean .6
    assert float(parts.hinge) == pytest.approx(0.6)
    # (0.01/2)(0.9+0.5) = .007 and (0.01/2)(0.2+0.6) = .004 -> mean .0055
    assert float(parts.sparsity) == pytest.approx(0.0055)
    assert float(parts.total) == pytest.approx(0.6055)
    # the hinge clamps at zero: only (n=.4, a=.6) is inside a 0.25 margin: .25-.6+.4=.05
    assert float(paper_loss(sub_n, sub_a, epsilon=0.25, lam=0.0).hinge) == pytest.approx(0.05 / 4)


def test_bag_loss_paper_averages_each_sub_bag():
    clips_n = torch.tensor([[[0.0, 0.2], [0.3, 0.3]]])  # sub-bags 0.1, 0.3
    clips_a = torch.tensor([[[1.0, 0.6], [0.0, 0.2]]])  # sub-bags 0.8, 0.1
    parts = bag_loss(clips_n, clips_a, loss="paper", topk=7, epsilon=1.0, lam=0.1)
    assert float(parts.hinge) == pytest.approx(1 - 0.8 + 0.3)
    assert float(parts.sparsity) == pytest.approx(0.1 * (0.8 + 0.1) / 2)


def test_topk_loss_by_hand():
    clip_n = torch.tensor([[0.1, 0.2, 0.9, 0.4]])  # top-2 mean .65
    clip_a = torch.tensor([[0.8, 0.7, 0.1, 0.0], [0.3, 0.3, 0.3, 0.3]])  # .75, .3
    parts = topk_loss(clip_n, clip_a, k=2, epsilon=1.0, lam=0.01)
    assert float(parts.hinge) == pytest.approx((0.9 + 1.35) / 2)
    assert float(parts.sparsity) == pytest.approx(0.01 * 2.8 / 8)
    assert float(parts.total) == pytest.approx(1.125 + 0.0035)
    # via the dispatcher on [B, L, T] clip scores: the same numbers
    same = bag_loss(clip_n.view(1, 2, 2), clip_a.view(2, 2, 2), loss="topk", topk=2,
                    epsilon=1.0, lam=0.01)
    assert float(same.total) == pytest.approx(float(parts.total))
    # k beyond the bag size means the whole bag
    assert float(topk_loss(clip_n, clip_a, k=99, lam=0).hinge) == pytest.approx(
        ((1 - 0.4 + 0.4) + (1 - 0.3 + 0.4)) / 2)


# --------------------------------------------------------------------------- network, scoring


def test_generator_architecture_and_init():
    model = build_generator(256, generator=torch.Generator().manual_seed(0))
    kinds = [type(m).__name__ for m in model.net]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "Dropout", "Linear", "Sigmoid"]
    linears = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(256, 512), (512, 32), (32, 1)]
    assert all(m.p == 0.6 for m in model.net if isinstance(m, torch.nn.Dropout))
    for m in linears:
        assert (m.bias == 0).all()
    for m in linears[:2]:  # enough weights for a tight estimate of the Kaiming std
        assert float(m.weight.detach().std()) == pytest.approx(math.sqrt(2 / m.in_features),
                                                               rel=0.05)
    out = model.eval()(torch.randn(5, 7, 256))
    assert out.shape == (5, 7) and ((out > 0) & (out < 1)).all()
    again = build_generator(256, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.net[0].weight, model.net[0].weight)


def test_prepare_features():
    x = torch.tensor([[[3.0, 0.0], [1.0, 4.0]]])  # 1 clip, 2 crops
    assert prepare_features(x, "mean", False).tolist() == [[[2.0, 2.0]]]
    unit = prepare_features(x, "mean", True)
    assert unit.tolist()[0][0] == pytest.approx([2 ** -0.5, 2 ** -0.5])
    sep = prepare_features(x, "separate", True)
    assert sep.shape == (1, 2, 2)
    assert sep[0, 1].tolist() == pytest.approx([1 / 17 ** 0.5, 4 / 17 ** 0.5])
    assert torch.linalg.norm(sep, dim=-1).flatten().tolist() == pytest.approx([1.0, 1.0])


def test_score_features_crop_modes_and_batching():
    torch.manual_seed(0)
    model = build_generator(8, generator=torch.Generator().manual_seed(1))
    x = np.random.default_rng(0).normal(size=(10, 3, 8)).astype(np.float32)
    with torch.no_grad():
        by_mean = model.eval()(torch.from_numpy(x).mean(1)).numpy()
        by_crop = model(torch.from_numpy(x)).mean(1).numpy()
    got_mean = score_features(model, x, crops="mean", l2_normalize=False, batch_clips=3)
    got_sep = score_features(model, x, crops="separate", l2_normalize=False, batch_clips=4)
    assert got_mean.dtype == np.float32 and got_mean.shape == (10,)
    np.testing.assert_allclose(got_mean, by_mean, rtol=1e-6)
    np.testing.assert_allclose(got_sep, by_crop, rtol=1e-6)
    assert not np.allclose(got_mean, got_sep)
    # eval mode: deterministic, dropout off; the model's training flag is restored
    model.train()
    np.testing.assert_array_equal(score_features(model, x, crops="mean", l2_normalize=False),
                                  score_features(model, x, crops="mean", l2_normalize=False))
    assert model.training
    with pytest.raises(ValueError, match="features must be"):
        score_features(model, x[..., :4], crops="mean", l2_normalize=False)


def test_generator_forward_is_per_clip():
    model = Generator(4).eval()
    x = torch.randn(6, 4)
    whole = model(x)
    parts = torch.cat([model(x[:2]), model(x[2:])])
    assert torch.allclose(whole, parts)
