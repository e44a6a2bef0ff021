"""Step: index a dataset into ``videos.csv`` (one row per video) and ``ground_truth.h5``.

Formats and the layout expected under the dataset root:

* ``ucf_crime`` (and ``synth``, the workflow's generated stand-in, laid out the same way):
  training videos at ``root/<line of Anomaly_Train.txt>`` (class folders plus
  ``Training_Normal_Videos_Anomaly/``); test videos of the temporal annotation file at
  ``root/<Class>/<name>``, normal ones at ``root/Testing_Normal_Videos_Anomaly/<name>``.
* ``xd_violence`` (XD-Violence): ``root/train/<video>.mp4`` and ``root/test/<video>.mp4``, the
  videos of the split lists (its feature lists ``rgb.list`` / ``rgb_test.list`` or lists of
  ``.mp4`` names), labels from the names, test intervals from ``annotations.txt``
  (:mod:`mist_steps.data.xd_violence`).
* ``shanghaitech`` (official ShanghaiTech Campus download, weakly supervised split of
  Zhong et al. 2019): every normal video (label 0, either split) is an original training video
  ``root/training/videos/<name>.avi``; every abnormal one (label 1) an original test frame
  folder ``root/testing/frames/<name>/``. Test ground truth comes from the per-frame masks.

``videos.csv`` columns: ``video_id, path, split, label, class, frame_count, fps``, sorted by
split then video_id. ``ground_truth.h5``: root attributes ``format`` and ``snippet_len``; group
``labels`` with one uint8 dataset per test video (named by video_id) of length
``(frame_count // 16) * 16``, with attributes ``class``, ``label``, ``frame_count``.

Command line: ``python -m mist_steps.steps.index_dataset --help``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.annotations import (
    frame_labels_from_mask,
    frame_labels_ucf,
    load_sht_mask,
    usable_length,
)
from mist_steps.data.dataset_plan import (
    CSV_COLUMNS,
    FORMATS,
    missing_dataset_message,
    plan_videos,
    require_input,
)
from mist_steps.data.feature_files import (
    clip_count,
    find_feature_files,
    find_listed_files,
)
from mist_steps.data.video import probe
from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path

log = logging.getLogger(__name__)


def _probe_all(planned, root: Path, frames_fps, on_bad_video: str = "error"):
    """Frame counts and rates of the planned videos; with ``on_bad_video="skip"`` an
    unreadable one gets -1 and NaN (and a warning) instead of stopping the indexing."""
    counts, fpss = [], []
    for i, p in enumerate(planned, start=1):
        try:
            n, fps = probe(root / p.relpath, fps_for_frames=frames_fps)
        except InputError as err:
            if on_bad_video != "skip":
                raise InputError(f"{err}. To index the dataset without such videos (later "
                                 f"steps list them as skipped), pass --on-bad-video skip") from None
            log.warning("video %s unreadable, indexed with frame count -1 (the feature step "
                        "will list it as skipped): %s", p.video_id, err)
            n, fps = -1, None
        counts.append(n)
        fpss.append(math.nan if fps is None else fps)
        if i % 200 == 0:
            log.info("probed %d/%d videos", i, len(planned))
    return counts, fpss


def index_dataset(fmt: str, out_videos_csv, out_ground_truth_h5, *, root, train_list,
                  test_annotations=None, test_list=None, masks=None, frames_fps=None,
                  check_videos=True, on_bad_video: str = "error", feature_dirs=None,
                  feature_lists=None) -> pd.DataFrame:
    """Index a dataset: write ``videos.csv`` and ``ground_truth.h5``; return the table.

    ``fmt``: 'ucf_crime' / 'synth' (``train_list`` = Anomaly_Train.txt style,
    ``test_annotations`` = temporal annotation file, 6- or 7-field) or 'shanghaitech'
    (``train_list`` = SH_Train_new.txt, ``test_list`` = SH_Test_NEW.txt, ``masks`` =
    test_frame_mask folder). ``frames_fps``: frame rate recorded for frame folders (NaN if
    None). ``check_videos=False`` opens no video: frame counts come from the annotation files
    (UCF 7-field form, SH_Test_NEW.txt, mask lengths; -1 where unknown) and fps is NaN.
    With ``check_videos=False`` and ``feature_dirs`` (folders of the dataset's precomputed
    features; ``feature_lists``: exactly the files of those list files), a video the
    annotation files give no frame count for takes 16 x its clip count in the features, as
    XD-Violence's ``make_gt.py`` sizes its ground truth.
    ``on_bad_video``: "error" stops at a video that cannot be opened (naming it); "skip"
    indexes it with frame count -1, and a test video of that kind gets no ground truth (the
    evaluation excludes it as skipped). A missing video is always an error.
    """
    if on_bad_video not in ("error", "skip"):
        raise ValueError(f"on_bad_video must be 'error' or 'skip'; got {on_bad_video!r}")
    root = Path(root)
    planned = plan_videos(fmt, train_list, test_annotations, test_list)
    if fmt == "shanghaitech":
        masks = require_input(masks, "the frame mask folder (--masks)", fmt)
    mask_of = {p.video_id: load_sht_mask(masks, p.video_id) for p in planned if p.needs_mask}

    counts, fpss = _frame_counts(planned, fmt, root, mask_of, check_videos=check_videos,
                                 frames_fps=frames_fps, on_bad_video=on_bad_video)
    from_features = set()
    if not check_videos and feature_dirs:
        from_features = _counts_from_features(planned, counts, feature_dirs, feature_lists)
    labels = _test_labels(planned, counts, fmt, root, mask_of, masks=masks,
                          test_annotations=test_annotations, check_videos=check_videos,
                          from_features=from_features)

    table = pd.DataFrame(
        {
            "video_id": [p.video_id for p in planned],
            "path": [str(root / p.relpath) for p in planned],
            "split": [p.split for p in planned],
            "label": [p.label for p in planned],
            "class": [p.class_name for p in planned],
            "frame_count": counts,
            "fps": fpss,
        },
        columns=CSV_COLUMNS,
    ).sort_values(["split", "video_id"], ignore_index=True)
    by_id = table.set_index("video_id")

    _write_ground_truth(out_ground_truth_h5, fmt, labels, by_id)
    with atomic_path(out_videos_csv) as tmp:
        table.to_csv(tmp, index=False)

    _log_summary(table, labels)
    return table


def _frame_counts(planned: list, fmt: str, root: Path, mask_of: dict, *, check_videos: bool,
                  frames_fps, on_bad_video: str) -> tuple[list[int], list[float]]:
    """Frame count and fps per planned video: probed from the videos, or (``check_videos``
    False) from the annotation files and masks, -1 and NaN where they give none."""
    if check_videos:
        missing = sorted(root / p.relpath for p in planned if not (root / p.relpath).exists())
        if missing:
            raise InputError(missing_dataset_message(fmt, fmt, root, missing, "--root", len(planned)))
        return _probe_all(planned, root, frames_fps, on_bad_video)
    counts = [p.listed_frames or (len(mask_of[p.video_id]) if p.needs_mask else -1)
              for p in planned]
    return counts, [math.nan] * len(planned)


def _counts_from_features(planned: list, counts: list[int], feature_dirs, feature_lists) -> set:
    """Fill the unknown (-1) frame counts in place with 16 x the clips of each video's
    features; return the ids so filled (a video without features keeps -1)."""
    dirs = [feature_dirs] if isinstance(feature_dirs, str | Path) else list(feature_dirs)
    ids = [p.video_id for p in planned]
    # The encoder name only adds a file-name suffix to strip; _i3d/_c3d/_rgb are tried anyway.
    if feature_lists:
        found = find_listed_files(feature_lists, dirs, ids, "i3d")
    else:
        found, _ = find_feature_files(dirs, ids, "i3d")
    filled = set()
    for i, p in enumerate(planned):
        if counts[i] < 0 and p.video_id in found:
            counts[i] = clip_count(found[p.video_id]) * SNIPPET_LEN
            filled.add(p.video_id)
    log.info("frame counts of %d video(s) from their features (16 per clip)", len(filled))
    return filled


def _test_labels(planned: list, counts: list[int], fmt: str, root: Path, mask_of: dict, *,
                 masks, test_annotations, check_videos: bool,
                 from_features: set = frozenset()) -> dict[str, np.ndarray]:
    """The per-frame labels of the test videos (none for an unreadable one, skipped)."""
    labels: dict[str, np.ndarray] = {}
    for p, n in zip(planned, counts):
        if p.listed_frames is not None and p.listed_frames != n and n > 0:
            log.warning("%s: %d frames in the video, %d in the annotation file; using %d",
                        p.video_id, n, p.listed_frames, n)
        if p.split != "test":
            continue
        if n <= 0 and check_videos:  # unreadable, indexed under on_bad_video="skip"
            log.warning("test video %s: no ground truth (unreadable video)", p.video_id)
            continue
        if n <= 0:
            raise InputError(
                f"test video {p.video_id}: frame count unknown; the annotation file gives none, "
                f"so index with the videos present (check_videos) or a 7-field annotation file"
            )
        if p.needs_mask:
            mask = mask_of[p.video_id]
            if len(mask) != n:
                raise InputError(
                    f"video {p.video_id} ({root / p.relpath}): {n} frames but its mask "
                    f"{Path(masks) / (p.video_id + '.npy')} has {len(mask)}"
                )
            labels[p.video_id] = frame_labels_from_mask(mask)
        elif fmt == "shanghaitech":  # normal test video
            labels[p.video_id] = np.zeros(usable_length(n), dtype=np.uint8)
        else:
            # A count from the features (16 per clip) drops the video's last 0-15 frames,
            # where an interval may still start or end: the real count is up to 15 more.
            slack = SNIPPET_LEN - 1 if p.video_id in from_features else 0
            try:
                labels[p.video_id] = frame_labels_ucf(p.intervals, n + slack, video_id=p.video_id)
            except InputError as err:
                raise InputError(f"{p.where or test_annotations}: {err}; fix that line (or the "
                                 f"video {root / p.relpath})") from None
    return labels


def _write_ground_truth(path, fmt: str, labels: dict[str, np.ndarray], by_id: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = fmt
            h5.attrs["snippet_len"] = SNIPPET_LEN
            group = h5.create_group("labels")
            for video_id in sorted(labels):
                ds = group.create_dataset(video_id, data=labels[video_id], dtype=np.uint8)
                ds.attrs["class"] = by_id.at[video_id, "class"]
                ds.attrs["label"] = int(by_id.at[video_id, "label"])
                ds.attrs["frame_count"] = int(by_id.at[video_id, "frame_count"])


def _log_summary(table: pd.DataFrame, labels: dict[str, np.ndarray]) -> None:
    for split, rows in table.groupby("split", sort=True):
        n_abn = int((rows["label"] == 1).sum())
        log.info("%s: %d videos (%d normal, %d abnormal)", split, len(rows), len(rows) - n_abn, n_abn)
    frames = sum(len(v) for v in labels.values())
    anomalous = sum(int(v.sum()) for v in labels.values())
    log.info("ground truth: %d test videos, %d scored frames, %d anomalous", len(labels), frames, anomalous)


def main(argv: list[str] | None = None) -> None:
    p = StepParser(index_dataset, "Index a video anomaly dataset: list its videos with split, "
                   "label, class, frame count and fps (videos.csv) and build the per-frame test "
                   "ground truth (ground_truth.h5), truncated to whole 16-frame snippets as the "
                   "MIST evaluation does.")
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt",
                   help="annotation format and folder layout of the dataset")
    p.add_argument("--root", required=True, help="dataset root folder holding the videos")
    p.add_argument("--train-list", required=True,
                   help="training split: Anomaly_Train.txt (ucf_crime/synth), "
                   "SH_Train_new.txt (shanghaitech) or rgb.list (xd_violence)")
    p.add_argument("--test-annotations",
                   help="ucf_crime/synth: Temporal_Anomaly_Annotation(_New).txt, 6 or 7 fields; "
                   "xd_violence: annotations.txt")
    p.add_argument("--test-list", help="shanghaitech: SH_Test_NEW.txt; xd_violence: rgb_test.list")
    p.add_argument("--masks", help="shanghaitech: folder of per-frame test masks <video>.npy")
    p.add_argument("--frames-fps", type=float,
                   help="frame rate to record for JPEG frame folders (default: none, NaN)")
    p.add_argument("--no-check-videos", dest="check_videos", action="store_false",
                   help="open no video; take frame counts from the annotation files")
    p.add_argument("--feature-dirs", nargs="+", metavar="DIR",
                   help="with --no-check-videos: folders of the precomputed features that give "
                   "the frame counts the annotation files do not (16 per clip)")
    p.add_argument("--feature-lists", nargs="+", metavar="LIST",
                   help="with --feature-dirs: exactly the files of these feature lists")
    p.add_argument("--on-bad-video", choices=("error", "skip"),
                   help="error: stop at a video that cannot be opened; skip: index it with "
                   "frame count -1 for the later steps to skip")
    p.add_argument("--out-videos", required=True, help="output videos.csv")
    p.add_argument("--out-ground-truth", required=True, help="output ground_truth.h5")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
