"""Step explain: one video with MIST's self-guided attention drawn on it (mp4 + PNG sheet)."""

from __future__ import annotations

from mist_steps.cli import StepParser, run_cli
from mist_steps.viz.explain import render_arguments
from mist_steps.viz.explain_video import explain_video


def main(argv: list[str] | None = None) -> None:
    p = StepParser(explain_video, "Spatial explanation of one video: MIST's self-guided "
                   "attention drawn on its frames (mp4) and a contact sheet of a few snippets "
                   "(PNG).", prog="python -m mist_steps.steps.explain")
    p.add_argument("--video", dest="video_id", required=True, help="video_id of videos.csv")
    p.add_argument("--out-mp4", required=True)
    p.add_argument("--out-png", required=True)
    render_arguments(p)
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
