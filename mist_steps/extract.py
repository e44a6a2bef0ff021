"""Step: snippet features of every video with an encoder, in shards, then gathered into one file.

``shard``: the videos of ``videos.csv`` (all splits), sorted by video_id, are dealt round-robin
(the i-th video goes to shard ``i % num_shards``); one shard's videos are decoded in a
background thread into non-overlapping 16-frame snippets, preprocessed as the encoder's public
checkpoints expect (:mod:`mist_steps.preprocess`) and encoded in fixed-size batches.
``gather``: merges the shard files into the one feature file (:mod:`mist_steps.features_io`)
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

    python -m mist_steps.extract shard --videos videos.csv --encoder enc.pt --out shard0.h5 \\
        --shard-index 0 --num-shards 2 [--crop-mode center|ten] [--input-size 64] ...
    python -m mist_steps.extract gather --out features.h5 --skipped-out skipped.csv \\
        [--shard-skipped s0.csv s1.csv] -- shard0.h5 shard1.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mist_steps.devices import resolve_device
from mist_steps.encoders import load_encoder, weights_sha256
from mist_steps.errors import InputError, run_cli
from mist_steps.features_io import (
    DTYPES,
    RUN_ATTRS,
    FeatureFile,
    FeatureWriter,
    read_skipped,
    write_skipped,
)
from mist_steps.preprocess import CROP_MODES, Preprocess
from mist_steps.snippet_stream import (
    ON_BAD_VIDEO,
    check_on_bad_video,
    expected_snippets,
    indexed_frames,
    stream_rows,
)
from mist_steps.video import SnippetBatch, VideoDone, read_video_table

log = logging.getLogger("mist_steps.extract")

# Vector features a step can store: name → encoders offering it. "default" picks the protocol's.
FEATURES = {"i3d": ("feature",), "c3d": ("fc6", "feature")}
DEFAULT_FEATURE = {"i3d": "feature", "c3d": "fc6"}
SHARD_META = "shard"
# Root attributes a writer sets itself; the rest of a shard's root attributes carry over.
_OWN_ATTRS = {"format", "snippet_len", "dtype", "source", "n_crops", "dim", "n_videos",
              *RUN_ATTRS}


def shard_of(position: int, num_shards: int) -> int:
    """Shard of the video at ``position`` in the index sorted by video_id."""
    return position % num_shards


def resolve_feature(arch: str, feature: str, crop: int, encoder_path) -> str:
    """The feature kind to store for ``feature`` ('default' or a kind name)."""
    kind = DEFAULT_FEATURE[arch] if feature == "default" else feature
    if kind not in FEATURES[arch]:
        raise InputError(f"feature {feature!r} is not available for the {arch} encoder "
                         f"{encoder_path}; choose 'default' or one of {list(FEATURES[arch])}")
    if kind == "fc6" and crop != 112:
        raise InputError(f"C3D fc6 features need 112-pixel crops (the dense fc6 layer is sized "
                         f"for them) but input_size is {crop}; set input_size to 112 or "
                         f"feature to 'feature' (pooled conv5b, 512-d)")
    return kind


def _check_args(shard_index, num_shards, crop_mode, batch_size, threads, on_bad_video, dtype):
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"need 0 <= shard_index < num_shards; got {shard_index} of {num_shards}")
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop_mode must be one of {list(CROP_MODES)}; got {crop_mode!r}")
    if batch_size < 1 or threads < 1:
        raise ValueError(f"batch_size and threads must be >= 1; got {batch_size}, {threads}")
    check_on_bad_video(on_bad_video)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}; got {dtype!r}")


def extract_shard(videos_csv, encoder_path, out_h5, *, shard_index: int = 0, num_shards: int = 1,
                  crop_mode: str = "center", input_size: int | None = None,
                  feature: str = "default", batch_size: int = 8, threads: int = 2,
                  on_bad_video: str = "error", skipped_csv=None, device: str = "cpu",
                  dtype: str = "float16") -> dict:
    """Extract the features of shard ``shard_index`` of ``num_shards`` into ``out_h5``.

    ``encoder_path``: a ``mist-encoder-v1`` file (:func:`mist_steps.encoders.save_encoder`).
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


# -- gather -------------------------------------------------------------------------------------
def _shard_doc(f: FeatureFile) -> dict:
    doc = f.meta(SHARD_META)
    if not isinstance(doc, dict) or not {"index", "num_shards", "assigned", "skipped"} <= set(doc):
        raise InputError(f"{f.path}: not a shard file of the extraction step (no shard "
                         f"record); gather only merges files written by `extract shard`")
    return doc


def gather(shard_paths: Sequence, out_h5, skipped_csvs: Sequence | None = None,
           out_skipped_csv=None) -> dict:
    """Merge shard files into ``out_h5`` and the skipped rows into ``out_skipped_csv``.

    Checks: shard indices 0..n-1 each present once with the same ``num_shards`` = number of
    files; the same encoder, weights, crop mode, input size, feature, dtype and shape in all;
    no video in two shards; each shard holds exactly its assigned videos less its skipped ones.
    ``skipped_csvs`` (optional, any order): the shards' skipped CSVs, checked against the
    skipped lists recorded in the shard files. Returns a summary dict.
    """
    if not shard_paths:
        raise InputError("gather needs at least one shard file")
    files = [FeatureFile(p) for p in shard_paths]
    try:
        return _gather(files, out_h5, skipped_csvs, out_skipped_csv)
    finally:
        for f in files:
            f.close()


