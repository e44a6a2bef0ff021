#!/usr/bin/env python3
"""Kill and resume (issue #7): SIGKILL the tiny workflow at random moments and check that the
resumed runs end with exactly the results of an uninterrupted run.

    python tests/chaos/kill_resume.py --kills 20 --seed 0

1. Reference: the tiny pipeline (config.yaml + tests/config_tiny.yaml, the generator trained
   for 200 steps: :data:`OVERRIDES`) runs once, untouched, in a fresh folder; the job
   timeline it prints gives every rule's duration.
2. Chaos rounds: in a fresh folder Snakemake starts (`--rerun-incomplete`, in its own process
   group) and is SIGKILLed - its whole process tree, jobs included - at a seeded random
   moment; then `snakemake --unlock` and a restart, again and again. A moment is either
   uniform over the first 90 % of the estimated rest of the run (the reference durations of
   the jobs not yet finished in this round) or - for a round's first kill, then half the
   time, while one is still to run - inside a training loop: uniform over the reference
   loop's duration from the moment the job's log shows the loop running (its first step or
   epoch).
   Once every job has finished, or after ``--kills-per-round`` kills, the run is left to
   complete. A round ends when a run completes; the next round starts afresh until
   ``--kills`` kills were made.
3. After every round the results are compared with the reference: both metrics JSONs, every
   HDF5 artifact dataset by value (and its attributes), the CSVs, the synthetic videos, the
   weights of every model file. Not compared, because they hold wall-clock times: columns
   and JSON fields whose name contains "second", and the sha256 of whole files that embed
   such times (model files' meta) or hashes over them (settings_hash); the weights' sha256
   are compared. No temporary file, training checkpoint or shard may be left over.
4. Generator training and fine-tuning resume from their checkpoints: the job logs say where
   ("resuming ... at step k", "resuming from epoch k") and how far a killed run got (a
   "step k/N" line per step, "epoch k/N started"), from which the work re-done is counted.

5. No round is repeated: any difference from the reference fails the check, its runs kept for
   a look. (Until issue #22 a mismatching round was repeated once, for a rare odd first Adam
   step seen on these VMs in 2026-11; `tests/chaos/adam_stress.py` looks for that one alone.)

Prints a table of the kills, one of the rounds and the resume counts; exits 1 on any failed run
or any mismatch. Needs the project's environment (snakemake, torch,
h5py; psutil comes with snakemake). Runtime: the reference (~2-3 min on 2 cores) plus ~2-4 min
per round.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import csv
import datetime
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: workflow_utils
from workflow_utils import REPO, load_config, write_config  # noqa: E402

# The tiny config, with a generator loop long enough to be hit (~10 s instead of ~1 s; a
# checkpoint every 10 of its 200 steps) - the reference runs with it too.
OVERRIDES = {"generator": {"steps": 200, "checkpoint_every": 10}}
TRAINING = {"train_generator": "logs/synth_i3d/train_generator.log",
            "finetune": "logs/synth_i3d/finetune.log"}
JSONS = ("results/synth_i3d_auc.json", "results/synth_i3d_generator_auc.json")
HDF5 = ("results/synth/ground_truth.h5", "results/synth_i3d/features_vanilla.h5",
        "results/synth_i3d/pseudo_labels.h5", "results/synth_i3d/test_scores_generator.h5",
        "results/synth_i3d/test_scores.h5")
CSVS = ("results/synth/videos.csv", "results/synth_i3d/skipped_vanilla.csv",
        "results/synth_i3d/test_scores.csv", "results/synth_i3d/test_scores_skipped.csv",
        "results/synth_i3d/generator_loss.csv", "results/synth_i3d/finetune_loss.csv",
        "results/encoders/i3d_vanilla.pt.log.csv")
MODELS = ("results/encoders/i3d_vanilla.pt", "results/synth_i3d/generator.pt",
          "results/synth_i3d/encoder_mist.pt")
SYNTH_DATA = "results/synth/data"
# Hashes of whole files differ between runs where the files embed wall-clock times (model
# files' meta, and anything hashed over them: settings_hash); weights_sha256 is compared.
KEPT_HASHES = {"weights_sha256"}

# A training loop runs from the first line to the second (log lines, regular expressions).
LOOP = {"train_generator": (r"step \d+/\d+: loss", r"generator written to"),
        "finetune": (r"epoch \d+/\d+ started", r"MIST model written")}
STAMPED = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: ([^\n\r]*)")
JOB_START = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
JOB_ID = re.compile(r"^\s*jobid: (\d+)\s*$")
JOB_END = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")


def timed(name: str) -> bool:
    """Whether a field holds wall-clock times (or a hash over files that hold them)."""
    return "second" in name or name in ("sha256", "settings_hash") or (
        name.endswith("_sha256") and name not in KEPT_HASHES)


# -- running Snakemake --------------------------------------------------------------------------
def snakemake_cmd(workdir: Path, cores: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
            "--cores", str(cores), *extra]


def job_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


class Attempt:
    """One Snakemake run in its own process group, its output followed as it is written."""

    def __init__(self, workdir: Path, output: Path, cores: int):
        self.output = output
        self._fh = open(output, "wb")
        self.proc = subprocess.Popen(snakemake_cmd(workdir, cores, "--rerun-incomplete"),
                                     stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=job_env())
        self.t0 = time.monotonic()
        self.starts: dict[str, tuple[str, float]] = {}  # jobid -> (rule, seconds in)
        self.ends: dict[str, float] = {}
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pos, self._rest, self._rule = 0, "", None

    def now(self) -> float:
        return time.monotonic() - self.t0

    def poll(self) -> bool:
        """Read new output; True when Snakemake has exited."""
        done = self.proc.poll() is not None
        with open(self.output, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read()
        self._pos += len(data)
        lines = (self._rest + self._decoder.decode(data)).split("\n")
        self._rest = lines.pop()
        for line in lines:
            if m := JOB_START.match(line):
                self._rule = m[1]
            elif (m := JOB_ID.match(line)) and self._rule:
                self.starts[m[1]] = (self._rule, self.now())
                self._rule = None
            elif m := JOB_END.search(line):
                self.ends[m[1]] = self.now()
        return done

    def running(self) -> list[str]:
        return sorted(rule for jid, (rule, _) in self.starts.items() if jid not in self.ends)

    def finished(self) -> list[str]:
        return [rule for jid, (rule, _) in self.starts.items() if jid in self.ends]

    def started(self, rule: str) -> float | None:
        times = [t for r, t in self.starts.values() if r == rule]
        return min(times) if times else None

    def wait(self, until: float | None = None, rule: str | None = None,
             when=None) -> bool:
        """Follow the run until it exits (True), or (False) ``until`` seconds in, ``rule``
        starts or ``when()`` is true."""
        while True:
            if self.poll():
                self.proc.wait()
                self._fh.close()
                return True
            if until is not None and self.now() >= until:
                return False
            if rule is not None and self.started(rule) is not None:
                return False
            if when is not None and when():
                return False
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL Snakemake's whole process tree: its group and any descendant elsewhere."""
        try:
            tree = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in tree:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=30)
        self.proc.wait()
        self._fh.close()
        self.poll()


