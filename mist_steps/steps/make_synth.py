"""Step: render a synthetic surveillance benchmark in UCF-Crime's on-disk layout.

New users see the whole method run in minutes without downloading a dataset: the same UCF-Crime
parser indexes the result. Every video draws from its own RNG seeded by (seed, split, class,
index), so the output is identical for identical arguments whatever the number of workers.

Writes into ``out_dir``: ``videos/`` (class folders of mp4s), ``Anomaly_Train.txt``,
``Temporal_Anomaly_Annotation.txt`` (UCF's 6-field test annotation, frames 0-based, intervals
end-exclusive and inside the whole 16-frame snippets that get scored) and ``anomaly_boxes.csv`` (video_id,split,frame,x0,y0,x1,y1; pixel boxes of every
rendered anomalous entity, x1/y1 exclusive).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, comma_list, run_cli
from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_dir, write_text
from mist_steps.synth.benchmark import (
    TEST_NORMAL_DIR,
    TRAIN_NORMAL_DIR,
    _make_video,
    annotation_line,
    pick_codec,
    plan_benchmark,
    video_relpath,
)
from mist_steps.synth.plan import ALL_CLASSES

log = logging.getLogger(__name__)


def _check_args(*, seed, counts, min_frames, max_frames, height, width, fps, crf, classes, workers,
                zoom=1.0, crowd=1.0, hard_negatives=0.35):
    if not (0.5 <= zoom <= 3.0 and 0.1 <= crowd <= 3.0 and 0.0 <= hard_negatives <= 1.0):
        raise InputError(f"need 0.5 <= zoom <= 3, 0.1 <= crowd <= 3 and 0 <= hard_negatives <= 1, got "
                         f"{zoom}, {crowd}, {hard_negatives}")
    for name, value in (("height", height), ("width", width)):
        if value < 32 or value % 2:
            raise InputError(f"{name} must be even (H.264 yuv420p halves it for colour) and >= 32, got {value}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    for name, value in counts.items():
        if value < 0:
            raise InputError(f"{name} must be >= 0, got {value}")
    if min_frames < 40:
        raise InputError(f"min_frames must be >= 40 (an anomaly lasts >= {SNIPPET_LEN} frames and <= 40 % of a video),"
                         f" got {min_frames}")
    if max_frames < min_frames:
        raise InputError(f"max_frames ({max_frames}) must be >= min_frames ({min_frames})")
    if min_frames == max_frames and min_frames % SNIPPET_LEN == 0:
        raise InputError(f"min_frames = max_frames = {min_frames} is a multiple of {SNIPPET_LEN}; widen the range")
    if fps < 1 or not 0 <= crf <= 51 or workers < 1:
        raise InputError(f"need fps >= 1, 0 <= crf <= 51 and workers >= 1, got {fps}, {crf}, {workers}")
    unknown = sorted(set(classes) - set(ALL_CLASSES))
    if unknown or len(set(classes)) != len(classes):
        raise InputError(f"anomaly classes must be distinct names from {', '.join(ALL_CLASSES)}; got {list(classes)}")
    if not classes and (counts["train_abnormal"] or counts["test_abnormal"]):
        raise InputError("abnormal videos were asked for but the list of anomaly classes is empty")


def generate_benchmark(out_dir: str | os.PathLike, *, seed: int = 0, train_normal: int = 32,
                       train_abnormal: int = 32, test_normal: int = 16, test_abnormal: int = 16,
                       min_frames: int = 160, max_frames: int = 480, height: int = 96,
                       width: int = 128, fps: int = 25, codec: str = "h264", crf: int = 20,
                       anomaly_classes: Sequence[str] = ALL_CLASSES, workers: int = 1,
                       zoom: float = 1.0, crowd: float = 1.0, hard_negatives: float = 0.35) -> None:
    """Render the benchmark into ``out_dir`` (see the module docstring for the files).

    With ``workers`` > 1 videos are made in spawned processes: a calling script needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    started = time.perf_counter()
    anomaly_classes = list(anomaly_classes)
    counts = dict(train_normal=train_normal, train_abnormal=train_abnormal, test_normal=test_normal,
                  test_abnormal=test_abnormal)
    _check_args(seed=seed, counts=counts, min_frames=min_frames, max_frames=max_frames, height=height,
                width=width, fps=fps, crf=crf, classes=anomaly_classes, workers=workers, zoom=zoom,
                crowd=crowd, hard_negatives=hard_negatives)
    encoder = pick_codec(codec)
    specs = plan_benchmark(seed=seed, **counts, min_frames=min_frames, max_frames=max_frames, height=height,
                           width=width, anomaly_classes=anomaly_classes, zoom=zoom, crowd=crowd,
                           hard_negatives=hard_negatives)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_of: dict[str, list[str]] = {}
    with atomic_dir(out / "videos") as tmp:
        for folder in (*anomaly_classes, TRAIN_NORMAL_DIR, TEST_NORMAL_DIR):
            (tmp / folder).mkdir()
        # Longest first keeps the workers busy to the end; results are keyed, so order does not matter.
        jobs = [(s, str(tmp / video_relpath(s)), encoder, fps, crf)
                for s in sorted(specs, key=lambda s: -s.n_frames)]
        with contextlib.ExitStack() as stack:
            results = map(_make_video, jobs)
            if workers > 1:
                # spawn: each worker starts from a clean process, whatever the caller has loaded (torch, threads)
                pool = multiprocessing.get_context("spawn").Pool(min(workers, max(len(jobs), 1)))
                results = stack.enter_context(pool).imap_unordered(_make_video, jobs)
            for spec, rows in tqdm(results, total=len(jobs), desc="synth videos", unit="video"):
                rows_of[video_relpath(spec)] = rows
    write_text(out / "Anomaly_Train.txt", "".join(f"{video_relpath(s)}\n" for s in specs if s.split == "train"))
    write_text(out / "Temporal_Anomaly_Annotation.txt",
               "".join(annotation_line(s) for s in specs if s.split == "test"))
    write_text(out / "anomaly_boxes.csv", "video_id,split,frame,x0,y0,x1,y1\n"
               + "".join(f"{row}\n" for s in specs for row in rows_of[video_relpath(s)]))
    frames = sum(s.n_frames for s in specs)
    log.info("synth: %d videos (%d train, %d test), %d frames, %d anomaly boxes in %.1f s -> %s", len(specs),
             sum(s.split == "train" for s in specs), sum(s.split == "test" for s in specs), frames,
             sum(map(len, rows_of.values())), time.perf_counter() - started, out)


