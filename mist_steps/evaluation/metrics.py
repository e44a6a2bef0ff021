"""Frame-level evaluation (evaluate_generator and evaluate_mist steps) of per-clip anomaly
scores against the test ground truth.

The test videos are those of ``videos.csv`` with ``split == test``. Each clip's score is
repeated over its 16 frames (clip i covers frames 16i .. 16i+15), as the official MIST
evaluation does, and compared with ``ground_truth.h5`` (one 0/1 label per frame, length
``(frame_count // 16) * 16``). Frame scores and labels must have the same length: a video
whose features (hence scores) hold fewer or more clips than its ground truth - decoding gave
another frame count than the index - is an error naming it, never truncated (the official
code silently cuts the labels to the scores). Test videos listed in ``skipped_csv`` (the
feature step's skipped list) are excluded and reported; any other test video without scores,
or without ground truth, is an error naming it. NaN/inf scores are an error.

Output JSON (written atomically), keys:

``format``               "mist-evaluation-v1"
``primary_metric``       the dataset's headline metric, whose keys come first: ``pr_auc``
                         (then ``ap``) for XD-Violence, which reports AP; ``auc`` otherwise
``auc``                  frame-level ROC AUC over all test videos (sklearn ``roc_auc_score``)
``auc_abnormal``         the same over the frames of abnormal test videos only
``ap``                   frame-level average precision over all test videos (sklearn
                         ``average_precision_score``: the step-wise area under the
                         precision-recall curve)
``pr_auc``               the area under the precision-recall curve as XD-Violence reports its
                         "AP": sklearn ``auc(recall, precision)`` over
                         ``precision_recall_curve`` (linear interpolation between its
                         points; it can differ from ``ap`` either way)
``far``                  false-alarm rate: share of the frames of NORMAL test videos (label 0)
                         whose score is > ``threshold`` (the paper's FAR; the official
                         ``testing/test.py`` computes it on its ``normal_scores``)
``far_negative_frames``  share of all frames labelled normal, abnormal videos included, scored
                         > ``threshold`` (the official ``utils/eval_utils.py``
                         ``cal_false_alarm`` over all test frames)
``threshold``            the threshold of both FARs
``score_gap``            mean score of anomalous frames - mean score of normal frames (all
                         test frames)
``per_class``            {class: {auc, ap, pr_auc, videos, frames, anomalous_frames}} for each
                         class of the abnormal test videos; each class's metrics are over its
                         abnormal videos plus ALL normal test videos (so every class has
                         negatives from normal footage, as in the per-class numbers of the
                         MIST code)
``counts``               {videos, normal_videos, abnormal_videos, frames, anomalous_frames,
                         normal_video_frames, skipped}
``skipped``              [{video_id, reason}] test videos left out (from ``skipped_csv``)
``notes``                {metric: why it is null} for every metric that is undefined (e.g. an
                         AUC on single-class ground truth); empty when all are defined
``inputs``               paths of the scores, ground truth, index and skipped list
``extra``                what the caller passed (e.g. the configuration that produced the run)

Undefined metrics are ``null`` (with a note), never NaN and never a crash.

Command lines: ``python -m mist_steps.steps.evaluate_generator --help`` (``evaluate_mist``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
from sklearn.metrics import auc as area_under
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
)

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.atomic import write_text
from mist_steps.formats.scores import ScoreFile
from mist_steps.formats.skipped import read_skipped

log = logging.getLogger(__name__)
EVAL_FORMAT = "mist-evaluation-v1"
GT_GROUP = "labels"
# The keys a dataset format's results lead with, its headline metric first (XD-Violence's
# papers report AP as auc(recall, precision), our pr_auc).
LEADING = {"xd_violence": ("pr_auc", "ap")}


def frame_scores(clip_scores: np.ndarray) -> np.ndarray:
    """Each clip's score repeated over its ``SNIPPET_LEN`` frames."""
    return np.repeat(np.asarray(clip_scores, dtype=np.float64), SNIPPET_LEN)


def _single_class(labels: np.ndarray, metric: str) -> str | None:
    """Why ``metric`` is undefined on ``labels`` (a single class, or none), else None."""
    present = np.unique(labels)
    if present.size >= 2:
        return None
    what = "no frames" if present.size == 0 else f"only label {int(present[0])}"
    return f"{metric} undefined: {what} in the ground truth of these frames"


def auc_or_none(labels: np.ndarray, scores: np.ndarray) -> tuple[float | None, str | None]:
    """ROC AUC, or (None, reason) when the labels hold a single class."""
    note = _single_class(labels, "AUC")
    if note:
        return None, note
    return float(roc_auc_score(labels, scores)), None


