"""Step: spatial explanation - where MIST's self-guided attention looks, drawn on the video.

The SGA attention map of a snippet (``[h, w]``, values in [0, 1]) covers the centre crop the
encoder sees (:func:`mist_steps.render.crop_region`: the crop of :mod:`mist_steps.preprocess`
mapped back to frame pixels). Maps come from the score file of the batch scoring step
(``/attention/<video>`` of ``test_scores.h5``) or, for a video it does not hold, are recomputed
with the model (:class:`~mist_steps.mist_scorer.MISTScorer`).

Subcommands:

``video``  one video -> ``<video>.mp4`` and a ``<video>.png`` contact sheet. Every decoded frame
           is drawn, upscaled to at least ``--min-size`` px: the map of its snippet bilinearly
           upsampled over the crop region and blended in (``inferno`` colours, scaled to the
           largest attention value of the video, which the text states), the region outside
           the crop dimmed, the map's peak cell outlined in cyan, the anomaly's boxes (with
           ``--boxes``, the synthetic benchmark's ``anomaly_boxes.csv``) in green; text: snippet,
           time, the snippet's anomaly score (red background above ``--threshold``) and
           "GT anomaly" on annotated frames (``--ground-truth``); a strip below shows the score
           of every snippet with a cursor. Trailing frames that fill no snippet have no map or
           score. The contact sheet shows ``--tiles`` snippets (evenly spaced, the
           highest-scoring one always among them; each its middle frame) and the score
           timeline with the ground truth shaded.
``sheets`` the same for every video listed (one id a line) in ``--chosen`` (the videos the
           report's score timelines show), into one folder.
``hits``   how often the attention peak falls inside the rendered anomaly (synthetic benchmark,
           abnormal test videos): for every annotated frame of a scored snippet, the peak is the
           map's largest cell; ``peak_in_box`` - the peak cell's centre lies inside one of the
           frame's anomaly boxes; ``peak_cell_holds_anomaly`` - a box's centre lies inside the
           peak cell. Chance levels beside them: ``box_area_share`` (share of the crop region
           the boxes cover: a uniformly random point's hit rate), ``chance_cell_centre_in_box``
           (share of cells whose centre lies in a box: a random cell's ``peak_in_box`` rate) and
           ``chance_cell_holds_anomaly``. All are frame-weighted means, overall and per class;
           ``peak_cells`` counts where the peak sits over all test snippets. JSON, and a PNG.

Command line: ``python -m mist_steps.explain {video,sheets,hits} --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import textwrap
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.atomic import atomic_dir, write_text
from mist_steps.errors import InputError, run_cli
from mist_steps.figures import pyplot, save_figure, shade_runs
from mist_steps.preprocess import resize_frame
from mist_steps.render import (
    HeatPainter,
    TextPainter,
    cell_rects,
    crop_region,
    draw_rect,
    write_mp4,
)
from mist_steps.scores_io import ScoreFile
from mist_steps.video import open_video, read_video_table

log = logging.getLogger("mist_steps.explain")

ATTENTION = "attention"  # the score file's group of SGA maps (mist_steps.score_mist)
GT_GROUP = "labels"  # ground_truth.h5 (mist_steps.datasets)
HITS_FORMAT = "mist-attention-hits-v1"
PEAK, BOX, REGION = (0, 255, 255), (60, 230, 60), (150, 150, 150)
ALARM_BG, CALM_BG = (200, 30, 30), (20, 20, 20)


# -- inputs -------------------------------------------------------------------------------------
@dataclass
class Explained:
    """One video's snippet scores ``[n]`` and attention maps ``[n, h, w]``, and the encoder
    input recipe the maps refer to."""

    scores: np.ndarray
    attention: np.ndarray | None
    arch: str
    input_size: int
    crop_mode: str = "center"


def read_boxes(path) -> dict[str, dict[int, list[tuple[int, int, int, int]]]]:
    """``anomaly_boxes.csv`` (video_id,split,frame,x0,y0,x1,y1) as video -> frame -> boxes."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: anomaly boxes not found; the synthetic benchmark's renderer "
                         f"writes them (make_synth)")
    table = pd.read_csv(path)
    missing = {"video_id", "frame", "x0", "y0", "x1", "y1"} - set(table.columns)
    if missing:
        raise InputError(f"{path}: missing column(s) {sorted(missing)}; re-render the "
                         f"synthetic benchmark")
    out: dict[str, dict[int, list]] = {}
    for vid, frame, x0, y0, x1, y1 in table[["video_id", "frame", "x0", "y0", "x1", "y1"]
                                            ].itertuples(index=False):
        out.setdefault(str(vid), {}).setdefault(int(frame), []).append((x0, y0, x1, y1))
    return out


