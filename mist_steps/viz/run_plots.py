"""Report figures of a run's training and cost: losses, job run times, the ablation chart."""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mist_steps.errors import InputError
from mist_steps.formats.atomic import write_text
from mist_steps.viz.figures import pyplot, save_figure
from mist_steps.viz.score_plots import GENERATOR_COLOUR, MIST_COLOUR

log = logging.getLogger(__name__)


# -- ablations ----------------------------------------------------------------------------------
ABLATION_COLUMNS = ("variant", "stage", "description", "auc", "auc_abnormal", "far",
                    "score_gap", "delta_auc")


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
