"""One error type for bad input, and the CLI wrapper that prints it without a traceback."""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable
from pathlib import Path

# errno values of a full disk or an exhausted quota
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class InputError(Exception):
    """Bad user input. The message names the file (and line) at fault and what to do about it."""


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` says the disk (or quota) is full (HDF5 reports it in its text only)."""
    return isinstance(err, OSError) and (
        err.errno in DISK_FULL or "No space left on device" in str(err)
        or "Disk quota exceeded" in str(err))


def _step_name(main: Callable, argv: list[str] | None) -> str:
    """``mist_steps.<module>`` [subcommand] of ``main``, for the error line."""
    name = main.__module__
    if name == "__main__":  # run as `python -m mist_steps.<module>`
        spec = main.__globals__.get("__spec__")
        name = spec.name if spec is not None else Path(sys.argv[0]).stem
    args = sys.argv[1:] if argv is None else argv
    if args and not args[0].startswith("-"):  # a subcommand (generator train, extract shard)
        name += f" {args[0]}"
    return name


def run_cli(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a step's ``main(argv)``; an :class:`InputError` (or a full disk) becomes one clear
    line naming the step, and exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(argv)
    except InputError as err:
        print(f"error: {err} [step {_step_name(main, argv)}]", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if not is_disk_full(err):
            raise
        print(f"error: disk full while writing ({err}); no partial output was kept. Free space "
              f"on that filesystem (or point the results elsewhere) and rerun "
              f"[step {_step_name(main, argv)}]", file=sys.stderr)
        sys.exit(2)
