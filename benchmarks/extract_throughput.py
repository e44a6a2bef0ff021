"""Benchmark of feature extraction: is the encoder the bottleneck, and is memory flat?

Suite entries P1 and P2 (``python -m benchmarks``), and a detailed report of its own::

    python -m benchmarks.extract_throughput [--arch i3d] [--input-size 64] [--batch-size 8]
        [--threads 2] [--clips 32] [--frame-size 96] [--rss-clips 3] [--rss-height 480]
        [--rss-width 640]

(``python benchmarks/extract_throughput.py ...`` works too.)

1. P1, throughput: clips/s of the full extraction path
(``mist_steps.steps.extract_shard.extract_shard``:
   decode + resize/crop/normalize + encoder + HDF5 write, timed from the start of decoding to
   the last write; the one-time encoder load is shown apart) on a video of the synthetic
   benchmark's renderer (96x96 frames, as the default dataset), against the encoder alone on
   ready tensors (same batch, threads, input size: the synthetic default's 64 px), and their
   ratio (median over runs taken in turns, against a busy machine). Goal >= 0.9: decoding
   hidden behind the model. Also shown: the encoder's share of the extraction's time, which
   other jobs on the machine hardly distort.
2. P2, memory: peak RSS (``ru_maxrss``) of extracting a short video and one 10x longer, each
   in a fresh subprocess, on large frames (480x640, ~0.9 MB each) so that holding the whole
   long video would show. Goal ratio <= 1.2: memory does not grow with video length.

A random-weight encoder is used, its BatchNorm statistics calibrated on the video so that
activations have a trained network's scale (:func:`benchmarks.common.calibrate`). Not a
test: numbers depend on the machine.
"""

from __future__ import annotations

if __package__ in (None, ""):  # run as a script: make the repository importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from benchmarks.common import (
    REPO,
    SYNTH_FRAME,
    SYNTH_INPUT,
    Row,
    per_run,
    random_encoder,
    render_synth_video,
    side_by_side,
    snippet_batches_of,
    threads_text,
    timed,
    write_index,
)
from mist_steps import SNIPPET_LEN
from mist_steps.data.preprocess import CROP_MODES, Preprocess
from mist_steps.steps.extract_shard import extract_shard


@dataclass
class ExtractSetup:
    """What P1 and P2 run: encoder, its input, batch, threads, device."""

    arch: str = "i3d"
    input_size: int = SYNTH_INPUT
    crop_mode: str = "center"
    batch_size: int = 8
    threads: int = 2
    device: str = "cpu"
    kind: str = "feature"

    def common(self) -> dict:
        return dict(input_size=self.input_size, batch_size=self.batch_size,
                    threads=self.threads, crop_mode=self.crop_mode, feature=self.kind,
                    device=self.device)

    def describe(self) -> str:
        return (f"{self.arch} {self.crop_mode} crop {self.input_size} px, batch "
                f"{self.batch_size}, {threads_text(self.threads)}, {self.device}")


