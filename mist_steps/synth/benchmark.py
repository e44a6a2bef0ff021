"""The synthetic benchmark on disk: its plan, video encoding (H.264 or MPEG-4) and annotation
lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mist_steps.errors import InputError
from mist_steps.synth.plan import ALL_CLASSES, VideoSpec, plan_video
from mist_steps.synth.scene import iter_frames

log = logging.getLogger(__name__)
TRAIN_NORMAL_DIR = "Training_Normal_Videos_Anomaly"
TEST_NORMAL_DIR = "Testing_Normal_Videos_Anomaly"


def video_relpath(spec: VideoSpec) -> str:
    """Path under videos/, with UCF's quirk: test normals have an underscore before the number."""
    if spec.cls != "Normal":
        return f"{spec.cls}/{spec.cls}{spec.index:03d}_synth.mp4"
    if spec.split == "train":
        return f"{TRAIN_NORMAL_DIR}/Normal_Videos{spec.index:03d}_synth.mp4"
    return f"{TEST_NORMAL_DIR}/Normal_Videos_{spec.index:03d}_synth.mp4"


def pick_codec(codec: str) -> str:
    """Encoder name for ``codec``; libx264 falls back to MPEG-4 Part 2 where this PyAV build lacks it."""
    if codec == "mpeg4":
        return "mpeg4"
    if codec != "h264":
        raise InputError(f"codec must be 'h264' or 'mpeg4', got {codec!r}")
    if "libx264" in av.codecs_available:
        return "libx264"
    log.warning("this PyAV build has no libx264 encoder; writing MPEG-4 Part 2 (mpeg4) videos instead")
    return "mpeg4"


def encode_video(path: Path, frames, *, width: int, height: int, fps: int, encoder: str, crf: int) -> int:
    """Encode RGB uint8 frames into an mp4; returns the number of frames written."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        if encoder == "libx264":
            # Bit-reproducible output: threads=1, as threaded x264 is not; mbtree=0, as at tiny frame sizes
            # the macroblock-tree lookahead made the output depend on what the process encoded before
            # (seen at 64x48: same frames, different bitstreams in a worker and in the main process).
            stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}
        else:  # mpeg4 has no CRF: a fixed quantiser of similar quality (crf 20 -> q 4)
            q = str(int(np.clip(round(crf / 5), 2, 31)))
            stream.options = {"qmin": q, "qmax": q, "threads": "1"}
        count = 0
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = count, Fraction(1, fps)
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def count_packets(path: Path) -> int:
    """Frames a decoder will read: one packet per frame in mp4 (cheap: no decoding)."""
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(video=0) if p.size)


def _make_video(job: tuple[VideoSpec, str, str, int, int]) -> tuple[VideoSpec, list[str]]:
    """Render and encode one video; returns its box rows. Runs in a worker process."""
    spec, path, encoder, fps, crf = job
    rows: list[str] = []
    stem = Path(path).stem

    def frames():
        for t, (img, boxes) in enumerate(iter_frames(spec, anomalies=True)):
            in_interval = any(s <= t < e for s, e in spec.intervals)
            if bool(boxes) != in_interval:  # the annotation must say exactly where anomalies are drawn
                raise RuntimeError(f"{stem} frame {t}: boxes {boxes} disagree with intervals {spec.intervals}")
            rows.extend(f"{stem},{spec.split},{t},{x0},{y0},{x1},{y1}" for x0, y0, x1, y1 in boxes)
            yield img

    written = encode_video(Path(path), frames(), width=spec.width, height=spec.height, fps=fps,
                           encoder=encoder, crf=crf)
    readable = count_packets(Path(path))
    if written != spec.n_frames or readable != written:
        raise RuntimeError(f"{path}: planned {spec.n_frames} frames, wrote {written}, a decoder sees {readable}")
    return spec, rows


def plan_benchmark(*, seed: int, train_normal: int, train_abnormal: int, test_normal: int, test_abnormal: int,
                   min_frames: int, max_frames: int, height: int, width: int,
                   anomaly_classes: Sequence[str] = ALL_CLASSES, zoom: float = 1.0,
                   crowd: float = 1.0, hard_negatives: float = 0.35) -> list[VideoSpec]:
    """All video specs in listing order. Classes go round-robin so each split covers all of them."""
    plan: list[tuple[str, str, int]] = []
    next_index = {c: 1 for c in (*anomaly_classes, "Normal")}  # numbering runs on from train into test
    for split, n_abnormal, n_normal in (("train", train_abnormal, train_normal), ("test", test_abnormal, test_normal)):
        classes = [anomaly_classes[i % len(anomaly_classes)] for i in range(n_abnormal)]
        for cls in [c for c in anomaly_classes if c in classes] + ["Normal"]:
            for _ in range(classes.count(cls) if cls != "Normal" else n_normal):
                plan.append((split, cls, next_index[cls]))
                next_index[cls] += 1
    return [plan_video(seed, split, cls, index, min_frames=min_frames, max_frames=max_frames,
                       height=height, width=width, zoom=zoom, crowd=crowd,
                       hard_negatives=hard_negatives) for split, cls, index in plan]


def annotation_line(spec: VideoSpec) -> str:
    """UCF-Crime's temporal annotation: name, class, two start/end pairs (-1: none), double spaces."""
    name = Path(video_relpath(spec)).name
    bounds = [v for interval in spec.intervals for v in interval] + [-1] * (4 - 2 * len(spec.intervals))
    return "  ".join([name, spec.cls, *map(str, bounds)]) + "  \n"
