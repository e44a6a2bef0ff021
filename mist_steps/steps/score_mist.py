"""Step: score the test videos with the fine-tuned MIST encoder (stage II), clip by clip.

Every non-overlapping 16-frame snippet of every ``split`` video of ``videos.csv`` goes through
the ``mist-model-v1`` model (:func:`mist_steps.formats.mist_model.load_mist_model`) in eval mode, as
one centre crop at the model's own ``input_size``, preprocessed as extraction does
(:mod:`mist_steps.data.preprocess`), or with ``frame_size`` (H, W) as the whole frame resized
to it, no crop (the official code's I3D test input; the maps are then non-square). Batches
always hold ``batch_size`` snippets (the last one padded with zero snippets), so a clip's
score does not depend on its batch neighbours; on a GPU cuDNN runs deterministically and the
model under bf16 autocast (CPU stays float32).
The clip's anomaly score is softmax(H_c)[1] (:meth:`MISTModel.score`).

Output score file (:mod:`mist_steps.formats.scores`, ``mist-scores-v1``, read unchanged by
:mod:`mist_steps.evaluation.metrics`):

* ``/scores/<video_id>`` float32 [n_clips];
* ``/attention/<video_id>`` float32 [n_clips, h, w] - the SGA attention map of each clip (h, w
  = the final map's spatial size), with ``keep_attention`` and a model that has SGA;
* ``/cam/<video_id>`` float32 [n_clips, h, w] - the anomalous class's activation map of each
  clip (:class:`~mist_steps.models.sga.MISTModel`), with ``keep_attention``;
* per-video attributes label, class, split (as the stage-I scorer writes), fps, frame_count,
  n_frames_decoded;
* root attributes stage ("mist"), model (path), model_sha256 (the file's sha256),
  weights_sha256, arch, input_size, crop_mode ("center" or "full"), frame_size ("HxW", empty
  for centre crops), sga, videos (path), split, skipped (JSON list
  of {video_id, reason}), model_meta (JSON of the model file's meta).

Optional summary CSV (``out_csv``, atomic), one row per scored video, sorted by video_id:
``video_id, class, label, clips, frame_count, max_score, mean_score, peak_clip, peak_time_s``
(start time in seconds of the highest-scoring clip, empty if fps is unknown) and
``share_above_threshold`` (share of clips scored > ``threshold``); floats rounded to 4 places.

Unreadable videos follow the extraction policy: ``on_bad_video="error"`` stops with an error
naming the file; ``"skip"`` leaves the video out and lists it in ``skipped_csv`` (and in the
root attribute ``skipped``); the evaluation then excludes it when given that CSV.

Command line: ``python -m mist_steps.steps.score_mist --help``.
"""

from __future__ import annotations

import csv
import json
import logging
import time

import numpy as np
import torch
from tqdm import tqdm

from mist_steps import SNIPPET_LEN, cpu_kernels
from mist_steps.cli import StepParser, at_least, run_cli
from mist_steps.data.selection import SPLITS
from mist_steps.data.snippet_stream import (
    ON_BAD_VIDEO,
    check_on_bad_video,
    expected_snippets,
    indexed_frames,
    stream_rows,
)
from mist_steps.data.snippets import SnippetBatch, VideoDone
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.scores import SCORES, ScoreWriter
from mist_steps.formats.skipped import write_skipped
from mist_steps.inference.mist_scorer import MISTScorer

log = logging.getLogger(__name__)

CSV_COLUMNS = ("video_id", "class", "label", "clips", "frame_count", "max_score", "mean_score",
               "peak_clip", "peak_time_s", "share_above_threshold")


def _check_args(split, batch_size, threads, on_bad_video) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    if batch_size < 1 or threads < 1:
        raise ValueError(f"batch_size and threads must be >= 1; got {batch_size}, {threads}")
    check_on_bad_video(on_bad_video)


def _r4(x: float) -> float:
    return round(float(x), 4)


def summary_row(video_id: str, cls: str, label: int, scores: np.ndarray, frame_count: int,
                fps: float | None, threshold: float) -> dict:
    """One row of the summary CSV (module docstring) from a video's clip scores."""
    peak = int(np.argmax(scores))
    return {"video_id": video_id, "class": cls, "label": int(label), "clips": int(scores.size),
            "frame_count": int(frame_count), "max_score": _r4(scores[peak]),
            "mean_score": _r4(scores.mean()), "peak_clip": peak,
            "peak_time_s": "" if not fps else _r4(peak * SNIPPET_LEN / fps),
            "share_above_threshold": _r4((scores > threshold).mean())}


def write_summary_csv(path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["video_id"]))


