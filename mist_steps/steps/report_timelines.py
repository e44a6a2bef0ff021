"""Step report_timelines: score timelines of a few test videos."""

from __future__ import annotations

from mist_steps.cli import at_least, run_cli
from mist_steps.viz.score_plots import plot_timelines, score_plot_parser


def main(argv: list[str] | None = None) -> None:
    p = score_plot_parser(plot_timelines, "Score timelines of a few test videos: generator and "
                          "MIST.", prog="python -m mist_steps.steps.report_timelines")
    p.add_argument("--count", type=at_least(1), help="videos to choose")
    p.add_argument("--video", dest="video_ids", action="append", default=[],
                   help="a video id to draw (repeatable; replaces the automatic choice)")
    p.add_argument("--threshold", type=float, help="drawn as a line")
    p.add_argument("--out-chosen", help="write the drawn video ids here, one a line")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
