"""The config schema: the shipped config is valid; mistakes are named precisely."""

import copy

import pytest
import yaml
from workflow_utils import REPO, TINY_CONFIG, load_config

from mist_steps.config_schema import ConfigError, validate_config

SCHEMA = REPO / "schemas" / "config.schema.yaml"


def check(config):
    validate_config(config, SCHEMA)


def rejected(mutate) -> str:
    config = load_config(tiny=False)
    mutate(config)
    with pytest.raises(ConfigError) as info:
        check(config)
    return str(info.value)


def test_shipped_configs_are_valid():
    check(load_config(tiny=False))
    check(load_config(tiny=True))
    assert yaml.safe_load(TINY_CONFIG.read_text())  # the tiny overrides file parses


def test_typo_key_named_with_suggestion():
    msg = rejected(lambda c: c["synth"].__setitem__("sede", 3))
    assert "synth.sede: unknown key" in msg
    assert "did you mean 'seed'" in msg


def test_unknown_top_level_key():
    msg = rejected(lambda c: c.__setitem__("datsets", {}))
    assert "datsets: unknown key (did you mean 'datasets'?)" in msg


def test_wrong_type_names_key_and_expected_type():
    msg = rejected(lambda c: c["synth"].__setitem__("fps", "25fps"))
    assert "synth.fps: expected integer, got str '25fps'" in msg


def test_float_written_as_string_is_rejected():
    # YAML reads `1e-3` as a string; the schema must catch it rather than pass it on.
    config = load_config(tiny=False)
    config["datasets"]["sht"]["frames_fps"] = yaml.safe_load("x: 1e-3")["x"]
    with pytest.raises(ConfigError, match="datasets.sht.frames_fps: expected number, got str"):
        check(config)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("crf", -1, "synth.crf: -1 is less than the minimum of 0"),
        ("min_frames", 8, "synth.min_frames: 8 is less than the minimum of 40"),
        ("height", 95, "synth.height: 95 is not a multiple of 2"),
        ("codec", "h265", "synth.codec: 'h265' is not one of ['h264', 'mpeg4']"),
    ],
)
def test_out_of_range_values(key, value, expected):
    assert expected in rejected(lambda c: c["synth"].__setitem__(key, value))


def test_crop_scales_must_be_shares_of_the_frame():
    problem = rejected(lambda c: c["datasets"]["synth"].__setitem__("crop_scales", [1.0, 1.5]))
    assert "datasets.synth.crop_scales.1: 1.5 is greater than the maximum of 1" in problem
    empty = rejected(lambda c: c["datasets"]["synth"].__setitem__("crop_scales", []))
    assert "datasets.synth.crop_scales" in empty


def test_min_frames_above_max_frames():
    msg = rejected(lambda c: c["synth"].update(min_frames=500, max_frames=200))
    assert "synth: min_frames 500 is larger than max_frames 200" in msg
    # a second benchmark's render settings are checked merged over the synth section
    msg = rejected(lambda c: c["datasets"]["synth"].__setitem__("render", {"min_frames": 481}))
    assert "datasets.synth.render: min_frames 481 is larger than max_frames 480" in msg


def test_render_settings_only_for_synth_datasets():
    assert "datasets.synth.render.fps: 0 is less than the minimum of 1" in rejected(
        lambda c: c["datasets"]["synth"].__setitem__("render", {"fps": 0}))
    assert "datasets.synth.render.colour: unknown key" in rejected(
        lambda c: c["datasets"]["synth"].__setitem__("render", {"colour": 1}))
    assert "datasets.ucf.render: not allowed for this dataset format" in rejected(
        lambda c: c["datasets"]["ucf"].__setitem__("render", {"seed": 1}))


def test_dataset_entries_checked_per_format():
    assert "datasets.ucf: 'root' is a required property" in rejected(lambda c: c["datasets"]["ucf"].pop("root"))
    assert "datasets.sht: 'masks' is a required property" in rejected(lambda c: c["datasets"]["sht"].pop("masks"))
    assert "datasets.synth.root: not allowed for this dataset format" in rejected(
        lambda c: c["datasets"]["synth"].__setitem__("root", "x")
    )
    assert "'UCF_2' does not match" in rejected(lambda c: c["datasets"].__setitem__("UCF_2", {"format": "synth"}))


def test_every_problem_is_listed():
    def two_mistakes(c):
        c["synth"]["fps"] = "x"
        c["synth"]["crf"] = 99

    msg = rejected(two_mistakes)
    assert "synth.fps" in msg and "synth.crf" in msg


def test_valid_config_is_not_modified():
    config = load_config(tiny=False)
    before = copy.deepcopy(config)
    check(config)
    assert config == before
