"""Benchmark of feature extraction: is the encoder the bottleneck, and is memory flat?

One command, one report::

    python benchmarks/extract_throughput.py [--arch i3d] [--input-size 64] [--batch-size 8]
        [--threads 2] [--clips 32] [--height 240] [--width 320] [--rss-clips 3]
        [--rss-height 480] [--rss-width 640]

1. Throughput: clips/s of the full extraction path (``mist_steps.extract.extract_shard``:
   decode + resize/crop/normalize + encoder + HDF5 write, timed from the start of decoding to
   the last write; the one-time encoder load is shown apart) on a synthetic H.264 video it renders
   itself with PyAV, against the encoder alone on ready tensors (same batch, threads, input
   size), and their ratio (median over runs taken in turns, against a busy machine). Target
   >= 0.9: decoding hidden behind the model. Also shown: the encoder's share of the
   extraction's time, which other jobs on the machine hardly distort.
2. Memory: peak RSS (``ru_maxrss``) of extracting a short video and one 10x longer, each in a
   fresh subprocess. Target ratio <= 1.2: memory does not grow with video length.

A random-weight encoder is used, its BatchNorm statistics calibrated on the video so that
activations have a trained network's scale (an uncalibrated one drifts into subnormal floats,
which CPUs process many times slower, and would distort the comparison). Defaults (I3D at 64 px)
finish in a minute or two on two CPU cores. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from mist_steps import SNIPPET_LEN
from mist_steps.encoders import build_encoder, save_encoder
from mist_steps.extract import extract_shard
from mist_steps.preprocess import CROP_MODES, DEFAULT_INPUT_SIZE, Preprocess
from mist_steps.video import SnippetReader, open_video


def render_video(path: Path, n_frames: int, height: int, width: int, fps: int = 25) -> Path:
    """A surveillance-like H.264 clip: textured background, a moving block, sensor noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (96 + 40 * np.sin(xx / 17.0) * np.cos(yy / 23.0))[..., None].repeat(3, axis=2)
    noisy = [np.clip(background + rng.normal(0, 4, background.shape), 0, 255).astype(np.uint8)
             for _ in range(8)]  # a small bank: rendering stays cheap next to encoding
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for i in range(n_frames):
            img = noisy[i % len(noisy)].copy()
            x = (i * 3) % max(1, width - 40)
            img[height // 3: height // 3 + 40, x: x + 40] = (200, 60, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_index(path: Path, video: Path, n_frames: int) -> Path:
    path.write_text("video_id,path,split,label,class,frame_count,fps\n"
                    f"{video.stem},{video},test,0,Normal,{n_frames},25.0\n")
    return path


def ready_batches(video: Path, prep: Preprocess, batch: int) -> tuple[list[torch.Tensor], int]:
    """The video's snippets as encoder input in full batches (the last one zero-padded, as
    extraction does), and the number of snippets."""
    snippets = list(SnippetReader(open_video(video), transform=prep.frame_resizer()))
    return [prep.clips(snippets[i:i + batch], pad_to=batch)
            for i in range(0, len(snippets), batch)], len(snippets)


def calibrate(model, batches: list[torch.Tensor]) -> None:
    """Set BatchNorm statistics from real clips, so activations have a trained network's
    scale (a fresh network's shrink into subnormal floats, which CPUs process far slower)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for x in batches:
            model.forward_features(x, ["feature"])
    model.eval()


def encoder_alone(model, batches: list[torch.Tensor], snippets: int, threads: int, kind: str,
                  device: torch.device) -> float:
    """Snippets/s of the encoder on ready float tensors already on ``device`` (after one
    warm-up call); results are fetched to the host as extraction does."""
    torch.set_num_threads(threads)
    model = model.to(device)
    batches = [x.to(device) for x in batches]
    with torch.inference_mode():
        model.forward_features(batches[0], [kind])[kind].cpu()
        start = time.perf_counter()
        for x in batches:
            model.forward_features(x, [kind])[kind].cpu()
        return snippets / (time.perf_counter() - start)


def rss_child(argv: list[str]) -> None:
    """Subprocess entry: extract one video, print the peak RSS in MiB as JSON."""
    videos, encoder, out, size, batch, threads, crop_mode, device = argv
    summary = extract_shard(videos, encoder, out, input_size=int(size), batch_size=int(batch),
                            threads=int(threads), crop_mode=crop_mode, device=device)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_mib": peak_kib / 1024, "clips": summary["clips"]}))


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the report below is the output
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        rss_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=["i3d", "c3d"], default="i3d")
    parser.add_argument("--input-size", type=int, default=64, help="crop side (default 64)")
    parser.add_argument("--crop-mode", choices=list(CROP_MODES), default="center")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--clips", type=int, default=32, help="snippets in the throughput video")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed extraction runs, each between two encoder-alone runs "
                        "(default 3)")
    parser.add_argument("--height", type=int, default=240, help="throughput video height")
    parser.add_argument("--width", type=int, default=320, help="throughput video width")
    parser.add_argument("--rss-clips", type=int, default=3,
                        help="snippets of the short memory video (the long one has 10x)")
    parser.add_argument("--rss-height", type=int, default=480,
                        help="memory videos' height: large frames, so that holding the whole "
                        "long video would show (480x640: ~0.9 MB per frame)")
    parser.add_argument("--rss-width", type=int, default=640)
    args = parser.parse_args()
    size = args.input_size or DEFAULT_INPUT_SIZE[args.arch]
    kind = "feature"

    with tempfile.TemporaryDirectory(prefix="mist-bench-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        n = args.clips * SNIPPET_LEN
        video = render_video(tmp / "bench.mp4", n, args.height, args.width)
        warm = render_video(tmp / "warm.mp4", SNIPPET_LEN * args.batch_size, args.height,
                            args.width)
        print(f"rendered {n} frames {args.height}x{args.width} in {time.perf_counter() - t:.1f} s")
        prep = Preprocess(args.arch, size, args.crop_mode)
        batches, n_snippets = ready_batches(video, prep, args.batch_size)
        torch.manual_seed(0)
        torch.set_num_threads(args.threads)
        model = build_encoder(args.arch, 10)
        calibrate(model, batches[:2])
        encoder = tmp / "encoder.pt"
        save_encoder(encoder, model)
        common = dict(input_size=size, batch_size=args.batch_size, threads=args.threads,
                      crop_mode=args.crop_mode, feature=kind, device=args.device)
        device = torch.device(args.device)

        # 1. throughput. Both warmed up (the first encoder call sets up its kernels), then
        # timed in turns A F A F ... A: each extraction run is compared with the encoder-alone
        # runs just before and after it, and the median of these ratios is reported, so that
        # other jobs on a shared machine (which come and go) hardly bias the figure.
        extract_shard(write_index(tmp / "warm.csv", warm, SNIPPET_LEN * args.batch_size),
                      encoder, tmp / "warm.h5", **common)
        index = write_index(tmp / "bench.csv", video, n)
        alone = [encoder_alone(model, batches, n_snippets, args.threads, kind, device)]
        runs = []
        for _ in range(args.repeats):
            runs.append(extract_shard(index, encoder, tmp / "bench.h5", **common))
            alone.append(encoder_alone(model, batches, n_snippets, args.threads, kind, device))
        full = [r["clips"] / r["streaming_seconds"] for r in runs]
        ratios = [f / ((a + b) / 2) for f, a, b in zip(full, alone, alone[1:])]
        busy = [r["encoder_seconds"] / r["streaming_seconds"] for r in runs]
        summary = runs[0]

        # 2. peak memory, short vs 10x longer video, fresh processes
        peaks = []
        for factor in (1, 10):
            frames = args.rss_clips * factor * SNIPPET_LEN
            path = render_video(tmp / f"rss{factor}.mp4", frames, args.rss_height,
                                args.rss_width)
            csv = write_index(tmp / f"rss{factor}.csv", path, frames)
            out = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(csv), str(encoder),
                 str(tmp / f"rss{factor}.h5"), str(size), str(args.batch_size),
                 str(args.threads), args.crop_mode, args.device],
                check=True, capture_output=True, text=True)
            peaks.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"\n{args.arch} {kind}, {args.crop_mode} crop {size}px, batch {args.batch_size}, "
          f"{args.threads} threads, {args.device}, video {args.height}x{args.width}")
    setup = summary["seconds"] - summary["streaming_seconds"]
    print(f"full extraction path : {np.median(full):8.2f} clips/s  (median of {len(full)}; "
          f"{summary['clips']} clips in {summary['streaming_seconds']:.1f} s: decode, "
          f"preprocess, encoder, HDF5 write; +{setup:.1f} s once to load the encoder)")
    print(f"encoder alone        : {np.median(alone):8.2f} clips/s  (median of {len(alone)})")
    print(f"ratio                : {np.median(ratios):8.3f}   (target >= 0.9; per run: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"encoder busy         : {np.median(busy):8.3f}   of the extraction's streaming time "
          f"(the share not spent waiting for decoded clips)")
    raw = args.rss_height * args.rss_width * 3 * SNIPPET_LEN / 2**20
    for peak in peaks:
        print(f"peak RSS {peak['clips']:4d} clips   : {peak['peak_mib']:8.1f} MiB   (the "
              f"video's raw frames: {peak['clips'] * raw:6.0f} MiB)")
    print(f"ratio                : {peaks[1]['peak_mib'] / peaks[0]['peak_mib']:8.3f}   "
          f"(target <= 1.2)")


if __name__ == "__main__":
    main()
