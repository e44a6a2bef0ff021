"""Step report_ablations: the ablation table as HTML and a chart."""

from __future__ import annotations

import argparse

from mist_steps.cli import run_cli
from mist_steps.viz.run_plots import plot_ablations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mist_steps.steps.report_ablations",
                                     description="The ablation table as HTML and a chart.")
    parser.add_argument("--table", required=True, help="results/ablations/<run>.csv")
    parser.add_argument("--run", required=True, help="run name for the title")
    parser.add_argument("--out-html", required=True, help="output HTML")
    parser.add_argument("--out", required=True, help="output PNG")
    a = parser.parse_args(argv)
    plot_ablations(a.table, a.out_html, a.out, run=a.run)


if __name__ == "__main__":
    run_cli(main)
