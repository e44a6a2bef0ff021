"""Step explain: one video with MIST's self-guided attention drawn on it (mp4 + PNG sheet)."""

from __future__ import annotations

import argparse

from mist_steps.cli import run_cli
from mist_steps.viz.explain import render_arguments, render_options
from mist_steps.viz.explain_video import explain_video


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.steps.explain",
        description="Spatial explanation of one video: MIST's self-guided attention drawn on "
        "its frames (mp4) and a contact sheet of a few snippets (PNG).")
    parser.add_argument("--video", required=True, help="video_id of videos.csv")
    parser.add_argument("--out-mp4", required=True)
    parser.add_argument("--out-png", required=True)
    render_arguments(parser)
    a = parser.parse_args(argv)
    explain_video(a.video, a.videos, a.out_mp4, a.out_png, **render_options(parser, a))


if __name__ == "__main__":
    run_cli(main)
