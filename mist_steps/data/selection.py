"""The videos of a split of videos.csv that have features, with their labels and classes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mist_steps.errors import InputError

log = logging.getLogger(__name__)
SPLITS = ("train", "test", "all")


# --------------------------------------------------------------------------- video selection


@dataclass
class VideoSet:
    """Videos of ``videos.csv`` chosen for a stage, with what was left out and why."""
    ids: list[str]
    labels: list[int]
    classes: list[str]
    splits: list[str]
    left_out: list[dict]  # {"video_id", "reason"}


def select_videos(table, feature_file, split: str, *, videos_csv="videos.csv") -> VideoSet:
    """Rows of ``table`` (a checked ``videos.csv``) in ``split`` ('train', 'test' or 'all')
    that have features in the open ``feature_file``. Videos in the features' skipped list, or
    absent from the file, are left out with a log line (the evaluation reports test ones)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    rows = table if split == "all" else table[table["split"] == split]
    bad = rows[~rows["label"].isin([0, 1])]
    if len(bad):
        raise InputError(f"{videos_csv}: label must be 0 or 1; video {bad['video_id'].iloc[0]} "
                         f"has {bad['label'].iloc[0]!r}; rebuild it with the indexing step")
    have = set(feature_file.videos())
    skipped = {r["video_id"]: r.get("reason", "") for r in feature_file.meta("skipped", []) or []}
    chosen = VideoSet([], [], [], [], [])
    for vid, label, cls, vsplit in zip(rows["video_id"], rows["label"], rows["class"],
                                       rows["split"]):
        if vid in have:
            chosen.ids.append(vid)
            chosen.labels.append(int(label))
            chosen.classes.append(str(cls))
            chosen.splits.append(str(vsplit))
            continue
        reason = (f"skipped at feature extraction ({skipped[vid]})" if vid in skipped
                  else "no features in the file")
        chosen.left_out.append({"video_id": vid, "reason": reason})
        log.warning("%s video %s left out: %s (%s)", vsplit, vid, reason, feature_file.path)
    return chosen
