"""Step: import precomputed snippet features (``.npy`` downloads) into the workflow's feature file.

For users who have the public features of a dataset but not its videos: the result has the
layout :mod:`mist_steps.extract` writes (:mod:`mist_steps.features_io`), so the MIL stages run
on it unchanged. Accepted layouts, found recursively under the given folders:

* one file per video, RTFM / DeepMIL style: ``<video>_i3d.npy`` (or ``<video>_c3d.npy``,
  ``<video>_<encoder>.npy``, ``<video>.npy``) of shape ``[T, n_crops, D]`` (10-crop), or
  ``[T, D]`` (stored as one crop);
* one file per crop: ``<video>__<k>.npy`` for k = 0..K-1, each ``[T, D]`` (crop k of the
  stored array, e.g. XD-Violence's ``__0`` .. ``__4``).

File names are matched to the ``video_id`` column of ``videos.csv`` after removing those
suffixes; files of other videos are ignored (and counted in the log). A listed video without a
file is an error naming it, or with ``on_missing="skip"`` a row of the skipped CSV. NaN/inf, a
shape that fits no layout, or crop counts / dimensions that differ between videos are errors
naming the file.

Attributes as extraction writes them, with the encoder, crop mode, input size and feature kind
given as arguments; ``source = "imported"``, and ``source_sha256`` (root: over every imported
file's name and sha256; per video: its own files) records what was imported. Imported features
were not decoded here: ``n_frames_decoded`` is -1.

Command line: ``python -m mist_steps.import_features --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mist_steps import SNIPPET_LEN
from mist_steps.errors import InputError, run_cli
from mist_steps.features_io import DTYPES, FeatureWriter, write_skipped
from mist_steps.preprocess import CROP_MODES, DEFAULT_INPUT_SIZE
from mist_steps.video import read_video_table

log = logging.getLogger("mist_steps.import_features")

ON_MISSING = ("error", "skip")
MAX_CROPS = 10
_PER_CROP = re.compile(r"^(?P<video>.+)__(?P<crop>\d+)$")
_LIST = 5  # names shown in messages


def _whole_candidates(stem: str, encoder: str) -> list[str]:
    """Video ids a per-video file stem may stand for, most literal first."""
    out = [stem]
    for suffix in dict.fromkeys((f"_{encoder}", "_i3d", "_c3d")):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            out.append(stem[: -len(suffix)])
    return out


def find_feature_files(folders: Sequence, video_ids, encoder: str) -> tuple[dict, list[Path]]:
    """Match ``.npy`` files under ``folders`` to ``video_ids``.

    Returns ``({video_id: [path] (one file) or {crop: path} (per crop)}, unmatched files)``.
    """
    ids = set(video_ids)
    found: dict[str, list[Path] | dict[int, Path]] = {}
    unmatched: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: feature folder not found; point the import at the "
                             f"folder(s) holding the downloaded .npy files")
        for path in sorted(folder.rglob("*.npy")):
            m = _PER_CROP.match(path.stem)
            if m and m["video"] in ids:
                video, crop = m["video"], int(m["crop"])
                entry = found.setdefault(video, {})
                if not isinstance(entry, dict):
                    raise InputError(f"{path}: video {video} has both a per-crop file and a "
                                     f"whole-video file ({entry[0]}); keep one layout")
                if crop in entry:
                    raise InputError(f"{path} and {entry[crop]}: two files for crop {crop} of "
                                     f"video {video}; remove one")
                entry[crop] = path
                continue
            video = next((c for c in _whole_candidates(path.stem, encoder) if c in ids), None)
            if video is None:
                unmatched.append(path)
                continue
            if video in found:
                other = found[video]
                first = other[0] if isinstance(other, list) else next(iter(other.values()))
                raise InputError(f"{path} and {first}: two feature files for video {video}; "
                                 f"remove one")
            found[video] = [path]
    return found, unmatched


def _load(path: Path, digest) -> np.ndarray:
    """Read one .npy file as float32, checked finite; its name and sha256 go into ``digest``."""
    data = path.read_bytes()
    digest.update(f"{path.name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable .npy array ({err}); download it again") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{path}: holds {getattr(array, 'dtype', type(array))}, not numbers")
    array = array.astype(np.float32, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(f"{path}: {int(bad.sum())} NaN/inf value(s) in the features; "
                         f"download the file again or leave the video out")
    return array


def load_video_features(files, digest) -> np.ndarray:
    """The ``[T, n_crops, D]`` array of one video from its file(s) (see the module docstring)."""
    if isinstance(files, list):
        path = files[0]
        array = _load(path, digest)
        if array.ndim == 2:
            array = array[:, None, :]
        elif array.ndim != 3:
            raise InputError(f"{path}: shape {array.shape}; expected [T, crops, D] or [T, D]")
        elif array.shape[1] > MAX_CROPS:
            raise InputError(f"{path}: shape {array.shape} has {array.shape[1]} crops (at most "
                             f"{MAX_CROPS} expected); if it is stored [crops, T, D], transpose "
                             f"it to [T, crops, D]")
    else:
        crops = sorted(files)
        if crops != list(range(len(crops))):
            missing = sorted(set(range(max(crops) + 1)) - set(crops))
            example = files[crops[0]]
            raise InputError(f"{example}: per-crop files must be numbered __0 .. __K-1; crop(s) "
                             f"{missing} missing beside it")
        parts = []
        for k in crops:
            part = _load(files[k], digest)
            if part.ndim != 2:
                raise InputError(f"{files[k]}: shape {part.shape}; a per-crop file is [T, D]")
            if parts and part.shape != parts[0].shape:
                raise InputError(f"{files[k]}: shape {part.shape} differs from crop 0 "
                                 f"{parts[0].shape}; all crops of a video must match")
            parts.append(part)
        array = np.stack(parts, axis=1)
        path = files[0]
    if array.shape[0] < 1 or array.shape[2] < 1:
        raise InputError(f"{path}: empty features, shape {array.shape}")
    return array


def import_features(videos_csv, feature_dirs, out_h5, *, encoder: str, crop_mode: str,
                    input_size: int | None = None, feature: str = "feature",
                    on_missing: str = "error", skipped_csv=None, dtype: str = "float16",
                    weights_sha256: str | None = None) -> dict:
    """Import the ``.npy`` features under ``feature_dirs`` (a folder or a list of folders) for
    the videos of ``videos_csv`` into ``out_h5``.

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
    found, unmatched = find_feature_files(folders, table["video_id"], encoder)
    if unmatched:
        log.warning("%d .npy file(s) match no video of %s and are ignored, e.g. %s",
                    len(unmatched), videos_csv, [p.name for p in unmatched[:_LIST]])

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
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.import_features",
        description="Import downloaded snippet features (.npy, RTFM/DeepMIL layouts "
        "<video>_i3d.npy [T, crops, D] or [T, D], or <video>__<k>.npy per crop) for the "
        "videos of a dataset index into the workflow's HDF5 feature file.")
    parser.add_argument("--videos", required=True, help="dataset index videos.csv")
    parser.add_argument("--features", required=True, nargs="+", metavar="DIR",
                        help="folder(s) searched recursively for the .npy files")
    parser.add_argument("--out", required=True, help="output feature file (.h5)")
    parser.add_argument("--encoder", required=True,
                        help="encoder the features come from, e.g. i3d or c3d (recorded)")
    parser.add_argument("--crop-mode", required=True, choices=list(CROP_MODES),
                        help="center (1 crop per clip) or ten (10 crops)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="crop side they were made at (default 224 for i3d, 112 for c3d)")
    parser.add_argument("--feature", default="feature",
                        help="feature kind recorded (default feature; e.g. fc6 for C3D)")
    parser.add_argument("--weights-sha256", default=None,
                        help="checksum of the weights they were made with, if known")
    parser.add_argument("--on-missing", choices=ON_MISSING, default="error",
                        help="error: stop if a video has no file; skip: list it in "
                        "--skipped-out (default error)")
    parser.add_argument("--skipped-out", help="CSV of the videos left out")
    parser.add_argument("--dtype", choices=DTYPES, default="float16",
                        help="storage type (default float16)")
    args = parser.parse_args(argv)
    import_features(args.videos, args.features, args.out, encoder=args.encoder,
                    crop_mode=args.crop_mode, input_size=args.input_size, feature=args.feature,
                    on_missing=args.on_missing, skipped_csv=args.skipped_out, dtype=args.dtype,
                    weights_sha256=args.weights_sha256)


if __name__ == "__main__":
    run_cli(main)
