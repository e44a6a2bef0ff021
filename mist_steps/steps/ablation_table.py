"""Step: the ablation table (paper Tables 3-5) from the evaluation JSONs of several variants.

Each row names a variant (e.g. "mist", "no-sga", "uniform-sampling"), the stage it scores with
("generator": the stage-I MIL generator; "mist": the fine-tuned stage-II encoder), a short
description and the metrics JSON :mod:`mist_steps.evaluation.metrics` wrote for it.

Output CSV (atomic), one line per row in the given order, columns:

``variant``, ``stage``, ``description``
``auc``, ``auc_abnormal``, ``far``, ``score_gap``   from the JSON (empty where it is null)
``delta_auc``     auc minus the auc of the ``reference`` variant (empty without such a row,
                  or when either AUC is null)
``videos``, ``frames``   the evaluated test videos and frames (the JSON's ``counts``)
``metrics``       the JSON's path

Floats are rounded to 4 decimals (deltas computed before rounding).

Command line::

    python -m mist_steps.steps.ablation_table --out ablations.csv \\
        --row mist mist "full MIST" results/mist.json \\
        --row no-sga mist "without SGA" results/no_sga.json [--reference mist]
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mist_steps.cli import StepParser, run_cli
from mist_steps.errors import InputError
from mist_steps.evaluation.ablation_rows import (
    COLUMNS,
    METRICS,
    STAGES,
    r4,
    read_metrics,
    write_csv,
)


def ablation_table(rows: Sequence[tuple[str, str, str, str | os.PathLike]], out_csv, *,
                   reference: str = "mist") -> list[dict]:
    """Write the ablation CSV (module docstring) from ``rows`` = (variant, stage, description,
    metrics JSON); return its rows as dicts (None for empty cells)."""
    if not rows:
        raise InputError("the ablation table needs at least one row")
    seen: set[str] = set()
    docs = []
    for name, stage, description, path in rows:
        if stage not in STAGES:
            raise InputError(f"ablation row {name!r}: stage must be one of {STAGES}; got "
                             f"{stage!r}")
        if name in seen:  # the reference (and a reader) must find each variant once
            raise InputError(f"ablation variant {name!r} listed twice; give each row its own name")
        seen.add(name)
        docs.append(read_metrics(path))
    ref_auc = next((d["auc"] for (name, *_), d in zip(rows, docs) if name == reference), None)

    table = []
    for (name, stage, description, path), doc in zip(rows, docs):
        counts = doc.get("counts") or {}
        delta = None if ref_auc is None or doc["auc"] is None else doc["auc"] - ref_auc
        table.append({"variant": name, "stage": stage, "description": description,
                      **{k: r4(doc.get(k)) for k in METRICS}, "delta_auc": r4(delta),
                      "videos": counts.get("videos"), "frames": counts.get("frames"),
                      "metrics": str(path)})
    write_csv(out_csv, COLUMNS, table)
    return table


def main(argv: list[str] | None = None) -> None:
    p = StepParser(ablation_table, "Collect the evaluation JSONs of several variants into one "
                   "ablation table (CSV) with each variant's AUC difference to a reference "
                   "variant.")
    p.shared(out="output CSV")
    p.add_argument("--row", dest="rows", nargs=4, action="append", required=True,
                   metavar=("NAME", "STAGE", "DESCRIPTION", "JSON"),
                   help=f"one variant: its name, stage ({' or '.join(STAGES)}), a short "
                   f"description and its metrics JSON; repeat for each row")
    p.add_argument("--reference", help="variant the delta_auc column is measured against")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