def render_block_video(path: Path, n_frames: int, height: int, width: int, fps: int = 25) -> Path:
    """A cheap surveillance-like H.264 clip of any frame size: textured background, a moving
    block, sensor noise (a small bank of noisy frames, so rendering stays cheap)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (96 + 40 * np.sin(xx / 17.0) * np.cos(yy / 23.0))[..., None].repeat(3, axis=2)
    noisy = [np.clip(background + rng.normal(0, 4, background.shape), 0, 255).astype(np.uint8)
             for _ in range(8)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for i in range(n_frames):
            img = noisy[i % len(noisy)].copy()
            x = (i * 3) % max(1, width - 40)
            img[height // 3: height // 3 + 40, x: x + 40] = (200, 60, 40)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    return path


def encoder_alone(model, batches: list[torch.Tensor], snippets: int, setup: ExtractSetup) -> float:
    """Snippets/s of the encoder on ready float tensors already on the device (after one
    warm-up call); results are fetched to the host as extraction does."""
    torch.set_num_threads(setup.threads)
    device = torch.device(setup.device)
    model = model.to(device)
    batches = [x.to(device) for x in batches]
    kind = setup.kind
    with torch.inference_mode():
        model.forward_features(batches[0], [kind])[kind].cpu()
        _, seconds = timed(lambda: [model.forward_features(x, [kind])[kind].cpu()
                                    for x in batches])
    return snippets / seconds


def extraction_efficiency(tmp: Path, setup: ExtractSetup, *, clips: int = 32,
                          frame_size: int = SYNTH_FRAME, repeats: int = 3,
                          quick: bool = False) -> dict:
    """P1: the full path against the encoder alone, in turns (module docstring); ``quick``:
    no warm-up run and no closing reference run."""
    n = max(40, clips * SNIPPET_LEN + 5)  # a partial last snippet, like the benchmark's
    video = tmp / "p1.mp4"
    n, render_s = timed(lambda: render_synth_video(video, n, frame_size, cls="Normal"))
    prep = Preprocess(setup.arch, setup.input_size, setup.crop_mode)
    batches, n_snippets = snippet_batches_of(video, prep, setup.batch_size)
    model = random_encoder(tmp / "p1_encoder.pt", setup.arch, batches[:2])
    index = write_index(tmp / "p1.csv", [(video, n, 0, "test")])
    runs = []

    def full() -> float:
        r = extract_shard(index, tmp / "p1_encoder.pt", tmp / "p1.h5", **setup.common())
        runs.append(r)
        return r["clips"] / r["streaming_seconds"]

    torch.set_num_threads(setup.threads)
    if not quick:
        full()  # warm-up: the first call in a process sets up kernels and threads
        runs.clear()
    turns = side_by_side(lambda: encoder_alone(model, batches, n_snippets, setup), full,
                         repeats, bracket=not quick)
    busy = [r["encoder_seconds"] / r["streaming_seconds"] for r in runs]
    return {"ratio": turns.ratio, "ratios": turns.ratios, "full": statistics.median(turns.b),
            "alone": statistics.median(turns.a), "busy": statistics.median(busy),
            "clips": runs[0]["clips"], "streaming_s": runs[0]["streaming_seconds"],
            "setup_s": runs[0]["seconds"] - runs[0]["streaming_seconds"],
            "render_s": render_s, "frames": n, "frame_size": frame_size,
            "encoder": tmp / "p1_encoder.pt"}


def rss_child(argv: list[str]) -> None:
    """Subprocess entry: extract one video, print the peak RSS in MiB as JSON."""
    logging.basicConfig(level=logging.ERROR)
    videos, encoder, out, size, batch, threads, crop_mode, device = argv
    summary = extract_shard(videos, encoder, out, input_size=int(size), batch_size=int(batch),
                            threads=int(threads), crop_mode=crop_mode, device=device)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_mib": peak_kib / 1024, "clips": summary["clips"]}))


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def memory_scaling(tmp: Path, setup: ExtractSetup, *, clips: int = 3, height: int = 480,
                   width: int = 640, encoder: Path | None = None,
                   parallel: bool = False) -> dict:
    """P2: peak RSS of extracting a ``clips``-snippet video and one 10x longer, each in a
    fresh process; frames ``height`` x ``width``. ``encoder``: a file to use (default: a
    random one calibrated on the short video); ``parallel``: run both processes at once
    (peak RSS is per process, so only the wall time changes)."""
    short = render_block_video(tmp / "p2_x1.mp4", clips * SNIPPET_LEN, height, width)
    if encoder is None:
        prep = Preprocess(setup.arch, setup.input_size, setup.crop_mode)
        batches, _ = snippet_batches_of(short, prep, setup.batch_size)
        encoder = tmp / "p2_encoder.pt"
        random_encoder(encoder, setup.arch, batches[:1])
    children = []
    for factor in (1, 10):
        frames = clips * factor * SNIPPET_LEN
        path = short if factor == 1 else render_block_video(tmp / f"p2_x{factor}.mp4", frames,
                                                            height, width)
        index = write_index(tmp / f"p2_x{factor}.csv", [(path, frames, 0, "test")])
        cmd = [sys.executable, "-m", "benchmarks.extract_throughput", "--rss-child",
               str(index), str(encoder), str(tmp / f"p2_x{factor}.h5"), str(setup.input_size),
               str(setup.batch_size), str(setup.threads), setup.crop_mode, setup.device]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=_child_env(), cwd=REPO)
        children.append((factor, child))
        if not parallel:
            child.wait()
    peaks = []
    for factor, child in children:
        out, err = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"the memory child for a {factor}x video failed "
                               f"(exit {child.returncode}):\n{err[-2000:]}")
        peaks.append(json.loads(out.strip().splitlines()[-1]))
    raw_mib = height * width * 3 * SNIPPET_LEN / 2**20
    return {"ratio": peaks[1]["peak_mib"] / peaks[0]["peak_mib"], "peaks": peaks,
            "raw_mib_per_clip": raw_mib, "height": height, "width": width}


def suite_rows(tmp: Path, *, quick: bool, threads: int, repeats: int, device: str) -> list[Row]:
    """P1 and P2 for ``python -m benchmarks``: the defaults above, or (``quick``) a tiny
    input (32 px, 2 snippets; memory on 1 vs 10 snippets of 120x160 frames). P2 uses P1's
    encoder."""
    setup = ExtractSetup(input_size=32 if quick else SYNTH_INPUT,
                         batch_size=2 if quick else 8, threads=threads, device=device)
    p1 = extraction_efficiency(tmp, setup, clips=2 if quick else 32,
                               frame_size=48 if quick else SYNTH_FRAME, repeats=repeats,
                               quick=quick)
    p2 = memory_scaling(tmp, setup, clips=1 if quick else 3, height=120 if quick else 480,
                        width=160 if quick else 640,
                        encoder=p1["encoder"], parallel=quick)
    short, long = p2["peaks"]
    return [
        Row("P1", "extraction: full path / encoder alone (clips/s)", p1["ratio"], "ratio",
            (">=", 0.9),
            f"{p1['full']:.2f} vs {p1['alone']:.2f} clips/s; {setup.describe()}; "
            f"{p1['clips']}-clip {p1['frame_size']}x{p1['frame_size']} synthetic video; "
            f"{per_run(p1['ratios'])}; encoder busy "
            f"{100 * p1['busy']:.0f}% of the streaming time", extra=p1),
        Row("P2", "extraction: peak RSS, 10x longer video / short one", p2["ratio"], "ratio",
            ("<=", 1.2),
            f"{short['peak_mib']:.0f} MiB ({short['clips']} clips) vs {long['peak_mib']:.0f} "
            f"MiB ({long['clips']} clips) of {p2['height']}x{p2['width']} frames (raw: "
            f"{p2['raw_mib_per_clip']:.0f} MiB a clip), fresh processes", extra=p2),
    ]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the report below is the output
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        rss_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=["i3d", "c3d"], default="i3d")
    parser.add_argument("--input-size", type=int, default=SYNTH_INPUT,
                        help=f"crop side (default {SYNTH_INPUT}, the synthetic default's)")
    parser.add_argument("--crop-mode", choices=list(CROP_MODES), default="center")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--clips", type=int, default=32, help="snippets in the throughput video")
    parser.add_argument("--frame-size", type=int, default=SYNTH_FRAME,
                        help=f"throughput video's square frame side (default {SYNTH_FRAME})")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed extraction runs, each between two encoder-alone runs "
                        "(default 3)")
    parser.add_argument("--rss-clips", type=int, default=3,
                        help="snippets of the short memory video (the long one has 10x)")
    parser.add_argument("--rss-height", type=int, default=480,
                        help="memory videos' height: large frames, so that holding the whole "
                        "long video would show (480x640: ~0.9 MB per frame)")
    parser.add_argument("--rss-width", type=int, default=640)
    args = parser.parse_args()
    setup = ExtractSetup(args.arch, args.input_size, args.crop_mode, args.batch_size,
                         args.threads, args.device)
    with tempfile.TemporaryDirectory(prefix="mist-bench-") as tmp:
        p1 = extraction_efficiency(Path(tmp), setup, clips=args.clips,
                                   frame_size=args.frame_size, repeats=args.repeats)
        p2 = memory_scaling(Path(tmp), setup, clips=args.rss_clips, height=args.rss_height,
                            width=args.rss_width)
    print(f"{setup.describe()}, {p1['frames']}-frame {args.frame_size}x{args.frame_size} video "
          f"(rendered in {p1['render_s']:.1f} s)")
    print(f"full extraction path : {p1['full']:8.2f} clips/s  ({p1['clips']} clips in "
          f"{p1['streaming_s']:.1f} s: decode, preprocess, encoder, HDF5 write; "
          f"+{p1['setup_s']:.1f} s once to load the encoder)")
    print(f"encoder alone        : {p1['alone']:8.2f} clips/s")
    print(f"ratio                : {p1['ratio']:8.3f}   (goal >= 0.9; {per_run(p1['ratios'])})")
    print(f"encoder busy         : {p1['busy']:8.3f}   of the extraction's streaming time")
    for peak in p2["peaks"]:
        print(f"peak RSS {peak['clips']:4d} clips   : {peak['peak_mib']:8.1f} MiB   (the "
              f"video's raw frames: {peak['clips'] * p2['raw_mib_per_clip']:6.0f} MiB)")
    print(f"ratio                : {p2['ratio']:8.3f}   (goal <= 1.2)")


if __name__ == "__main__":
    main()
