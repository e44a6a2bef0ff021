"""Step: the report's figures and tables (``snakemake --report report.html``).

Subcommands, each writing PNG figures (matplotlib, atomically) with titles, axes and legends:

``roc``        frame-level ROC curves of one run's test videos: the generator alone (stage I)
               and MIST (stage II), AUC in the legend, chance diagonal. Frames and labels as
               :mod:`mist_steps.evaluate` builds them (each clip's score repeated over its 16
               frames against ``ground_truth.h5``), over the test videos both score files hold.
``timelines``  anomaly score over time of a few test videos, one panel each: MIST and the
               generator, the threshold, the ground-truth anomalous frames shaded (as in the
               paper's figures). Videos: ``--video`` ids, or ``--count`` chosen automatically
               (:func:`choose_videos`: abnormal ones of different classes first, then
               normal ones); the chosen ids are also written one a line (``--out-chosen``), for
               the explanation step to draw the same videos.
``losses``     training loss of both stages: stage I per step (``generator_loss.csv``: raw and a
               moving average), stage II per epoch (``finetune_loss.csv``: total, H_c and H_g;
               frozen-backbone epochs shaded).
``runtimes``   wall-clock time and peak memory of each job from Snakemake's ``benchmark:`` files
               (``results/benchmarks/...tsv``; files or folders, those that exist).
``ablations``  the ablation table (:mod:`mist_steps.ablations` CSV) as a self-contained HTML
               table and a bar chart of each variant's AUC.
``contents``   a text file listing the given files: the handle that makes one run's report
               pieces a single target (``snakemake --report report.html <that file>``).

Command line: ``python -m mist_steps.plots {roc,timelines,...} --help``.
"""

from __future__ import annotations

import argparse
import html
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.atomic import write_text
from mist_steps.errors import InputError, run_cli
from mist_steps.figures import pyplot, save_figure, shade_runs
from mist_steps.scores_io import ScoreFile
from mist_steps.video import read_video_table

log = logging.getLogger("mist_steps.plots")

