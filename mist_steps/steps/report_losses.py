"""Step report_losses: the training losses of both stages."""

from __future__ import annotations

import argparse

from mist_steps.cli import run_cli
from mist_steps.viz.run_plots import plot_losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mist_steps.steps.report_losses",
                                     description="Training losses of both stages.")
    parser.add_argument("--generator-loss", required=True, help="generator_loss.csv")
    parser.add_argument("--finetune-loss", required=True, help="finetune_loss.csv")
    parser.add_argument("--run", required=True, help="run name for the title")
    parser.add_argument("--out", required=True, help="output PNG")
    a = parser.parse_args(argv)
    plot_losses(a.generator_loss, a.finetune_loss, a.out, run=a.run)


if __name__ == "__main__":
    run_cli(main)
