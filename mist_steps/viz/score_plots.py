"""The report's figures and tables (``snakemake --report report.html``), drawn by the report_*
steps named below, each writing PNG figures (matplotlib, atomically) with titles, axes and legends:

``report_roc``
               frame-level ROC curves of one run's test videos: the generator alone (stage I)
               and MIST (stage II), AUC and AP in the legend, chance diagonal. Frames and labels as
               :mod:`mist_steps.evaluation.metrics` builds them (each clip's score repeated over its 16
               frames against ``ground_truth.h5``), over the test videos both score files hold.
``report_timelines``
               anomaly score over time of a few test videos, one panel each: MIST and the
               generator, the threshold, the ground-truth anomalous frames shaded (as in the
               paper's figures). Videos: ``--video`` ids, or ``--count`` chosen automatically
               (:func:`choose_videos`: abnormal ones of different classes first, then
               normal ones); the chosen ids are also written one a line (``--out-chosen``), for
               the explanation step to draw the same videos.
``report_losses``
               training loss of both stages: stage I per step (``generator_loss.csv``: raw and a
               moving average), stage II per epoch (``finetune_loss.csv``: total, H_c and H_g;
               frozen-backbone epochs shaded).
``report_runtimes``
               wall-clock time and peak memory of each job from Snakemake's ``benchmark:`` files
               (``results/benchmarks/...tsv``; files or folders, those that exist).
``report_ablations``
               the ablation table (:mod:`mist_steps.steps.ablation_table` CSV) as a self-contained HTML
               table and a bar chart of each variant's AUC.
``report_contents``
               a text file listing the given files: the handle that makes one run's report
               pieces a single target (``snakemake --report report.html <that file>``).

Command lines: ``python -m mist_steps.steps.report_<figure> --help``. Losses, run times and
the ablation chart are drawn in :mod:`mist_steps.viz.run_plots`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.cli import StepParser
from mist_steps.data.video_table import read_video_table
from mist_steps.errors import InputError
from mist_steps.formats.atomic import write_text
from mist_steps.formats.scores import ScoreFile
from mist_steps.viz.figures import pyplot, save_figure, shade_runs

log = logging.getLogger(__name__)
GT_GROUP = "labels"  # ground_truth.h5 (mist_steps.steps.index_dataset)
MIST_COLOUR, GENERATOR_COLOUR = "tab:blue", "tab:orange"


# -- inputs -------------------------------------------------------------------------------------
def _test_rows(videos_csv):
    table = read_video_table(videos_csv)
    test = table[table["split"] == "test"].sort_values("video_id", ignore_index=True)
    if test.empty:
        raise InputError(f"{videos_csv}: no test video (split == test); nothing to plot")
    return test


def read_ground_truth(path, video_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-frame 0/1 labels of the ``video_ids`` that ``ground_truth.h5`` holds."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ground truth not found; run the dataset indexing step")
    with h5py.File(path, "r") as gt:
        if GT_GROUP not in gt:
            raise InputError(f"{path}: no '{GT_GROUP}' group; rebuild it with the indexing step")
        return {v: gt[GT_GROUP][v][()].astype(np.int8) for v in video_ids if v in gt[GT_GROUP]}


def read_clip_scores(path, video_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Clip scores of the ``video_ids`` that the score file holds."""
    with ScoreFile(path) as sf:
        return {v: sf.read(v) for v in video_ids if sf.has(v)}


def frame_pairs(clip_scores: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                video_ids: Sequence[str], source) -> tuple[np.ndarray, np.ndarray]:
    """(frame labels, frame scores) over ``video_ids``, each clip's score repeated over its 16
    frames; lengths must agree (as in :mod:`mist_steps.evaluation.metrics`)."""
    ys, ss = [], []
    for vid in video_ids:
        frames = np.repeat(clip_scores[vid], SNIPPET_LEN)
        if frames.size != labels[vid].size:
            raise InputError(f"{source}: video {vid} has {frames.size // SNIPPET_LEN} clips but "
                             f"its ground truth {labels[vid].size} frames; re-run the scoring "
                             f"and the indexing steps so they agree")
        ys.append(labels[vid])
        ss.append(frames)
    return np.concatenate(ys), np.concatenate(ss)


