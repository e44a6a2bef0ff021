"""Step: the authors' released pseudo labels as this workflow's pseudo-label file (stage II
without stage I).

Reads a released file (:mod:`mist_steps.formats.official_files`; the official code's
``data/SHT_I3D_PLs.npy`` and ``SHT_C3D_PLs.npy`` are shipped in ``resources/mist_official/``)
and writes the ``mist-pseudo-labels-v1`` layout that :mod:`mist_steps.steps.pseudo_labels`
writes, so fine-tuning and everything after it run unchanged:

* every ABNORMAL training video of ``videos.csv`` must be in the file, with one label per
  16-frame snippet (``frame_count // 16``). One label short is accepted and the last label
  repeated for the missing snippet, as the official ``dataset.py`` does for a clip past the
  end (``score = scores[-1]``): 26 of the 63 abnormal videos of ``SHT_C3D_PLs.npy`` are one
  short (its C3D features cut the last snippet). Any other length, a missing video, or values
  outside [0, 1] stop the step with the file and the fix. The labels are used as released:
  they already are the official smoothing and min-max normalisation of its own stage I.
* NORMAL training videos get label 0 on every snippet (the official ``dataset.py`` ignores
  the file's values for them, as our stage II does).

Output: ``/refined/<video_id>`` as stage II reads it; ``/raw/<video_id>`` the file's values
as released (their own length) for the training videos it holds; dataset attributes
``label``, ``class``, ``padded``; root attributes ``source`` (``released``), ``released``
(path), ``released_sha256``, ``padded_videos`` (JSON list), ``extra_videos`` (how many of the
file's videos are not training videos of the index: ignored).

Command line: ``python -m mist_steps.steps.import_pseudo_labels --help``.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.official_files import read_released_pseudo_labels
from mist_steps.formats.scores import PSEUDO_LABELS_FORMAT, ScoreWriter

log = logging.getLogger(__name__)


def fit_released(vid: str, labels: np.ndarray, n_snippets: int, released, videos_csv
                 ) -> tuple[np.ndarray, bool]:
    """An abnormal video's released labels at its snippet count: as they are, or one short
    and padded with the last label (``padded`` True). Anything else is an InputError."""
    if labels.size == n_snippets:
        return labels, False
    if labels.size == n_snippets - 1:
        return np.append(labels, labels[-1]), True
    raise InputError(f"{released}: video {vid} has {labels.size} pseudo labels, but "
                     f"{videos_csv} says {n_snippets} snippets of {SNIPPET_LEN} frames; the "
                     f"file must be of this dataset and encoder (one label per snippet, at "
                     f"most one short), and the index must count the same frames")


def import_pseudo_labels(released, videos_csv, out_h5) -> dict:
    """Write the released labels of every training video of ``videos_csv`` to ``out_h5``
    (module docstring). Returns a summary dict."""
    labels = read_released_pseudo_labels(released)
    table = read_video_table(videos_csv)
    train = table[table["split"] == "train"]
    abnormal = set(train.loc[train["label"] == 1, "video_id"])
    missing = sorted(abnormal - set(labels))
    if missing:
        raise InputError(f"{released}: no pseudo labels for {len(missing)} of the "
                         f"{len(abnormal)} abnormal training videos of {videos_csv} (e.g. "
                         f"{', '.join(missing[:5])}); use the file of this dataset's split "
                         f"(the released files cover ShanghaiTech's weakly supervised split)")
    padded: list[str] = []
    attrs = {"source": "released", "released": str(released),
             "released_sha256": file_sha256(released)}
    with ScoreWriter(out_h5, format=PSEUDO_LABELS_FORMAT, attrs=attrs) as writer:
        for row in train.to_dict("records"):
            vid, n = row["video_id"], int(row["frame_count"]) // SNIPPET_LEN
            if row["label"] == 1:
                refined, was_padded = fit_released(vid, labels[vid], n, released, videos_csv)
                if was_padded:
                    padded.append(vid)
            else:
                refined = np.zeros(n)
            arrays = {"refined": refined}
            if vid in labels:
                arrays["raw"] = labels[vid]
            writer.add(vid, arrays, attrs={"label": int(row["label"]), "class": row["class"],
                                           "padded": int(vid in padded)})
        extra = len(set(labels) - set(train["video_id"]))
        writer.set_attrs({"padded_videos": json.dumps(padded), "extra_videos": extra})
    if padded:
        log.warning("%s: %d abnormal video(s) had one pseudo label fewer than their snippets; "
                    "the last label was repeated (as the official code does): %s", released,
                    len(padded), ", ".join(padded[:10]) + (" ..." if len(padded) > 10 else ""))
    log.info("released pseudo labels of %d training videos (%d abnormal, %d padded) written "
             "to %s", len(train), len(abnormal), len(padded), out_h5)
    return {"videos": len(train), "abnormal": len(abnormal), "padded": padded,
            "extra_videos": extra}


def main(argv: list[str] | None = None) -> None:
    p = StepParser(import_pseudo_labels, "Stage II without stage I: import the authors' "
                   "released pseudo labels (fjchange/MIST_VAD data/*_PLs.npy) as this "
                   "workflow's pseudo-label file.",
                   prog="python -m mist_steps.steps.import_pseudo_labels")
    p.add_argument("--released", required=True,
                   help="released pseudo-label file (.npy, a pickled dict '<video>.npy' -> "
                   "[clips])")
    p.shared("videos", out="output pseudo-label file (.h5)")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
