"""Step: import precomputed snippet features (``.npy`` downloads) into the workflow's feature file.

For users who have the public features of a dataset but not its videos: the result has the
layout :mod:`mist_steps.steps.extract_shard` writes (:mod:`mist_steps.formats.features`), so the MIL stages run
on it unchanged. Accepted layouts, found recursively under the given folders:

* one file per video, RTFM / DeepMIL style: ``<video>_i3d.npy`` (or ``<video>_c3d.npy``,
  ``<video>_<encoder>.npy``, ``<video>.npy``) of shape ``[T, n_crops, D]`` (10-crop), or
  ``[T, D]`` (stored as one crop);
* one file per crop: ``<video>__<k>.npy`` for k = 0..K-1, each ``[T, D]`` (crop k of the
  stored array, e.g. XD-Violence's ``__0`` .. ``__4``);
* v-iashin/video_features' ``<video>_rgb.npy`` (as the first layout).

Or, with ``feature_lists``, exactly the files of the community's list files (RTFM
``list/ucf-i3d.list``, ``shanghai-i3d-*-10crop.list``; XD-Violence ``rgb.list``,
``rgb_test.list``): one path a line, Windows or POSIX, each found by its file name in the
given folders (:func:`mist_steps.data.feature_files.find_listed_files`). A listed name that is no
video of ``videos.csv``, or that is not in the folders, is an error naming the list's line.
Features of another encoder (RTFM's 2048-d I3D-ResNet50) import as they are: ``feature``
records what they are, and the generator takes any dimension.

File names are matched to the ``video_id`` column of ``videos.csv`` after removing those
suffixes; files of other videos are ignored (and counted in the log). A listed video without a
file is an error naming it, or with ``on_missing="skip"`` a row of the skipped CSV. NaN/inf, a
shape that fits no layout, or crop counts / dimensions that differ between videos are errors
naming the file.

Attributes as extraction writes them, with the encoder, crop mode, input size and feature kind
given as arguments; ``source = "imported"``, and ``source_sha256`` (root: over every imported
file's name and sha256; per video: its own files) records what was imported. Imported features
were not decoded here: ``n_frames_decoded`` is -1.

Command line: ``python -m mist_steps.steps.import_features --help``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from tqdm import tqdm

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.feature_files import (
    _LIST,
    ON_MISSING,
    find_feature_files,
    find_listed_files,
    load_video_features,
)
from mist_steps.data.preprocess import CROP_MODES, DEFAULT_INPUT_SIZE
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.features import DTYPES, FeatureWriter
from mist_steps.formats.skipped import write_skipped

log = logging.getLogger(__name__)


def _skipped(table, found: dict, folders: list, videos_csv, on_missing: str) -> list[dict]:
    """The skipped-videos rows of the videos without a feature file (or, with on_missing
    "error", the error naming them)."""
    missing = table[~table["video_id"].isin(list(found))]
    where = ", ".join(map(str, folders))
    if len(missing) and on_missing == "error":
        ids = missing["video_id"].tolist()
        raise InputError(
            f"no features for {len(ids)} of {len(table)} videos of {videos_csv} under {where}: "
            f"{ids[:_LIST]}{' ...' if len(ids) > _LIST else ''} (expected e.g. {ids[0]}_i3d.npy "
            f"or {ids[0]}__0.npy). Add the files, or set on_missing: skip (--on-missing skip) "
            f"to leave these videos out and list them in the skipped CSV")
    skipped = [{"video_id": r.video_id, "path": r.path, "split": r.split,
                "reason": f"no precomputed features under {where}"}
               for r in missing.itertuples(index=False)]
    for row in skipped:
        log.warning("skipping video %s: %s", row["video_id"], row["reason"])
    return skipped


def import_features(videos_csv, feature_dirs, out_h5, *, encoder: str, crop_mode: str,
                    input_size: int | None = None, feature: str = "feature",
                    on_missing: str = "error", skipped_csv=None, dtype: str = "float16",
                    weights_sha256: str | None = None, feature_lists=None) -> dict:
    """Import the ``.npy`` features under ``feature_dirs`` (a folder or a list of folders) for
    the videos of ``videos_csv`` into ``out_h5`` - all of them, or with ``feature_lists`` (list
    files) the listed ones (module docstring).

    ``encoder`` / ``crop_mode`` / ``input_size`` / ``feature`` / ``weights_sha256`` describe
    how the features were made and become the file's attributes (``input_size`` defaults to
    224 for i3d, 112 for c3d, -1 = unknown otherwise; ``weights_sha256`` to "unknown").
    ``crop_mode`` 'center' needs 1 crop per clip, 'ten' 10. ``on_missing``: 'error' or 'skip'
    (rows into ``skipped_csv``, written whenever given). Returns a summary dict.
    """
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}; got {on_missing!r}")
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop_mode must be one of {list(CROP_MODES)}; got {crop_mode!r}")
    if not encoder:
        raise ValueError("encoder must be named")
    folders = [feature_dirs] if isinstance(feature_dirs, str | Path) else list(feature_dirs)
    table = read_video_table(videos_csv).sort_values("video_id", ignore_index=True)
    if feature_lists:
        found = find_listed_files(feature_lists, folders, table["video_id"], encoder)
        unmatched = []
    else:
        found, unmatched = find_feature_files(folders, table["video_id"], encoder)
    if unmatched:
        log.warning("%d .npy file(s) match no video of %s and are ignored, e.g. %s",
                    len(unmatched), videos_csv, [p.name for p in unmatched[:_LIST]])

    skipped = _skipped(table, found, folders, videos_csv, on_missing)

    run_attrs = {"encoder": encoder, "weights_sha256": weights_sha256 or "unknown",
                 "crop_mode": crop_mode,
                 "input_size": int(input_size) if input_size is not None
                 else DEFAULT_INPUT_SIZE.get(encoder, -1),
                 "feature": feature}
    n_crops = CROP_MODES[crop_mode]
    total = hashlib.sha256()
    present = table[table["video_id"].isin(list(found))]
    with FeatureWriter(out_h5, run_attrs, source="imported", dtype=dtype,
                       n_crops=n_crops) as writer:
        for row in tqdm(list(present.itertuples(index=False)), unit="video", mininterval=5.0):
            own = hashlib.sha256()
            files = found[row.video_id]
            array = load_video_features(files, own)
            first = files[0] if isinstance(files, list) else files[min(files)]
            if array.shape[1] != n_crops:
                raise InputError(f"{first}: {array.shape[1]} crop(s) per clip, but crop_mode "
                                 f"{crop_mode!r} means {n_crops}; set crop_mode to match")
            if writer.dim is not None and array.shape[2] != writer.dim:
                raise InputError(f"{first}: {array.shape[2]}-d features, but earlier videos "
                                 f"have {writer.dim}; all files must come from one encoder")
            if row.frame_count > 0 and array.shape[0] != row.frame_count // SNIPPET_LEN:
                log.warning("video %s: %d clips in %s, %d frames indexed (%d clips of %d)",
                            row.video_id, array.shape[0], first.name, row.frame_count,
                            row.frame_count // SNIPPET_LEN, SNIPPET_LEN)
            total.update(own.hexdigest().encode())
            writer.add(row.video_id, array, fps=None if math.isnan(row.fps) else row.fps,
                       frame_count=int(row.frame_count), n_frames_decoded=-1,
                       extra_attrs={"source_sha256": own.hexdigest()})
        writer.set_root_attrs({"source_sha256": total.hexdigest()})
        writer.set_meta("skipped", skipped)
    if skipped_csv is not None:
        write_skipped(skipped_csv, skipped)
    log.info("imported %d videos (%d skipped) into %s", len(writer.videos), len(skipped), out_h5)
    return {"videos": len(writer.videos), "skipped": len(skipped),
            "source_sha256": total.hexdigest()}


def main(argv: list[str] | None = None) -> None:
    p = StepParser(import_features, "Import downloaded snippet features (.npy, RTFM/DeepMIL "
                   "layouts <video>_i3d.npy [T, crops, D] or [T, D], or <video>__<k>.npy per "
                   "crop) for the videos of a dataset index into the workflow's HDF5 feature "
                   "file.")
    p.shared("videos")
    p.add_argument("--features", dest="feature_dirs", required=True, nargs="+", metavar="DIR",
                   help="folder(s) searched recursively for the .npy files (with --lists: "
                   "where the listed files are, by name)")
    p.add_argument("--lists", dest="feature_lists", nargs="+", metavar="LIST",
                   help="feature list file(s) (RTFM *.list, XD-Violence rgb.list): import "
                   "exactly the files they name")
    p.add_argument("--out", dest="out_h5", required=True, help="output feature file (.h5)")
    p.add_argument("--encoder", required=True,
                   help="encoder the features come from, e.g. i3d or c3d (recorded)")
    p.add_argument("--crop-mode", required=True, choices=list(CROP_MODES),
                   help="center (1 crop per clip) or ten (10 crops)")
    p.add_argument("--input-size", type=int,
                   help="crop side they were made at (default 224 for i3d, 112 for c3d)")
    p.add_argument("--feature", help="feature kind recorded (e.g. fc6 for C3D)")
    p.add_argument("--weights-sha256", help="checksum of the weights they were made with, if "
                   "known")
    p.add_argument("--on-missing", choices=ON_MISSING,
                   help="error: stop if a video has no file; skip: list it in --skipped-out")
    p.add_argument("--skipped-out", dest="skipped_csv", help="CSV of the videos left out")
    p.add_argument("--dtype", choices=DTYPES, help="storage type")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
