"""Step robustness_table: generator vs MIST test AUC over vanilla-encoder seeds."""

from __future__ import annotations

from mist_steps.cli import run_cli
from mist_steps.evaluation.seed_summary import seed_table_parser


def main(argv: list[str] | None = None) -> None:
    seed_table_parser(prog="python -m mist_steps.steps.robustness_table",
                      what="vanilla-encoder seeds").run(argv)


if __name__ == "__main__":
    run_cli(main)
