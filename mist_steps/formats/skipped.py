"""The skipped-videos CSV written beside a feature file (bad-video policy ``skip``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_path

SKIPPED_COLUMNS = ("video_id", "path", "split", "reason")


def write_skipped(path: str | os.PathLike, rows) -> None:
    """Write the skipped-videos CSV atomically (header even when ``rows`` is empty), sorted by
    video_id; ``rows``: mappings with the keys of :data:`SKIPPED_COLUMNS`."""
    rows = sorted(({k: str(r[k]) for k in SKIPPED_COLUMNS} for r in rows),
                  key=lambda r: r["video_id"])
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=SKIPPED_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def read_skipped(path: str | os.PathLike) -> list[dict]:
    """Rows of a skipped-videos CSV written by :func:`write_skipped`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: skipped-videos CSV not found")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != SKIPPED_COLUMNS:
            raise InputError(f"{path}: expected the columns {', '.join(SKIPPED_COLUMNS)}; got "
                             f"{reader.fieldnames}")
        return list(reader)
