"""Step report_roc: ROC curves of the generator and of MIST."""

from __future__ import annotations

from mist_steps.cli import run_cli
from mist_steps.viz.score_plots import plot_roc, score_plot_parser


def main(argv: list[str] | None = None) -> None:
    score_plot_parser(plot_roc, "ROC curves: generator only vs MIST.",
                      prog="python -m mist_steps.steps.report_roc").run(argv)


if __name__ == "__main__":
    run_cli(main)
