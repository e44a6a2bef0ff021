"""The step command line: flags take the step function's defaults and map onto its parameters."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import mist_steps.steps
from mist_steps.cli import StepParser, at_least, comma_list

STEP_MODULES = sorted(f"mist_steps.steps.{m.name}"
                      for m in pkgutil.iter_modules(mist_steps.steps.__path__))


@pytest.mark.parametrize("module", STEP_MODULES + ["mist_steps.score"])
def test_every_flag_of_every_step_is_a_parameter_of_its_function(module, capsys):
    """``run`` checks the wiring before it parses, so ``--help`` proves it for each step."""
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(["--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m {module} ")


def _step(videos_csv, out_csv, *, lr: float = 3e-4, classes=("a", "b"), threads: int = 2,
          verbose: bool = False):
    return locals()


def test_defaults_come_from_the_signature_and_show_in_the_help(capsys):
    p = StepParser(_step, "demo", prog="demo")
    p.shared("videos", "threads", out="output CSV")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--classes", type=comma_list)
    p.add_argument("--verbose", action="store_true")
    got = p.run(["--videos", "v.csv", "--out", "o.csv", "--classes", "x, y,"])
    assert got == {"videos_csv": "v.csv", "out_csv": "o.csv", "lr": 3e-4, "classes": ["x", "y"],
                   "threads": 2, "verbose": False}
    assert p.run(["--videos", "v", "--out", "o", "--lr", "0.1"])["lr"] == 0.1
    p.print_help()
    text = " ".join(capsys.readouterr().out.split())
    assert "learning rate (default 0.0003)" in text and "(default a,b)" in text
    assert "--videos VIDEOS" in text and "CPU threads (default 2)" in text


def test_a_bound_names_the_flag(capsys):
    p = StepParser(_step, "demo", prog="demo")
    p.shared("videos", "threads", out="o")
    with pytest.raises(SystemExit):
        p.run(["--videos", "v", "--out", "o", "--threads", "0"])
    assert "argument --threads: must be >= 1, got 0" in capsys.readouterr().err
    assert at_least(0.5, float)("0.5") == 0.5


def test_checks_run_after_parsing(capsys):
    p = StepParser(_step, "demo", prog="demo")
    p.shared("videos", out="o")
    p.add_argument("--lr", type=float)
    p.check(lambda a: a.lr < 1, "--lr must be < 1")
    with pytest.raises(SystemExit):
        p.run(["--videos", "v", "--out", "o", "--lr", "2"])
    assert "--lr must be < 1" in capsys.readouterr().err


def test_a_wiring_mistake_is_the_step_authors_not_the_users():
    p = StepParser(_step, "demo", prog="demo")
    p.shared("videos", out="o")
    p.add_argument("--learning-rate", type=float)  # no parameter of that name
    with pytest.raises(TypeError, match=r"flags without a parameter \['learning_rate'\]"):
        p.run(["--videos", "v", "--out", "o"])
    p = StepParser(_step, "demo", prog="demo")
    p.add_argument("--videos")  # out_csv, a required parameter, has no flag
    with pytest.raises(TypeError, match=r"parameters without a flag \['out_csv'\]"):
        p.run(["--videos", "v"])
