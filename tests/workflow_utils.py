"""Run the workflow from tests: in a scratch folder, on a copy of config.yaml with overrides."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config_tiny.yaml"


def merge(base: dict, overrides: dict) -> dict:
    """Deep-merge ``overrides`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(tiny: bool = True, overrides: dict | None = None) -> dict:
    """config.yaml (optionally with the tiny test sizes) plus ``overrides``; the shipped
    resources/ paths made absolute so the workflow can run from any folder."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if tiny:
        config = merge(config, yaml.safe_load(TINY_CONFIG.read_text()))
    config = merge(config, overrides or {})
    for entry in [*config["datasets"].values(), *config["encoders"].values()]:
        for values in [entry, *(v for v in entry.values() if isinstance(v, dict))]:
            for key, value in values.items():
                if isinstance(value, str) and value.startswith("resources/"):
                    values[key] = str(REPO / value)
    return config


def write_config(workdir: Path, config: dict) -> Path:
    path = Path(workdir) / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run snakemake on the repository's Snakefile with ``workdir/config.yaml``."""
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(Path(workdir) / "config.yaml"),
        *args,
    ]
    env = dict(os.environ)
    # Jobs call `python -m mist_steps...`: the interpreter running the tests must be found first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