# -- ROC ----------------------------------------------------------------------------------------
def plot_roc(generator_h5, mist_h5, ground_truth_h5, videos_csv, out_png, *, run: str) -> dict:
    """ROC curves of the generator and MIST (module docstring); returns their AUCs."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    test = _test_rows(videos_csv)
    ids = list(test["video_id"])
    labels = read_ground_truth(ground_truth_h5, ids)
    curves = {"MIST": read_clip_scores(mist_h5, ids),
              "generator only": read_clip_scores(generator_h5, ids)}
    common = [v for v in ids if v in labels and all(v in c for c in curves.values())]
    if not common:
        raise InputError(f"{mist_h5}, {generator_h5}: no test video of {videos_csv} is in both "
                         f"score files and the ground truth; re-run the scoring steps")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.2), layout="constrained")
    aucs = {}
    for (name, scores), colour, source in zip(curves.items(), (MIST_COLOUR, GENERATOR_COLOUR),
                                              (mist_h5, generator_h5)):
        y, s = frame_pairs(scores, labels, common, source)
        if len(np.unique(y)) < 2:
            raise InputError(f"{ground_truth_h5}: the test frames hold one class only; a ROC "
                             f"curve needs anomalous and normal frames")
        fpr, tpr, _ = roc_curve(y, s)
        aucs[name] = float(roc_auc_score(y, s))
        ap = float(average_precision_score(y, s))
        ax.plot(fpr, tpr, color=colour, lw=2,
                label=f"{name} (AUC {aucs[name]:.3f}, AP {ap:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance (AUC 0.5)")
    ax.set(xlabel="false positive rate (frames)", ylabel="true positive rate (frames)",
           xlim=(0, 1), ylim=(0, 1.01), aspect="equal",
           title=f"Frame-level ROC, {run}\n({len(common)} test videos, {y.size} frames)")
    ax.legend(loc="lower right")
    save_figure(fig, out_png)
    log.info("ROC of %s: %s -> %s", run, {k: round(v, 4) for k, v in aucs.items()}, out_png)
    return aucs


# -- timelines ----------------------------------------------------------------------------------
def choose_videos(test, count: int, available: set[str]) -> list[str]:
    """``count`` test videos for the timelines: a quarter normal (at least one when ``count``
    >= 2 and there are normal videos), the rest abnormal, taken one class at a time in turn
    (classes and videos in name order); either kind fills up when the other runs out."""
    test = test[test["video_id"].isin(available)]
    abnormal = test[test["label"] == 1]
    normal = list(test.loc[test["label"] == 0, "video_id"])
    by_class = [list(g["video_id"]) for _, g in abnormal.groupby("class", sort=True)]
    turns = [v for k in range(max(map(len, by_class), default=0))
             for vids in by_class if k < len(vids) for v in vids[k:k + 1]]
    n_normal = min(len(normal), max(1, count // 4) if count >= 2 else 0)
    picked = turns[:count - n_normal]
    picked += normal[:count - len(picked)]
    return picked


def plot_timelines(mist_h5, generator_h5, ground_truth_h5, videos_csv, out_png, *, run: str,
                   count: int = 4, video_ids: Sequence[str] = (), threshold: float = 0.5,
                   out_chosen=None) -> list[str]:
    """Score timelines (module docstring); returns the video ids drawn."""
    test = _test_rows(videos_csv)
    ids = list(test["video_id"])
    mist = read_clip_scores(mist_h5, ids)
    generator = read_clip_scores(generator_h5, ids)
    labels = read_ground_truth(ground_truth_h5, ids)
    if video_ids:
        unknown = [v for v in video_ids if v not in mist]
        if unknown:
            raise InputError(f"{mist_h5}: no scores for {unknown}; report.videos must list test "
                             f"video ids of {videos_csv} that were scored")
        chosen = list(video_ids)
    else:
        chosen = choose_videos(test, count, set(mist))
    if not chosen:
        raise InputError(f"{mist_h5}: no scored test video to draw")
    rows = test.set_index("video_id")
    plt = pyplot()
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10.5, 2.1 * len(chosen) + 0.8),
                             squeeze=False, layout="constrained")
    for ax, vid in zip(axes[:, 0], chosen):
        row = rows.loc[vid]
        fps = None if math.isnan(row.fps) else float(row.fps)
        unit = 1.0 / fps if fps else 1.0
        n = mist[vid].size
        t = (np.arange(n) + 0.5) * SNIPPET_LEN * unit
        if vid in labels and labels[vid].any():
            shade_runs(ax, labels[vid], unit)
        ax.plot(t, mist[vid], color=MIST_COLOUR, lw=2, marker=".", label="MIST")
        if vid in generator:
            ax.plot(t, generator[vid], color=GENERATOR_COLOUR, lw=1.5, ls="--",
                    label="generator only")
        ax.axhline(threshold, color="grey", lw=1, ls=":", label=f"threshold {threshold:g}")
        kind = "normal" if int(row.label) == 0 else f"abnormal: {row['class']}"
        ax.set(ylim=(-0.02, 1.02), xlim=(0, n * SNIPPET_LEN * unit), ylabel="anomaly score",
               title=f"{vid} ({kind})")
        ax.title.set_fontsize(10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    axes[-1, 0].set_xlabel("time (s)" if fps else "frame")
    fig.suptitle(f"Anomaly scores over time, {run} (test videos)")
    save_figure(fig, out_png)
    if out_chosen is not None:
        write_text(out_chosen, "".join(f"{v}\n" for v in chosen))
    log.info("timelines of %s -> %s", ", ".join(chosen), out_png)
    return chosen


def score_plot_parser(plot: Callable, description: str, *, prog: str) -> StepParser:
    """The command line of a figure ``plot`` drawn from both stages' test scores."""
    p = StepParser(plot, description, prog=prog)
    p.add_argument("--mist-scores", dest="mist_h5", required=True, help="test_scores.h5 (MIST)")
    p.add_argument("--generator-scores", dest="generator_h5", required=True,
                   help="test_scores_generator.h5")
    p.add_argument("--ground-truth", required=True, help="ground_truth.h5")
    p.shared("videos")
    p.add_argument("--run", required=True, help="run name for the titles, e.g. synth_i3d")
    p.add_argument("--out", dest="out_png", required=True, help="output PNG")
    return p
