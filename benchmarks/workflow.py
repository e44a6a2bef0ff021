"""Benchmark of the workflow itself: Snakemake's overhead (P3) and the default run (P4).

**P3**, on a finished run (``--workdir DIR``; without it the suite runs the tests' tiny
pipeline, ``tests/config_tiny.yaml``, once in a scratch folder, a few minutes):

* ``snakemake -n`` on the finished run, the wall time of the command as a user types it
  (interpreter start-up and DAG included; median of 3) - goal <= 3 s; it must schedule
  nothing;
* the dry run after a generator hyper-parameter change (``generator.steps`` + 1, in a copy of
  the run's config passed with ``--configfile``) must schedule 0 extraction jobs
  (``extract_shard``, ``gather_features``) - only stage I and what follows.

**P4**, the default run: ``--default-run`` runs ``snakemake --cores 2`` of the default target
cold, in a fresh folder (about 8 minutes on 2 cores) - goal <= 10 min; ``--bench-dir DIR``
instead reads the per-rule files of an existing run (``DIR/results/benchmarks/**.tsv``,
written by the rules' ``benchmark:`` directive) and shows the wall time of the folder's last
Snakemake invocation from its log. Both print the per-rule table: seconds, peak RSS, CPU time.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import resource
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import yaml

from benchmarks.common import REPO, Row, skipped, timed

EXTRACTION_RULES = ("extract_shard", "gather_features")
DRY_RUN_GOAL_S = 3.0
DEFAULT_RUN_GOAL_MIN = 10.0


def _workflow_utils():
    """tests/workflow_utils.py: how the tests run the workflow in a scratch folder."""
    spec = importlib.util.spec_from_file_location("workflow_utils",
                                                  REPO / "tests" / "workflow_utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snakemake(workdir: Path, *args: str, configfile: Path | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """``snakemake`` on the repository's Snakefile in ``workdir`` (its config.yaml, or
    ``configfile``)."""
    configfile = configfile or (workdir / "config.yaml")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir)]
    if configfile.exists():
        cmd += ["--configfile", str(configfile)]
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def _tail(run: subprocess.CompletedProcess) -> str:
    """The end of a Snakemake run's output (its errors go to stdout or stderr)."""
    return (run.stdout + run.stderr)[-3000:]


def scheduled_jobs(output: str) -> dict[str, int]:
    """Jobs per rule from the "Job stats" table of a Snakemake run or dry run ({} when
    there is nothing to do)."""
    jobs: dict[str, int] = {}
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Job stats:":
            for row in lines[i + 3:]:
                match = re.fullmatch(r"\s*(\S+)\s+(\d+)\s*", row)
                if not match:
                    break
                if match[1] != "total":
                    jobs[match[1]] = int(match[2])
            break
    return jobs


def tiny_run(folder: Path, timeout: float = 1800) -> Path:
    """The tests' tiny pipeline (tests/config_tiny.yaml), run to the default target in
    ``folder``; returns ``folder``."""
    utils = _workflow_utils()
    folder.mkdir(parents=True, exist_ok=True)
    utils.write_config(folder, utils.load_config(tiny=True))
    run = _snakemake(folder, "--cores", "2", timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"the tiny pipeline failed in {folder}:\n{_tail(run)}")
    return folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def workflow_overhead(workdir: Path, scratch: Path, repeats: int = 3) -> dict:
    """P3 on the finished run in ``workdir`` (module docstring); also the CPU seconds of
    each dry run, which other jobs on a busy machine hardly change."""
    times, cpu, jobs = [], [], {}
    for _ in range(max(1, repeats)):
        before = _children_cpu()
        run, seconds = timed(lambda: _snakemake(workdir, "-n"))
        cpu.append(_children_cpu() - before)
        if run.returncode != 0:
            raise RuntimeError(f"snakemake -n failed in {workdir}:\n{_tail(run)}")
        times.append(seconds)
        jobs = scheduled_jobs(run.stdout + run.stderr)
    base = workdir / "config.yaml" if (workdir / "config.yaml").exists() else REPO / "config.yaml"
    config = yaml.safe_load(base.read_text())
    config["generator"]["steps"] = int(config["generator"]["steps"]) + 1
    changed_config = scratch / "p3_changed_config.yaml"
    changed_config.write_text(yaml.safe_dump(config, sort_keys=False))
    changed = _snakemake(workdir, "-n", configfile=changed_config)
    if changed.returncode != 0:
        raise RuntimeError(f"snakemake -n with a changed generator failed in {workdir}:\n"
                           f"{_tail(changed)}")
    after = scheduled_jobs(changed.stdout + changed.stderr)
    return {"seconds": statistics.median(times), "times": times,
            "cpu_seconds": statistics.median(cpu), "finished": not jobs,
            "left": jobs, "changed_jobs": after,
            "extraction_jobs": sum(after.get(r, 0) for r in EXTRACTION_RULES)}


