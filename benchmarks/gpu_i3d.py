"""P5: I3D on one GPU - how many clips a second, and how long does the GPU wait on decoding?

One short script (a few minutes; needs CUDA, skips cleanly without it)::

    python -m benchmarks.gpu_i3d [--seconds 10] [--batch 128] [--json out.json]

Figures (a clip = one 16-frame snippet in one crop, I3D at 224 x 224):

1. encoder alone, ready tensors on the GPU: bf16 autocast, ``channels_last_3d`` input and
   weights, cuDNN autotuning (``cudnn.benchmark``) - the fast path the issue asks for - and,
   for comparison, fp32 with the deterministic cuDNN settings extraction uses today;
   clips/s from CUDA events over ``--seconds`` after a warm-up. Goal >= 5,000 clips/s: UCF-Crime
   with 10 crops (about 8.7 M snippet forwards) in under 30 minutes.
2. the same bf16 model fed by the real decoding path (:func:`mist_steps.data.snippet_stream.
   stream_rows`: background decoding and resizing, ten crops cut and normalised on the GPU)
   over synthetic H.264 videos at UCF-Crime's 240x320: clips/s, and the share of the wall
   time the GPU is idle, i.e. waiting on decode (1 - GPU busy time from CUDA events / wall).
3. extraction as it runs today (:func:`mist_steps.steps.extract_shard.extract_shard`, fp32, ten
crops,
   224 px) on the same videos: clips/s and the share of its streaming time not spent in the
   encoder.

Not run by the tests; without a GPU it prints "skipped: no CUDA". ``--device cpu --size 32``
runs the same code paths on the CPU in a minute (host clocks instead of CUDA events, no bf16
autocast): a check of the script, its figures meaningless.
"""

from __future__ import annotations

if __package__ in (None, ""):  # run as a script: make the repository importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import Row, random_encoder, skipped, timed, write_index
from benchmarks.extract_throughput import render_block_video
from mist_steps import SNIPPET_LEN

UCF_SNIPPET_FORWARDS = 8.7e6  # UCF-Crime, 1,900 videos, 10 crops
GOAL_CLIPS_S = 5000.0
SIZE = 224


@contextlib.contextmanager
def cudnn_flags(*, benchmark: bool, deterministic: bool):
    """cuDNN's autotuning and determinism flags for the block, restored afterwards."""
    old = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, deterministic
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = old


def _autocast(bf16: bool, dev: torch.device):
    return (torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and dev.type == "cuda"
            else contextlib.nullcontext())


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class _Clock:
    """Device time of a stretch of work: CUDA events on a GPU (read after a synchronize),
    the host clock elsewhere (the CPU smoke run)."""

    def __init__(self, dev: torch.device):
        self.cuda = dev.type == "cuda"
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        if self.cuda:
            self._start.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            self._end.record()
        else:
            self._t1 = time.perf_counter()

    def seconds(self) -> float:
        if self.cuda:
            return self._start.elapsed_time(self._end) / 1000
        return self._t1 - self._t0


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x


def encoder_alone(model, batch: int, seconds: float, *, bf16: bool, channels_last: bool,
                  dev: torch.device, size: int = SIZE) -> float:
    """Clips/s of ``model`` on one ready batch [batch, 3, 16, size, size], timed with CUDA
    events for about ``seconds`` after 5 warm-up calls (cuDNN autotuning happens there)."""
    model = model.to(dev).to(memory_format=torch.channels_last_3d if channels_last
                             else torch.contiguous_format)
    x = _layout(torch.rand(batch, 3, SNIPPET_LEN, size, size, device=dev).mul_(2).sub_(1),
                channels_last)
    clock = _Clock(dev)
    with torch.inference_mode(), _autocast(bf16, dev):
        for _ in range(5):
            model.forward_features(x, ["feature"])
        _sync(dev)
        iters, t0 = 0, time.perf_counter()
        clock.start()
        while time.perf_counter() - t0 < seconds or iters < 3:
            model.forward_features(x, ["feature"])
            iters += 1
            if iters % 10 == 0:  # keep the host from queueing far ahead of the clock
                _sync(dev)
        clock.stop()
        _sync(dev)
    return iters * batch / clock.seconds()


def fed_by_decoding(model, index_csv: Path, batch_snippets: int, threads: int,
                    dev: torch.device, size: int = SIZE) -> dict:
    """The bf16 / channels_last_3d model fed by the real decoding path, ten crops: clips/s
    and the share of the wall time the GPU waits (module docstring)."""
    from mist_steps.data.preprocess import Preprocess
    from mist_steps.data.snippet_stream import stream_rows
    from mist_steps.data.video_table import read_video_table

    prep = Preprocess("i3d", size, "ten")
    model = model.to(dev).to(memory_format=torch.channels_last_3d)
    clocks: list[_Clock] = []
    in_encode = 0.0

    def encode(batch):
        nonlocal in_encode
        tick = time.perf_counter()
        x = _layout(prep.clips(batch.snippets, pad_to=batch_snippets, device=dev), True)
        clock = _Clock(dev)
        clock.start()
        y = model.forward_features(x, ["feature"])["feature"]
        clock.stop()
        clocks.append(clock)
        out = y.float().cpu().numpy().reshape(batch_snippets, prep.n_crops, -1)  # syncs
        in_encode += time.perf_counter() - tick
        return out

    rows = read_video_table(index_csv)
    torch.set_num_threads(threads)
    with torch.inference_mode(), _autocast(True, dev), cudnn_flags(benchmark=True,
                                                                    deterministic=False):
        streamed, wall = timed(lambda: stream_rows(
            rows, batch_snippets, encode=encode, write=lambda row, done, feats: None,
            transform_factory=prep.frame_resizer, decode_threads=threads))
    _sync(dev)
    busy = sum(c.seconds() for c in clocks)
    clips = streamed.snippets * prep.n_crops
    return {"clips_s": clips / wall, "gpu_idle": 1 - busy / wall,
            "host_waiting": 1 - in_encode / wall, "clips": clips, "wall_s": wall}