def read_gt_frames(path, video_id: str) -> np.ndarray | None:
    """The 0/1 label per frame of ``video_id`` in ``ground_truth.h5`` (None if absent)."""
    if path is None:
        return None
    with h5py.File(path, "r") as gt:
        if GT_GROUP in gt and video_id in gt[GT_GROUP]:
            return gt[GT_GROUP][video_id][()].astype(np.uint8)
    return None


def stored_explanation(scores_h5, video_id: str) -> Explained | None:
    """The scoring step's scores and maps of ``video_id`` (None if the file lacks the video)."""
    with ScoreFile(scores_h5) as sf:
        if not sf.has(video_id):
            return None
        if not sf.has(video_id, ATTENTION):
            raise InputError(f"{sf.path}: video {video_id} has scores but no attention maps: "
                             f"the model has no self-guided attention (variant nosga) or was "
                             f"scored with --no-attention; explain a run whose model has SGA")
        root = sf.attrs()
        return Explained(sf.read(video_id), sf.read(video_id, ATTENTION), str(root["arch"]),
                         int(root["input_size"]), str(root.get("crop_mode", "center")))


# -- one video ----------------------------------------------------------------------------------
def _tiles(scores: np.ndarray, n: int) -> list[int]:
    """``n`` evenly spaced snippets, the highest-scoring one replacing its nearest."""
    count = len(scores)
    picks = sorted({int(round(x)) for x in np.linspace(0, count - 1, min(n, count))})
    peak = int(np.argmax(scores))
    if peak not in picks:
        picks[int(np.argmin([abs(p - peak) for p in picks]))] = peak
    return sorted(set(picks))


