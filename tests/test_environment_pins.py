"""The pip route (pyproject.toml) and the conda route (environment.yml) pin the same versions."""

import re
import tomllib

import yaml
from workflow_utils import REPO


def pip_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    pins = {}
    for spec in specs:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.]+)", spec).groups()
        pins[name.lower()] = version
    return pins


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            for spec in dep["pip"]:
                name, version = spec.split("==")
                pins[name.lower()] = version
            continue
        name, _, version = dep.partition("=")
        if name not in ("python", "pip"):
            pins[name.lower()] = version
    return pins


def test_every_dependency_is_pinned_exactly():
    assert all(pip_pins().values())


def test_pip_and_conda_pin_the_same_versions():
    assert pip_pins() == conda_pins()


def test_torch_is_the_cpu_wheel_version_available_here():
    assert pip_pins()["torch"] == "2.13.0"


def test_python_version_agrees():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["requires-python"] == ">=" + conda_python.split("=")[1]