def _gather(files: list[FeatureFile], out_h5, skipped_csvs, out_skipped_csv) -> dict:
    docs = [_shard_doc(f) for f in files]
    n = len(files)
    by_index: dict[int, Path] = {}
    for f, doc in zip(files, docs):
        if doc["num_shards"] != n:
            raise InputError(f"{f.path}: shard {doc['index']} of {doc['num_shards']}, but {n} "
                             f"shard file(s) were given; pass all shards of one run")
        if doc["index"] in by_index:
            raise InputError(f"{f.path} and {by_index[doc['index']]} are both shard "
                             f"{doc['index']}; pass each shard once")
        by_index[doc["index"]] = f.path

    first = files[0].attrs()
    keys = (*RUN_ATTRS, "dtype", "n_crops", "dim")
    for f in files[1:]:
        attrs = f.attrs()
        diff = [k for k in keys if attrs.get(k) != first.get(k)]
        if diff:
            raise InputError(f"{f.path} and {files[0].path} differ in {diff}; all shards must "
                             f"come from one extraction run (re-run the odd ones)")

    owner: dict[str, Path] = {}
    skipped: list[dict] = []
    for f, doc in zip(files, docs):
        for video_id in doc["assigned"]:
            if video_id in owner:
                raise InputError(f"video {video_id} is assigned to both {owner[video_id]} and "
                                 f"{f.path}; the shards come from different video lists")
            owner[video_id] = f.path
        skipped_ids = {row["video_id"] for row in doc["skipped"]}
        want, have = set(doc["assigned"]) - skipped_ids, set(f.videos())
        if want != have:
            raise InputError(f"{f.path}: holds {len(have)} videos but {len(want)} were assigned "
                             f"and not skipped (missing {sorted(want - have)[:5]}, unexpected "
                             f"{sorted(have - want)[:5]}); re-run this shard")
        skipped.extend(doc["skipped"])

    if skipped_csvs is not None:
        listed = sorted(row["video_id"] for p in skipped_csvs for row in read_skipped(p))
        recorded = sorted(row["video_id"] for row in skipped)
        if listed != recorded:
            raise InputError(f"the skipped CSVs {[str(p) for p in skipped_csvs]} list "
                             f"{len(listed)} videos but the shard files record {len(recorded)} "
                             f"skipped; pass the CSVs of these shards")

    extra = {k: v for k, v in first.items() if k not in _OWN_ATTRS}
    source_of = {video_id: f for f in files for video_id in f.videos()}
    with FeatureWriter(out_h5, {k: first[k] for k in RUN_ATTRS}, source=first["source"],
                       dtype=first["dtype"], extra_attrs=extra, n_crops=first.get("n_crops"),
                       dim=first.get("dim")) as writer:
        for video_id in sorted(source_of):
            writer.copy_from(source_of[video_id].h5, video_id)
        writer.set_meta("skipped", sorted(skipped, key=lambda r: r["video_id"]))
    if out_skipped_csv is not None:
        write_skipped(out_skipped_csv, skipped)
    log.info("gathered %d shard(s): %d videos with features, %d skipped -> %s", n,
             len(source_of), len(skipped), out_h5)
    return {"videos": len(source_of), "skipped": len(skipped)}


# -- command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.extract",
        description="Extract snippet features (16-frame clips) of a dataset's videos with an "
        "encoder, one shard at a time, then gather the shards into one HDF5 feature file.")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("shard", help="extract the features of one shard of the videos")
    s.add_argument("--videos", required=True, help="dataset index videos.csv")
    s.add_argument("--encoder", required=True,
                   help="encoder file in the workflow's mist-encoder-v1 format")
    s.add_argument("--out", required=True, help="output shard feature file (.h5)")
    s.add_argument("--shard-index", type=int, default=0, help="this shard, 0-based (default 0)")
    s.add_argument("--num-shards", type=int, default=1, help="number of shards (default 1)")
    s.add_argument("--crop-mode", choices=list(CROP_MODES), default="center",
                   help="center: one centre crop; ten: 4 corners + centre and their mirror "
                   "images, torchvision TenCrop order (default center)")
    s.add_argument("--input-size", type=int, default=None,
                   help="crop side in pixels; the resize scales with it (default I3D 224, C3D 112)")
    s.add_argument("--feature", default="default",
                   help="default (I3D: feature = pooled Mixed_5c, 1024-d; C3D: fc6, 4096-d) or "
                   "a kind name: feature, fc6 (C3D only; needs --input-size 112)")
    s.add_argument("--batch-size", type=int, default=8,
                   help="snippets per encoder call, each giving one clip per crop (default 8)")
    s.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    s.add_argument("--on-bad-video", choices=ON_BAD_VIDEO, default="error",
                   help="error: stop at an unreadable video; skip: leave it out and list it "
                   "in --skipped-out (default error)")
    s.add_argument("--skipped-out", help="CSV of the skipped videos of this shard")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    s.add_argument("--dtype", choices=DTYPES, default="float16",
                   help="storage type of the features (default float16)")

    g = sub.add_parser("gather", help="merge shard files into one feature file")
    g.add_argument("--out", required=True, help="output feature file (.h5)")
    g.add_argument("--skipped-out", required=True,
                   help="output CSV of all skipped videos (header only when none)")
    g.add_argument("--shard-skipped", nargs="+", action="extend", default=None, metavar="CSV",
                   help="the shards' skipped CSVs (any order), checked against the shard "
                   "files; put the shard files before this option or after `--`")
    g.add_argument("shards", nargs="+", metavar="SHARD", help="shard feature files")

    args = parser.parse_args(argv)
    if args.command == "shard":
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
    else:
        gather(args.shards, args.out, args.shard_skipped, args.skipped_out)


if __name__ == "__main__":
    run_cli(main)
