"""The command-line wrapper of every step: bad input becomes one clear line naming the step, and
exit 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from mist_steps.errors import InputError, is_disk_full


def _step_name(main: Callable) -> str:
    """``mist_steps.steps.<rule>`` (the module of ``main``), for the error line."""
    name = main.__module__
    if name == "__main__":  # run as `python -m mist_steps.steps.<rule>`
        spec = main.__globals__.get("__spec__")
        name = spec.name if spec is not None else Path(sys.argv[0]).stem
    return name


def run_cli(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a step's ``main(argv)``; an :class:`InputError` (or a full disk) becomes one clear
    line naming the step, and exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(argv)
    except InputError as err:
        print(f"error: {err} [step {_step_name(main)}]", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if not is_disk_full(err):
            raise
        print(f"error: disk full while writing ({err}); no partial output was kept. Free space "
              f"on that filesystem (or point the results elsewhere) and rerun "
              f"[step {_step_name(main)}]", file=sys.stderr)
        sys.exit(2)
