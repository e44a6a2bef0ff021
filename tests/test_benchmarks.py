"""The benchmark suite (python -m benchmarks) runs and reports every row; no speed is checked
here: speed goals depend on the machine and never go in tests."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import torch
from workflow_utils import REPO

sys.path.insert(0, str(REPO))  # the benchmarks package lives beside the tests

from benchmarks.common import side_by_side  # noqa: E402
from benchmarks.workflow import read_rule_benchmarks, scheduled_jobs  # noqa: E402

MEASURED = ("P1", "P2", "G", "F")


def test_quick_suite_prints_every_row_with_finite_figures(tmp_path):
    out = tmp_path / "rows.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads(out.read_text())["rows"]
    by_key: dict[str, list[dict]] = {}
    for row in rows:
        by_key.setdefault(row["key"], []).append(row)
    assert set(by_key) == {*MEASURED, "P3", "P4", "P5"}
    for key in MEASURED:
        (row,) = by_key[key]
        assert row["status"] == "measured", row
        assert math.isfinite(row["value"]) and row["value"] > 0, row
        assert f"| {key} | {row['name']} |" in run.stdout
    # the plain generator loop does the step's arithmetic: same losses, so a fair comparison
    assert by_key["G"][0]["extra"]["same_losses"] is True
    # without a finished run, a default run or a GPU these say why they did not measure
    for key in ("P3", "P4", "P5"):
        assert all(r["value"] is None and r["status"].startswith("skipped: ")
                   for r in by_key[key]), by_key[key]
    if not torch.cuda.is_available():
        assert all(r["status"] == "skipped: no CUDA" for r in by_key["P5"])
        assert "skipped: no CUDA" in run.stdout


def test_suite_helpers_read_snakemake_output_and_benchmark_files(tmp_path):
    stats = ("Building DAG of jobs...\nJob stats:\njob                  count\n"
             "-----------------  -------\ntrain_generator          1\nfinetune                 1\n"
             "all                      1\ntotal                    3\n\nSelect jobs to execute...")
    assert scheduled_jobs(stats) == {"train_generator": 1, "finetune": 1, "all": 1}
    assert scheduled_jobs("Nothing to be done (all requested files are present).") == {}
    bench = tmp_path / "results" / "benchmarks" / "synth_i3d"
    bench.mkdir(parents=True)
    (bench / "finetune.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "44.78\t0:00:44\t752.93\t1766.34\t600.87\t638.36\t0.14\t0.01\t21.86\t10.06\n")
    (rule,) = read_rule_benchmarks(tmp_path)
    assert rule == {"job": "synth_i3d/finetune", "s": 44.78, "max_rss_mib": 752.93,
                    "cpu_s": 10.06}
    rates = iter([10.0, 9.0, 12.0, 8.0, 10.0])  # a b a b a
    turns = side_by_side(lambda: next(rates), lambda: next(rates), repeats=2)
    assert turns.ratios == [9.0 / 11.0, 8.0 / 11.0]