class _Canvas:
    """Draws the explanation frames of one video (module docstring)."""

    def __init__(self, height: int, width: int, ex: Explained, *, fps: float | None,
                 threshold: float, min_size: int, boxes: Mapping[int, list] | None,
                 gt: np.ndarray | None):
        self.scale = max(1, math.ceil(min_size / min(height, width)))
        self.H, self.W = height * self.scale, width * self.scale
        self.ex, self.fps, self.threshold = ex, fps, threshold
        self.boxes, self.gt = boxes or {}, gt
        region = crop_region(ex.arch, ex.input_size, height, width, ex.crop_mode)
        self.region = tuple(v * self.scale for v in region)
        att = ex.attention
        self.vmax = float(att.max()) if att is not None and att.size else 1.0
        self.heat = HeatPainter(self.region, self.H, self.W, vmax=self.vmax)
        self.cells = None if att is None else cell_rects(self.region, *att.shape[1:])
        self.text = TextPainter(max(10, self.H // 22))
        self._coloured: tuple[int, np.ndarray | None] = (-1, None)
        self.strip = self._strip()

    def _strip(self) -> np.ndarray:
        """The score of every snippet as bars (grey; red above the threshold) on dark ground."""
        h = max(12, self.H // 10)
        strip = np.full((h, self.W, 3), 25, dtype=np.uint8)
        n = len(self.ex.scores)
        frames = n * SNIPPET_LEN
        for i, s in enumerate(self.ex.scores):
            x0, x1 = int(self.W * i * SNIPPET_LEN / frames), int(self.W * (i + 1) * SNIPPET_LEN
                                                               / frames)
            top = h - 1 - int(round(float(np.clip(s, 0, 1)) * (h - 2)))
            strip[top:h - 1, x0:max(x1 - 1, x0 + 1)] = (220, 60, 60) if s > self.threshold \
                else (170, 170, 170)
        line = h - 1 - int(round(self.threshold * (h - 2)))
        strip[line, ::3] = (255, 255, 255)
        return strip

    def draw(self, t: int, frame: np.ndarray) -> np.ndarray:
        big = resize_frame(frame, (self.H, self.W)) if self.scale > 1 else frame
        i = t // SNIPPET_LEN
        scored = i < len(self.ex.scores)
        att = self.ex.attention[i] if scored and self.ex.attention is not None else None
        if att is not None and self._coloured[0] != i:  # one colouring per snippet
            self._coloured = (i, self.heat.colour(att))
        img = self.heat(big, att, coloured=self._coloured[1] if att is not None else None)
        draw_rect(img, self.region, REGION)
        if att is not None:
            r, c = np.unravel_index(int(np.argmax(att)), att.shape)
            draw_rect(img, self.cells[r, c], PEAK, thickness=max(1, self.scale // 2))
        for box in self.boxes.get(t, ()):
            draw_rect(img, [v * self.scale for v in box], BOX, thickness=max(1, self.scale // 2))
        when = f" {t / self.fps:6.2f} s" if self.fps else ""
        _, h1 = self.text.draw(img, f"frame {t}{when}", 2, 2, background=CALM_BG)
        if scored:
            s = float(self.ex.scores[i])
            bg = ALARM_BG if s > self.threshold else CALM_BG
            self.text.draw(img, f"clip {i} score {s:.2f}", 2, 4 + h1, background=bg)
        else:
            self.text.draw(img, "not scored (tail)", 2, 4 + h1, background=CALM_BG)
        if self.gt is not None and t < self.gt.size and self.gt[t]:
            self.text.draw(img, "GT anomaly", 2, self.H - h1 - 2, colour=(0, 0, 0),
                           background=BOX)
        strip = self.strip.copy()
        n_frames = len(self.ex.scores) * SNIPPET_LEN
        x = min(self.W - 1, int(self.W * min(t, n_frames) / max(n_frames, 1)))
        strip[:, max(x - 1, 0):x + 1] = (80, 200, 255)
        return np.concatenate([img, strip])


def _recompute(video, scorer) -> Explained:
    """Scores and maps of every snippet of ``video`` by the model (one decoding pass)."""
    from mist_steps.video import SnippetReader

    results = []
    for snippet in SnippetReader(video, transform=scorer.frame_resizer()):
        results.extend(scorer([snippet]))
    if not scorer.keep_attention:
        raise InputError(f"{scorer.path}: the model has no self-guided attention (variant "
                         f"nosga): there is no attention map to explain")
    return Explained(np.array([s for s, _ in results], np.float32),
                     np.stack([a for _, a in results]), scorer.arch, scorer.prep.crop)


def explain_video(video_id: str, videos_csv, out_mp4, out_png, *, scores_h5=None, model_pt=None,
                  boxes_csv=None, ground_truth_h5=None, threshold: float = 0.5,
                  min_size: int = 192, tiles: int = 8, boxes=None) -> dict:
    """Render ``video_id`` of ``videos_csv`` (module docstring, subcommand ``video``). Maps
    come from ``scores_h5`` or, when it lacks the video, from ``model_pt``. Returns a summary:
    video_id, frames, snippets, attention_max."""
    table = read_video_table(videos_csv)
    rows = table[table["video_id"] == video_id]
    if rows.empty:
        raise InputError(f"{videos_csv}: no video {video_id!r}; choose a video_id listed there")
    row = rows.iloc[0]
    fps = None if math.isnan(row.fps) else float(row.fps)
    ex = stored_explanation(scores_h5, video_id) if scores_h5 is not None else None
    if ex is None:
        if model_pt is None:
            raise InputError(f"{scores_h5}: no scores for {video_id}; pass the model to "
                             f"recompute them (--model)")
        from mist_steps.mist_scorer import MISTScorer

        ex = _recompute(open_video(row.path, fps_for_frames=fps), MISTScorer(model_pt))
    if boxes is None and boxes_csv is not None:
        boxes = read_boxes(boxes_csv)
    video_boxes = (boxes or {}).get(video_id, {})
    gt = read_gt_frames(ground_truth_h5, video_id)
    video = open_video(row.path, fps_for_frames=fps)
    canvas: _Canvas | None = None
    tiles_at = {SNIPPET_LEN * i + SNIPPET_LEN // 2: i for i in _tiles(ex.scores, tiles)}
    kept: dict[int, np.ndarray] = {}
    count = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal canvas, count
        for t, frame in enumerate(video.iter_frames()):
            if canvas is None:
                canvas = _Canvas(*frame.shape[:2], ex, fps=fps, threshold=threshold,
                                 min_size=min_size, boxes=video_boxes, gt=gt)
            img = canvas.draw(t, frame)
            if t in tiles_at:
                kept[tiles_at[t]] = img[:canvas.H]
            count += 1
            yield img

    write_mp4(out_mp4, frames(), fps or 25.0)
    _contact_sheet(out_png, video_id, str(row["class"]), ex, kept, fps=fps, gt=gt,
                   threshold=threshold, vmax=canvas.vmax)
    log.info("%s: %d frames, %d snippets, attention max %.3f -> %s, %s", video_id, count,
             len(ex.scores), canvas.vmax, out_mp4, out_png)
    return {"video_id": video_id, "frames": count, "snippets": int(len(ex.scores)),
            "attention_max": canvas.vmax}


def _contact_sheet(path, video_id: str, cls: str, ex: Explained, tiles: Mapping[int, np.ndarray],
                   *, fps, gt, threshold: float, vmax: float) -> None:
    plt = pyplot()
    picks = sorted(tiles)
    cols = min(4, len(picks))
    rows = math.ceil(len(picks) / cols)
    fig = plt.figure(figsize=(3.0 * cols, 3.0 * rows + 2.2), layout="constrained")
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[3.0] * rows + [2.0])
    unit = 1.0 / fps if fps else 1.0
    for k, i in enumerate(picks):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        ax.imshow(tiles[i])
        ax.set_title(f"clip {i} ({i * SNIPPET_LEN * unit:.1f} {'s' if fps else 'fr'}): "
                     f"score {ex.scores[i]:.2f}", fontsize=9,
                     color="tab:red" if ex.scores[i] > threshold else "black")
        ax.axis("off")
    ax = fig.add_subplot(grid[rows, :])
    t = (np.arange(len(ex.scores)) + 0.5) * SNIPPET_LEN * unit
    ax.plot(t, ex.scores, color="tab:blue", marker=".", label="MIST score")
    ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold:g}")
    if gt is not None and gt.any():
        shade_runs(ax, gt, unit)
    ax.plot(t[picks], ex.scores[picks], "s", mfc="none", color="black", label="frames shown")
    ax.set(xlabel="time (s)" if fps else "frame", ylabel="anomaly score", ylim=(-0.02, 1.02),
           xlim=(0, len(ex.scores) * SNIPPET_LEN * unit))
    ax.legend(loc="upper right", fontsize=8, ncol=4)
    note = (f"SGA attention over the encoder's crop, colours scaled to the video's max "
            f"attention {vmax:.3f}; cyan: peak cell; green: anomaly box")
    fig.suptitle(f"{video_id} ({cls})\n" + textwrap.fill(note, int(13 * 3.0 * cols)),
                 fontsize=9)
    save_figure(fig, path, dpi=80)


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


# -- attention peak vs anomaly boxes ------------------------------------------------------------
def _frame_size(path, fps) -> tuple[int, int]:
    frames = open_video(path, fps_for_frames=fps).iter_frames()
    try:
        first = next(frames)
    except StopIteration:
        raise InputError(f"{path}: no frame decodes") from None
    finally:
        frames.close()
    return first.shape[0], first.shape[1]


def _inside(px: float, py: float, box) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= px < x1 and y0 <= py < y1


def _union_share(boxes, region, size: int = 64) -> float:
    """Share of ``region`` covered by the union of ``boxes`` (sampled on a size x size grid)."""
    x0, y0, x1, y1 = region
    xs = x0 + (np.arange(size) + 0.5) * (x1 - x0) / size
    ys = y0 + (np.arange(size) + 0.5) * (y1 - y0) / size
    covered = np.zeros((size, size), bool)
    for bx0, by0, bx1, by1 in boxes:
        covered |= ((ys[:, None] >= by0) & (ys[:, None] < by1)
                    & (xs[None, :] >= bx0) & (xs[None, :] < bx1))
    return float(covered.mean())


def frame_hits(att: np.ndarray, region, boxes) -> dict[str, float]:
    """The measures of one annotated frame (module docstring, ``hits``) for map ``att``."""
    h, w = att.shape
    cells = cell_rects(region, h, w)
    centres = (cells[..., :2] + cells[..., 2:]) / 2  # [h, w, (cx, cy)]
    r, c = np.unravel_index(int(np.argmax(att)), att.shape)
    in_box = np.array([[any(_inside(*centres[i, j], b) for b in boxes) for j in range(w)]
                       for i in range(h)])
    box_centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    holds = np.array([[any(_inside(cx, cy, cells[i, j]) for cx, cy in box_centres)
                       for j in range(w)] for i in range(h)])
    return {"peak_in_box": float(in_box[r, c]), "peak_cell_holds_anomaly": float(holds[r, c]),
            "box_area_share": _union_share(boxes, region),
            "chance_cell_centre_in_box": float(in_box.mean()),
            "chance_cell_holds_anomaly": float(holds.mean())}


MEASURES = ("peak_in_box", "peak_cell_holds_anomaly", "box_area_share",
            "chance_cell_centre_in_box", "chance_cell_holds_anomaly")


def attention_hits(scores_h5, videos_csv, boxes_csv, out_json, *, out_png=None) -> dict:
    """Measure where the attention peak falls against the anomaly boxes (module docstring,
    ``hits``); write ``out_json`` (and the bar chart ``out_png``)."""
    table = read_video_table(videos_csv)
    boxes = read_boxes(boxes_csv)
    per_frame: list[tuple[str, dict]] = []
    peaks: Counter = Counter()
    videos = 0
    map_shape = None
    with ScoreFile(scores_h5) as sf:
        root = sf.attrs()
        ids = sf.videos(ATTENTION)
        if not ids:
            raise InputError(f"{sf.path}: no attention maps (a model without SGA, or scored "
                             f"with --no-attention); nothing to measure")
        rows = table.set_index("video_id")
        for vid in ids:
            att = sf.read(vid, ATTENTION)
            map_shape = att.shape[1:]
            for m in att:
                peaks[str(tuple(int(v) for v in np.unravel_index(int(np.argmax(m)), m.shape)))] += 1
            if vid not in boxes or vid not in rows.index:
                continue
            row = rows.loc[vid]
            fps = None if math.isnan(row.fps) else float(row.fps)
            region = crop_region(str(root["arch"]), int(root["input_size"]),
                                 *_frame_size(row.path, fps), str(root.get("crop_mode", "center")))
            videos += 1
            for frame, frame_boxes in sorted(boxes[vid].items()):
                i = frame // SNIPPET_LEN
                if i < len(att):
                    per_frame.append((str(row["class"]), frame_hits(att[i], region, frame_boxes)))
    if not per_frame:
        raise InputError(f"{boxes_csv}: no anomaly box falls in a scored snippet of the videos "
                         f"of {scores_h5}; are they the same benchmark?")

    def means(items) -> dict:
        return {k: round(float(np.mean([m[k] for m in items])), 4) for k in MEASURES}

    classes = sorted({c for c, _ in per_frame})
    doc = {"format": HITS_FORMAT, **means([m for _, m in per_frame]), "frames": len(per_frame),
           "videos": videos,
           "per_class": {c: {**means([m for k, m in per_frame if k == c]),
                             "frames": sum(k == c for k, _ in per_frame)} for c in classes},
           "map_shape": list(map_shape), "peak_cells": dict(sorted(peaks.items())),
           "arch": str(root["arch"]), "input_size": int(root["input_size"]),
           "definitions": {
               "peak_in_box": "share of annotated frames whose snippet's attention peak (the "
                              "centre of the map's largest cell) lies inside an anomaly box",
               "peak_cell_holds_anomaly": "share whose peak cell holds an anomaly box's centre",
               "box_area_share": "chance level: share of the encoder's crop the boxes cover",
               "chance_cell_centre_in_box": "chance level of peak_in_box for a random cell",
               "chance_cell_holds_anomaly": "chance level of peak_cell_holds_anomaly for a "
                                            "random cell"},
           "inputs": {"scores": str(scores_h5), "videos": str(videos_csv),
                      "boxes": str(boxes_csv)}}
    write_text(out_json, json.dumps(doc, indent=2) + "\n")
    if out_png is not None:
        _hits_chart(out_png, doc)
    log.info("attention peak in the anomaly box in %.1f %% of %d annotated frames (chance: box "
             "area share %.1f %%, random cell %.1f %%) -> %s", 100 * doc["peak_in_box"],
             doc["frames"], 100 * doc["box_area_share"], 100 * doc["chance_cell_centre_in_box"],
             out_json)
    return doc


def _hits_chart(path, doc: dict) -> None:
    plt = pyplot()
    groups = ["all", *doc["per_class"]]
    stats = [doc, *doc["per_class"].values()]
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2), layout="constrained")
    bars = (("peak_in_box", "attention peak in the box", "tab:blue"),
            ("chance_cell_centre_in_box", "chance: random peak cell", "tab:gray"),
            ("box_area_share", "chance: box area share", "lightgray"))
    for k, (key, label, colour) in enumerate(bars):
        drawn = ax.bar(x + (k - 1) * 0.27, [100 * s[key] for s in stats], 0.27, label=label,
                       color=colour)
        ax.bar_label(drawn, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(x, [f"{g}\n({s['frames']} fr)" for g, s in zip(groups, stats)], fontsize=8)
    ax.set(ylabel="% of annotated frames", ylim=(0, 100),
           title=f"Does the SGA attention peak sit on the anomaly? ({doc['videos']} abnormal "
                 f"test videos, {doc['map_shape'][0]}x{doc['map_shape'][1]} maps)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


# -- command line -------------------------------------------------------------------------------
def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", required=True, help="dataset index videos.csv")
    p.add_argument("--scores", help="test_scores.h5 of the run (its /attention maps)")
    p.add_argument("--model", help="encoder_mist.pt, to recompute maps the score file lacks")
    p.add_argument("--boxes", help="anomaly_boxes.csv (synthetic benchmark): draw the boxes")
    p.add_argument("--ground-truth", help="ground_truth.h5: mark and shade anomalous frames")
    p.add_argument("--threshold", type=float, default=0.5, help="alarm threshold (default 0.5)")
    p.add_argument("--min-size", type=int, default=192,
                   help="frames are upscaled by a whole factor to at least this many px")
    p.add_argument("--tiles", type=int, default=8, help="snippets on the contact sheet")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.explain",
        description="Spatial explanation: MIST's self-guided attention drawn on the video, and "
        "how often its peak falls on the synthetic benchmark's anomaly.")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("video", help="one video -> mp4 + PNG contact sheet")
    one.add_argument("--video", required=True, help="video_id of videos.csv")
    one.add_argument("--out-mp4", required=True)
    one.add_argument("--out-png", required=True)
    _render_args(one)
    many = sub.add_parser("sheets", help="the videos listed in a file -> a folder")
    many.add_argument("--chosen", required=True, help="text file, one video_id a line")
    many.add_argument("--limit", type=int, default=None, help="only the first N of them")
    many.add_argument("--out-dir", required=True)
    _render_args(many)
    hits = sub.add_parser("hits", help="attention peak vs anomaly boxes -> JSON (+ PNG)")
    hits.add_argument("--scores", required=True, help="test_scores.h5 with /attention maps")
    hits.add_argument("--videos", required=True, help="dataset index videos.csv")
    hits.add_argument("--boxes", required=True, help="anomaly_boxes.csv of the benchmark")
    hits.add_argument("--out", required=True, help="output JSON")
    hits.add_argument("--out-png", help="output bar chart (PNG)")
    a = parser.parse_args(argv)
    if a.command == "hits":
        attention_hits(a.scores, a.videos, a.boxes, a.out, out_png=a.out_png)
        return
    if a.min_size < 16 or a.tiles < 1:
        parser.error("--min-size must be >= 16 and --tiles >= 1")
    kw = dict(scores_h5=a.scores, model_pt=a.model, boxes_csv=a.boxes,
              ground_truth_h5=a.ground_truth, threshold=a.threshold, min_size=a.min_size,
              tiles=a.tiles)
    if a.command == "video":
        explain_video(a.video, a.videos, a.out_mp4, a.out_png, **kw)
    else:
        explain_chosen(a.chosen, a.videos, a.out_dir, limit=a.limit, **kw)


if __name__ == "__main__":
    run_cli(main)
