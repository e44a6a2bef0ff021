"""The vanilla encoder shipped in resources/encoders: checksum, strict load, recipe."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import yaml

from mist_steps.formats.encoder_file import load_encoder
from mist_steps.formats.public_weights import load_encoder_weights
from mist_steps.models import build_encoder
from mist_steps.synth.motion_clips import PRIMITIVES
from mist_steps.synth.proxy_clips import DEFAULT_CLASSES

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "resources/encoders/i3d_proxy_seed0.pt"


def _config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_checksum_matches_the_recorded_one():
    recorded = (SHIPPED.parent / (SHIPPED.name + ".sha256")).read_text().split()
    assert recorded[1] == SHIPPED.name
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == recorded[0]


def test_default_config_points_at_it():
    assert _config()["encoders"]["i3d"]["weights"] == str(SHIPPED.relative_to(ROOT))


def test_loads_strictly_and_was_made_by_the_configured_recipe():
    model, meta = load_encoder(SHIPPED)
    assert meta["source"] == "proxy" and meta["val_accuracy"] > 0.9
    assert meta["motion"]["val_map"] > 2 * meta["motion"]["positive_rate"]
    # strict: every key of I3D with the motion task's head, nothing left over
    fresh = build_encoder("i3d", len(PRIMITIVES))
    report = load_encoder_weights(fresh, SHIPPED, head="strict")
    assert report.head == "loaded"
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    recipe = _config()["encoders"]["i3d"]["pretrain"]
    proxy = meta["proxy"]
    assert set(recipe) == {"input_size", "steps", "motion_steps", "batch_size", "lr",
                           "weight_decay", "val_clips", "seed"}
    for key in set(recipe) - {"seed"}:
        assert proxy[key] == recipe[key], key
    assert meta["seed"] == recipe["seed"] == 0
    assert list(proxy["classes"]) == list(DEFAULT_CLASSES)
    assert list(proxy["motion_primitives"]) == list(PRIMITIVES)
