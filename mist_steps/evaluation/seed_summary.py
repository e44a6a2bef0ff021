"""The multi-seed summary (seed_table and robustness_table steps): generator (stage I) vs
MIST (stage II) AUC over seeds.

Two tables use it: the seed table (generator and fine-tuning seeds, one vanilla encoder) and
the robustness table (one vanilla encoder per proxy-pretraining seed, each with its own
features, stage I and stage II; ``--label "Encoder seed"``).

The i-th generator JSON and the i-th MIST JSON (:mod:`mist_steps.evaluation.metrics` outputs) come from
the same seed; both lists must have the same length and every AUC must be defined. With
``features`` (one vanilla features file per seed) a column gives how collapsed each seed's
features are: the share of their variance in the top 5 principal components
(:func:`mist_steps.evaluation.feature_stats.top_pc_share`, every clip of the file).

Output CSV (atomic), columns ``seed, generator_auc, mist_auc, gain`` (gain = MIST AUC -
generator AUC; then ``top5_pc_share`` with features): one row per seed in the given order,
then the rows ``mean``, ``std`` (sample standard deviation, ddof=1; with a single seed it is
0), ``min`` and ``max``. Values rounded to 4 decimals.

Optional Markdown (``out_md``, atomic), ready for the README: a table in AUC points (x100,
one decimal) with one line per seed, a line ``mean ± std (n seeds)``, e.g. ``71.3 ± 1.2``,
and a line ``min – max``; the gain is signed (``+2.1 ± 0.4``).

Command line::

    python -m mist_steps.steps.seed_table --generator g0.json g1.json g2.json \\
        --mist m0.json m1.json m2.json --seeds 0 1 2 --out seeds.csv [--md seeds.md] \\
        [--label "Encoder seed" --features f0.h5 f1.h5 f2.h5]
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from mist_steps.cli import StepParser
from mist_steps.errors import InputError
from mist_steps.evaluation.ablation_rows import r4, read_metrics, write_csv
from mist_steps.evaluation.feature_stats import TOP_PCS, top_pc_share
from mist_steps.formats.atomic import write_text

COLUMNS = ("seed", "generator_auc", "mist_auc", "gain")
SHARE_COLUMN = f"top{TOP_PCS}_pc_share"


def _auc(path: str | os.PathLike) -> float:
    auc = read_metrics(path)["auc"]
    if auc is None:
        raise InputError(f"{path}: 'auc' is null (undefined on this ground truth, see its "
                         f"'notes'); a seed summary needs a defined AUC for every run")
    return float(auc)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    # sample std (ddof=1) across seeds; a single seed has no spread to estimate: 0
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _points(value: float, sign: str = "") -> str:
    return f"{100 * value:{sign}.1f}"


def seed_summary(generator_jsons: Sequence, mist_jsons: Sequence, out_csv, out_md=None, *,
                 seeds: Sequence | None = None, label: str = "Seed",
                 features: Sequence | None = None) -> dict:
    """Write the seed CSV (and Markdown) of the module docstring; ``seeds`` label the runs
    (default 0, 1, ...), ``label`` heads their column in the Markdown. Returns {"seeds",
    "generator" (AUCs), "mist" (AUCs), "gain" (per seed), "generator_mean", "generator_std",
    "mist_mean", "mist_std", "gain_mean", "gain_std", "min_gain"} (unrounded), and
    "pc_share" (per seed) with ``features``."""
    n = len(generator_jsons)
    if n == 0:
        raise InputError("the seed summary needs at least one generator and one MIST JSON")
    if len(mist_jsons) != n:
        raise InputError(f"{n} generator JSON(s) ({', '.join(map(str, generator_jsons))}) but "
                         f"{len(mist_jsons)} MIST JSON(s) ({', '.join(map(str, mist_jsons))}); "
                         f"give one of each per seed, in the same order")
    seeds = list(range(n)) if seeds is None else list(seeds)
    if len(seeds) != n:
        raise InputError(f"{len(seeds)} seed label(s) {seeds} for {n} pair(s) of JSONs; give "
                         f"one seed per pair")
    if features is not None and len(features) != n:
        raise InputError(f"{len(features)} features file(s) for {n} pair(s) of JSONs; give "
                         f"one per seed, in the same order")
    gen = [_auc(p) for p in generator_jsons]
    mist = [_auc(p) for p in mist_jsons]
    gain = [m - g for g, m in zip(gen, mist)]
    columns = {"generator_auc": gen, "mist_auc": mist, "gain": gain}
    if features is not None:
        columns[SHARE_COLUMN] = [top_pc_share(p) for p in features]
    stats = {name: _stats(values) for name, values in columns.items()}

    rows = [{"seed": s, **{name: r4(values[i]) for name, values in columns.items()}}
            for i, s in enumerate(seeds)]
    rows += [{"seed": stat, **{name: r4(stats[name][stat]) for name in columns}}
             for stat in ("mean", "std", "min", "max")]
    write_csv(out_csv, COLUMNS + ((SHARE_COLUMN,) if features is not None else ()), rows)

    if out_md is not None:
        _write_md(out_md, label, seeds, columns, stats)
    result = {"seeds": seeds, "generator": gen, "mist": mist, "gain": gain,
              "min_gain": min(gain)}
    for name, key in (("generator_auc", "generator"), ("mist_auc", "mist"), ("gain", "gain")):
        result[f"{key}_mean"], result[f"{key}_std"] = stats[name]["mean"], stats[name]["std"]
    if features is not None:
        result["pc_share"] = columns[SHARE_COLUMN]
    return result


def _stats(values: Sequence[float]) -> dict:
    mean, std = _mean_std(values)
    return {"mean": mean, "std": std, "min": min(values), "max": max(values)}


def _write_md(out_md, label: str, seeds: list, columns: dict, stats: dict) -> None:
    signs = {"gain": "+"}
    heads = {"generator_auc": "Generator AUC (%)", "mist_auc": "MIST AUC (%)",
             "gain": "Gain (points)", SHARE_COLUMN: f"Top-{TOP_PCS} PC variance (%)"}
    names = list(columns)
    n = len(seeds)
    lines = ["| " + " | ".join([label] + [heads[c] for c in names]) + " |",
             "|" + "---|" * (len(names) + 1)]
    for i, s in enumerate(seeds):
        cells = [_points(columns[c][i], signs.get(c, "")) for c in names]
        lines.append("| " + " | ".join([str(s)] + cells) + " |")
    mean_std = [f"{_points(stats[c]['mean'], signs.get(c, ''))} ± {_points(stats[c]['std'])}"
                for c in names]
    lines.append("| " + " | ".join([f"mean ± std ({n} seed{'s' if n > 1 else ''})"]
                                   + mean_std) + " |")
    min_max = [f"{_points(stats[c]['min'], signs.get(c, ''))} – "
               f"{_points(stats[c]['max'], signs.get(c, ''))}" for c in names]
    lines.append("| " + " | ".join(["min – max"] + min_max) + " |")
    write_text(out_md, "\n".join(lines) + "\n")


def seed_table_parser(*, prog: str, what: str) -> StepParser:
    """The command line of the seed and robustness tables (``what`` varies, for --help)."""
    p = StepParser(seed_summary, f"Summarise generator (stage I) vs MIST (stage II) test AUC "
                   f"over {what}: per-seed rows, mean and sample std, as CSV and optionally "
                   f"Markdown.", prog=prog)
    p.add_argument("--generator", dest="generator_jsons", nargs="+", required=True,
                   metavar="JSON", help="generator evaluation JSONs, one per seed")
    p.add_argument("--mist", dest="mist_jsons", nargs="+", required=True, metavar="JSON",
                   help="MIST evaluation JSONs, one per seed, in the same order")
    p.add_argument("--seeds", nargs="+", metavar="SEED",
                   help="seed labels, one per pair (default 0 1 ...)")
    p.add_argument("--out", dest="out_csv", required=True, help="output CSV")
    p.add_argument("--md", dest="out_md", help="output Markdown table (optional)")
    p.add_argument("--label", help="heading of the seed column in the Markdown")
    p.add_argument("--features", nargs="+", metavar="H5",
                   help="vanilla features file per seed: adds the top-5 principal components' "
                   "share of their variance")
    return p
