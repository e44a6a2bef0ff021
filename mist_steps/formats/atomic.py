"""Atomic outputs: write under a temporary name beside the target, rename when complete.

A job killed half-way (SIGKILL, node failure, disk full) then never leaves a file or folder
that looks finished; the next run simply redoes it. The temporary name is
``.<target name>.<random>.tmp``; one a killed run left behind is removed when the target is
next written (every target has one writer at a time: one job per output). A full disk is
reported as an ``OSError`` naming the target.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mist_steps.errors import is_disk_full

if TYPE_CHECKING:
    import h5py

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_stale(target: Path) -> None:
    """Remove temporary files or folders of ``target`` left by a killed run."""
    pattern = f".{glob.escape(target.name)}.{'[a-z0-9_]' * 8}.tmp"
    for stale in target.parent.glob(pattern):
        log.info("removing %s, left by an interrupted write of %s", stale, target)
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def _naming_target(target: Path) -> Iterator[None]:
    """Re-raise a full-disk error with the target's name (it named the temporary file)."""
    try:
        yield
    except OSError as err:
        if not is_disk_full(err) or str(target) in str(err):
            raise
        raise OSError(err.errno or errno.ENOSPC,
                      f"no space left on device while writing {target} ({err})") from err


def _tmp_name(target: Path) -> Path:
    _remove_stale(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    # mkstemp makes 0600 files; the finished artifact gets the usual permissions instead.
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(target)
    try:
        with _naming_target(target):
            yield tmp
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_path` for a folder: fill the yielded folder, it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
    try:
        with _naming_target(target):
            yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def atomic_h5(target: str | os.PathLike) -> Iterator[h5py.File]:
    """An HDF5 file open for writing under a temporary name; closed, then renamed on success."""
    import h5py  # here: most users of this module write no HDF5

    with atomic_path(target) as tmp, h5py.File(tmp, "w") as h5:
        yield h5


def write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
