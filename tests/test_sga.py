"""Self-guided attention model, its class-weighted loss and its file format."""

import math

import pytest
import torch

from mist_steps.errors import InputError
from mist_steps.formats.encoder_file import load_encoder
from mist_steps.formats.mist_model import load_mist_model, save_mist_model
from mist_steps.models import build_encoder
from mist_steps.models.sga import MISTModel, weighted_cross_entropy


@pytest.mark.parametrize(
    "arch, size, tap_channels, final_channels, att_hw",
    [
        ("i3d", 64, 832, 1024, (2, 2)),  # Mixed_4f 4x4 -> F1 stride 2 -> 2x2 = Mixed_5c
        ("c3d", 64, 512, 512, (4, 4)),  # conv4b 8x8 -> 4x4 = conv5b
    ],
)
def test_sga_shapes_on_both_taps(arch, size, tap_channels, final_channels, att_hw):
    torch.manual_seed(0)
    model = MISTModel(build_encoder(arch, 2), input_size=size).eval()
    assert model.sga.f1.in_channels == tap_channels and model.sga.f2.out_channels == 16
    assert model.sga.att.kernel_size == (2, 1, 1)  # 4 tap time steps - 2 (F1, no time padding)
    x = torch.randn(3, 3, 16, size, size)
    with torch.no_grad():
        out = model(x)
        m = model.encoder.forward_until(x, model.tap)
        final = model.encoder.forward_from(m, model.tap)
    assert out.logits.shape == (3, 2) and out.guided_logits.shape == (3, 2)
    assert out.attention.shape == (3, *att_hw) and out.feature.shape == (3, final_channels)
    assert ((out.attention >= 0) & (out.attention <= 1)).all()
    # Fusion M_b + A * M_b, then the global average pool: the feature H_c sees.
    fused = final + out.attention[:, None, None] * final
    torch.testing.assert_close(out.feature, fused.mean(dim=(2, 3, 4)))
    scores = model.score(x)
    torch.testing.assert_close(scores, torch.softmax(out.logits, 1)[:, 1])


def test_guided_head_averages_k_groups():
    torch.manual_seed(0)
    model = MISTModel(build_encoder("i3d", 2), input_size=32, k=4).eval()
    m = torch.randn(2, 832, 4, 2, 2)
    h = torch.relu(model.sga.f2(torch.relu(model.sga.f1(m))))
    g = model.sga.guided(h).mean(dim=(2, 3, 4)).view(2, 2, 4).mean(2)
    torch.testing.assert_close(model.sga(m)[1], g)


def test_ablation_switches():
    enc = build_encoder("i3d", 2)
    plain = MISTModel(enc, input_size=32, sga=False).eval()
    assert plain.sga is None and not plain.use_guided_head
    out = plain(torch.randn(1, 3, 16, 32, 32))
    assert out.attention is None and out.guided_logits is None
    no_h_g = MISTModel(build_encoder("i3d", 2), input_size=32, guided_head=False).eval()
    out = no_h_g(torch.randn(1, 3, 16, 32, 32))
    assert out.attention is not None and out.guided_logits is None


def test_weighted_cross_entropy_against_hand_values():
    logits = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([1.0, 0.0, 0.25])
    w0, w1 = 1.2, 0.8
    p = [0.5, 1 / (1 + math.e), 1 / (1 + math.exp(-2))]  # softmax(...)[1]
    hand = [
        -w0 * 1.0 * math.log(p[0]),
        -w1 * 1.0 * math.log(1 - p[1]),
        -w0 * 0.25 * math.log(p[2]) - w1 * 0.75 * math.log(1 - p[2]),
    ]
    loss = weighted_cross_entropy(logits, y, w0, w1)
    assert loss.item() == pytest.approx(sum(hand) / 3, rel=1e-6)
    with pytest.raises(ValueError, match="expected logits"):
        weighted_cross_entropy(torch.zeros(3, 3), y, 1, 1)


def test_save_load_round_trip_and_encoder_dispatch(tmp_path):
    torch.manual_seed(1)
    model = MISTModel(build_encoder("c3d", 2), input_size=32, k=4, dropout=0.5, guided_head=False)
    path = tmp_path / "encoder_mist.pt"
    save_mist_model(path, model, {"epochs": 3})
    loaded, meta = load_mist_model(path)
    assert meta == {"epochs": 3} and loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    # load_encoder hands extraction the MIST model: its "feature" is the fused pooled map.
    as_encoder, _ = load_encoder(path)
    assert isinstance(as_encoder, MISTModel) and as_encoder.feature_dim("feature") == 512
    x = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(as_encoder.forward_features(x, ["feature"])["feature"], loaded(x).feature)


def test_corrupt_or_foreign_files_are_refused(tmp_path):
    model = MISTModel(build_encoder("i3d", 2), input_size=32)
    path = tmp_path / "m.pt"
    save_mist_model(path, model)
    doc = torch.load(path, weights_only=True)
    doc["state_dict"]["head_c.weight"] += 1  # edited weights: checksum mismatch
    torch.save(doc, tmp_path / "edited.pt")
    with pytest.raises(InputError, match="checksum mismatch"):
        load_mist_model(tmp_path / "edited.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a mist-model-v1 file"):
        load_mist_model(tmp_path / "other.pt")
