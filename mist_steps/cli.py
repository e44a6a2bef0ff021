"""The command line of every step: :class:`StepParser` (flags from the step function's
signature, the shared flags written once) and :func:`run_cli` (bad input becomes one clear line
naming the step, and exit 2).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from mist_steps import cpu_kernels
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


def at_least(low: int | float, kind: type = int) -> Callable[[str], int | float]:
    """An argparse ``type``: a number of ``kind`` that is >= ``low`` (the error names the
    flag, e.g. ``argument --steps: must be >= 1, got 0``)."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return value
    convert.__name__ = f"{kind.__name__} >= {low}"
    return convert


def comma_list(text: str) -> list[str]:
    """An argparse ``type``: ``"a, b,c"`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _default_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(_default_text, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


class _StepHelp(argparse.HelpFormatter):
    """Says a flag's default after its help, unless the help already speaks of it."""

    def _format_action(self, action: argparse.Action) -> str:
        flag_like = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        text = action.help or ""
        if isinstance(action, argparse.BooleanOptionalAction) and "(default" not in text:
            action = copy.copy(action)
            action.help = text = f"{text} (default {'on' if action.default else 'off'})"
        if not (action.default in (None, argparse.SUPPRESS) or action.required or flag_like
                or "(default" in text or action.help is argparse.SUPPRESS):
            action = copy.copy(action)
            shown = (",".join(action.default) if action.type is comma_list
                     else _default_text(action.default))
            action.help = f"{text} (default {shown})".lstrip()
        return super()._format_action(action)


# The flags most steps share, written once: name -> add_argument keywords.
SHARED_FLAGS = {
    "videos": dict(required=True, help="dataset index videos.csv"),
    "threads": dict(type=at_least(1), help="CPU threads"),
    "device": dict(help="cpu, cuda, cuda:N or auto (CUDA when available)"),
    "seed": dict(type=int, help="random seed"),
    # Taken by the parser itself (the process restarts with the pins before any torch work).
    "determinism": dict(choices=cpu_kernels.MODES, help="CPU kernels: native (the best this CPU "
                        "has) or portable (AVX2-pinned: the same bits on other x86-64 CPUs); "
                        "default: as the environment says"),
}
PARSER_FLAGS = ("determinism",)  # shared flags no step function takes


class StepParser(argparse.ArgumentParser):
    """The command line of one step function: ``prog`` is the step's module, a flag's default
    is the function's (its signature holds each default once), and :meth:`run` calls the
    function with the parsed flags (a flag's ``dest`` is the parameter's name)."""

    def __init__(self, step: Callable, description: str, *, prog: str | None = None,
                 passes_to: Callable | None = None):
        """``passes_to``: the function ``step`` hands its ``**keywords`` on to; its keyword
        parameters (and their defaults) count as the step's."""
        self._step = step
        self._params = dict(inspect.signature(step).parameters)
        if passes_to is not None:
            self._params = {**{n: q for n, q in inspect.signature(passes_to).parameters.items()
                               if q.kind is q.KEYWORD_ONLY}, **self._params}
        self._checks: list[tuple[Callable[[argparse.Namespace], bool], str]] = []
        super().__init__(prog=prog or f"python -m {_step_name(step)}", description=description,
                         formatter_class=_StepHelp)

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        flag = next((a for a in args if a.startswith("--")), None)
        if flag is not None:
            name = flag[2:].replace("-", "_")
            # --videos -> videos_csv: a path parameter is named after its flag and its kind
            named = [p for p in self._params if p.startswith(f"{name}_")]
            if "dest" not in kwargs and name not in self._params and len(named) == 1:
                kwargs["dest"] = named[0]
            if (kwargs.get("dest", name) != name and kwargs.get("action") in (None, "append")
                    and "choices" not in kwargs):
                kwargs.setdefault("metavar", name.upper())  # the flag's name, not the dest's
        action = super().add_argument(*args, **kwargs)
        param = self._params.get(action.dest)
        if ("default" not in kwargs and not action.required and param is not None
                and param.default is not param.empty):
            action.default = param.default
        return action

    def shared(self, *names: str, out: str | None = None) -> None:
        """Add the shared flags ``names`` (keys of :data:`SHARED_FLAGS`); ``out``: the help
        of a required ``--out`` (the step's own words: what it writes)."""
        if out is not None:
            self.add_argument("--out", required=True, help=out)
        for name in names:
            self.add_argument(f"--{name}", **SHARED_FLAGS[name])

    def check(self, test: Callable[[argparse.Namespace], bool], message: str) -> None:
        """After parsing, stop with ``message`` (a usage error, exit 2) where ``test`` fails."""
        self._checks.append((test, message))

    def run(self, argv: list[str] | None = None):
        """Parse ``argv``, run the checks and call the step function with the flags."""
        dests = {a.dest for a in self._actions if a.dest != "help"}
        unknown = dests - set(self._params) - set(PARSER_FLAGS)
        missing = {n for n, p in self._params.items()
                   if p.default is p.empty and p.kind is not p.VAR_KEYWORD} - dests
        if unknown or missing:  # a wiring mistake in the step module, not the user's
            raise TypeError(f"{self.prog}: flags without a parameter {sorted(unknown)}, "
                            f"parameters without a flag {sorted(missing)}")
        args = self.parse_args(argv)
        for test, message in self._checks:
            if not test(args):
                self.error(message)
        kwargs = vars(args)
        mode = kwargs.pop("determinism", None)
        if mode is not None:
            cpu_kernels.use(mode)
        if "torch" in sys.modules:  # a torch step: MKL set up before any parallel work
            cpu_kernels.warm_up_mkl()
        return self._step(**kwargs)
