"""Step report_losses: the training losses of both stages."""

from __future__ import annotations

from mist_steps.cli import StepParser, run_cli
from mist_steps.viz.run_plots import plot_losses


def main(argv: list[str] | None = None) -> None:
    p = StepParser(plot_losses, "Training losses of both stages.",
                   prog="python -m mist_steps.steps.report_losses")
    p.add_argument("--generator-loss", dest="generator_csv", required=True,
                   help="generator_loss.csv")
    p.add_argument("--finetune-loss", dest="finetune_csv", required=True,
                   help="finetune_loss.csv")
    p.add_argument("--run", required=True, help="run name for the title")
    p.add_argument("--out", dest="out_png", required=True, help="output PNG")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
