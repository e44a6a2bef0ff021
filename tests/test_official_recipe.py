"""The paper's recipe where the paper's data is: the planned jobs of the UCF-Crime and
ShanghaiTech targets carry the official code's stage settings; synth keeps its CPU recipe."""

from __future__ import annotations

import shlex

import pytest
from workflow_utils import load_config, snakemake, write_config

from mist_steps.data.dataset_plan import expected_videos


def _stand_in_dataset(config: dict, dataset: str, root) -> None:
    """Empty files (and frame folders) wherever the split files promise a video."""
    entry = config["datasets"][dataset]
    entry["root"] = str(root)
    for path in expected_videos(entry["format"], root, entry["train_list"],
                                test_annotations=entry.get("test_annotations"),
                                test_list=entry.get("test_list")):
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)


def _flags(run, step: str) -> dict[str, str]:
    """The flags of the one planned `step` command: --name -> its value(s) ("" for a switch)."""
    lines = [line for line in run.stdout.splitlines()
             if f"python -m mist_steps.steps.{step} " in line]
    assert len(lines) == 1, (step, lines)
    words = shlex.split(lines[0].split(" > ")[0])
    flags, name = {}, None
    for word in words[words.index(f"mist_steps.steps.{step}") + 1:]:
        if word.startswith("--"):
            name = word
            flags[name] = ""
        else:
            flags[name] = f"{flags[name]} {word}".strip()
    return flags


def _plan(tmp_path, dataset: str | None, target: str, ok: bool = True):
    """A dry run of ``target`` (shell commands printed), over stand-in files of ``dataset``
    (None: a rendered dataset, nothing to stand in for)."""
    config = load_config(tiny=False)
    if dataset is not None:
        _stand_in_dataset(config, dataset, tmp_path / "data" / dataset)
    write_config(tmp_path, config)
    run = snakemake(tmp_path, "-n", "--printshellcmds", target)
    assert (run.returncode == 0) == ok, run.stdout[-3000:] + run.stderr[-3000:]
    return run


OFFICIAL_GENERATOR = {"--loss": "topk", "--topk": "7", "--steps": "3001", "--restarts": "1",
                      "--sub-bags": "32",
                      "--batch-normal": "40", "--batch-abnormal": "40", "--lr": "0.01",
                      "--weight-decay": "0.001", "--grad-clip": "10.0", "--lambda": "0.01"}
OFFICIAL_I3D_FINETUNE = {"--epochs": "301", "--clips-per-video": "3", "--batch-size": "60",
                         "--accumulate": "3", "--lr": "0.0001", "--weight-decay": "0.0005",
                         "--warmup-epochs": "5", "--warmup": "epoch",
                         "--lr-schedule": "constant", "--freeze-epochs": "30",
                         "--no-freeze-bn-stats": "", "--grad-clip": "20.0",
                         "--sampling": "uniform", "--dropout": "0.8", "--k": "8"}
OFFICIAL = {
    ("ucf", "i3d"): (OFFICIAL_GENERATOR | {"--clips-per-bag": "4"},
                     OFFICIAL_I3D_FINETUNE | {"--class-weights": "1.2 0.8"}),
    ("ucf", "c3d"): (OFFICIAL_GENERATOR | {"--clips-per-bag": "3"},
                     OFFICIAL_I3D_FINETUNE | {"--batch-size": "192", "--accumulate": "5",
                                              "--freeze-epochs": "60", "--freeze-bn-stats": "",
                                              "--class-weights": "1.0 1.0"}),
    ("sht", "i3d"): (OFFICIAL_GENERATOR | {"--clips-per-bag": "7"},
                     OFFICIAL_I3D_FINETUNE | {"--class-weights": "0.8 0.65"}),
    ("sht", "c3d"): (OFFICIAL_GENERATOR | {"--clips-per-bag": "7"},
                     OFFICIAL_I3D_FINETUNE | {"--accumulate": "1", "--grad-clip": "10.0",
                                              "--freeze-bn-stats": "",
                                              "--class-weights": "1.0 1.0"}),
}


