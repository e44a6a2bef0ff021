"""Step report_runtimes: wall time and memory per job."""

from __future__ import annotations

import argparse

from mist_steps.cli import run_cli
from mist_steps.viz.run_plots import plot_runtimes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mist_steps.steps.report_runtimes",
                                     description="Wall time and memory per job (benchmark files).")
    parser.add_argument("--title", default="Job run times")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("bench", nargs="+", help="Snakemake benchmark .tsv files or folders of "
                        "them (missing ones are left out)")
    a = parser.parse_args(argv)
    plot_runtimes(a.bench, a.out, title=a.title)


if __name__ == "__main__":
    run_cli(main)