def chaos_config() -> dict:
    return load_config(tiny=True, overrides=OVERRIDES)


def fresh_workdir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    write_config(path, chaos_config())
    return path


def tail(path: Path, n: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


# -- comparing results --------------------------------------------------------------------------
def _untimed(value):
    """``value`` (JSON text or object) without the fields that hold wall-clock times."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not timed(k)}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _attrs(obj) -> dict:
    out = {}
    for k, v in obj.attrs.items():
        if timed(k):
            continue
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, (np.ndarray, np.generic)):
            v = v.tolist()
        out[k] = _untimed(v)
    return out


def compare_h5(a: Path, b: Path) -> list[str]:
    found = []
    with h5py.File(a) as fa, h5py.File(b) as fb:
        ra, rb = _attrs(fa), _attrs(fb)
        found += [f"root attribute {k} differs" for k in sorted(set(ra) | set(rb))
                  if ra.get(k) != rb.get(k)]
        names = {}
        for f, key in ((fa, "a"), (fb, "b")):
            f.visititems(lambda n, o, key=key: names.setdefault(key, {}).__setitem__(n, o))
        na, nb = names.get("a", {}), names.get("b", {})
        if na.keys() != nb.keys():
            found.append(f"objects differ: {sorted(set(na) ^ set(nb))[:5]}")
        for n in sorted(set(na) & set(nb)):
            x, y = na[n], nb[n]
            if isinstance(x, h5py.Dataset):
                u, v = x[()], y[()]
                if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(u, v):
                    found.append(f"dataset {n} differs")
            if _attrs(x) != _attrs(y):
                found.append(f"attributes of {n} differ")
    return found


def _csv_rows(path: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [{k: v for k, v in r.items() if not timed(k)} for r in rows]


def _weights(path: Path) -> dict:
    doc = torch.load(path, map_location="cpu", weights_only=True)
    return doc["state_dict"]


def compare(run: Path, ref: Path) -> tuple[int, list[str]]:
    """(files compared, mismatches) of ``run`` against the reference ``ref``."""
    bad, n = [], 0

    def check(rel, problems):
        nonlocal n
        n += 1
        bad.extend(f"{rel}: {p}" for p in problems)

    for rel in (*JSONS, *HDF5, *CSVS, *MODELS):
        if not (run / rel).is_file():
            bad.append(f"{rel}: missing")
            continue
        if rel in JSONS:
            same = _untimed(json.loads((run / rel).read_text())) == \
                _untimed(json.loads((ref / rel).read_text()))
            check(rel, [] if same else ["metrics differ"])
        elif rel in HDF5:
            check(rel, compare_h5(run / rel, ref / rel))
        elif rel in CSVS:
            check(rel, [] if _csv_rows(run / rel) == _csv_rows(ref / rel) else ["rows differ"])
        else:
            a, b = _weights(run / rel), _weights(ref / rel)
            same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
            check(rel, [] if same else ["weights differ"])
    ref_data = sorted(p.relative_to(ref) for p in (ref / SYNTH_DATA).rglob("*") if p.is_file())
    run_data = sorted(p.relative_to(run) for p in (run / SYNTH_DATA).rglob("*") if p.is_file())
    if ref_data != run_data:
        bad.append(f"{SYNTH_DATA}: other files {sorted(set(ref_data) ^ set(run_data))[:5]}")
    for rel in set(ref_data) & set(run_data):
        same = (run / rel).read_bytes() == (ref / rel).read_bytes()
        check(rel, [] if same else ["bytes differ"])
    leftovers = [p for pattern in (".*.tmp", "*.ckpt") for p in (run / "results").rglob(pattern)]
    shards = run / "results/synth_i3d/shards"
    leftovers += list(shards.iterdir()) if shards.is_dir() else []
    bad.extend(f"left over: {p.relative_to(run)}" for p in leftovers)
    return n, bad


# -- resume accounting --------------------------------------------------------------------------
@dataclass
class Progress:
    """Work a training job did over the attempts of one round."""

    unit: str
    total: int = 0
    high: int = 0  # units finished by earlier attempts
    open_unit: bool = False  # the last attempt was killed inside an unfinished epoch
    redone: int = 0  # finished units run again after a kill
    redone_after_end: int = 0  # ... of a job killed after it had written its output
    ended_unrecorded: bool = False  # the last attempt: job done, Snakemake not yet told
    restarted_partial: int = 0  # interrupted epochs started again
    resumes: list = field(default_factory=list)  # 1-based unit each restart began at
    kills: int = 0


def read_progress(job: str, text: str) -> tuple[int | None, int, bool, bool]:
    """(resumed after how many finished units or None, units finished, an unfinished unit
    was started, the job completed) from one attempt's job log."""
    if job == "train_generator":
        m = re.search(r"resuming from \S+ at step (\d+) of \d+", text)
        start = int(m[1]) if m else None
        steps = [int(s) for s in re.findall(r"step (\d+)/\d+: loss", text)]
        return start, max(steps, default=start or 0), False, "generator written to" in text
    m = re.search(r"resuming from epoch (\d+) of \d+", text)
    start = int(m[1]) - 1 if m else None
    done = [int(e) for e in re.findall(r"epoch (\d+)/\d+(?: \(backbone frozen\))?: loss", text)]
    begun = [int(e) for e in re.findall(r"epoch (\d+)/\d+ started", text)]
    finished = max(done, default=start or 0)
    return start, finished, max(begun, default=0) > finished, "MIST model written" in text


def account(progress: Progress, job: str, text: str, killed_inside: bool) -> None:
    """Add one attempt's log of ``job`` (which started in it) to ``progress``."""
    start, finished, partial, complete = read_progress(job, text)
    progress.kills += killed_inside
    if start is None and not finished and not partial and not complete:
        return  # killed before the training loop (imports, hashing): nothing done, nothing lost
    begin = start or 0
    progress.resumes.append(begin + 1)
    if progress.ended_unrecorded:  # its checkpoint was already removed: a rerun starts over
        progress.redone_after_end += max(0, progress.high - begin)
    else:
        progress.redone += max(0, progress.high - begin)
    if progress.open_unit and begin <= progress.high:
        progress.restarted_partial += 1
    progress.high = max(progress.high, finished)
    progress.open_unit = partial and killed_inside
    progress.ended_unrecorded = complete and killed_inside


# -- the experiment -----------------------------------------------------------------------------
@dataclass
class Kill:
    number: int
    round: int
    attempt: int
    at: float
    mode: str
    running: list


def in_loop(job: str, log: Path) -> bool:
    """Whether the job's log shows its training loop running."""
    return log.is_file() and re.search(LOOP[job][0], log.read_text(errors="replace")) is not None


def loop_seconds(job: str, text: str) -> float | None:
    """Seconds from the first line of the training loop to the end of the job, by the log's
    time stamps."""
    begin = end = None
    for stamp, message in STAMPED.findall(text):
        t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if begin is None and re.search(LOOP[job][0], message):
            begin = t
        if re.search(LOOP[job][1], message):
            end = t
    return None if begin is None or end is None else end - begin


def reference_run(workdir: Path, cores: int) -> tuple[dict, float, float, dict]:
    """Run the reference; returns rule -> mean job duration, the run's wall time, the time to
    the first job (start-up) and the seconds of each training loop; also kept in
    ``timeline.json`` for ``--reference``."""
    fresh_workdir(workdir)
    run = Attempt(workdir, workdir / "snakemake.out", cores)
    run.wait()
    if run.proc.returncode != 0:
        sys.exit(f"reference run failed:\n{tail(run.output)}")
    spans = collections.defaultdict(list)
    for jid, (rule, start) in run.starts.items():
        if rule != "all":
            spans[rule].append(run.ends[jid] - start)
    first = min(t for _, t in run.starts.values())
    durations = {r: sum(v) / len(v) for r, v in spans.items()}
    loops = {job: loop_seconds(job, (workdir / log).read_text()) or durations[job]
             for job, log in TRAINING.items()}
    timeline = (durations, run.now(), first, loops)
    (workdir / "timeline.json").write_text(json.dumps(timeline))
    return timeline


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs in all (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    p.add_argument("--kills-per-round", type=int, default=5,
                   help="kills in one run before it may complete (default 5): later rounds "
                   "start afresh, so the kills spread over all stages")
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="folder for the runs (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the run folders when all pass")
    p.add_argument("--reference", type=Path, default=None,
                   help="reuse the reference folder of an earlier run of this script")
    args = p.parse_args(argv)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="mist-chaos-"))
    base.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    started = time.monotonic()

    reference = args.reference or base / "reference"
    if args.reference:
        durations, ref_wall, startup, loops = json.loads(
            (reference / "timeline.json").read_text())
    else:
        print(f"reference: uninterrupted tiny run in {reference} ...", flush=True)
        durations, ref_wall, startup, loops = reference_run(reference, args.cores)
    jobs = collections.Counter({r: 1 for r in durations})
    jobs["extract_shard"] = chaos_config()["extract"]["shards"]
    parallel = (ref_wall - startup) / sum(durations[r] * k for r, k in jobs.items())
    print(f"reference: {ref_wall:.0f} s; jobs (s): "
          + ", ".join(f"{r} {d:.0f}" for r, d in sorted(durations.items(), key=lambda x: -x[1]))
          + "; training loops (s): " + ", ".join(f"{j} {t:.1f}" for j, t in loops.items()),
          flush=True)

    kills: list[Kill] = []
    rounds, failures = [], []
    progress_total = {job: Progress("step" if job == "train_generator" else "epoch")
                      for job in TRAINING}
    round_no = 0
    while len(kills) < args.kills or not rounds:
        round_no += 1
        wd = fresh_workdir(base / f"round{round_no}")
        done = collections.Counter()
        progress = {job: Progress(progress_total[job].unit) for job in TRAINING}
        attempt_no, t_round, ok = 0, time.monotonic(), True
        while True:
            attempt_no += 1
            if attempt_no > 1:
                subprocess.run(snakemake_cmd(wd, args.cores, "--unlock"), env=job_env(),
                               capture_output=True, check=True)
            run = Attempt(wd, wd / f"snakemake.{attempt_no}.out", args.cores)
            remaining = jobs - done
            ended, mode = True, "-"
            n_round = sum(k.round == round_no for k in kills)
            # no kill once every job has finished, nor beyond the round's share
            if len(kills) < args.kills and remaining and n_round < args.kills_per_round:
                training = [r for r in TRAINING if remaining[r]]
                # a round's first kill, and then every other one, inside a training loop
                if training and (n_round == 0 or rng.random() < 0.5):
                    target = rng.choice(training)
                    within = rng.uniform(0.0, loops[target])
                    mode = f"{target} loop +{within:.1f}s"
                    ended = run.wait(rule=target)
                    if not ended:  # its log says the loop runs (the old log is gone by then)
                        log, since = wd / TRAINING[target], run.started(target) + 0.5
                        ended = run.wait(when=lambda: run.now() > since and (
                            target in run.finished() or in_loop(target, log)))
                    if not ended:
                        ended = run.wait(until=run.now() + within)
                else:
                    rest = startup + parallel * sum(durations[r] * k
                                                    for r, k in remaining.items())
                    moment = rng.uniform(0.5, max(1.0, 0.9 * rest))  # 0.9: mostly before the end
                    mode = f"random of ~{rest:.0f}s"
                    ended = run.wait(until=moment)
            else:
                run.wait()
            if not ended:
                running = run.running()
                run.kill()
                kills.append(Kill(len(kills) + 1, round_no, attempt_no, run.now(), mode,
                                  running))
                print(f"kill {len(kills):2d}: round {round_no} attempt {attempt_no} at "
                      f"{run.now():5.1f} s ({mode}) while {', '.join(running) or 'no job'} ran",
                      flush=True)
            for job, log in TRAINING.items():
                if run.started(job) is not None and (wd / log).is_file():
                    shutil.copy(wd / log, wd / f"attempt{attempt_no}.{job}.log")  # for a look
                    account(progress[job], job, (wd / log).read_text(errors="replace"),
                            killed_inside=not ended and job in run.running())
            done.update(run.finished())
            if ended:
                if run.proc.returncode != 0:
                    ok = False
                    failures.append(f"round {round_no} attempt {attempt_no} failed "
                                    f"(exit {run.proc.returncode}):\n{tail(run.output)}")
                break
        n_files, mismatches = compare(wd, reference) if ok else (0, [])
        n_kills = sum(k.round == round_no for k in kills)
        result = ("FAILED RUN" if not ok else f"identical ({n_files} files)" if not mismatches
                  else f"{len(mismatches)} MISMATCHES")
        failures.extend(f"round {round_no}: {m}" for m in mismatches)
        rounds.append((round_no, attempt_no, n_kills, time.monotonic() - t_round, result))
        print(f"round {round_no}: {attempt_no} attempts, {n_kills} kills: {rounds[-1][-1]}",
              flush=True)
        for job, pr in progress.items():
            total = progress_total[job]
            total.redone += pr.redone
            total.redone_after_end += pr.redone_after_end
            total.restarted_partial += pr.restarted_partial
            total.kills += pr.kills
            total.resumes += [r for r in pr.resumes[1:]]  # restarts, not the first start
        if not ok or mismatches:  # the kept runs tell why; no later round can undo it
            break

    print("\nkill  round  attempt  at (s)  moment                          running when killed")
    for k in kills:
        print(f"{k.number:4d}  {k.round:5d}  {k.attempt:7d}  {k.at:6.1f}  {k.mode:30s}  "
              f"{', '.join(k.running) or '-'}")
    print("\nround  attempts  kills  wall (s)  result")
    for r in rounds:
        print(f"{r[0]:5d}  {r[1]:8d}  {r[2]:5d}  {r[3]:8.0f}  {r[4]}")
    print("\nresumes (restart points are 1-based; 1 = from scratch):")
    config = chaos_config()
    totals = {"train_generator": config["generator"]["steps"],
              "finetune": config["finetune"]["epochs"]}
    for job, pr in progress_total.items():
        line = (f"  {job}: {pr.kills} kills while it ran; restarts at "
                f"{pr.unit} {pr.resumes or '-'} of {totals[job]}; finished {pr.unit}s re-done: "
                f"{pr.redone}, and {pr.redone_after_end} of a job killed after writing its "
                f"output but before Snakemake recorded it (its checkpoint already removed)")
        if job == "finetune":
            line += f"; interrupted epochs started again: {pr.restarted_partial}"
        print(line)
    wall = time.monotonic() - started
    if failures:
        print(f"\nFAIL after {wall:.0f} s ({len(kills)} kills):")
        for f in failures:
            print(f"  {f}")
        print(f"runs kept in {base}")
        return 1
    print(f"\nPASS: {len(kills)} kills in {len(rounds)} rounds, every round's results identical "
          f"to the uninterrupted run's ({wall:.0f} s)")
    if args.keep or args.workdir:
        print(f"runs kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
