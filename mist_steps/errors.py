"""One error type for bad input, and the CLI wrapper that prints it without a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


class InputError(Exception):
    """Bad user input. The message names the file (and line) at fault and what to do about it."""


def run_cli(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a step's ``main(argv)``; an :class:`InputError` becomes one clear line and exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
