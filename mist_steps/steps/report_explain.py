"""Step report_explain: the spatial explanations of the report's chosen test videos."""

from __future__ import annotations

import argparse
from pathlib import Path

from mist_steps.cli import run_cli
from mist_steps.formats.atomic import atomic_dir
from mist_steps.viz.explain import (
    read_boxes,
    render_arguments,
    render_options,
)
from mist_steps.viz.explain_video import explain_video


def explain_chosen(chosen_txt, videos_csv, out_dir, *, limit: int | None = None, **kw) -> list:
    """:func:`explain_video` for the first ``limit`` ids of ``chosen_txt`` into ``out_dir``
    (``<video>.mp4`` and ``<video>.png``), written as one folder atomically."""
    ids = [line.strip() for line in Path(chosen_txt).read_text().splitlines() if line.strip()]
    ids = ids[:limit] if limit is not None else ids
    if kw.get("boxes_csv") is not None:
        kw["boxes"] = read_boxes(kw.pop("boxes_csv"))
    done = []
    with atomic_dir(out_dir) as tmp:
        for vid in ids:
            done.append(explain_video(vid, videos_csv, tmp / f"{vid}.mp4", tmp / f"{vid}.png",
                                      **kw))
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.steps.report_explain",
        description="Spatial explanations of the videos listed in a file, into one folder.")
    parser.add_argument("--chosen", required=True, help="text file, one video_id a line")
    parser.add_argument("--limit", type=int, default=None, help="only the first N of them")
    parser.add_argument("--out-dir", required=True)
    render_arguments(parser)
    a = parser.parse_args(argv)
    explain_chosen(a.chosen, a.videos, a.out_dir, limit=a.limit, **render_options(parser, a))


if __name__ == "__main__":
    run_cli(main)
