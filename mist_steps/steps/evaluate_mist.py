"""Step evaluate_mist: frame-level metrics of MIST's (stage II) test scores."""

from __future__ import annotations

from mist_steps.cli import run_cli
from mist_steps.evaluation.metrics import evaluate_parser


def main(argv: list[str] | None = None) -> None:
    evaluate_parser(prog="python -m mist_steps.steps.evaluate_mist",
                    scores="MIST's (stage II)").run(argv)


if __name__ == "__main__":
    run_cli(main)
