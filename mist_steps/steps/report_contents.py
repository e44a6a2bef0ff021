"""Step report_contents: the list of a run's report files (a report target)."""

from __future__ import annotations

from mist_steps.cli import StepParser, run_cli
from mist_steps.formats.atomic import write_text


def list_contents(out_txt, files) -> None:
    """Write ``files``, one a line, to ``out_txt``."""
    write_text(out_txt, "".join(f"{f}\n" for f in files))


def main(argv: list[str] | None = None) -> None:
    p = StepParser(list_contents, "List the report files of a run, one a line.",
                   prog="python -m mist_steps.steps.report_contents")
    p.add_argument("--out", dest="out_txt", required=True, help="output text file")
    p.add_argument("files", nargs="*")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