def precision_or_none(labels: np.ndarray, scores: np.ndarray
                      ) -> tuple[float | None, float | None, str | None]:
    """(average precision, XD-Violence's PR-AUC), or (None, None, reason) when the labels
    hold a single class."""
    note = _single_class(labels, "AP")
    if note:
        return None, None, note
    precision, recall, _ = precision_recall_curve(labels, scores)
    return (float(average_precision_score(labels, scores)),
            float(area_under(recall, precision)), None)


def _mean_or_none(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _load_frames(scores_h5, ground_truth_h5, test, skipped_ids) -> tuple[dict, str]:
    """Per evaluated test video: (label, class, gt frames, frame scores), checked; and the
    dataset format the ground truth was indexed from."""
    gt_path = Path(ground_truth_h5)
    if not gt_path.is_file():
        raise InputError(f"{gt_path}: ground truth not found; run the dataset indexing step")
    out = {}
    with h5py.File(gt_path, "r") as gt, ScoreFile(scores_h5) as sf:
        if GT_GROUP not in gt:
            raise InputError(f"{gt_path}: no '{GT_GROUP}' group; rebuild it with the indexing "
                             f"step")
        for vid, label, cls in zip(test["video_id"], test["label"], test["class"]):
            if vid in skipped_ids:
                continue
            if vid not in gt[GT_GROUP]:
                raise InputError(f"{gt_path}: no ground truth for test video {vid}; rebuild the "
                                 f"index (videos.csv and ground_truth.h5 together)")
            if not sf.has(vid):
                raise InputError(
                    f"{sf.path}: no scores for test video {vid}, which is not in the skipped "
                    f"list either; rerun the scoring step (or list the video as skipped)")
            labels = gt[GT_GROUP][vid][()].astype(np.int64)
            scores = frame_scores(sf.read(vid))  # read() refuses NaN/inf, naming the video
            if scores.size != labels.size:
                raise InputError(
                    f"{sf.path}: test video {vid} has {scores.size // SNIPPET_LEN} clips "
                    f"({scores.size} frames) but its ground truth in {gt_path} has "
                    f"{labels.size} frames ({labels.size // SNIPPET_LEN} clips); decoding gave "
                    f"another frame count than the index - re-index the dataset (or re-extract "
                    f"the video) so the two agree")
            if int(label) == 0 and labels.any():
                raise InputError(f"{gt_path}: normal test video {vid} has anomalous frames in "
                                 f"its ground truth; rebuild the index")
            out[vid] = (int(label), str(cls), labels, scores)
        dataset_format = str(gt.attrs.get("format", ""))
    return out, dataset_format


def compute_metrics(videos: Mapping[str, tuple[int, str, np.ndarray, np.ndarray]], *,
                    threshold: float = 0.5) -> dict:
    """The metrics (module docstring) from video -> (label, class, gt frames, frame scores)."""
    notes: dict[str, str] = {}

    def cat(items, part):
        arrays = [v[part] for v in items]
        return np.concatenate(arrays) if arrays else np.zeros(0)

    all_v = list(videos.values())
    abn_v = [v for v in all_v if v[0] == 1]
    nor_v = [v for v in all_v if v[0] == 0]
    y, s = cat(all_v, 2), cat(all_v, 3)

    auc, note = auc_or_none(y, s)
    if note:
        notes["auc"] = note
    ap, pr_auc, note = precision_or_none(y, s)
    if note:
        notes["ap"] = notes["pr_auc"] = note
    auc_abn, note = auc_or_none(cat(abn_v, 2), cat(abn_v, 3))
    if note:
        notes["auc_abnormal"] = note
    s_normal_videos = cat(nor_v, 3)
    far = _mean_or_none(s_normal_videos > threshold)
    if far is None:
        notes["far"] = "no normal test video"
    far_neg = _mean_or_none(s[y == 0] > threshold)
    if far_neg is None:
        notes["far_negative_frames"] = "no frame labelled normal"
    pos, neg = _mean_or_none(s[y == 1]), _mean_or_none(s[y == 0])
    gap = None if pos is None or neg is None else pos - neg
    if gap is None:
        notes["score_gap"] = "needs both anomalous and normal frames"

    per_class = {}
    for cls in sorted({v[1] for v in abn_v}):
        members = [v for v in abn_v if v[1] == cls]
        c_y, c_s = cat(members + nor_v, 2), cat(members + nor_v, 3)
        c_auc, note = auc_or_none(c_y, c_s)
        c_ap, c_pr, _ = precision_or_none(c_y, c_s)
        if note:
            notes[f"per_class.{cls}"] = note
        per_class[cls] = {"auc": c_auc, "ap": c_ap, "pr_auc": c_pr, "videos": len(members),
                          "frames": int(sum(v[2].size for v in members)),
                          "anomalous_frames": int(sum(v[2].sum() for v in members))}
    return {
        "auc": auc, "auc_abnormal": auc_abn, "ap": ap, "pr_auc": pr_auc,
        "far": far, "far_negative_frames": far_neg,
        "threshold": float(threshold), "score_gap": gap, "per_class": per_class,
        "counts": {"videos": len(all_v), "normal_videos": len(nor_v),
                   "abnormal_videos": len(abn_v), "frames": int(y.size),
                   "anomalous_frames": int(y.sum()),
                   "normal_video_frames": int(s_normal_videos.size)},
        "notes": notes,
    }


def evaluate(scores_h5, ground_truth_h5, videos_csv, out_json, *, skipped_csv=None,
             threshold: float = 0.5, extra=None) -> dict:
    """Evaluate the test videos' clip scores (module docstring); write and return the JSON
    document."""
    table = read_video_table(videos_csv)
    test = table[table["split"] == "test"]
    if test.empty:
        raise InputError(f"{videos_csv}: no test video (split == test); nothing to evaluate")
    bad = test[~test["label"].isin([0, 1])]
    if len(bad):
        raise InputError(f"{videos_csv}: label must be 0 or 1; video {bad['video_id'].iloc[0]} "
                         f"has {bad['label'].iloc[0]!r}")
    test_ids = set(test["video_id"])
    skipped = []
    if skipped_csv is not None:
        skipped = [{"video_id": r["video_id"], "reason": r["reason"]}
                   for r in read_skipped(skipped_csv) if r["video_id"] in test_ids]
    skipped_ids = {r["video_id"] for r in skipped}
    for row in skipped:
        log.warning("test video %s excluded: skipped at feature extraction (%s)",
                    row["video_id"], row["reason"])

    videos, dataset_format = _load_frames(scores_h5, ground_truth_h5, test, skipped_ids)
    metrics = compute_metrics(videos, threshold=threshold)
    leading = LEADING.get(dataset_format, ("auc",))
    result = {"format": EVAL_FORMAT, "primary_metric": leading[0],
              **{k: metrics.pop(k) for k in leading}, **metrics}
    result["counts"]["skipped"] = len(skipped)
    result["skipped"] = skipped
    result["inputs"] = {"scores": str(scores_h5), "ground_truth": str(ground_truth_h5),
                        "videos": str(videos_csv),
                        "skipped": None if skipped_csv is None else str(skipped_csv)}
    result["extra"] = extra
    try:
        text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise InputError(f"the extra information passed for {out_json} is not plain JSON "
                         f"({err})") from None
    write_text(out_json, text)
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    head = "" if leading[0] == "auc" else f"{leading[0]} {fmt(result[leading[0]])}; "
    log.info("%sAUC %s (abnormal videos %s), AP %s, FAR %s, gap %s over %d test videos "
             "(%d skipped) -> %s", head, fmt(result["auc"]), fmt(result["auc_abnormal"]),
             fmt(result["ap"]), fmt(result["far"]), fmt(result["score_gap"]),
             result["counts"]["videos"], len(skipped), out_json)
    return result


def _json_text(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"--extra: not valid JSON ({err})") from None


def _json_file(path: str):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: --extra-file not found") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None


def evaluate_parser(*, prog: str, scores: str) -> StepParser:
    """The command line of the two evaluation steps (``scores``: whose scores, for --help)."""
    p = StepParser(evaluate, f"Frame-level AUC, FAR and score gap of {scores} per-clip anomaly "
                   "scores on the test videos, written as JSON.", prog=prog)
    p.add_argument("--scores", required=True, help="score file (.h5, mist-scores-v1)")
    p.add_argument("--ground-truth", required=True, help="ground_truth.h5 of the dataset")
    p.shared("videos")
    p.add_argument("--out", dest="out_json", required=True, help="output JSON")
    p.add_argument("--skipped", dest="skipped_csv",
                   help="skipped-videos CSV of the feature step (optional)")
    p.add_argument("--threshold", type=float,
                   help="score above which a frame counts as an alarm")
    extra = p.add_mutually_exclusive_group()
    extra.add_argument("--extra", type=_json_text, metavar="JSON",
                       help="JSON text stored under 'extra' (e.g. the config)")
    extra.add_argument("--extra-file", dest="extra", type=_json_file, metavar="FILE",
                       help="JSON file stored under 'extra'")
    return p