def main(argv: list[str] | None = None) -> None:
    p = StepParser(generate_benchmark, "Render a synthetic surveillance anomaly benchmark "
                   "(deterministic from --seed) in UCF-Crime's layout: videos/, "
                   "Anomaly_Train.txt, Temporal_Anomaly_Annotation.txt, anomaly_boxes.csv.",
                   prog="python -m mist_steps.steps.make_synth")
    p.add_argument("--out", dest="out_dir", required=True,
                   help="output folder, e.g. results/synth")
    p.add_argument("--seed", type=int, help="master seed")
    for split, words in (("train", "training"), ("test", "test")):
        for label in ("normal", "abnormal"):
            p.add_argument(f"--{split}-{label}", type=int, help=f"{label} {words} videos")
    p.add_argument("--min-frames", type=int, help="shortest video in frames")
    p.add_argument("--max-frames", type=int, help="longest video in frames")
    p.add_argument("--height", type=int, help="frame height, even")
    p.add_argument("--width", type=int, help="frame width, even")
    p.add_argument("--fps", type=int, help="frame rate")
    p.add_argument("--zoom", type=float,
                   help="camera zoom on the walkway: people's size and speed scale with it")
    p.add_argument("--crowd", type=float, help="factor on the mean number of people in view")
    p.add_argument("--hard-negatives", type=float,
                   help="chance of each of the 5 kinds of hard negative in a video")
    p.add_argument("--codec", choices=("h264", "mpeg4"),
                   help="h264 (libx264; falls back to mpeg4 where unavailable) or mpeg4")
    p.add_argument("--crf", type=int, help="H.264 constant rate factor, 0-51")
    p.add_argument("--classes", dest="anomaly_classes", type=comma_list,
                   help="comma-separated anomaly classes")
    p.add_argument("--workers", type=int, help="parallel processes, one video each")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
