"""Step: the multi-seed summary - generator (stage I) vs MIST (stage II) AUC over seeds.

The i-th generator JSON and the i-th MIST JSON (:mod:`mist_steps.evaluate` outputs) come from
the same seed; both lists must have the same length and every AUC must be defined.

Output CSV (atomic), columns ``seed, generator_auc, mist_auc, gain`` (gain = MIST AUC -
generator AUC): one row per seed in the given order, then the row ``mean`` and the row ``std``
(sample standard deviation, ddof=1; with a single seed it is 0). Values rounded to 4 decimals.

Optional Markdown (``out_md``, atomic), ready for the README: a table in AUC points (x100,
one decimal) with one line per seed and a last line ``mean ± std (n seeds)``, e.g.
``71.3 ± 1.2``; the gain is signed (``+2.1 ± 0.4``).

Command line::

    python -m mist_steps.seeds --generator g0.json g1.json g2.json \\
        --mist m0.json m1.json m2.json --seeds 0 1 2 --out seeds.csv [--md seeds.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence

from mist_steps.ablations import r4, read_metrics, write_csv
from mist_steps.atomic import write_text
from mist_steps.errors import InputError, run_cli

COLUMNS = ("seed", "generator_auc", "mist_auc", "gain")


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
                 seeds: Sequence | None = None) -> dict:
    """Write the seed CSV (and Markdown) of the module docstring; ``seeds`` label the runs
    (default 0, 1, ...). Returns {"seeds", "generator" (AUCs), "mist" (AUCs), "gain" (per
    seed), "generator_mean", "generator_std", "mist_mean", "mist_std", "gain_mean",
    "gain_std", "min_gain"} (unrounded)."""
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
    gen = [_auc(p) for p in generator_jsons]
    mist = [_auc(p) for p in mist_jsons]
    gain = [m - g for g, m in zip(gen, mist)]
    (g_mean, g_std), (m_mean, m_std), (d_mean, d_std) = map(_mean_std, (gen, mist, gain))

    rows = [{"seed": s, "generator_auc": r4(g), "mist_auc": r4(m), "gain": r4(d)}
            for s, g, m, d in zip(seeds, gen, mist, gain)]
    rows.append({"seed": "mean", "generator_auc": r4(g_mean), "mist_auc": r4(m_mean),
                 "gain": r4(d_mean)})
    rows.append({"seed": "std", "generator_auc": r4(g_std), "mist_auc": r4(m_std),
                 "gain": r4(d_std)})
    write_csv(out_csv, COLUMNS, rows)

    if out_md is not None:
        lines = ["| Seed | Generator AUC (%) | MIST AUC (%) | Gain (points) |",
                 "|---|---|---|---|"]
        lines += [f"| {s} | {_points(g)} | {_points(m)} | {_points(d, '+')} |"
                  for s, g, m, d in zip(seeds, gen, mist, gain)]
        lines.append(f"| mean ± std ({n} seed{'s' if n > 1 else ''}) "
                     f"| {_points(g_mean)} ± {_points(g_std)} "
                     f"| {_points(m_mean)} ± {_points(m_std)} "
                     f"| {_points(d_mean, '+')} ± {_points(d_std)} |")
        write_text(out_md, "\n".join(lines) + "\n")
    return {"seeds": seeds, "generator": gen, "mist": mist, "gain": gain,
            "generator_mean": g_mean, "generator_std": g_std, "mist_mean": m_mean,
            "mist_std": m_std, "gain_mean": d_mean, "gain_std": d_std, "min_gain": min(gain)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mist_steps.seeds",
        description="Summarise generator (stage I) vs MIST (stage II) test AUC over several "
        "seeds: per-seed rows, mean and sample std, as CSV and optionally Markdown.")
    parser.add_argument("--generator", nargs="+", required=True, metavar="JSON",
                        help="generator evaluation JSONs, one per seed")
    parser.add_argument("--mist", nargs="+", required=True, metavar="JSON",
                        help="MIST evaluation JSONs, one per seed, in the same order")
    parser.add_argument("--seeds", nargs="+", metavar="SEED",
                        help="seed labels, one per pair (default 0 1 ...)")
    parser.add_argument("--out", required=True, help="output CSV")
    parser.add_argument("--md", help="output Markdown table (optional)")
    args = parser.parse_args(argv)
    seed_summary(args.generator, args.mist, args.out, args.md, seeds=args.seeds)


if __name__ == "__main__":
    run_cli(main)
