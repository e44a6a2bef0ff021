#!/usr/bin/env python
"""Stress check of MKL's first vector-math call: the cause of issue #7's "odd first Adam step".

The odd step (a fine-tuning whose first Adam update came out ~12 bits off on the main OpenMP
thread's half of one weight, now and then, mostly beside a busy process) was the process's first
MKL VML call (``torch.sqrt`` of Adam's second moment, one ``vmsSqrt`` per thread's chunk), made
by two threads at once: on MKL's Intel path, VML sets itself up on that first call, and a thread
that enters while another is setting up can run its call with a low-accuracy kernel - every
trait of the odd step matches what this check provokes (which thread, the size of the error,
the first call only, timing). Each job now makes one small VML call on its own thread before
any parallel work (``mist_steps.cpu_kernels.warm_up_mkl``).

Each trial is a child forked from this process, which has loaded torch's MKL
(``libtorch_cpu.so``) without starting torch: ``--threads`` threads make the child's first
``vmsSqrt`` at one moment (``mkl_race.c``), each on its own 1 M values, and each result is
compared with a later call on the same values. (torch's start-up makes MKL service calls that
narrow the race's window: in a started process 1 to 4 trials in 300 to 1,000 differ, too few
for a check.) First, a fresh torch process with ``mkl_shim.c`` preloaded counts the
``vmsSqrt`` calls of the jobs' warm-up: exactly one. Two arms,
``--trials`` each: ``none`` (the jobs before the fix) and ``warm-up`` (the jobs' warm-up first).
``--intel-path`` makes MKL take its Intel path on a non-Intel CPU (see ``mkl_path.py``); on the
generic path the race does not exist.

Exit status 1 when a warmed-up trial differs, or (``--expect-race``) when no trial of the
``none`` arm does - then the check has not provoked anything and says so.

    python tests/chaos/mkl_first_call.py --intel-path --expect-race
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import mkl_path  # noqa: E402  (the folder of this script)

REPO = Path(__file__).resolve().parents[2]
CHUNK = 1 << 20
# what the jobs' warm-up does, in a fresh process with the shim: how many vmsSqrt calls it makes
WARM_UP_CALLS = ("import ctypes, torch; from mist_steps import cpu_kernels; "
                 "calls = ctypes.CDLL(None).vml_sqrt_calls; before = calls(); "
                 "cpu_kernels.warm_up_mkl(); print(calls() - before)")


def trial(lib: ctypes.CDLL, race: ctypes.CDLL, x: np.ndarray, threads: int, warm_up: bool,
          ) -> int:
    """Fork a child that makes its first VML call from ``threads`` threads at once
    (``mkl_race.c``); the number of threads whose result differs from a later call."""
    pid = os.fork()
    if pid == 0:
        status = 255
        try:
            if warm_up:  # the jobs' warm-up: one vmsSqrt of 8 values on this thread
                mkl_path.vms_sqrt(lib, x[:8], np.empty(8, np.float32))
            status = race.race(threads, CHUNK, x.ctypes.data_as(ctypes.c_void_p),
                               ctypes.cast(lib.vmsSqrt, ctypes.c_void_p))
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if not 0 <= code <= threads:
        sys.exit(f"a trial's child failed (exit {code})")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=500, help="trials per arm")
    parser.add_argument("--threads", type=int, default=4, help="threads making the first call")
    parser.add_argument("--intel-path", action="store_true",
                        help="make MKL take its Intel path on a non-Intel CPU (needs cc)")
    parser.add_argument("--expect-race", action="store_true",
                        help="fail when the arm without warm-up shows no race either")
    args = parser.parse_args()
    mkl_path.restart_with_shim(args.intel_path)
    lib = mkl_path.vml()
    if lib is None:
        print("this torch has no MKL vector math: nothing to check")
        return 0
    race = ctypes.CDLL(str(mkl_path.build("mkl_race.c", "-pthread")))
    counted = subprocess.run([sys.executable, "-c", WARM_UP_CALLS], capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if counted.returncode != 0 or counted.stdout.strip() != "1":
        print(f"FAIL: cpu_kernels.warm_up_mkl made {counted.stdout.strip() or '?'} vmsSqrt "
              f"call(s), not one{counted.stderr[-2000:]}")
        return 1
    print("the jobs' warm-up (cpu_kernels.warm_up_mkl) makes one vmsSqrt call", flush=True)
    # small positive values like Adam's second moments
    x = (np.random.default_rng(0).random(CHUNK * args.threads, dtype=np.float32) * 1e-6
         + 1e-12).astype(np.float32)
    t0 = time.monotonic()
    odd = {}
    for arm, warm_up in (("none", False), ("warm-up", True)):
        odd[arm] = sum(trial(lib, race, x, args.threads, warm_up) > 0 for _ in range(args.trials))
        print(f"{arm}: {odd[arm]} of {args.trials} trials had a thread whose first call "
              f"differs ({time.monotonic() - t0:.0f} s)", flush=True)
    print(f"MKL path: {mkl_path.path(lib)}; {args.threads} threads per first call")
    if odd["warm-up"]:
        print("FAIL: the race shows after the warm-up")
        return 1
    if args.expect_race and not odd["none"]:
        print("FAIL: no race provoked without the warm-up either, so this run checks nothing "
              "(on the generic path it cannot show: try --intel-path)")
        return 1
    print("PASS: no race after the warm-up" +
          (f" ({odd['none']} without it)" if odd["none"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