def score_videos(model_pt, videos_csv, out_scores_h5, *, split: str = "test", out_csv=None,
                 batch_size: int = 8, threads: int = 2, device: str = "cpu",
                 on_bad_video: str = "error", skipped_csv=None, threshold: float = 0.5,
                 keep_attention: bool = True, frame_size: tuple[int, int] | None = None
                 ) -> dict:
    """Score every clip of the ``split`` videos (train, test or all) of ``videos_csv`` with
    the MIST model ``model_pt``; write ``out_scores_h5`` and, if given, ``out_csv`` and
    ``skipped_csv`` (header only when nothing was skipped) - see the module docstring.
    ``threads``: torch threads (and, on a GPU, decoder threads). Returns a summary dict:
    videos, clips, skipped, seconds."""
    _check_args(split, batch_size, threads, on_bad_video)
    started = time.perf_counter()
    table = read_video_table(videos_csv)
    rows = table if split == "all" else table[table["split"] == split]
    rows = rows.sort_values("video_id", ignore_index=True)
    bad = rows[~rows["label"].isin([0, 1])]
    if len(bad):
        raise InputError(f"{videos_csv}: label must be 0 or 1; video {bad['video_id'].iloc[0]} "
                         f"has {bad['label'].iloc[0]!r}")

    scorer = MISTScorer(model_pt, device=device, keep_attention=keep_attention,
                        frame_size=frame_size)
    prep, dev = scorer.prep, scorer.device
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    attrs = {"stage": "mist", "model": str(model_pt), "model_sha256": file_sha256(model_pt),
             "weights_sha256": scorer.weights_sha256, "arch": scorer.arch, **cpu_kernels.record(),
             "input_size": prep.crop, "crop_mode": prep.crop_mode,
             "frame_size": "x".join(map(str, prep.frame_size or ())), "sga": scorer.use_sga,
             "videos": str(videos_csv), "split": split,
             "model_meta": json.dumps(scorer.meta, sort_keys=True)}
    expected = expected_snippets(rows)
    log.info("scoring %d %s videos (~%d clips) with the %s MIST model %s (SGA %s) on %s on "
             "%s, batch %d", len(rows), split, expected, scorer.arch, model_pt,
             "on" if scorer.use_sga else "off", _input_text(prep), dev, batch_size)

    def encode(batch: SnippetBatch) -> list[tuple[float, np.ndarray | None]]:
        return scorer(batch.snippets, pad_to=batch_size)

    summary: list[dict] = []
    try:
        with ScoreWriter(out_scores_h5, attrs=attrs) as writer, \
                tqdm(total=expected, unit="clip", desc="score mist", mininterval=5.0,
                     dynamic_ncols=True) as bar:
            # on CPU the model keeps every core busy; a GPU leaves the cores to decoding
            streamed = stream_rows(
                rows, batch_size, encode=encode,
                write=lambda row, done, results: summary.append(
                    _write_video(writer, row, done, results, threshold)),
                on_bad_video=on_bad_video, transform_factory=prep.frame_resizer,
                decode_threads=threads if dev.type == "cuda" else 1, progress=bar.update,
                log=log)
            clips, skipped = streamed.snippets, streamed.skipped
            writer.set_attrs({"skipped": json.dumps(
                [{"video_id": r["video_id"], "reason": r["reason"]} for r in skipped])})
    finally:
        torch.set_num_threads(prev_threads)
    if skipped_csv is not None:
        write_skipped(skipped_csv, skipped)
    if out_csv is not None:
        write_summary_csv(out_csv, summary)
    seconds = time.perf_counter() - started
    log.info("scored %d videos, %d clips, %d skipped in %.1f s -> %s", len(summary), clips,
             len(skipped), seconds, out_scores_h5)
    return {"videos": len(summary), "clips": clips, "skipped": len(skipped), "seconds": seconds}


def _input_text(prep) -> str:
    if prep.frame_size:
        return f"whole frames of {prep.frame_size[0]}x{prep.frame_size[1]}"
    return f"{prep.crop} px centre crops"


def _write_video(writer: ScoreWriter, row, event: VideoDone, results: list, threshold: float
                 ) -> dict:
    """Store one finished video's scores (and attention); return its summary row."""
    frame_count, fps = indexed_frames(row, event, log)
    scores = np.array([s for s, _ in results], dtype=np.float32)
    arrays = {SCORES: scores}
    for name in results[0][1]:  # the spatial maps: attention (SGA), cam
        arrays[name] = np.stack([maps[name] for _, maps in results])
    writer.add(row.video_id, arrays, attrs={
        "label": int(row.label), "class": row["class"], "split": row.split, "fps": fps, "frame_count": frame_count,
        "n_frames_decoded": event.frames_decoded})
    return summary_row(row.video_id, row["class"], row.label, scores, frame_count, fps, threshold)


def main(argv: list[str] | None = None) -> None:
    p = StepParser(score_videos, "MIST stage II: score every 16-frame clip of the chosen videos "
                   "with the fine-tuned MIST encoder (softmax(H_c)[1]); keep the SGA attention "
                   "maps.", prog="python -m mist_steps.steps.score_mist")
    p.add_argument("--model", required=True, help="fine-tuned MIST model (mist-model-v1 .pt, "
                   "from mist_steps.steps.finetune)")
    p.shared("videos")
    p.add_argument("--out", dest="out_scores_h5", required=True, help="output score file (.h5)")
    p.add_argument("--csv", dest="out_csv", help="output per-video summary CSV (optional)")
    p.add_argument("--split", choices=SPLITS, help="which videos of videos.csv")
    p.add_argument("--batch-size", type=at_least(1), help="snippets per model call")
    p.shared("threads", "device", "determinism")
    p.add_argument("--on-bad-video", choices=ON_BAD_VIDEO,
                   help="error: stop at an unreadable video; skip: leave it out and list it in "
                   "--skipped")
    p.add_argument("--skipped", dest="skipped_csv",
                   help="output CSV of the skipped videos (header only when none)")
    p.add_argument("--threshold", type=float, help="score above which a clip counts in "
                   "share_above_threshold of the CSV")
    p.add_argument("--no-attention", dest="keep_attention", action="store_false",
                   help="do not store the spatial maps (SGA attention, CAM)")
    p.add_argument("--frame-size", type=at_least(32), nargs=2, metavar=("H", "W"),
                   help="score the whole frame resized to H x W, no crop (default: the "
                   "model's train_frame, else the centre crop of its input size)")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
