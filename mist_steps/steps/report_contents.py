"""Step report_contents: the list of a run's report files (a report target)."""

from __future__ import annotations

import argparse

from mist_steps.cli import run_cli
from mist_steps.formats.atomic import write_text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mist_steps.steps.report_contents",
                                     description="List the report files of a run, one a line.")
    parser.add_argument("--out", required=True, help="output text file")
    parser.add_argument("files", nargs="*")
    a = parser.parse_args(argv)
    write_text(a.out, "".join(f"{f}\n" for f in a.files))


if __name__ == "__main__":
    run_cli(main)
