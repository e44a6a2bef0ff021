"""Step gather_features: the shard files of extract_shard merged into one feature file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from mist_steps.cli import StepParser, run_cli
from mist_steps.errors import InputError
from mist_steps.formats.features import RUN_ATTRS, FeatureFile, FeatureWriter
from mist_steps.formats.skipped import read_skipped, write_skipped
from mist_steps.inference.extraction import _OWN_ATTRS, _shard_doc

log = logging.getLogger(__name__)


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


def main(argv: list[str] | None = None) -> None:
    p = StepParser(gather, "Merge the shard feature files of extract_shard into one HDF5 "
                   "feature file.", prog="python -m mist_steps.steps.gather_features")
    p.add_argument("--out", dest="out_h5", required=True, help="output feature file (.h5)")
    p.add_argument("--skipped-out", dest="out_skipped_csv", required=True,
                   help="output CSV of all skipped videos (header only when none)")
    p.add_argument("--shard-skipped", dest="skipped_csvs", nargs="+", action="extend",
                   metavar="CSV", help="the shards' skipped CSVs (any order), checked against "
                   "the shard files; put the shard files before this option or after `--`")
    p.add_argument("shard_paths", nargs="+", metavar="SHARD", help="shard feature files")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
