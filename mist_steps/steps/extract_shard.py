"""Step extract_shard: snippet features of one shard of the videos with an encoder.

The videos of ``videos.csv`` (all splits), sorted by video_id, are dealt round-robin
(the i-th video goes to shard ``i % num_shards``); one shard's videos are decoded in a
background thread into non-overlapping 16-frame snippets, preprocessed as the encoder's public
checkpoints expect (:mod:`mist_steps.data.preprocess`) and encoded in fixed-size batches.
The gather_features step then merges the shard files into the one feature file (:mod:`mist_steps.formats.features`)
and one skipped-videos CSV, checking every assigned video is there exactly once.

Features do not depend on the shard count: the encoder always runs full batches of
``batch_size`` snippets (the last one padded with zero snippets), so every call has the same
shape, and a clip's result does not depend on its batch neighbours (1 vs 3 shards are checked
bit for bit by the tests, on CPU; on a GPU cuDNN is put in deterministic mode). A different
``batch_size`` may change the last bits, as kernels differ by shape.

Video paths in ``videos.csv`` are used as written (relative ones from the working folder, as
the indexing step writes them); frame folders get the ``fps`` column as their frame rate.

Unreadable videos (missing, empty, corrupt, truncated, shorter than 16 frames): with
``on_bad_video="error"`` the step stops with an error naming the file; with ``"skip"`` the
video is left out and listed (video_id, path, split, reason) in the skipped CSV and in the
shard file, so nothing disappears silently.

Command line::

    python -m mist_steps.steps.extract_shard --videos videos.csv --encoder enc.pt --out shard0.h5 \\
        --shard-index 0 --num-shards 2 [--crop-mode center|ten] [--input-size 64] ...
    python -m mist_steps.steps.gather_features --out features.h5 --skipped-out skipped.csv \\
        [--shard-skipped s0.csv s1.csv] -- shard0.h5 shard1.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import torch
from tqdm import tqdm

from mist_steps.cli import run_cli
from mist_steps.data.preprocess import CROP_MODES, Preprocess
from mist_steps.data.snippet_stream import (
    ON_BAD_VIDEO,
    expected_snippets,
    indexed_frames,
    stream_rows,
)
from mist_steps.data.snippets import SnippetBatch, VideoDone
from mist_steps.data.video_table import read_video_table
from mist_steps.formats.digest import weights_sha256
from mist_steps.formats.encoder_file import load_encoder
from mist_steps.formats.features import DTYPES, FeatureWriter
from mist_steps.formats.skipped import write_skipped
from mist_steps.inference.extraction import (
    SHARD_META,
    _check_args,
    resolve_feature,
    shard_of,
)
from mist_steps.training.devices import resolve_device

log = logging.getLogger(__name__)


def extract_shard(videos_csv, encoder_path, out_h5, *, shard_index: int = 0, num_shards: int = 1,
                  crop_mode: str = "center", input_size: int | None = None,
                  feature: str = "default", batch_size: int = 8, threads: int = 2,
                  on_bad_video: str = "error", skipped_csv=None, device: str = "cpu",
                  dtype: str = "float16") -> dict:
    """Extract the features of shard ``shard_index`` of ``num_shards`` into ``out_h5``.

    ``encoder_path``: a ``mist-encoder-v1`` file (:func:`mist_steps.formats.encoder_file.save_encoder`).
    ``crop_mode``: 'center' or 'ten'; ``input_size``: crop side (None: I3D 224, C3D 112);
    ``feature``: 'default' (I3D 'feature' = pooled Mixed_5c, 1024-d; C3D 'fc6', 4096-d) or a
    kind name (C3D 'feature' = pooled conv5b, 512-d). ``batch_size``: snippets per encoder call
    (each gives ``n_crops`` clips); ``threads``: torch threads (and, on a GPU, FFmpeg decoder
    threads; on CPU decoding runs in one thread beside the encoder).
    ``on_bad_video``: 'error' or 'skip' (rows into ``skipped_csv``, which is written, header
    only if nothing was skipped, whenever given). ``device``: 'cpu', 'cuda', 'auto'.
    Returns a summary dict: videos, clips, skipped, seconds (all), streaming_seconds (decoding,
    encoding and writing, without loading the encoder and the index), encoder_seconds (spent
    in the encoder; its share of streaming_seconds shows whether decoding keeps up).
    """
    _check_args(shard_index, num_shards, crop_mode, batch_size, threads, on_bad_video, dtype)
    started = time.perf_counter()
    table = read_video_table(videos_csv).sort_values("video_id", ignore_index=True)
    mine = table[[shard_of(i, num_shards) == shard_index for i in range(len(table))]]
    rows = mine.reset_index(drop=True)

    model, meta = load_encoder(encoder_path)
    arch = model.arch
    prep = Preprocess(arch, input_size, crop_mode)
    kind = resolve_feature(arch, feature, prep.crop, encoder_path)
    dim = model.feature_dim(kind)
    run_attrs = {"encoder": arch, "weights_sha256": weights_sha256(model),
                 "crop_mode": crop_mode, "input_size": prep.crop, "feature": kind}
    dev = resolve_device(device)
    torch.set_num_threads(threads)
    if dev.type == "cuda":  # same algorithms whatever the batch neighbours
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    model = model.to(dev).eval()

    expected = expected_snippets(rows)
    log.info("shard %d/%d: %d of %d videos, ~%d clips, %s %s %s-crop %dpx on %s, batch %d, "
             "%d threads", shard_index, num_shards, len(rows), len(table), expected, arch,
             kind, crop_mode, prep.crop, dev, batch_size, threads)

    extra = {"encoder_meta": json.dumps(meta, sort_keys=True), "device": dev.type}
    encoding = 0.0

    def encode(batch: SnippetBatch) -> np.ndarray:
        nonlocal encoding
        x = prep.clips(batch.snippets, pad_to=batch_size, device=dev)
        tick = time.perf_counter()
        y = model.forward_features(x, [kind])[kind].float().cpu().numpy()
        encoding += time.perf_counter() - tick
        return y.reshape(batch_size, prep.n_crops, dim)

    with FeatureWriter(out_h5, run_attrs, source="extracted", dtype=dtype, extra_attrs=extra,
                       n_crops=prep.n_crops, dim=dim) as writer, \
            tqdm(total=expected, unit="clip", desc=f"shard {shard_index}/{num_shards}",
                 mininterval=5.0, dynamic_ncols=True) as bar, torch.inference_mode():
        streaming = time.perf_counter()  # the per-clip path starts: decode, encode, write
        # On CPU the encoder already keeps every core busy: decoder threads beyond the one
        # reading thread would only contend with it. A GPU leaves the cores to decoding.
        streamed = stream_rows(
            rows, batch_size, encode=encode,
            write=lambda row, done, feats: _write_video(writer, row, done, feats),
            on_bad_video=on_bad_video, transform_factory=prep.frame_resizer,
            decode_threads=threads if dev.type == "cuda" else 1, progress=bar.update, log=log)
        streaming = time.perf_counter() - streaming
        clips, skipped = streamed.snippets, streamed.skipped
        writer.set_meta(SHARD_META, {"index": shard_index, "num_shards": num_shards,
                                     "assigned": rows["video_id"].tolist(), "skipped": skipped})
    if skipped_csv is not None:
        write_skipped(skipped_csv, skipped)
    seconds = time.perf_counter() - started
    log.info("shard %d/%d: %d videos, %d clips, %d skipped in %.1f s (%.1f s setup; %.2f "
             "clips/s while streaming, encoder busy %.0f%% of that time)", shard_index,
             num_shards, len(writer.videos), clips, len(skipped), seconds, seconds - streaming,
             clips / max(streaming, 1e-9), 100 * encoding / max(streaming, 1e-9))
    return {"videos": len(writer.videos), "clips": clips, "skipped": len(skipped),
            "seconds": seconds, "streaming_seconds": streaming, "encoder_seconds": encoding}


def _write_video(writer: FeatureWriter, row, event: VideoDone, feats: list[np.ndarray]) -> None:
    frame_count, fps = indexed_frames(row, event, log)
    writer.add(row.video_id, np.stack(feats), fps=fps, frame_count=frame_count,
               n_frames_decoded=event.frames_decoded)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.steps.extract_shard",
        description="Extract snippet features (16-frame clips) of one shard of a dataset's "
        "videos with an encoder (gather_features merges the shards).")
    parser.add_argument("--videos", required=True, help="dataset index videos.csv")
    parser.add_argument("--encoder", required=True,
                        help="encoder file in the workflow's mist-encoder-v1 format")
    parser.add_argument("--out", required=True, help="output shard feature file (.h5)")
    parser.add_argument("--shard-index", type=int, default=0,
                        help="this shard, 0-based (default 0)")
    parser.add_argument("--num-shards", type=int, default=1, help="number of shards (default 1)")
    parser.add_argument("--crop-mode", choices=list(CROP_MODES), default="center",
                        help="center: one centre crop; ten: 4 corners + centre and their mirror "
                        "images, torchvision TenCrop order (default center)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="crop side in pixels; the resize scales with it (default I3D 224, "
                        "C3D 112)")
    parser.add_argument("--feature", default="default",
                        help="default (I3D: feature = pooled Mixed_5c, 1024-d; C3D: fc6, 4096-d) "
                        "or a kind name: feature, fc6 (C3D only; needs --input-size 112)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="snippets per encoder call, each giving one clip per crop (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--on-bad-video", choices=ON_BAD_VIDEO, default="error",
                        help="error: stop at an unreadable video; skip: leave it out and list it "
                        "in --skipped-out (default error)")
    parser.add_argument("--skipped-out", help="CSV of the skipped videos of this shard")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--dtype", choices=DTYPES, default="float16",
                        help="storage type of the features (default float16)")
    args = parser.parse_args(argv)
    if args.num_shards < 1 or not 0 <= args.shard_index < args.num_shards:
        parser.error(f"need 0 <= --shard-index < --num-shards; got {args.shard_index} "
                     f"and {args.num_shards}")
    if args.batch_size < 1 or args.threads < 1:
        parser.error("--batch-size and --threads must be >= 1")
    extract_shard(args.videos, args.encoder, args.out, shard_index=args.shard_index,
                  num_shards=args.num_shards, crop_mode=args.crop_mode,
                  input_size=args.input_size, feature=args.feature,
                  batch_size=args.batch_size, threads=args.threads,
                  on_bad_video=args.on_bad_video, skipped_csv=args.skipped_out,
                  device=args.device, dtype=args.dtype)


if __name__ == "__main__":
    run_cli(main)
