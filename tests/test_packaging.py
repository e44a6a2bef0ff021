"""What a user installs: the license, the citation file, the declared dependencies and the
`mist-score` command."""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import entry_points

import pytest
import yaml
from workflow_utils import REPO

from mist_steps import score


def test_license_and_citation():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    assert paper["title"].startswith("MIST: Multiple Instance Self-Training")
    assert [a["family-names"] for a in paper["authors"]] == ["Feng", "Hong", "Zheng"]


def test_jsonschema_is_declared_not_borrowed():
    """mist_steps/config_schema.py imports jsonschema: a dependency of its own, not only
    snakemake's."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("jsonschema==") for d in deps)


def test_mist_score_command(monkeypatch, capsys):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["mist-score"] == "mist_steps.score:entry"
    installed = entry_points(group="console_scripts", name="mist-score")
    if installed:  # an installed checkout: the command runs the online scorer
        assert next(iter(installed)).load() is score.entry
    monkeypatch.setattr(sys, "argv", ["mist-score", "--help"])
    with pytest.raises(SystemExit) as done:
        score.entry()
    assert done.value.code == 0 and "--model" in capsys.readouterr().out
