"""One video explained: a MIST map (SGA attention or CAM) drawn on its frames (mp4) and a contact
sheet (PNG)."""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Iterator, Mapping

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.data.video import open_video
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.viz.explain import (
    MAP_TITLES,
    Explained,
    _Canvas,
    _recompute,
    _tiles,
    check_method,
    read_boxes,
    read_gt_frames,
    scored_frame_size,
    stored_explanation,
)
from mist_steps.viz.figures import pyplot, save_figure, shade_runs
from mist_steps.viz.render import write_mp4

log = logging.getLogger(__name__)


def explain_video(video_id: str, videos_csv, out_mp4, out_png, *, scores_h5=None, model_pt=None,
                  boxes_csv=None, ground_truth_h5=None, threshold: float = 0.5,
                  min_size: int = 192, tiles: int = 8, boxes=None, method: str = "sga") -> dict:
    """Render ``video_id`` of ``videos_csv`` with the maps of ``method`` (``sga`` or ``cam``;
    :mod:`mist_steps.viz.explain`). Maps come from ``scores_h5`` or, when it lacks the video,
    from ``model_pt``. Returns a summary: video_id, method, frames, snippets, attention_max
    (the largest map value)."""
    check_method(method)
    table = read_video_table(videos_csv)
    rows = table[table["video_id"] == video_id]
    if rows.empty:
        raise InputError(f"{videos_csv}: no video {video_id!r}; choose a video_id listed there")
    row = rows.iloc[0]
    fps = None if math.isnan(row.fps) else float(row.fps)
    ex = stored_explanation(scores_h5, video_id, method) if scores_h5 is not None else None
    if ex is None:
        if model_pt is None:
            raise InputError(f"{scores_h5}: no scores for {video_id}; pass the model to "
                             f"recompute them (--model)")
        from mist_steps.inference.mist_scorer import MISTScorer

        frame_size = scored_frame_size(scores_h5) if scores_h5 is not None else None
        ex = _recompute(open_video(row.path, fps_for_frames=fps),
                        MISTScorer(model_pt, frame_size=frame_size), method)
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
    log.info("%s: %d frames, %d snippets, %s max %.3f -> %s, %s", video_id, count,
             len(ex.scores), method, canvas.vmax, out_mp4, out_png)
    return {"video_id": video_id, "method": method, "frames": count,
            "snippets": int(len(ex.scores)), "attention_max": canvas.vmax}


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
    where = "the whole frame" if ex.crop_mode == "full" else "the encoder's crop"
    note = (f"{MAP_TITLES[ex.method]} over {where}, colours scaled to the video's max "
            f"{vmax:.3f}; cyan: peak cell; green: anomaly box")
    fig.suptitle(f"{video_id} ({cls})\n" + textwrap.fill(note, int(13 * 3.0 * cols)),
                 fontsize=9)
    save_figure(fig, path, dpi=80)
