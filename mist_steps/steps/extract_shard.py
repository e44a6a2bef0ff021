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

import json
import logging
import time

import numpy as np
import torch
from tqdm import tqdm

from mist_steps import cpu_kernels
from mist_steps.cli import StepParser, at_least, run_cli
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
    ``crop_mode``: 'center', 'five' or 'ten'; ``input_size``: crop side (None: I3D 224, C3D 112);
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
    rows = table[[shard_of(i, num_shards) == shard_index
                  for i in range(len(table))]].reset_index(drop=True)

    model, meta = load_encoder(encoder_path)
    prep = Preprocess(model.arch, input_size, crop_mode)
    kind = resolve_feature(model.arch, feature, prep.crop, encoder_path)
    dim = model.feature_dim(kind)
    run_attrs = {"encoder": model.arch, "weights_sha256": weights_sha256(model),
                 "crop_mode": crop_mode, "input_size": prep.crop, "feature": kind}
    model, dev = _on_device(model, device, threads)

    expected = expected_snippets(rows)
    log.info("shard %d/%d: %d of %d videos, ~%d clips, %s %s %s-crop %dpx on %s, batch %d, "
             "%d threads", shard_index, num_shards, len(rows), len(table), expected, model.arch,
             kind, crop_mode, prep.crop, dev, batch_size, threads)
    extra = {"encoder_meta": json.dumps(meta, sort_keys=True), "device": dev.type,
             **cpu_kernels.record()}
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


def _on_device(model: torch.nn.Module, device: str, threads: int):
    """The encoder in eval mode on ``device``, and that device."""
    dev = resolve_device(device)
    torch.set_num_threads(threads)
    if dev.type == "cuda":  # same algorithms whatever the batch neighbours
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return model.to(dev).eval(), dev


def _write_video(writer: FeatureWriter, row, event: VideoDone, feats: list[np.ndarray]) -> None:
    frame_count, fps = indexed_frames(row, event, log)
    writer.add(row.video_id, np.stack(feats), fps=fps, frame_count=frame_count,
               n_frames_decoded=event.frames_decoded)


def main(argv: list[str] | None = None) -> None:
    p = StepParser(extract_shard, "Extract snippet features (16-frame clips) of one shard of a "
                   "dataset's videos with an encoder (gather_features merges the shards).")
    p.shared("videos")
    p.add_argument("--encoder", required=True,
                   help="encoder file in the workflow's mist-encoder-v1 format")
    p.add_argument("--out", dest="out_h5", required=True,
                   help="output shard feature file (.h5)")
    p.add_argument("--shard-index", type=at_least(0), help="this shard, 0-based")
    p.add_argument("--num-shards", type=at_least(1), help="number of shards")
    p.add_argument("--crop-mode", choices=list(CROP_MODES),
                   help="center: one centre crop; ten: 4 corners + centre and their mirror "
                   "images, torchvision TenCrop order")
    p.add_argument("--input-size", type=int, help="crop side in pixels; the resize scales "
                   "with it (default I3D 224, C3D 112)")
    p.add_argument("--feature", help="default (I3D: feature = pooled Mixed_5c, 1024-d; C3D: "
                   "fc6, 4096-d) or a kind name: feature, fc6 (C3D only; needs --input-size 112)")
    p.add_argument("--batch-size", type=at_least(1),
                   help="snippets per encoder call, each giving one clip per crop")
    p.shared("threads", "determinism")
    p.add_argument("--on-bad-video", choices=ON_BAD_VIDEO,
                   help="error: stop at an unreadable video; skip: leave it out and list it "
                   "in --skipped-out")
    p.add_argument("--skipped-out", dest="skipped_csv",
                   help="CSV of the skipped videos of this shard")
    p.shared("device")
    p.add_argument("--dtype", choices=DTYPES, help="storage type of the features")
    p.check(lambda a: a.shard_index < a.num_shards, "need --shard-index < --num-shards")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
