"""Step report_explain: the spatial explanations of the report's chosen test videos."""

from __future__ import annotations

from pathlib import Path

from mist_steps.cli import StepParser, at_least, run_cli
from mist_steps.formats.atomic import atomic_dir
from mist_steps.viz.explain import (
    MAP_GROUPS,
    check_method,
    read_boxes,
    render_arguments,
)
from mist_steps.viz.explain_video import explain_video


def explain_chosen(chosen_txt, videos_csv, out_dir, *, limit: int | None = None,
                   methods: list[str] = ("sga", "cam"), **kw) -> list:
    """:func:`explain_video` for the first ``limit`` ids of ``chosen_txt`` with each of
    ``methods`` into ``out_dir`` (``<method>/<video>.mp4`` and ``.png``), written as one
    folder atomically."""
    ids = [line.strip() for line in Path(chosen_txt).read_text().splitlines() if line.strip()]
    ids = ids[:limit] if limit is not None else ids
    for method in methods:
        check_method(method)
    if kw.get("boxes_csv") is not None:
        kw["boxes"] = read_boxes(kw.pop("boxes_csv"))
    done = []
    with atomic_dir(out_dir) as tmp:
        for method in methods:
            (tmp / method).mkdir()
            for vid in ids:
                done.append(explain_video(vid, videos_csv, tmp / method / f"{vid}.mp4",
                                          tmp / method / f"{vid}.png", method=method, **kw))
    return done


def main(argv: list[str] | None = None) -> None:
    p = StepParser(explain_chosen, "Spatial explanations of the videos listed in a file, into "
                   "one folder.", passes_to=explain_video)
    p.add_argument("--chosen", required=True, help="text file, one video_id a line")
    p.add_argument("--limit", type=at_least(1), help="only the first N of them")
    p.add_argument("--methods", nargs="+", choices=list(MAP_GROUPS),
                   help="the maps to draw (sga: SGA attention, cam: class activation map)")
    p.add_argument("--out-dir", required=True)
    render_arguments(p, method=False)
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
