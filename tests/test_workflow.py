"""The workflow as a user drives it: DAG, start-up checks, lint, and a tiny real run."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from workflow_utils import REPO, load_config, snakemake, write_config


@pytest.fixture
def workdir(tmp_path):
    write_config(tmp_path, load_config(tiny=True))
    return tmp_path


def test_dry_run_builds_the_default_dag(tmp_path):
    write_config(tmp_path, load_config(tiny=False))
    run = snakemake(tmp_path, "-n", "--quiet", "rules")
    assert run.returncode == 0, run.stderr
    assert "make_synth" in run.stdout and "index_dataset" in run.stdout


def _commands(run, step):
    return [line for line in run.stdout.splitlines() if f"python -m mist_steps.steps.{step} " in line]


def test_robustness_table_runs_one_pipeline_per_encoder_seed(tmp_path):
    write_config(tmp_path, load_config(tiny=True, overrides={"encoder_seeds": [0, 3]}))
    run = snakemake(tmp_path, "-n", "--printshellcmds", "results/robustness/synth_i3d.md")
    assert run.returncode == 0, run.stderr
    # seed 0 is how the tiny default encoder is made: the default run is that row
    pretrain = _commands(run, "pretrain_encoder")
    assert len(pretrain) == 2
    assert any("--out results/encoders/i3d_vanilla.pt " in c and "--seed 0 " in c for c in pretrain)
    assert any("--out results/encoders/i3d_vanilla-enc3.pt " in c and "--seed 3 " in c
               and "--steps 2 " in c for c in pretrain)
    # each encoder has its own features, generator, fine-tuning; the benchmark is shared
    assert len(_commands(run, "make_synth")) == 1
    assert len(_commands(run, "finetune")) == 2
    assert any("--encoder results/encoders/i3d_vanilla-enc3.pt" in c
               and "--out results/synth_i3d-enc3/shards/vanilla_0.h5" in c
               for c in _commands(run, "extract_shard"))
    assert any("--features results/synth_i3d-enc3/features_vanilla.h5" in c
               for c in _commands(run, "train_generator"))
    assert any("--encoder results/encoders/i3d_vanilla-enc3.pt" in c
               and "--pseudo-labels results/synth_i3d-enc3/pseudo_labels.h5" in c
               for c in _commands(run, "finetune"))
    (table,) = _commands(run, "robustness_table")
    assert "results/synth_i3d-enc3_auc.json" in table and "--label 'Encoder seed'" in table
    assert "--features results/synth_i3d/features_vanilla.h5 results/synth_i3d-enc3/" in table
    # the shipped encoder stands for seed 0 when it records config.yaml's recipe ...
    write_config(tmp_path, load_config(tiny=False, overrides={"encoder_seeds": [0, 1]}))
    run = snakemake(tmp_path, "-n", "--printshellcmds", "results/robustness/synth_i3d.md")
    assert run.returncode == 0, run.stderr
    outs = sorted(re.search(r"--out (\S+)", c)[1] for c in _commands(run, "pretrain_encoder"))
    # the default's import, enc1's pretraining, no enc0 pretraining
    assert outs == ["results/encoders/i3d_vanilla-enc1.pt", "results/encoders/i3d_vanilla.pt"]
    (table,) = _commands(run, "robustness_table")
    assert "--mist results/synth_i3d_auc.json results/synth_i3d-enc1_auc.json" in table
    # ... and not when the recipe differs (here the tiny one): then seed 0 gets its own run
    config = load_config(tiny=True, overrides={"encoder_seeds": [0]})
    config["encoders"]["i3d"]["weights"] = str(REPO / "resources/encoders/i3d_proxy_seed0.pt")
    write_config(tmp_path, config)
    run = snakemake(tmp_path, "-n", "--printshellcmds", "results/robustness/synth_i3d.md")
    assert run.returncode == 0, run.stderr
    (pretrain,) = _commands(run, "pretrain_encoder")
    assert "--out results/encoders/i3d_vanilla-enc0.pt " in pretrain and "--weights" not in pretrain


def test_combined_variant_shares_the_stages_its_parts_leave_alone(tmp_path):
    write_config(tmp_path, load_config(tiny=True, overrides={"encoder_seeds": [0, 3]}))
    run = snakemake(tmp_path, "-n", "--printshellcmds",
                    "results/robustness/synth_i3d-officialclips.md")
    assert run.returncode == 0, run.stderr
    # enc3-officialclips: enc3's encoder, features, generator and pseudo labels; its own
    # fine-tuning with officialclips' settings
    assert len(_commands(run, "pretrain_encoder")) == 2
    assert len(_commands(run, "extract_shard")) == 2 * 2  # two encoders, two shards each
    assert len(_commands(run, "train_generator")) == 2
    tuned = _commands(run, "finetune")
    assert len(tuned) == 2
    (enc3,) = [c for c in tuned if "results/synth_i3d-enc3-officialclips/" in c]
    assert "--encoder results/encoders/i3d_vanilla-enc3.pt" in enc3
    assert "--pseudo-labels results/synth_i3d-enc3/pseudo_labels.h5" in enc3
    assert "--sampling uniform" in enc3 and "--lr-schedule constant" in enc3
    assert "--grad-clip 20.0" in enc3
    (table,) = _commands(run, "robustness_table")
    assert ("--mist results/synth_i3d-officialclips_auc.json "
            "results/synth_i3d-enc3-officialclips_auc.json") in table
    assert "--features results/synth_i3d/features_vanilla.h5 results/synth_i3d-enc3/" in table
    # a variant that sets the encoder has no place on the table's own encoders
    run = snakemake(tmp_path, "-n", "results/robustness/synth_i3d-enc2.md")
    assert run.returncode != 0
    assert "pretrains its own encoders" in run.stdout + run.stderr
    run = snakemake(tmp_path, "-n", "results/synth_i3d-enc2-nosuch_auc.json")
    assert run.returncode != 0 and "unknown variant 'nosuch'" in run.stdout + run.stderr


def test_a_second_synthetic_benchmark_renders_its_own_settings(tmp_path):
    write_config(tmp_path, load_config(tiny=True))
    run = snakemake(tmp_path, "-n", "--printshellcmds", "results/wide_i3d_auc.json")
    assert run.returncode == 0, run.stderr
    (render,) = _commands(run, "make_synth")
    assert "--out results/wide/data " in render
    # config.yaml's `wide` overrides seed, width, fps, crowd and look-alikes; the rest (here the
    # tiny sizes) comes from the synth section
    for flag in ("--seed 1 ", "--width 128 ", "--fps 30 ", "--crowd 0.6 ", "--hard-negatives 0.3 ",
                 "--height 48 ", "--train-normal 3 "):
        assert flag in render, flag
    assert "logs/wide/make_synth.log" in render
    (index,) = _commands(run, "index_dataset")
    assert "--root results/wide/data/videos" in index


def test_bad_video_policy_reaches_every_step_that_opens_videos(tmp_path):
    write_config(tmp_path, load_config(tiny=True, overrides={"extract": {"on_bad_video": "skip"}}))
    run = snakemake(tmp_path, "-n", "--printshellcmds")
    assert run.returncode == 0, run.stderr
    for step in ("index_dataset", "extract_shard", "score_mist"):
        commands = _commands(run, step)
        assert commands and all("--on-bad-video skip" in c for c in commands), step


@pytest.mark.parametrize(
    "dataset, example, source",
    [
        ("ucf", r"Abuse/Abuse001_x264\.mp4", "crcv.ucf.edu"),
        ("sht", r"training/videos/\d\d_\d+\.avi", "ShanghaiTech"),
        ("xd", r"(train|test)/\S+_label_\S+\.mp4", "roc-ng.github.io"),
    ],
)
def test_missing_real_dataset_fails_fast_with_directions(tmp_path, dataset, example, source):
    root = tmp_path / "nowhere" / dataset
    entry = {"root": str(root)}
    if dataset == "xd":  # its annotations are not shipped: a file that covers the test list
        violent = [n.removesuffix(".mp4") for n in (
            REPO / "resources/xd_violence/test_videos.txt").read_text().split()
            if "_label_A" not in n]
        entry["test_annotations"] = str(tmp_path / "annotations.txt")
        Path(entry["test_annotations"]).write_text("".join(f"{n} 0 16\n" for n in violent))
    config = load_config(overrides={"datasets": {dataset: entry}})
    write_config(tmp_path, config)
    started = time.monotonic()
    run = snakemake(tmp_path, "--cores", "1", f"results/{dataset}/videos.csv")
    elapsed = time.monotonic() - started
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert elapsed < 30, f"took {elapsed:.0f} s"
    assert str(root) in out  # the expected dataset root
    assert re.search(re.escape(str(root)) + "/" + example, out)  # one example path that is missing
    assert source in out  # where the dataset comes from
    assert f"datasets.{dataset}.root" in out  # the config key to change
    assert "Finished jobid" not in out and "localrule" not in out  # no job started
    assert not (tmp_path / "results").exists()


def test_bad_config_stops_at_start_up(tmp_path):
    write_config(tmp_path, load_config(overrides={"synth": {"sede": 1, "fps": "fast"}}))
    run = snakemake(tmp_path, "-n")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "synth.sede: unknown key (did you mean 'seed'?)" in out
    assert "synth.fps: expected integer, got str 'fast'" in out


def test_lint_is_clean(workdir):
    run = snakemake(workdir, "--lint")
    assert run.returncode == 0, run.stdout + run.stderr


def test_rule_files_are_snakefmt_formatted():
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    run = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "--diff", *map(str, files)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def report_entries(html_path):
    """The results, categories and Snakemake run-time records embedded in a report."""
    text = html_path.read_text()

    def var(name):
        match = re.search(rf"var {name} = (?=[{{\[])", text)
        return json.JSONDecoder().raw_decode(text, match.end())[0]

    return var("results"), var("categories"), var("runtimes_spec")["data"]["values"]


def test_tiny_pipeline_end_to_end(workdir):
    tiny_report = load_config(tiny=True)["report"]
    # One call for the default target, the ablation table and the full report's pieces, so
    # that their jobs share the two cores (most of a tiny job is Python and torch start-up).
    full_report = "results/report/synth_i3d/contents_full.txt"
    run = snakemake(workdir, "--cores", "2", "all", "results/ablations/synth_i3d.csv", full_report)
    assert run.returncode == 0, run.stdout + run.stderr
    videos = pd.read_csv(workdir / "results/synth/videos.csv")
    tiny = load_config(tiny=True)["synth"]
    counts = videos.groupby(["split", "label"]).size().to_dict()
    assert counts == {
        ("train", 0): tiny["train_normal"],
        ("train", 1): tiny["train_abnormal"],
        ("test", 0): tiny["test_normal"],
        ("test", 1): tiny["test_abnormal"],
    }
    test_ids = set(videos.loc[videos.split == "test", "video_id"])
    with h5py.File(workdir / "results/synth/ground_truth.h5") as gt:
        assert set(gt["labels"]) == test_ids
        for vid, n in videos.loc[videos.split == "test", ["video_id", "frame_count"]].itertuples(index=False):
            assert len(gt["labels"][vid]) == n // 16 * 16
    # Vanilla features of every video, one row per complete 16-frame snippet, centre crop.
    with h5py.File(workdir / "results/synth_i3d/features_vanilla.h5") as features:
        assert set(features["features"]) == set(videos.video_id)
        for vid, n in videos[["video_id", "frame_count"]].itertuples(index=False):
            assert features["features"][vid].shape == (n // 16, 1, 1024)
        # the CPU kernels it was made with (determinism: native here)
        assert features.attrs["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert features.attrs["determinism"] == "native"
    assert pd.read_csv(workdir / "results/synth_i3d/skipped_vanilla.csv").empty
    assert not (workdir / "results/synth_i3d/shards").exists() or not any(
        (workdir / "results/synth_i3d/shards").iterdir()
    )  # shard files are temporary
    for log in (
        "logs/synth/make_synth.log",
        "logs/synth/index_dataset.log",
        "logs/encoders/i3d_vanilla.log",
        "logs/synth_i3d/extract_vanilla_shard_0.log",
        "logs/synth_i3d/extract_vanilla_shard_1.log",
        "logs/synth_i3d/gather_features_vanilla.log",
        "logs/synth_i3d/finetune.log",
        "logs/synth_i3d/score_mist.log",
    ):
        assert (workdir / log).exists(), log
    for bench in ("synth/make_synth", "encoders/i3d_vanilla", "synth_i3d/extract_vanilla_shard_0",
                  "synth_i3d/finetune", "synth_i3d/score_mist"):
        assert (workdir / f"results/benchmarks/{bench}.tsv").exists(), bench

    # Cached: nothing left to do.
    again = snakemake(workdir, "-n", "--quiet", "rules")
    assert again.returncode == 0 and "make_synth" not in again.stdout and "index_dataset" not in again.stdout

    # Stage I: the generator-only result and the pseudo labels, with every metric key.
    metrics = json.loads((workdir / "results/synth_i3d_generator_auc.json").read_text())
    for key in ("auc", "auc_abnormal", "far", "score_gap", "per_class", "counts", "extra"):
        assert key in metrics, key
    assert metrics["counts"]["videos"] == tiny["test_normal"] + tiny["test_abnormal"]
    assert metrics["extra"]["config"]["generator"]["steps"] == load_config()["generator"]["steps"]
    with h5py.File(workdir / "results/synth_i3d/pseudo_labels.h5") as labels:
        train = videos[videos.split == "train"]
        assert set(labels["refined"]) == set(train.video_id)
        for vid, n in train[["video_id", "frame_count"]].itertuples(index=False):
            assert labels["refined"][vid].shape == (n // 16,)

    # Stage II: MIST's result with every metric key, its scores and the per-video CSV.
    metrics = json.loads((workdir / "results/synth_i3d_auc.json").read_text())
    for key in ("auc", "auc_abnormal", "far", "far_negative_frames", "threshold", "score_gap",
                "per_class", "counts", "skipped", "notes", "inputs", "extra"):
        assert key in metrics, key
    assert metrics["extra"]["model"] == "mist"
    assert metrics["extra"]["config"]["finetune"] == load_config(tiny=True)["finetune"]
    assert 0.0 <= metrics["auc"] <= 1.0
    test = videos[videos.split == "test"]
    per_video = pd.read_csv(workdir / "results/synth_i3d/test_scores.csv")
    assert set(per_video.video_id) == set(test.video_id)
    with h5py.File(workdir / "results/synth_i3d/test_scores.h5") as scores:
        for vid, n in test[["video_id", "frame_count"]].itertuples(index=False):
            assert scores["scores"][vid].shape == (n // 16,)
            assert scores["attention"][vid].shape[0] == n // 16
            assert scores["cam"][vid].shape == scores["attention"][vid].shape
    loss = pd.read_csv(workdir / "results/synth_i3d/finetune_loss.csv")
    assert list(loss.epoch) == [1, 2] and list(loss.frozen) == [1, 0]
    assert not (workdir / "results/synth_i3d/encoder_mist.pt.ckpt").exists()
    meta = torch.load(workdir / "results/synth_i3d/encoder_mist.pt", weights_only=True)["meta"]
    assert meta["settings"]["train_from"] == "mixed_5b"  # datasets.synth.train_from.i3d
    assert meta["settings"]["train_frame"] == [32, 43]  # datasets.synth.train_frame.i3d

    # A generator setting re-runs stage I and II and nothing upstream.
    write_config(workdir, load_config(overrides={"generator": {"lambda": 0.02}}))
    changed = snakemake(workdir, "-n", "--quiet", "rules")
    for rule in ("train_generator", "pseudo_labels", "score_generator", "evaluate_generator",
                 "finetune", "score_mist", "evaluate_mist"):
        assert rule in changed.stdout, rule
    for rule in ("make_synth", "index_dataset", "pretrain_encoder", "extract_shard", "gather_features"):
        assert rule not in changed.stdout, rule

    # A fine-tuning setting re-runs stage II only.
    write_config(workdir, load_config(overrides={"finetune": {"lr": 2.0e-4}}))
    changed = snakemake(workdir, "-n", "--quiet", "rules")
    for rule in ("finetune", "score_mist", "evaluate_mist"):
        assert rule in changed.stdout, rule
    for rule in ("train_generator", "pseudo_labels", "extract_shard", "evaluate_generator"):
        assert rule not in changed.stdout, rule

    # The ablation table and the seed table: variants of the same rules, stage I shared
    # where a variant does not change it.
    write_config(workdir, load_config(tiny=True))
    table = pd.read_csv(workdir / "results/ablations/synth_i3d.csv")
    assert list(table.variant) == ["generator", "generator_uniform", "mist_nopseudo", "mist_noguided",
                                   "mist_nosga", "mist", "generator_mist_features"]
    assert table.auc.between(0, 1).all()
    assert table.set_index("variant").loc["mist", "delta_auc"] == 0
    for name in ("nopseudo", "noguided", "nosga"):  # stage-II ablations reuse the default generator
        assert not (workdir / f"results/synth_i3d-{name}/generator.pt").exists()

    def scores(path):
        with h5py.File(workdir / path) as f:
            return np.concatenate([f["scores"][v][:] for v in sorted(f["scores"])])

    mist = scores("results/synth_i3d/test_scores.h5")
    for name, flag in (("nopseudo", ("labels", "video")), ("noguided", ("guided_head", False)),
                       ("nosga", ("sga", False))):
        doc = json.loads((workdir / f"results/synth_i3d-{name}_auc.json").read_text())
        assert doc["extra"]["config"]["finetune"][flag[0]] == flag[1]
        assert not np.array_equal(scores(f"results/synth_i3d-{name}/test_scores.h5"), mist), name
    generator = scores("results/synth_i3d/test_scores_generator.h5")
    for name in ("uniform", "mistfeatures"):
        assert not np.array_equal(scores(f"results/synth_i3d-{name}/test_scores_generator.h5"), generator)
    with h5py.File(workdir / "results/synth_i3d/features_mist.h5") as f:
        assert set(f["features"]) == set(videos.video_id)

    # The report: the default run made its figures (rule all); with the ablation table and
    # one more explained video, `snakemake --report` embeds them all with their captions.
    chosen = (workdir / "results/report/synth_i3d/timeline_videos.txt").read_text().split()
    assert len(chosen) == tiny_report["videos_per_run"]
    run = snakemake(workdir, "--cores", "2", f"results/synth_i3d/explain/cam/{chosen[-1]}.mp4")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (workdir / f"results/synth_i3d/explain/cam/{chosen[-1]}.png").exists()
    run = snakemake(workdir, "--report", str(workdir / "report.html"), full_report)
    assert run.returncode == 0, run.stdout + run.stderr
    results, categories, runtimes = report_entries(workdir / "report.html")
    figures = {f"results/report/synth_i3d/{name}" for name in (
        "roc.png", "timelines.png", "losses.png", "runtimes.png", "hits_sga.png", "hits_cam.png",
        "ablations.html", "ablations.png")}
    explained = {f"results/report/synth_i3d/explain/{method}/{vid}.{ext}"
                 for vid in chosen[:tiny_report["explain_videos"]] for ext in ("png", "mp4")
                 for method in ("sga", "cam")}
    assert set(results) == figures | explained
    assert all(results[name]["caption"] for name in figures)
    assert set(categories["synth_i3d"]) == {"Detection", "Training", "Spatial explanation",
                                            "Ablations"}
    assert {"report_roc", "report_explain", "finetune"} <= {r["rule"] for r in runtimes}
    for method in ("sga", "cam"):
        hits = json.loads((workdir / f"results/synth_i3d/explain/hits_{method}.json").read_text())
        assert hits["frames"] > 0 and 0 <= hits["peak_in_box"] <= 1 and "box_area_share" in hits
    # The seed table (its module is tested in test_tables.py) re-runs stages I and II per seed
    # and shares everything upstream; seed 0 is the default run itself.
    planned = snakemake(workdir, "-n", "results/seeds/synth_i3d.md", "--quiet", "rules")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", planned.stdout, flags=re.M))
    assert jobs["train_generator"] == "1" and jobs["finetune"] == "1" and jobs["seed_table"] == "1"
    assert "extract_shard" not in jobs and "pretrain_encoder" not in jobs

    # An extraction setting re-runs extraction only, nothing upstream.
    write_config(workdir, load_config(overrides={"extract": {"batch_size": 3}}))
    changed = snakemake(workdir, "-n", "--quiet", "rules")
    assert "extract_shard" in changed.stdout and "gather_features" in changed.stdout
    assert "make_synth" not in changed.stdout and "pretrain_encoder" not in changed.stdout

    # A synthetic-benchmark setting re-renders the data and everything after it, but the
    # vanilla encoder does not depend on the benchmark.
    write_config(workdir, load_config(overrides={"synth": {"seed": 1}}))
    changed = snakemake(workdir, "-n", "--quiet", "rules")
    for rule in ("make_synth", "index_dataset", "extract_shard", "gather_features"):
        assert rule in changed.stdout
    assert "pretrain_encoder" not in changed.stdout


def test_precomputed_features_are_imported_without_videos(tmp_path):
    """A user with RTFM-style .npy features but no videos still gets the feature file."""
    data = tmp_path / "mini"
    data.mkdir()
    (data / "Anomaly_Train.txt").write_text(
        "Abuse/Abuse001_x264.mp4\nTraining_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4\n"
    )
    (data / "Temporal_Anomaly_Annotation_New.txt").write_text(
        "Abuse028_x264.mp4\tAbuse\t16\t40\t-1\t-1\t80\n"
        "Normal_Videos_003_x264.mp4\tNormal\t-1\t-1\t-1\t-1\t64\n"
    )
    feats = data / "features"
    feats.mkdir()
    rng = np.random.default_rng(0)
    clips = {"Abuse001_x264": 7, "Normal_Videos001_x264": 3, "Abuse028_x264": 5, "Normal_Videos_003_x264": 4}
    for vid, n in clips.items():
        np.save(feats / f"{vid}_i3d.npy", rng.random((n, 10, 1024), dtype=np.float32))
    config = load_config(
        overrides={
            "datasets": {
                "mini": {
                    "format": "ucf_crime",
                    "clips_per_bag": {"i3d": 2, "c3d": 2},
                    "class_weights": {"i3d": [1.0, 1.0], "c3d": [1.0, 1.0]},
                    "root": str(tmp_path / "no_videos_here"),
                    "train_list": str(data / "Anomaly_Train.txt"),
                    "test_annotations": str(data / "Temporal_Anomaly_Annotation_New.txt"),
                    "features": {"i3d": {"dir": str(feats), "crop_mode": "ten"}},
                }
            }
        }
    )
    write_config(tmp_path, config)
    run = snakemake(tmp_path, "--cores", "1", "results/mini_i3d/features_vanilla.h5")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "import_features" in run.stdout + run.stderr and "extract_shard" not in run.stdout + run.stderr
    with h5py.File(tmp_path / "results/mini_i3d/features_vanilla.h5") as f:
        assert {vid: f["features"][vid].shape[0] for vid in f["features"]} == clips
        assert f["features"]["Abuse028_x264"].shape == (5, 10, 1024)

    # The same videos from RTFM-style list files (another machine's Windows paths, files found
    # here by name) of 2048-d I3D-ResNet50 features: imported as they are, and stage I trains
    # on that dimension.
    rtfm = data / "rtfm"
    rtfm.mkdir()
    for vid, n in clips.items():
        np.save(rtfm / f"{vid}_i3d.npy", rng.random((n, 10, 2048), dtype=np.float32))
    lists = [data / "ucf-i3d.list", data / "ucf-i3d-test.list"]
    lists[0].write_text("G:\\UCF_Train_ten_crop_i3d\\Abuse001_x264_i3d.npy\n"
                        "G:\\UCF_Train_ten_crop_i3d\\Normal_Videos001_x264_i3d.npy\n")
    lists[1].write_text("/home/yu/UCF_Test/Abuse028_x264_i3d.npy\n"
                        "/home/yu/UCF_Test/Normal_Videos_003_x264_i3d.npy\n")
    config["generator"]["restarts"] = 1  # one generator is enough to show the dimension
    config["datasets"]["mini"]["features"]["i3d"] = {
        "list": [str(p) for p in lists], "dir": str(rtfm), "crop_mode": "ten",
        "feature": "i3d-resnet50"}
    write_config(tmp_path, config)
    run = snakemake(tmp_path, "--cores", "1", "results/mini_i3d/generator.pt")
    assert run.returncode == 0, run.stdout + run.stderr
    with h5py.File(tmp_path / "results/mini_i3d/features_vanilla.h5") as f:
        assert f["features"]["Abuse028_x264"].shape == (5, 10, 2048)
        assert f.attrs["feature"] == "i3d-resnet50"
    generator = torch.load(tmp_path / "results/mini_i3d/generator.pt", weights_only=True)
    assert generator["config"]["dim"] == 2048
