"""The workflow as a user drives it: DAG, start-up checks, lint, and a tiny real run."""

import re
import subprocess
import sys
import time

import h5py
import pandas as pd
import pytest

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


@pytest.mark.parametrize(
    "dataset, example, source",
    [
        ("ucf", r"Abuse/Abuse001_x264\.mp4", "crcv.ucf.edu"),
        ("sht", r"training/videos/\d\d_\d+\.avi", "ShanghaiTech"),
    ],
)
def test_missing_real_dataset_fails_fast_with_directions(tmp_path, dataset, example, source):
    root = tmp_path / "nowhere" / dataset
    config = load_config(overrides={"datasets": {dataset: {"root": str(root)}}})
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


def test_tiny_synth_dataset_stage_end_to_end(workdir):
    run = snakemake(workdir, "--cores", "2")
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
    for log in ("logs/synth/make_synth.log", "logs/synth/index_dataset.log"):
        assert (workdir / log).exists()
    assert (workdir / "results/benchmarks/synth/make_synth.tsv").exists()

    # Cached: nothing left to do.
    again = snakemake(workdir, "-n", "--quiet", "rules")
    assert again.returncode == 0 and "make_synth" not in again.stdout and "index_dataset" not in again.stdout

    # A synthetic-benchmark setting re-renders the data and re-indexes it.
    write_config(workdir, load_config(overrides={"synth": {"seed": 1}}))
    changed = snakemake(workdir, "-n", "--quiet", "rules")
    assert "make_synth" in changed.stdout and "index_dataset" in changed.stdout
