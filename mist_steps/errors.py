"""One error type for bad input (the CLI wrapper, mist_steps.cli.run_cli, prints it without a
traceback)."""

from __future__ import annotations

import errno

# errno values of a full disk or an exhausted quota
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class InputError(Exception):
    """Bad user input. The message names the file (and line) at fault and what to do about it."""


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` says the disk (or quota) is full (HDF5 reports it in its text only)."""
    return isinstance(err, OSError) and (
        err.errno in DISK_FULL or "No space left on device" in str(err)
        or "Disk quota exceeded" in str(err))
