"""The dataset index ``videos.csv`` (index_dataset's output) read back as a table."""

from __future__ import annotations

import os
from pathlib import Path

from mist_steps.errors import InputError

# -- the dataset index --------------------------------------------------------------------------
VIDEO_TABLE_COLUMNS = ("video_id", "path", "split", "label", "class", "frame_count", "fps")


def read_video_table(path: str | os.PathLike):
    """Read a dataset index ``videos.csv`` (columns :data:`VIDEO_TABLE_COLUMNS`) as a pandas
    DataFrame, checked: all columns present, video ids unique and non-empty."""
    import pandas as pd  # only the steps that read an index need pandas

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: video index not found; run the dataset indexing step first")
    try:
        table = pd.read_csv(path, dtype={"video_id": str, "path": str, "split": str,
                                         "class": str}, keep_default_na=False,
                            na_values={"fps": ["", "nan", "NaN"], "frame_count": [""]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV ({err}); rebuild it with the indexing "
                         f"step") from None
    missing = [c for c in VIDEO_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; a videos.csv has the columns "
                         f"{', '.join(VIDEO_TABLE_COLUMNS)} (rebuild it with the indexing step)")
    empty = table.index[table["video_id"].str.strip() == ""].tolist()
    if empty:
        raise InputError(f"{path}: empty video_id on data line(s) {[i + 1 for i in empty[:5]]}")
    odd = table.index[table["video_id"].str.contains("/", regex=False)
                      | table["video_id"].isin([".", ".."])].tolist()
    if odd:  # ids name HDF5 datasets and files: a '/' would reach outside their group
        raise InputError(f"{path}: video_id {table['video_id'][odd[0]]!r} on data line "
                         f"{odd[0] + 1} is not a plain name (no '/', '.', '..'); rebuild the "
                         f"index with the indexing step")
    dupes = sorted(set(table["video_id"][table["video_id"].duplicated()]))
    if dupes:
        raise InputError(f"{path}: video_id(s) listed more than once: {dupes[:5]}; ids must "
                         f"be unique")
    try:
        table["frame_count"] = table["frame_count"].astype(int)
        table["fps"] = table["fps"].astype(float)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: frame_count must be integers and fps numbers ({err})") from None
    return table
