"""Step report_runtimes: wall time and memory per job."""

from __future__ import annotations

from mist_steps.cli import StepParser, run_cli
from mist_steps.viz.run_plots import plot_runtimes


def main(argv: list[str] | None = None) -> None:
    p = StepParser(plot_runtimes, "Wall time and memory per job (benchmark files).",
                   prog="python -m mist_steps.steps.report_runtimes")
    p.add_argument("--title", default="Job run times")
    p.add_argument("--out", dest="out_png", required=True, help="output PNG")
    p.add_argument("bench_paths", nargs="+", metavar="bench", help="Snakemake benchmark .tsv "
                   "files or folders of them (missing ones are left out)")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
