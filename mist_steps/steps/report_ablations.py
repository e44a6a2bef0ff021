"""Step report_ablations: the ablation table as HTML and a chart."""

from __future__ import annotations

from mist_steps.cli import StepParser, run_cli
from mist_steps.viz.run_plots import plot_ablations


def main(argv: list[str] | None = None) -> None:
    p = StepParser(plot_ablations, "The ablation table as HTML and a chart.",
                   prog="python -m mist_steps.steps.report_ablations")
    p.add_argument("--table", dest="table_csv", required=True,
                   help="results/ablations/<run>.csv")
    p.add_argument("--run", required=True, help="run name for the title")
    p.add_argument("--out-html", required=True, help="output HTML")
    p.add_argument("--out", dest="out_png", required=True, help="output PNG")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