@pytest.mark.parametrize("dataset, encoder", sorted(OFFICIAL))
def test_real_targets_plan_the_official_recipe(tmp_path, dataset, encoder):
    run = _plan(tmp_path, dataset, f"results/{dataset}_{encoder}_auc.json")
    generator, finetune = OFFICIAL[dataset, encoder]
    planned = _flags(run, "train_generator")
    assert {k: planned.get(k) for k in generator} == generator
    planned = _flags(run, "finetune")
    expected = {k: v for k, v in finetune.items()}
    if "--freeze-bn-stats" in expected:  # C3D: no BatchNorm, the switch is the default's
        expected.pop("--no-freeze-bn-stats")
    assert {k: planned.get(k) for k in expected} == expected
    assert "--train-from" not in planned and "--crop-scales" not in planned  # whole encoder
    # the official test input: I3D's whole frame resized, C3D's centre crop
    frame = {("ucf", "i3d"): "256 340", ("sht", "i3d"): "240 320"}.get((dataset, encoder))
    assert _flags(run, "score_mist").get("--frame-size") == frame


def test_synth_keeps_its_cpu_recipe(tmp_path):
    run = _plan(tmp_path, None, "results/synth_i3d_auc.json")
    planned = _flags(run, "train_generator")
    assert planned["--steps"] == "300" and planned["--loss"] == "paper"
    assert planned["--restarts"] == "5"
    planned = _flags(run, "finetune")
    assert {k: planned[k] for k in ("--epochs", "--batch-size", "--lr", "--warmup",
                                    "--lr-schedule", "--train-from", "--train-frame")} == {
        "--epochs": "17", "--batch-size": "8", "--lr": "0.0003", "--warmup": "step",
        "--lr-schedule": "cosine", "--train-from": "mixed_5b", "--train-frame": "64 64"}
    assert "--freeze-bn-stats" in planned and "--crop-scales" not in planned
    assert _flags(run, "score_mist")["--frame-size"] == "64 64"  # the whole frame, as trained


def test_a_variant_still_wins_over_the_dataset_recipe(tmp_path):
    run = _plan(tmp_path, "sht", "results/sht_i3d-seed3_auc.json")
    planned = _flags(run, "finetune")
    assert planned["--seed"] == "3" and planned["--epochs"] == "301"


@pytest.mark.parametrize("encoder", ["i3d", "c3d"])
def test_released_pseudo_labels_replace_stage_one(tmp_path, encoder):
    run = _plan(tmp_path, "sht", f"results/sht_{encoder}-releasedpl_auc.json")
    planned = _flags(run, "import_pseudo_labels")
    assert planned["--released"].endswith(f"resources/mist_official/SHT_{encoder.upper()}_PLs.npy")
    assert _flags(run, "finetune")["--pseudo-labels"] == (
        f"results/sht_{encoder}-releasedpl/pseudo_labels_released.h5")
    assert "mist_steps.steps.train_generator" not in run.stdout  # no stage I at all
    assert "mist_steps.steps.extract_shard" not in run.stdout


def test_released_pseudo_labels_need_the_datasets_file(tmp_path):
    run = _plan(tmp_path, "ucf", "results/ucf_i3d-releasedpl_auc.json", ok=False)
    assert "datasets.ucf.released_pseudo_labels has no i3d file" in run.stdout + run.stderr


def test_ucf_measures_its_maps_on_the_official_spatial_boxes(tmp_path):
    run = _plan(tmp_path, "ucf", "results/ucf_i3d/explain/hits_cam.json")
    planned = _flags(run, "attention_hits")
    assert planned["--boxes"].endswith("resources/mist_official/Test_Spatial_Annotation.npy")
    assert planned["--method"] == "cam"


def test_the_smoke_target_plans_a_tiny_run(tmp_path):
    """The README's one-minute smoke run: the whole chain, tiny settings of its own."""
    run = _plan(tmp_path, None, "results/smoke_i3d_auc.json")
    generator = _flags(run, "train_generator")
    assert generator["--steps"] == "20" and generator["--restarts"] == "1"
    assert _flags(run, "finetune")["--epochs"] == "2"
    shards = [line for line in run.stdout.splitlines() if "steps.extract_shard " in line]
    assert len(shards) == 2 and all("--input-size 32" in line for line in shards)
