"""The benchmark suite: one command, one table of ratios measured side by side in one run.

    python -m benchmarks [--quick] [--only P1,P2,G,F,P3,P4,P5] [--workdir DIR]
        [--default-run | --bench-dir DIR] [--json out.json]

Rows (goals from issue #8):

* P1 extraction efficiency: full extraction path clips/s / encoder-only clips/s (>= 0.9)
* P2 memory: peak RSS extracting a 10x longer video / the short one's (<= 1.2)
* G, F: generator training steps/s and fine-tuning clips/s of the real step functions /
  a plain PyTorch loop doing the same work (>= 0.9)
* P3 workflow overhead: ``snakemake -n`` on a finished run (<= 3 s) and the extraction jobs a
  generator hyper-parameter change schedules (0); on ``--workdir DIR`` or, without it, on the
  tests' tiny pipeline run here once (skipped in ``--quick`` mode without ``--workdir``)
* P4 default run: cold ``snakemake --cores 2`` of the default target (<= 10 min), opt-in with
  ``--default-run`` (~8 min); ``--bench-dir DIR`` prints an existing run's per-rule times
* P5 GPU: I3D at 224 px, bf16, clips/s and the share of GPU time waiting on decode; "skipped:
  no CUDA" without a GPU (``python -m benchmarks.gpu_i3d`` runs it alone)

``--quick`` shrinks every input (seconds; what the tests run): its figures say nothing about
speed. The full suite takes about 5-10 minutes on 2 cores (plus P3's tiny run without
``--workdir``). Exit status 1 when an entry failed (its row says why); goals not met do not
change the exit status.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # the steps' progress bars: the table is the output

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from benchmarks.common import Row, format_table  # noqa: E402

GROUPS = {"P1": "extraction", "P2": "extraction", "G": "training", "F": "training",
          "P3": "workflow", "P4": "default", "P5": "gpu"}
NAMES = {"extraction": "P1/P2 extraction", "training": "G/F training steps",
         "workflow": "P3 workflow overhead", "default": "P4 default run", "gpu": "P5 GPU"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--quick", action="store_true",
                   help="tiny inputs, one repeat: checks that every entry runs (tests)")
    p.add_argument("--only", default=",".join(GROUPS),
                   help="comma-separated rows to run (their group runs whole: P1 and P2 "
                   "together, G and F together); default all")
    p.add_argument("--repeats", type=int, default=None,
                   help="candidate runs timed between reference runs (default 3; quick 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the extraction entries (default 2; quick 1)")
    p.add_argument("--device", default="cpu", help="device of P1/P2 (default cpu)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="P3: a finished run's folder (default: run the tiny pipeline here)")
    run4 = p.add_mutually_exclusive_group()
    run4.add_argument("--default-run", action="store_true",
                      help="P4: run the default target cold in a fresh folder (~8 min)")
    run4.add_argument("--bench-dir", type=Path, default=None,
                      help="P4: print the per-rule times of an existing run (its folder, or "
                      "its results/benchmarks)")
    p.add_argument("--scratch", type=Path, default=None,
                   help="folder for the inputs and runs (default: a temporary one, removed)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    unknown = sorted(set(a.only.split(",")) - set(GROUPS))
    if unknown:
        p.error(f"--only: unknown row(s) {unknown}; choose from {', '.join(GROUPS)}")
    if a.workdir is not None and not a.workdir.is_dir():
        p.error(f"--workdir {a.workdir}: no such folder")
    if a.bench_dir is not None and not a.bench_dir.is_dir():
        p.error(f"--bench-dir {a.bench_dir}: no such folder")
    if a.repeats is not None and a.repeats < 1 or a.threads is not None and a.threads < 1:
        p.error("--repeats and --threads must be >= 1")
    return a


def run_group(group: str, a: argparse.Namespace, scratch: Path) -> tuple[list[Row], str]:
    """The rows of one group (and, for P4, the per-rule table)."""
    repeats = a.repeats or (1 if a.quick else 3)
    folder = scratch / group
    folder.mkdir(parents=True, exist_ok=True)
    if group == "extraction":
        from benchmarks.extract_throughput import suite_rows
        return suite_rows(folder, quick=a.quick, threads=a.threads or (1 if a.quick else 2),
                          repeats=repeats, device=a.device), ""
    if group == "training":
        from benchmarks.training import suite_rows
        return suite_rows(folder, quick=a.quick, repeats=repeats), ""
    if group == "workflow":
        from benchmarks.workflow import p3_rows
        return p3_rows(a.workdir, folder, quick=a.quick), ""
    if group == "default":
        from benchmarks.workflow import p4_rows
        return p4_rows(a.default_run, a.bench_dir, folder)
    from benchmarks.gpu_i3d import suite_rows
    return suite_rows(folder, quick=a.quick), ""


def machine() -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    return (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), {cuda}, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the steps' info lines: the table is the output
    wanted = set(a.only.split(","))
    groups = list(dict.fromkeys(GROUPS[k] for k in GROUPS if k in wanted))
    started = time.perf_counter()
    rows: list[Row] = []
    tables: list[str] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="mist-benchmarks-") as tmp:
        scratch = a.scratch or Path(tmp)
        for group in groups:
            print(f"running {NAMES[group]} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                got, table = run_group(group, a, scratch)
            except Exception as err:  # one entry failing must not lose the others' figures
                failed = True
                traceback.print_exc()
                keys = [k for k, g in GROUPS.items() if g == group]
                got, table = [Row(k, NAMES[group], None, status=f"failed: {err}".splitlines()[0])
                              for k in keys], ""
            rows += got
            if table:
                tables.append(table)
            print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    mode = "quick (sizes shrunk: not speed figures)" if a.quick else "full"
    print(f"MIST benchmark suite, {stamp}, {mode} mode, {time.perf_counter() - started:.0f} s")
    print(f"machine: {machine()}\n")
    print(format_table(rows))
    for table in tables:
        print(f"\nPer-rule times (P4):\n\n{table}")
    if a.json:
        a.json.write_text(json.dumps({"date": stamp, "mode": mode, "machine": machine(),
                                      "rows": [r.as_dict() for r in rows],
                                      "rule_tables": tables}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