def run(tmp: Path, *, seconds: float = 10.0, batch: int = 128, videos: int = 6,
        frames: int = 400, threads: int | None = None, device: str = "cuda",
        size: int = SIZE) -> dict:
    """All P5 figures (module docstring); ``device`` "cpu" (with a small ``size``) only
    checks the code paths."""
    from mist_steps.models import build_encoder
    from mist_steps.steps.extract_shard import extract_shard

    dev = torch.device(device)
    threads = threads or min(16, os.cpu_count() or 1)
    torch.manual_seed(0)
    model = build_encoder("i3d", 400).eval()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU (smoke run)"
    out = {"device": name, "batch": batch, "threads": threads, "size": size}
    with cudnn_flags(benchmark=True, deterministic=False):
        out["bf16_cl3d"] = encoder_alone(model, batch, seconds, bf16=True, channels_last=True,
                                         dev=dev, size=size)
    with cudnn_flags(benchmark=False, deterministic=True):
        out["fp32"] = encoder_alone(model, batch, seconds, bf16=False, channels_last=False,
                                    dev=dev, size=size)
    paths = [render_block_video(tmp / f"gpu_{i}.mp4", frames + i, 240, 320)
             for i in range(videos)]
    index = write_index(tmp / "gpu.csv", [(p, frames + i, 0, "test")
                                          for i, p in enumerate(paths)])
    # the model the extraction reads: random weights, BatchNorm calibrated (on the CPU)
    encoder_pt = tmp / "gpu_encoder.pt"
    sample = torch.rand(2, 3, SNIPPET_LEN, size, size).mul_(2).sub_(1)
    calibrated = random_encoder(encoder_pt, "i3d", [sample])
    snippets_per_batch = max(1, batch // 10)
    out["fed"] = fed_by_decoding(calibrated, index, snippets_per_batch, threads, dev, size)
    with cudnn_flags(benchmark=False, deterministic=True):
        today = extract_shard(index, encoder_pt, tmp / "gpu.h5", crop_mode="ten",
                              input_size=size, batch_size=snippets_per_batch, threads=threads,
                              device=device)
    out["extract_today"] = {"clips_s": today["clips"] * 10 / today["streaming_seconds"],
                            "not_encoder": 1 - today["encoder_seconds"]
                            / today["streaming_seconds"]}
    out["ucf_minutes"] = UCF_SNIPPET_FORWARDS / out["bf16_cl3d"] / 60
    return out


def suite_rows(tmp: Path, *, quick: bool) -> list[Row]:
    """P5 for ``python -m benchmarks``: skipped without CUDA."""
    name = "GPU: I3D 224 px, 16 frames, bf16 + channels_last_3d (clips/s)"
    wait = "GPU: share of time waiting on decode (ten crops, real decoding)"
    if not torch.cuda.is_available():
        return [skipped("P5", name, "no CUDA", (">=", GOAL_CLIPS_S), "clips/s"),
                skipped("P5", wait, "no CUDA")]
    r = run(tmp, seconds=2.0 if quick else 10.0, videos=2 if quick else 6,
            frames=64 if quick else 400)
    return [
        Row("P5", name, r["bf16_cl3d"], "clips/s", (">=", GOAL_CLIPS_S),
            f"{r['device']}, batch {r['batch']}, encoder alone; fp32 as extraction runs today: "
            f"{r['fp32']:.0f} clips/s; UCF-Crime 10-crop (8.7 M forwards) ~"
            f"{r['ucf_minutes']:.0f} min", extra=r),
        Row("P5", wait, r["fed"]["gpu_idle"], "ratio", None,
            f"fed by the real decoder ({r['threads']} threads): {r['fed']['clips_s']:.0f} "
            f"clips/s; extraction today (fp32): {r['extract_today']['clips_s']:.0f} clips/s, "
            f"{100 * r['extract_today']['not_encoder']:.0f}% of its time outside the encoder",
            extra=r),
    ]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per variant")
    p.add_argument("--batch", type=int, default=128, help="clips per encoder call (default 128)")
    p.add_argument("--videos", type=int, default=6, help="240x320 videos to decode (default 6)")
    p.add_argument("--frames", type=int, default=400, help="frames per video (default 400)")
    p.add_argument("--threads", type=int, default=None, help="decoding / torch CPU threads "
                   "(default: the cores, at most 16)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu: a smoke run of the code paths (use a small --size)")
    p.add_argument("--size", type=int, default=SIZE, help=f"input side (default {SIZE})")
    a = p.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print("P5 skipped: no CUDA")
        return
    with tempfile.TemporaryDirectory(prefix="mist-gpu-") as tmp:
        r = run(Path(tmp), seconds=a.seconds, batch=a.batch, videos=a.videos,
                frames=a.frames, threads=a.threads, device=a.device, size=a.size)
    print(json.dumps(r, indent=2))
    if a.json:
        a.json.write_text(json.dumps(r, indent=2))
    print(f"\n{r['device']}: I3D {r['size']} px bf16 + channels_last_3d "
          f"{r['bf16_cl3d']:.0f} clips/s (goal >= {GOAL_CLIPS_S:.0f}; fp32 today "
          f"{r['fp32']:.0f}); UCF-Crime 10-crop ~{r['ucf_minutes']:.0f} min; fed by decoding: "
          f"{r['fed']['clips_s']:.0f} clips/s, GPU waiting {100 * r['fed']['gpu_idle']:.0f}% "
          f"of the time")


if __name__ == "__main__":
    main()
