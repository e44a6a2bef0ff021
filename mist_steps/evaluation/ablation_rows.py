"""Rows of the ablation table: each variant's metrics JSON read into one CSV row."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path

STAGES = ("generator", "mist")

COLUMNS = ("variant", "stage", "description", "auc", "auc_abnormal", "far", "score_gap",
           "delta_auc", "videos", "frames", "metrics")

METRICS = ("auc", "auc_abnormal", "far", "score_gap")


def read_metrics(path: str | os.PathLike) -> dict:
    """An evaluation JSON, checked to hold an ``auc`` that is a number or null."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: metrics JSON not found; run the evaluation step that "
                         f"writes it (python -m mist_steps.steps.evaluate_mist)")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err}); delete it and re-run the "
                         f"evaluation") from None
    if not isinstance(doc, dict) or "auc" not in doc:
        raise InputError(f"{path}: no 'auc' key; not an evaluation JSON of "
                         f"mist_steps.evaluation.metrics (re-run the evaluation)")
    for key in METRICS:
        value = doc.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"{path}: '{key}' is {value!r}, not a number or null")
    return doc


def r4(value) -> float | None:
    """``value`` rounded to 4 decimals; None stays None (an empty cell)."""
    return None if value is None else round(float(value), 4)


def write_csv(path, columns: Sequence[str], rows: Sequence[dict]) -> None:
    """Write ``rows`` as a CSV atomically; None becomes an empty cell."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
