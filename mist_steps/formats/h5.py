"""What the HDF5 artifacts (features, scores, pseudo labels) share: the atomic writer
skeleton and opening a file for reading with a checked format marker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import h5py
import numpy as np

from mist_steps import SNIPPET_LEN
from mist_steps.errors import InputError
from mist_steps.formats.atomic import atomic_h5


def plain(value):
    """An h5py attribute value as a plain Python object (str, number, list)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def open_artifact(path: str | os.PathLike, formats: tuple[str, ...], what: str, producer: str) -> h5py.File:
    """Open ``path`` read-only and check its ``format`` attribute is one of ``formats``.

    ``what`` names the kind of file and ``producer`` the step that writes it, for the errors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; run {producer} that writes it")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({err}); delete it and rebuild it") from None
    found = plain(h5.attrs.get("format"))
    if found not in formats:
        h5.close()
        raise InputError(
            f"{path}: format {found!r}, expected {' or '.join(formats)}; rebuild it with {producer}"
        )
    return h5


class AtomicH5Writer:
    """A context manager writing one HDF5 file under a temporary name, renamed when the
    ``with`` block ends without an exception. Root attributes ``format``, ``snippet_len`` and,
    at the end, ``n_videos`` (the size of :attr:`videos`); subclasses add theirs in
    :meth:`_start` and fill the file between enter and exit."""

    def __init__(self, path: str | os.PathLike, format: str):
        self.path = Path(path)
        self.format = format
        self.videos: set[str] | list[str] = set()
        self._ctx = None
        self._h5: h5py.File | None = None

    def _start(self) -> None:
        """Write the subclass's root attributes and groups into the just-opened file."""

    def __enter__(self):
        self._ctx = atomic_h5(self.path)
        self._h5 = self._ctx.__enter__()
        try:
            self._h5.attrs["format"] = self.format
            self._h5.attrs["snippet_len"] = SNIPPET_LEN
            self._start()
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())  # removes the temporary file
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._h5.attrs["n_videos"] = len(self.videos)
            except BaseException:
                self._ctx.__exit__(*sys.exc_info())
                raise
        return self._ctx.__exit__(exc_type, exc, tb)
