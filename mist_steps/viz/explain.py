"""Spatial explanation - where MIST looks, drawn on the video, by one of two maps (``method``):

* ``sga`` - the self-guided attention map A of a snippet;
* ``cam`` - the class activation map of the anomalous class (the official code's
  ``visualization/CAM.py``: the fused final map weighted by softmaxed H_c weights, min-max
  normalised; :class:`~mist_steps.models.sga.MISTModel`).

Both are ``[h, w]`` maps with values in [0, 1] over the encoder's input: the centre crop, or
the whole frame where the run scored whole frames (:func:`mist_steps.viz.render.crop_region`:
that input mapped back to frame pixels). Maps come from the score file of the batch scoring
step (``/attention/<video>``, ``/cam/<video>`` of ``test_scores.h5``) or, for a video it does
not hold, are recomputed with the model (:class:`~mist_steps.inference.mist_scorer.MISTScorer`).

The steps that draw it:

``explain``  one video -> ``<video>.mp4`` and a ``<video>.png`` contact sheet. Every decoded frame
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
``report_explain`` the same for every video listed (one id a line) in ``--chosen`` (the videos the
           report's score timelines show), into one folder.
``attention_hits`` how often the attention peak falls inside the rendered anomaly (synthetic benchmark,
           abnormal test videos): for every annotated frame of a scored snippet, the peak is the
           map's largest cell; ``peak_in_box`` - the peak cell's centre lies inside one of the
           frame's anomaly boxes; ``peak_cell_holds_anomaly`` - a box's centre lies inside the
           peak cell. Chance levels beside them: ``box_area_share`` (share of the crop region
           the boxes cover: a uniformly random point's hit rate), ``chance_cell_centre_in_box``
           (share of cells whose centre lies in a box: a random cell's ``peak_in_box`` rate) and
           ``chance_cell_holds_anomaly``. All are frame-weighted means, overall and per class;
           ``peak_cells`` counts where the peak sits over all test snippets. JSON, and a PNG.

Command lines: ``python -m mist_steps.steps.{explain,report_explain,attention_hits} --help``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, at_least
from mist_steps.data.preprocess import resize_frame
from mist_steps.data.video import open_video
from mist_steps.errors import InputError
from mist_steps.formats.scores import ScoreFile
from mist_steps.viz.render import (
    HeatPainter,
    TextPainter,
    cell_rects,
    crop_region,
    draw_rect,
)

ATTENTION = "attention"  # the score file's group of SGA maps (mist_steps.steps.score_mist)
MAP_GROUPS = {"sga": ATTENTION, "cam": "cam"}  # explanation method -> score-file group
MAP_TITLES = {"sga": "SGA attention", "cam": "CAM of the anomalous class"}
GT_GROUP = "labels"  # ground_truth.h5 (mist_steps.steps.index_dataset)
HITS_FORMAT = "mist-attention-hits-v1"
PEAK, BOX, REGION = (0, 255, 255), (60, 230, 60), (150, 150, 150)
ALARM_BG, CALM_BG = (200, 30, 30), (20, 20, 20)

MEASURES = ("peak_in_box", "peak_cell_holds_anomaly", "box_area_share",
            "chance_cell_centre_in_box", "chance_cell_holds_anomaly")


# -- inputs -------------------------------------------------------------------------------------
@dataclass
class Explained:
    """One video's snippet scores ``[n]`` and spatial maps ``[n, h, w]`` (of ``method``), and
    the encoder input recipe the maps refer to."""

    scores: np.ndarray
    attention: np.ndarray | None  # the maps of `method`
    arch: str
    input_size: int
    crop_mode: str = "center"
    method: str = "sga"


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


def check_method(method: str) -> str:
    if method not in MAP_GROUPS:
        raise InputError(f"unknown explanation method {method!r}; choose from "
                         f"{', '.join(MAP_GROUPS)}")
    return MAP_GROUPS[method]


def missing_maps(where, method: str) -> InputError:
    """The error for maps of ``method`` that ``where`` (a file) does not have."""
    why = ("the model has no self-guided attention (variant nosga); explain it with --method "
           "cam" if method == "sga" else "it was scored with --no-attention (or before CAMs "
           "were stored); score it again")
    return InputError(f"{where}: no {MAP_TITLES[method]} maps: {why}")


def stored_explanation(scores_h5, video_id: str, method: str = "sga") -> Explained | None:
    """The scoring step's scores and ``method`` maps of ``video_id`` (None if the file lacks
    the video)."""
    group = check_method(method)
    with ScoreFile(scores_h5) as sf:
        if not sf.has(video_id):
            return None
        if not sf.has(video_id, group):
            raise missing_maps(f"{sf.path}, video {video_id}", method)
        root = sf.attrs()
        return Explained(sf.read(video_id), sf.read(video_id, group), str(root["arch"]),
                         int(root["input_size"]), str(root.get("crop_mode", "center")), method)


def scored_frame_size(scores_h5) -> tuple[int, int] | None:
    """The whole-frame size a score file's snippets were scored at (None: centre crops)."""
    with ScoreFile(scores_h5) as sf:
        size = sf.attrs().get("frame_size") or None
    return None if size is None else tuple(int(v) for v in str(size).split("x"))


# -- drawing one video ----------------------------------------------------------------------------
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


def _recompute(video, scorer, method: str = "sga") -> Explained:
    """Scores and ``method`` maps of every snippet of ``video`` by the model (one decoding
    pass)."""
    from mist_steps.data.snippets import SnippetReader

    group = check_method(method)
    if group not in scorer.maps:
        raise missing_maps(scorer.path, method)
    results = []
    for snippet in SnippetReader(video, transform=scorer.frame_resizer()):
        results.extend(scorer([snippet]))
    return Explained(np.array([s for s, _ in results], np.float32),
                     np.stack([maps[group] for _, maps in results]), scorer.arch,
                     scorer.prep.crop, scorer.prep.crop_mode, method)


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


# -- command line -------------------------------------------------------------------------------
def render_arguments(p: StepParser, *, method: bool = True) -> None:
    """The drawing options shared by the explain and report_explain steps (the keyword
    arguments of :func:`~mist_steps.viz.explain_video.explain_video`); ``method``: offer
    ``--method``."""
    p.add_argument("--videos", dest="videos_csv", required=True, help="dataset index videos.csv")
    if method:
        p.add_argument("--method", choices=list(MAP_GROUPS),
                       help="sga: the self-guided attention map; cam: the anomalous class's "
                       "activation map")
    p.add_argument("--scores", dest="scores_h5",
                   help="test_scores.h5 of the run (its /attention and /cam maps)")
    p.add_argument("--model", dest="model_pt",
                   help="encoder_mist.pt, to recompute maps the score file lacks")
    p.add_argument("--boxes", dest="boxes_csv",
                   help="anomaly_boxes.csv (synthetic benchmark): draw the boxes")
    p.add_argument("--ground-truth", dest="ground_truth_h5",
                   help="ground_truth.h5: mark and shade anomalous frames")
    p.add_argument("--threshold", type=float, help="alarm threshold")
    p.add_argument("--min-size", type=at_least(16),
                   help="frames are upscaled by a whole factor to at least this many px")
    p.add_argument("--tiles", type=at_least(1), help="snippets on the contact sheet")