# -- P4 -----------------------------------------------------------------------------------------
def read_rule_benchmarks(folder: Path) -> list[dict]:
    """Rows ``{job, s, max_rss_mib, cpu_s}`` of every benchmark file under ``folder`` (a run
    folder with results/benchmarks, or that folder itself), by path."""
    root = folder / "results" / "benchmarks" if (folder / "results" / "benchmarks").is_dir() \
        else folder
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as fh:
            records = list(csv.DictReader(fh, delimiter="\t"))
        if not records or "s" not in records[0]:
            continue
        last = records[-1]  # a rule with `benchmark: repeat(...)` has several lines

        def number(key: str) -> float:
            try:
                return float(last.get(key) or "nan")
            except ValueError:
                return float("nan")

        rows.append({"job": str(path.relative_to(root).with_suffix("")), "s": number("s"),
                     "max_rss_mib": number("max_rss"), "cpu_s": number("cpu_time")})
    return rows


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def last_invocation_seconds(folder: Path) -> float | None:
    """Wall time of the last Snakemake invocation in ``folder``: from the first to the last
    time stamp of its newest log under .snakemake/log (None without one)."""
    logs = sorted((folder / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        return None
    stamps = [datetime.strptime(" ".join(m[1].split()), "%a %b %d %H:%M:%S %Y")
              for line in logs[-1].read_text(errors="replace").splitlines()
              if (m := _STAMP.match(line.strip()))]
    return (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else None


def format_rule_table(rows: list[dict]) -> str:
    lines = ["| job (results/benchmarks/...) | wall s | peak RSS MiB | CPU s |",
             "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['job']} | {r['s']:.1f} | {r['max_rss_mib']:.0f} | "
                     f"{r['cpu_s']:.1f} |")
    total = sum(r["s"] for r in rows)
    lines.append(f"| sum (jobs overlap when run in parallel) | {total:.1f} | | |")
    return "\n".join(lines)


def default_run(folder: Path, timeout: float = 3600) -> dict:
    """A cold ``snakemake --cores 2`` of the default target (shipped config.yaml) in the
    fresh ``folder``; returns its wall time and the per-rule rows."""
    utils = _workflow_utils()
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise RuntimeError(f"{folder} is not empty; a cold run needs a fresh folder")
    utils.write_config(folder, utils.load_config(tiny=False))
    run, seconds = timed(lambda: _snakemake(folder, "--cores", "2", timeout=timeout))
    if run.returncode != 0:
        raise RuntimeError(f"the default run failed in {folder}:\n{_tail(run)}")
    return {"seconds": seconds, "rules": read_rule_benchmarks(folder)}


# -- suite --------------------------------------------------------------------------------------
def p3_rows(workdir: Path | None, scratch: Path, *, quick: bool) -> list[Row]:
    name_s = "workflow: `snakemake -n` on a finished run"
    name_j = "workflow: extraction jobs after a generator change"
    if workdir is None and quick:
        why = "quick mode runs no pipeline; pass --workdir DIR (a finished run)"
        return [skipped("P3", name_s, why, ("<=", DRY_RUN_GOAL_S), "s"),
                skipped("P3", name_j, why, ("==", 0), "jobs")]
    made = workdir is None
    if made:
        workdir, build_s = timed(lambda: tiny_run(scratch / "tiny_run"))
    p3 = workflow_overhead(workdir, scratch, repeats=1 if quick else 3)
    where = (f"the tests' tiny run (made here in {build_s:.0f} s)" if made else str(workdir))
    finished = ("nothing scheduled" if p3["finished"]
                else f"NOT a finished run, scheduled: {p3['left']}")
    rerun = ", ".join(f"{k} {v}" for k, v in p3["changed_jobs"].items() if k != "all")
    return [
        Row("P3", name_s, p3["seconds"], "s", ("<=", DRY_RUN_GOAL_S),
            f"{where}; median of {len(p3['times'])}, interpreter start-up included "
            f"({p3['cpu_seconds']:.1f} s of CPU); {finished}", extra=p3),
        Row("P3", name_j, float(p3["extraction_jobs"]), "jobs", ("==", 0),
            f"generator.steps + 1 re-runs: {rerun or 'nothing'}", extra=p3),
    ]


def p4_rows(default: bool, bench_dir: Path | None, scratch: Path) -> tuple[list[Row], str]:
    """P4's row and the per-rule table (empty when not asked for)."""
    name = "default run: cold `snakemake --cores 2`"
    goal = ("<=", DEFAULT_RUN_GOAL_MIN)
    if default:
        run = default_run(scratch / "default_run")
        return [Row("P4", name, run["seconds"] / 60, "min", goal,
                    "shipped config.yaml in a fresh folder; per-rule table below",
                    extra=run)], format_rule_table(run["rules"])
    if bench_dir is not None:
        rules = read_rule_benchmarks(bench_dir)
        if not rules:
            raise RuntimeError(f"no benchmark files (*.tsv) under {bench_dir}")
        last = last_invocation_seconds(bench_dir)
        seen = (f"; the last snakemake invocation there took {last / 60:.1f} min (its log)"
                if last else "")
        row = skipped("P4", name, f"not run (existing run {bench_dir}{seen}; per-rule "
                      f"table below)", goal, "min")
        return [row], format_rule_table(rules)
    return [skipped("P4", name, "opt-in: --default-run (~8 min) or --bench-dir DIR", goal,
                    "min")], ""
