"""Step report_timelines: score timelines of a few test videos."""

from __future__ import annotations

from mist_steps.cli import run_cli
from mist_steps.viz.score_plots import plot_timelines, score_plot_parser


def main(argv: list[str] | None = None) -> None:
    parser = score_plot_parser("python -m mist_steps.steps.report_timelines",
                               "Score timelines of a few test videos: generator and MIST.")
    parser.add_argument("--count", type=int, default=4, help="videos to choose (default 4)")
    parser.add_argument("--video", action="append", default=[], help="a video id to draw "
                        "(repeatable; replaces the automatic choice)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="drawn as a line (default 0.5)")
    parser.add_argument("--out-chosen", help="write the drawn video ids here, one a line")
    a = parser.parse_args(argv)
    if a.count < 1:
        parser.error("--count must be >= 1")
    plot_timelines(a.mist_scores, a.generator_scores, a.ground_truth, a.videos, a.out,
                   run=a.run, count=a.count, video_ids=a.video, threshold=a.threshold,
                   out_chosen=a.out_chosen)


if __name__ == "__main__":
    run_cli(main)
