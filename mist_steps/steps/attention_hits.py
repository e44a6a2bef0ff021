"""Step attention_hits: how often the peak of a MIST map (SGA attention or CAM) falls on the
anomaly's boxes - the synthetic benchmark's rendered ``anomaly_boxes.csv``, or the official
UCF-Crime spatial annotation ``Test_Spatial_Annotation.npy`` (one box per annotated frame, in
pixels of the 320x240 videos: scaled to the decoded frame's size; frame indices as decoded,
from 0)."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.atomic import write_text
from mist_steps.formats.official_files import SPATIAL_FRAME, read_spatial_boxes
from mist_steps.formats.scores import ScoreFile
from mist_steps.viz.explain import (
    HITS_FORMAT,
    MAP_GROUPS,
    MAP_TITLES,
    MEASURES,
    _frame_size,
    check_method,
    frame_hits,
    missing_maps,
    read_boxes,
)
from mist_steps.viz.figures import pyplot, save_figure
from mist_steps.viz.render import crop_region

log = logging.getLogger(__name__)


# What each measure of the JSON means, stored in it.
DEFINITIONS = {
    "peak_in_box": "share of annotated frames whose snippet's map peak (the centre of the "
                   "map's largest cell) lies inside an anomaly box",
    "peak_cell_holds_anomaly": "share whose peak cell holds an anomaly box's centre",
    "box_area_share": "chance level: share of the encoder's input the boxes cover",
    "chance_cell_centre_in_box": "chance level of peak_in_box for a random cell",
    "chance_cell_holds_anomaly": "chance level of peak_cell_holds_anomaly for a random cell",
}


def attention_hits(scores_h5, videos_csv, boxes_csv, out_json, *, out_png=None,
                   method: str = "sga") -> dict:
    """Measure where the peak of the ``method`` maps (``sga``, ``cam``) falls against the
    anomaly boxes (:mod:`mist_steps.viz.explain`, ``attention_hits``); write ``out_json`` (and
    the bar chart ``out_png``)."""
    group = check_method(method)
    table = read_video_table(videos_csv)
    boxes, reference = _load_boxes(boxes_csv)
    per_frame: list[tuple[str, dict]] = []
    peaks: Counter = Counter()
    videos = 0
    map_shape = None
    with ScoreFile(scores_h5) as sf:
        root = sf.attrs()
        ids = sf.videos(group)
        if not ids:
            raise missing_maps(sf.path, method)
        rows = table.set_index("video_id")
        for vid in ids:
            att = sf.read(vid, group)
            map_shape = att.shape[1:]
            for m in att:
                peaks[str(tuple(int(v) for v in np.unravel_index(int(np.argmax(m)), m.shape)))] += 1
            if vid not in boxes or vid not in rows.index:
                continue
            row = rows.loc[vid]
            fps = None if math.isnan(row.fps) else float(row.fps)
            height, width = _frame_size(row.path, fps)
            region = crop_region(str(root["arch"]), int(root["input_size"]), height, width,
                                 str(root.get("crop_mode", "center")))
            videos += 1
            scale = (1.0, 1.0) if reference is None else (width / reference[1],
                                                          height / reference[0])
            for frame, frame_boxes in sorted(boxes[vid].items()):
                frame_boxes = _scaled(frame_boxes, *scale)
                i = frame // SNIPPET_LEN
                if i < len(att):
                    per_frame.append((str(row["class"]), frame_hits(att[i], region, frame_boxes)))
    if not per_frame:
        raise InputError(f"{boxes_csv}: no anomaly box falls in a scored snippet of the videos "
                         f"of {scores_h5}; are they the same benchmark?")

    def means(items) -> dict:
        return {k: round(float(np.mean([m[k] for m in items])), 4) for k in MEASURES}

    classes = sorted({c for c, _ in per_frame})
    doc = {"format": HITS_FORMAT, "method": method, **means([m for _, m in per_frame]),
           "frames": len(per_frame), "videos": videos,
           "per_class": {c: {**means([m for k, m in per_frame if k == c]),
                             "frames": sum(k == c for k, _ in per_frame)} for c in classes},
           "map_shape": list(map_shape), "peak_cells": dict(sorted(peaks.items())),
           "arch": str(root["arch"]), "input_size": int(root["input_size"]),
           "definitions": DEFINITIONS,
           "inputs": {"scores": str(scores_h5), "videos": str(videos_csv),
                      "boxes": str(boxes_csv)}}
    write_text(out_json, json.dumps(doc, indent=2) + "\n")
    if out_png is not None:
        _hits_chart(out_png, doc)
    log.info("%s peak in the anomaly box in %.1f %% of %d annotated frames (chance: box "
             "area share %.1f %%, random cell %.1f %%) -> %s", MAP_TITLES[method],
             100 * doc["peak_in_box"], doc["frames"], 100 * doc["box_area_share"],
             100 * doc["chance_cell_centre_in_box"], out_json)
    return doc


def _scaled(boxes, sx: float, sy: float) -> list[tuple]:
    """Boxes (x0, y0, x1, y1) in the annotation's pixels -> the decoded frame's."""
    return [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in boxes]


def _load_boxes(path):
    """``(video -> frame -> boxes, the (H, W) their pixels refer to or None: the frame's)``."""
    if str(path).endswith(".npy"):
        return read_spatial_boxes(path), SPATIAL_FRAME
    return read_boxes(path), None


def _hits_chart(path, doc: dict) -> None:
    plt = pyplot()
    groups = ["all", *doc["per_class"]]
    stats = [doc, *doc["per_class"].values()]
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2), layout="constrained")
    bars = (("peak_in_box", "map peak in the box", "tab:blue"),
            ("chance_cell_centre_in_box", "chance: random peak cell", "tab:gray"),
            ("box_area_share", "chance: box area share", "lightgray"))
    for k, (key, label, colour) in enumerate(bars):
        drawn = ax.bar(x + (k - 1) * 0.27, [100 * s[key] for s in stats], 0.27, label=label,
                       color=colour)
        ax.bar_label(drawn, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(x, [f"{g}\n({s['frames']} fr)" for g, s in zip(groups, stats)], fontsize=8)
    ax.set(ylabel="% of annotated frames", ylim=(0, 100),
           title=f"Does the {MAP_TITLES[doc['method']]} peak sit on the anomaly? "
                 f"({doc['videos']} abnormal test videos, "
                 f"{doc['map_shape'][0]}x{doc['map_shape'][1]} maps)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    p = StepParser(attention_hits, "How often the peak of MIST's SGA attention or CAM falls on "
                   "the anomaly boxes (synthetic or UCF-Crime's official) -> JSON (+ PNG).")
    p.add_argument("--scores", required=True, help="test_scores.h5 with /attention or /cam maps")
    p.add_argument("--method", choices=list(MAP_GROUPS),
                   help="sga: the self-guided attention maps; cam: the class activation maps")
    p.shared("videos")
    p.add_argument("--boxes", required=True, help="anomaly_boxes.csv of the synthetic "
                   "benchmark, or the official Test_Spatial_Annotation.npy of UCF-Crime")
    p.add_argument("--out", dest="out_json", required=True, help="output JSON")
    p.add_argument("--out-png", help="output bar chart (PNG)")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
