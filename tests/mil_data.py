"""Tiny synthetic MIL datasets for the stage-I tests: a videos.csv, a feature file and a
ground truth, where abnormal videos carry a planted signal on a few consecutive clips."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mist_steps import SNIPPET_LEN
from mist_steps.formats.features import FeatureWriter

RUN_ATTRS = {"encoder": "test", "weights_sha256": "0" * 64, "crop_mode": "center",
             "input_size": 64, "feature": "feature"}
CLASSES = ("Fighting", "Running")


@dataclass
class SynthMIL:
    videos_csv: Path
    features: Path
    ground_truth: Path
    anomaly: dict = field(default_factory=dict)  # abnormal video -> planted clips [start, end)
    n_clips: dict = field(default_factory=dict)


def make_mil_dataset(folder: Path, *, train_normal=16, train_abnormal=16, test_normal=6,
                     test_abnormal=6, dim=16, n_crops=1, clips=(24, 48), strength=3.0,
                     seed=0, skipped=(), dtype="float32", lengths=None) -> SynthMIL:
    """Gaussian clip features; in abnormal videos a run of 2-6 clips is shifted by
    ``strength`` along one fixed unit direction. ``skipped``: video ids left out of the
    feature file and listed in its skipped meta. ``lengths``: video id -> clip count, overriding
    the random draw."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    folder.mkdir(parents=True, exist_ok=True)
    data = SynthMIL(folder / "videos.csv", folder / "features.h5", folder / "ground_truth.h5")
    rows, feats, labels = [], {}, {}
    plan = ([("train", 0)] * train_normal + [("train", 1)] * train_abnormal
            + [("test", 0)] * test_normal + [("test", 1)] * test_abnormal)
    for i, (split, label) in enumerate(plan):
        vid = f"{split}_{'abn' if label else 'nor'}_{i:03d}"
        n = int(rng.integers(clips[0], clips[1] + 1))
        n = (lengths or {}).get(vid, n)
        x = rng.normal(size=(n, n_crops, dim)).astype(np.float32)
        gt = np.zeros(n * SNIPPET_LEN, dtype=np.uint8)
        cls = "Normal"
        if label:
            cls = CLASSES[i % len(CLASSES)]
            length = min(n, int(rng.integers(2, 7)))
            start = int(rng.integers(0, n - length + 1))
            x[start:start + length] += strength * direction.astype(np.float32)
            gt[start * SNIPPET_LEN:(start + length) * SNIPPET_LEN] = 1
            data.anomaly[vid] = (start, start + length)
        frame_count = n * SNIPPET_LEN + int(rng.integers(0, SNIPPET_LEN))
        rows.append({"video_id": vid, "path": f"/nowhere/{vid}.mp4", "split": split,
                     "label": label, "class": cls, "frame_count": frame_count, "fps": 25.0})
        data.n_clips[vid] = n
        feats[vid] = (x, frame_count)
        if split == "test":
            labels[vid] = (gt, cls, label, frame_count)
    pd.DataFrame(rows).sort_values(["split", "video_id"]).to_csv(data.videos_csv, index=False)
    with FeatureWriter(data.features, RUN_ATTRS, dtype=dtype) as w:
        for vid, (x, frame_count) in sorted(feats.items()):
            if vid not in skipped:
                w.add(vid, x, fps=25.0, frame_count=frame_count, n_frames_decoded=frame_count)
        w.set_meta("skipped", [{"video_id": v, "path": "", "split": "", "reason": "unreadable"}
                               for v in skipped])
    write_ground_truth(data.ground_truth, labels)
    return data


def write_ground_truth(path: Path, labels: dict) -> None:
    """``labels``: video -> (frame labels, class, label, frame_count)."""
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "synth"
        h5.attrs["snippet_len"] = SNIPPET_LEN
        group = h5.create_group("labels")
        for vid, (gt, cls, label, frame_count) in labels.items():
            ds = group.create_dataset(vid, data=gt, dtype=np.uint8)
            ds.attrs["class"] = cls
            ds.attrs["label"] = label
            ds.attrs["frame_count"] = frame_count