GT_GROUP = "labels"  # ground_truth.h5 (mist_steps.datasets)
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
    frames; lengths must agree (as in :mod:`mist_steps.evaluate`)."""
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
    from sklearn.metrics import roc_auc_score, roc_curve

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
        ax.plot(fpr, tpr, color=colour, lw=2, label=f"{name} (AUC {aucs[name]:.3f})")
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


# -- losses -------------------------------------------------------------------------------------
def _read_csv(path, columns: Sequence[str], what: str):
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; run its training step")
    table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty:
        raise InputError(f"{path}: {what} has no rows or lacks column(s) {missing}; re-run its "
                         f"training step")
    return table


def plot_losses(generator_csv, finetune_csv, out_png, *, run: str) -> None:
    """Both stages' training losses (module docstring)."""
    gen = _read_csv(generator_csv, ("step", "loss"), "the generator's loss CSV")
    fin = _read_csv(finetune_csv, ("epoch", "loss", "loss_c", "loss_g", "frozen"),
                    "the fine-tuning loss CSV")
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
    a1.plot(gen["step"], gen["loss"], color=GENERATOR_COLOUR, alpha=0.35, lw=1, label="per step")
    window = max(1, len(gen) // 25)
    a1.plot(gen["step"], gen["loss"].rolling(window, min_periods=1).mean(),
            color=GENERATOR_COLOUR, lw=2, label=f"moving average ({window} steps)")
    a1.set(xlabel="optimisation step", ylabel="MIL loss",
           title="Stage I: pseudo-label generator")
    a1.legend(fontsize=8)
    frozen = fin.loc[fin["frozen"].astype(int) == 1, "epoch"]
    for k, epoch in enumerate(frozen):
        a2.axvspan(epoch - 0.5, epoch + 0.5, color="grey", alpha=0.15,
                   label="backbone frozen" if k == 0 else None)
    a2.plot(fin["epoch"], fin["loss"], color=MIST_COLOUR, marker="o", lw=2, label="total")
    a2.plot(fin["epoch"], fin["loss_c"], color="tab:green", marker=".", label="H_c")
    if fin["loss_g"].abs().sum() > 0:
        a2.plot(fin["epoch"], fin["loss_g"], color="tab:purple", marker=".", label="H_g")
    a2.set(xlabel="epoch", ylabel="weighted cross-entropy (batch mean)",
           title="Stage II: SGA fine-tuning", xticks=list(fin["epoch"]))
    a2.legend(fontsize=8)
    fig.suptitle(f"Training losses, {run}")
    save_figure(fig, out_png)


# -- runtimes -----------------------------------------------------------------------------------
def _job_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    if "benchmarks" in parts:
        parts = parts[len(parts) - parts[::-1].index("benchmarks"):]
    return "/".join(parts)


def benchmark_files(paths: Sequence) -> list[Path]:
    """The benchmark files among ``paths``: files as given, folders' ``*.tsv`` (not
    recursive), each once, in order; paths that do not exist are left out."""
    found: list[Path] = []
    for path in map(Path, paths):
        files = sorted(path.glob("*.tsv")) if path.is_dir() else [path] * path.is_file()
        if not files:
            log.info("no benchmark file at %s", path)
        found += [f for f in files if f not in found]
    return found


def plot_runtimes(bench_paths: Sequence, out_png, *, title: str) -> None:
    """Wall time and peak memory per job from Snakemake benchmark files (module docstring);
    ``bench_paths``: files or folders of them (:func:`benchmark_files`)."""
    import pandas as pd

    jobs = []
    for path in benchmark_files(bench_paths):
        table = pd.read_csv(path, sep="\t")
        if table.empty or "s" not in table.columns:
            raise InputError(f"{path}: not a Snakemake benchmark file (no 's' column)")
        rss = pd.to_numeric(table.get("max_rss"), errors="coerce")
        jobs.append((_job_name(path), float(table["s"].iloc[-1]),
                     None if rss is None or rss.isna().all() else float(rss.iloc[-1])))
    if not jobs:
        raise InputError(f"no benchmark file in {', '.join(map(str, bench_paths))}; the rules "
                         f"write them (benchmark:) when they run")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(jobs) + 1.4), layout="constrained")
    y = np.arange(len(jobs))
    bars = ax.barh(y, [s for _, s, _ in jobs], color="tab:blue")
    ax.bar_label(bars, [f"{s:.0f} s" + (f", {m:.0f} MB" if m is not None else "")
                        for _, s, m in jobs], padding=3, fontsize=8)
    ax.set_yticks(y, [n for n, _, _ in jobs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.25 * max(s for _, s, _ in jobs) + 1)
    ax.set(xlabel="wall-clock seconds (label: seconds, peak resident memory)",
           title=f"{title}: {sum(s for _, s, _ in jobs):.0f} s of jobs")
    save_figure(fig, out_png)


# -- ablations ----------------------------------------------------------------------------------
ABLATION_COLUMNS = ("variant", "stage", "description", "auc", "auc_abnormal", "far",
                    "score_gap", "delta_auc")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def plot_ablations(table_csv, out_html, out_png, *, run: str) -> None:
    """The ablation table as HTML and as a bar chart of AUCs (module docstring)."""
    table = _read_csv(table_csv, ABLATION_COLUMNS, "the ablation table")
    head = "".join(f"<th>{c}</th>" for c in ABLATION_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in ABLATION_COLUMNS)
                   + "</tr>\n" for _, r in table.iterrows())
    write_text(out_html, f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Ablations, {html.escape(run)}</title>
<style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #bbb;padding:4px 8px;text-align:right}}
td:nth-child(-n+3),th:nth-child(-n+3){{text-align:left}}th{{background:#eee}}</style>
</head><body><h3>Ablations, {html.escape(run)}: frame-level test metrics per variant</h3>
<table><tr>{head}</tr>
{body}</table>
<p>auc: frame-level ROC AUC; far: share of normal videos' frames above the threshold;
score_gap: mean score of anomalous minus normal frames; delta_auc: against full MIST.</p>
</body></html>
""")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 0.5 * len(table) + 1.5), layout="constrained")
    y = np.arange(len(table))
    colours = [MIST_COLOUR if s == "mist" else GENERATOR_COLOUR for s in table["stage"]]
    bars = ax.barh(y, table["auc"].astype(float), color=colours)
    ax.bar_label(bars, [_fmt(float(v)) for v in table["auc"]], padding=3, fontsize=8)
    ax.set_yticks(y, table["description"], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set(xlim=(0, 1), xlabel="frame-level AUC (dashed: chance)",
           title=f"Ablations, {run} (blue: MIST stage II, orange: generator only)")
    save_figure(fig, out_png)


# -- command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mist_steps.plots",
                                     description="The report's figures and tables.")
    sub = parser.add_subparsers(dest="command", required=True)

    def scored(p):
        p.add_argument("--mist-scores", required=True, help="test_scores.h5 (MIST)")
        p.add_argument("--generator-scores", required=True, help="test_scores_generator.h5")
        p.add_argument("--ground-truth", required=True, help="ground_truth.h5")
        p.add_argument("--videos", required=True, help="dataset index videos.csv")
        p.add_argument("--run", required=True, help="run name for the titles, e.g. synth_i3d")
        p.add_argument("--out", required=True, help="output PNG")

    scored(sub.add_parser("roc", help="ROC curves: generator only vs MIST"))
    p = sub.add_parser("timelines", help="score timelines of a few test videos")
    scored(p)
    p.add_argument("--count", type=int, default=4, help="videos to choose (default 4)")
    p.add_argument("--video", action="append", default=[], help="a video id to draw "
                   "(repeatable; replaces the automatic choice)")
    p.add_argument("--threshold", type=float, default=0.5, help="drawn as a line (default 0.5)")
    p.add_argument("--out-chosen", help="write the drawn video ids here, one a line")
    p = sub.add_parser("losses", help="training losses of both stages")
    p.add_argument("--generator-loss", required=True, help="generator_loss.csv")
    p.add_argument("--finetune-loss", required=True, help="finetune_loss.csv")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("runtimes", help="wall time and memory per job (benchmark files)")
    p.add_argument("--title", default="Job run times")
    p.add_argument("--out", required=True)
    p.add_argument("bench", nargs="+", help="Snakemake benchmark .tsv files or folders of "
                   "them (missing ones are left out)")
    p = sub.add_parser("contents", help="list the report files of a run (a report target)")
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="*")
    p = sub.add_parser("ablations", help="the ablation table as HTML and a chart")
    p.add_argument("--table", required=True, help="results/ablations/<run>.csv")
    p.add_argument("--run", required=True)
    p.add_argument("--out-html", required=True)
    p.add_argument("--out", required=True, help="output PNG")
    a = parser.parse_args(argv)
    if a.command == "roc":
        plot_roc(a.generator_scores, a.mist_scores, a.ground_truth, a.videos, a.out, run=a.run)
    elif a.command == "timelines":
        if a.count < 1:
            parser.error("--count must be >= 1")
        plot_timelines(a.mist_scores, a.generator_scores, a.ground_truth, a.videos, a.out,
                       run=a.run, count=a.count, video_ids=a.video, threshold=a.threshold,
                       out_chosen=a.out_chosen)
    elif a.command == "losses":
        plot_losses(a.generator_loss, a.finetune_loss, a.out, run=a.run)
    elif a.command == "runtimes":
        plot_runtimes(a.bench, a.out, title=a.title)
    elif a.command == "contents":
        write_text(a.out, "".join(f"{f}\n" for f in a.files))
    else:
        plot_ablations(a.table, a.out_html, a.out, run=a.run)


if __name__ == "__main__":
    run_cli(main)
