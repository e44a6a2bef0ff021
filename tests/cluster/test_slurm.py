"""The workflow on a real SLURM cluster through `--profile profiles/slurm`.

A one-node SLURM (slurmctld, slurmd, slurmdbd + MariaDB for accounting, munge) is brought up
on this machine by tests/cluster/slurm_up.sh and stopped by slurm_down.sh. Needs root and
apt; `.ci/run` runs it (`pytest -m slurm tests/cluster`); the default `pytest` run leaves it
out (marker `slurm`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from workflow_utils import REPO, load_config, snakemake, write_config

pytestmark = pytest.mark.slurm

HERE = Path(__file__).resolve().parent
PROFILE = REPO / "profiles" / "slurm"
GPU_RULES = {"extract_shard", "finetune", "score_mist"}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node SLURM cluster for the module; its state folder."""
    if os.geteuid() != 0:
        pytest.skip("the SLURM test starts daemons and installs packages: run it as root")
    if not (shutil.which("apt-get") or all(shutil.which(b) for b in ("slurmctld", "slurmd", "slurmdbd"))):
        pytest.skip("the SLURM test needs apt-get to install slurm-wlm, slurmdbd, munge and mariadb-server")
    state = Path("/tmp") / f"mist-slurm-{os.getpid()}"  # short: unix socket paths are limited
    up = subprocess.run(["bash", str(HERE / "slurm_up.sh"), str(state)], capture_output=True, text=True,
                        timeout=900)
    if up.returncode != 0:
        subprocess.run(["bash", str(HERE / "slurm_down.sh"), str(state), "--purge"], capture_output=True)
        pytest.fail(f"slurm_up.sh failed:\n{up.stdout}\n{up.stderr}")
    print(up.stdout)
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    try:
        yield state
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        down = subprocess.run(["bash", str(HERE / "slurm_down.sh"), str(state), "--purge"],
                              capture_output=True, text=True, timeout=300)
        print(down.stdout, down.stderr)


def local_rules() -> set[str]:
    """The Snakefile's `localrules:` (jobs of seconds that never go through the scheduler)."""
    block = re.search(r"^localrules:\n((?:    \w+,?\n)+)", (REPO / "Snakefile").read_text(),
                      flags=re.MULTILINE)
    assert block, "no localrules block in the Snakefile"
    return set(re.findall(r"\w+", block[1]))


def run_id(output: str) -> str:
    """The SLURM run ID the executor printed: every job of the run has it as its name."""
    match = re.search(r"SLURM run ID: (\S+)", output)
    assert match, f"no SLURM run ID in the output:\n{output}"
    return match[1]


def sacct_jobs(name: str) -> list[dict[str, str]]:
    """The accounting records (allocations only) of the jobs named ``name``."""
    fields = ["JobID", "JobName", "Comment", "Partition", "State", "Start", "End", "AllocCPUS", "AllocTRES"]
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", name, "-S", "now-1days", "--format", ",".join(fields)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]


def rule_of(job: dict[str, str]) -> str:
    """The rule a job ran: the plugin's comment is rule_<name>[_wildcards_...]."""
    return re.sub(r"_wildcards_.*$", "", job["Comment"]).removeprefix("rule_")


def metrics(path: Path) -> dict:
    """A metrics JSON without the input paths (the numbers and the recorded config stay)."""
    doc = json.loads(path.read_text())
    doc.pop("inputs", None)
    return doc


def test_tiny_pipeline_on_slurm_matches_local_run(slurm, tmp_path):
    config = load_config(tiny=True)
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for folder in (local, cluster):
        folder.mkdir()
        write_config(folder, config)

    reference = snakemake(local, "--cores", "2", timeout=1800)
    assert reference.returncode == 0, reference.stdout + reference.stderr

    run = snakemake(cluster, "--profile", str(PROFILE), timeout=1800)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out

    # Every job but the Snakefile's localrules (seconds each: metrics, tables, figures) went
    # through SLURM: one accounting record per such job of the local run, all completed.
    jobs = sacct_jobs(run_id(out))
    kept_local = local_rules()
    assert {"all", "evaluate_mist", "report_roc"} <= kept_local and "finetune" not in kept_local
    local_jobs = [rule for rule in re.findall(r"^(?:local)?rule (\w+):", reference.stdout + reference.stderr,
                                              flags=re.MULTILINE) if rule not in kept_local]
    assert sorted(rule_of(job) for job in jobs) == sorted(local_jobs), jobs
    assert {"make_synth", "extract_shard", "train_generator", "finetune",
            "score_mist"} <= set(local_jobs)
    assert {job["State"] for job in jobs} == {"COMPLETED"}, jobs
    assert len(re.findall(r"submitted with SLURM jobid", out)) == len(jobs)
    # The GPU rules asked for a GPU in the GPU partition; the rest ran in the default one,
    # with the CPUs of their rule's threads.
    for job in jobs:
        gpu = rule_of(job) in GPU_RULES
        assert job["Partition"] == ("gpu" if gpu else "cpu"), job
        assert ("gres/gpu=1" in job["AllocTRES"]) == gpu, job
    threads = {"extract_shard": config["extract"]["threads"], "finetune": config["finetune"]["threads"]}
    for job in jobs:
        if rule_of(job) in threads:
            assert int(job["AllocCPUS"]) == threads[rule_of(job)], job
    # The two extraction shards ran as parallel jobs.
    shards = [job for job in jobs if rule_of(job) == "extract_shard"]
    start = [datetime.fromisoformat(job["Start"]) for job in shards]
    end = [datetime.fromisoformat(job["End"]) for job in shards]
    assert max(start) < min(end), f"extraction shards did not overlap: {shards}"

    # Same results as the local run, number for number.
    for name in ("synth_i3d_generator_auc.json", "synth_i3d_auc.json"):
        assert metrics(cluster / "results" / name) == metrics(local / "results" / name), name


def test_failing_job_fails_the_run(slurm, tmp_path):
    """A job that fails on the cluster (here: corrupt encoder weights) stops the run with a
    non-zero exit, after the profile's one retry."""
    bad = tmp_path / "corrupt_weights.pt"
    bad.write_bytes(b"this is not a checkpoint\n" * 10)
    write_config(tmp_path, load_config(tiny=True, overrides={"encoders": {"i3d": {"weights": str(bad)}}}))

    run = snakemake(tmp_path, "--profile", str(PROFILE), "results/encoders/i3d_vanilla.pt", timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert "Error in rule pretrain_encoder" in out, out
    jobs = sacct_jobs(run_id(out))
    assert [rule_of(job) for job in jobs] == ["pretrain_encoder"] * 2, jobs  # attempt 1 and the retry
    assert {job["State"] for job in jobs} == {"FAILED"}, jobs
    assert not (tmp_path / "results/encoders/i3d_vanilla.pt").exists()
