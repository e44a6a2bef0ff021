#!/usr/bin/env python
"""Stress check of stage II's bit-for-bit determinism: the same fine-tuning, many times, each run
started together with a second, busy one.

Issue #7's notes describe a rare "odd first Adam step": a fine-tuning that, started beside
another process, ends with other weights than the same command run alone (~13 ulps off in the
first optimiser step, then diverging). Its cause, MKL's first vector-math call made by several
threads at once, is provoked directly by ``mkl_first_call.py``; this script checks the whole
fine-tuning in that situation (``--intel-path``: with MKL on its Intel path, where the race lives):

1. the tiny pipeline (tests/config_tiny.yaml, fine-tuning on ``--threads`` threads) is run up to
   stage II's inputs in a scratch folder;
2. the fine-tuning command is run alone twice: the reference weights (the two must agree);
3. ``--repeats`` times, the command is started twice at the same moment, each writing its own
   output; both runs' weights (``weights_sha256``) and loss curves must equal the reference.

Exit status 0 when every run matches, 1 otherwise (each mismatching run is listed, its folder
kept). Takes ~15 s per repeat on 2 cores.

    python tests/chaos/adam_stress.py --repeats 50
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
import mkl_path  # noqa: E402  (the folder of this script)

REPO = Path(__file__).resolve().parents[2]
TARGET = "results/synth_i3d/encoder_mist.pt"


def workflow_utils(repo: Path):
    """``tests/workflow_utils.py`` of the checkout ``repo`` (this one, or an older one)."""
    spec = importlib.util.spec_from_file_location(f"workflow_utils_{repo.name}",
                                                  repo / "tests" / "workflow_utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(workdir: Path, threads: int, repo: Path) -> list[str]:
    """Stage II's inputs in ``workdir``; returns the fine-tuning command (argv, no output paths)."""
    utils = workflow_utils(repo)
    workdir.mkdir(parents=True, exist_ok=True)
    utils.write_config(workdir, utils.load_config(tiny=True))
    snakemake = utils.snakemake
    run = snakemake(workdir, "--cores", "2", TARGET, "--omit-from", "finetune")
    if run.returncode != 0:
        sys.exit(f"preparing the tiny pipeline failed:\n{run.stdout}\n{run.stderr}")
    plan = snakemake(workdir, "-n", "-p", TARGET)
    # mist_steps.steps.finetune (mist_steps.finetune in older checkouts)
    found = re.search(r"python -m mist_steps(\.steps)?\.finetune .*?(?= > )", plan.stdout)
    if found is None:
        sys.exit(f"no fine-tuning command in the plan of {TARGET}:\n{plan.stdout}")
    command = found.group(0)
    argv = shlex.split(command)
    for flag in ("--out", "--loss-csv"):  # each run writes its own
        i = argv.index(flag)
        del argv[i:i + 2]
    argv[argv.index("--threads") + 1] = str(threads)
    return [sys.executable if a == "python" else a for a in argv]


def start(argv: list[str], workdir: Path, name: str, repo: Path = REPO,
          ) -> tuple[subprocess.Popen, Path]:
    out = workdir / "runs" / name
    out.mkdir(parents=True)
    log = open(out / "finetune.log", "w")
    proc = subprocess.Popen([*argv, "--out", str(out / "model.pt"),
                             "--loss-csv", str(out / "loss.csv")],
                            cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    return proc, out


def outcome(proc: subprocess.Popen, out: Path) -> tuple[str, str]:
    """(weights sha256, loss curve without its wall times) of a finished run."""
    if proc.wait() != 0:
        sys.exit(f"fine-tuning failed: {out / 'finetune.log'}")
    model = torch.load(out / "model.pt", weights_only=True)
    weights = hashlib.sha256()
    for name, tensor in sorted(model["state_dict"].items()):
        weights.update(name.encode() + tensor.cpu().contiguous().view(-1).view(torch.uint8)
                       .numpy().tobytes())
    losses = pd.read_csv(out / "loss.csv").drop(columns="seconds")  # wall time varies
    return weights.hexdigest(), losses.to_csv(index=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="pairs of concurrent runs")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per fine-tuning")
    parser.add_argument("--together", type=int, default=2,
                        help="runs started at the same moment in each repeat")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temp one)")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="checkout whose workflow and code run (e.g. a worktree of an older "
                        "commit; default: this one)")
    parser.add_argument("--intel-path", action="store_true",
                        help="make MKL take its Intel path on a non-Intel CPU (needs cc)")
    args = parser.parse_args()
    if args.intel_path:
        mkl_path.restart_with_shim(intel_path=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mist-adam-stress-"))
    t0 = time.monotonic()
    repo = args.repo.resolve()
    argv = prepare(workdir, args.threads, repo)
    print(f"workdir {workdir}; fine-tuning on {args.threads} thread(s): "
          f"{' '.join(argv[1:4])} ...", flush=True)
    reference = [outcome(*start(argv, workdir, f"alone{i}", repo)) for i in (1, 2)]
    if reference[0] != reference[1]:
        print("FAIL: two runs alone already differ:", reference[0][0][:12], reference[1][0][:12])
        return 1
    ref = reference[0]
    print(f"reference (alone, twice): weights {ref[0][:12]}", flush=True)
    odd = []
    for i in range(1, args.repeats + 1):
        pair = [start(argv, workdir, f"r{i:03d}{side}", repo)
                for side in "abcdefgh"[:args.together]]
        for (proc, out) in pair:
            got = outcome(proc, out)
            if got != ref:
                odd.append(out)
                what = "weights" if got[0] != ref[0] else "loss curve"
                print(f"  {out.name}: {what} differ ({got[0][:12]})", flush=True)
            else:
                shutil.rmtree(out)
        if i % 10 == 0 or i == args.repeats:
            print(f"{i}/{args.repeats} pairs, {len(odd)} mismatching run(s), "
                  f"{time.monotonic() - t0:.0f} s", flush=True)
    runs = args.together * args.repeats
    if odd:
        print(f"FAIL: {len(odd)} of {runs} concurrent runs differ from the reference "
              f"(kept: {', '.join(p.name for p in odd)} under {workdir / 'runs'})")
        return 1
    print(f"PASS: {runs} concurrent runs ({args.repeats} pairs), all identical to the "
          f"reference ({time.monotonic() - t0:.0f} s)")
    if args.workdir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
