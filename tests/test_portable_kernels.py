"""determinism: portable - the CPU kernels pinned, so that an AVX-512 machine and an AVX2 one,
Intel or AMD, make the same vanilla encoder bit for bit; every artifact records its kernels;
every torch job warms MKL up on one thread first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mist_steps import cpu_kernels
from mist_steps.cli import StepParser
from mist_steps.training.determinism import seeded_torch

sys.path.insert(0, str(Path(__file__).parent / "chaos"))
import mkl_path  # noqa: E402  (tests/chaos: the MKL shim)

# A two-step proxy pretraining at 32 px: the vanilla encoder of the test configuration.
PRETRAIN = [sys.executable, "-m", "mist_steps.steps.pretrain_encoder", "--arch", "i3d",
            "--input-size", "32", "--steps", "2", "--motion-steps", "1", "--batch-size", "2",
            "--val-clips", "4", "--seed", "0", "--threads", "1", "--no-progress"]
# What PyTorch and oneDNN choose by themselves on a CPU without AVX-512.
AVX2_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in cpu_kernels.PORTABLE_ENV}
    return {**env, **extra}


def test_portable_pretraining_is_the_same_on_avx512_and_avx2_kernels(tmp_path):
    runs = {  # name -> (mode, environment)
        "native": ("native", _clean_env()),
        "portable": ("portable", _clean_env()),
        "portable_on_avx2": ("portable", _clean_env(**AVX2_MACHINE)),
    }
    if shutil.which("cc"):  # MKL as on an Intel CPU (this one may be an AMD one)
        runs["portable_on_intel_mkl"] = ("portable", _clean_env(
            LD_PRELOAD=str(mkl_path.build("mkl_shim.c", folder=tmp_path)),
            MKL_SHIM_INTEL_PATH="1"))
    procs = {name: subprocess.Popen([*PRETRAIN, "--out", str(tmp_path / f"{name}.pt"),
                                     "--determinism", mode], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, (mode, env) in runs.items()}
    made = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        made[name] = torch.load(tmp_path / f"{name}.pt", weights_only=True)
    portable = [name for name in made if name.startswith("portable")]
    assert {made[name]["weights_sha256"] for name in portable} == \
        {made["portable"]["weights_sha256"]}, {name: made[name]["weights_sha256"] for name in made}
    for name in portable:
        meta = made[name]["meta"]
        assert (meta["cpu_capability"], meta["determinism"]) == ("AVX2", "portable"), name
    native = made["native"]["meta"]
    assert native["determinism"] == "native"
    assert native["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    if native["cpu_capability"] == "AVX512":  # the pins are what makes the two agree
        assert made["native"]["weights_sha256"] != made["portable"]["weights_sha256"]


def test_modes_and_the_step_flag(monkeypatch):
    for key in cpu_kernels.PORTABLE_ENV:
        monkeypatch.delenv(key, raising=False)
    cpu_kernels.use("native")  # leaves the process (and its environment) as it is
    assert not cpu_kernels.is_portable()
    with pytest.raises(ValueError, match="portable"):
        cpu_kernels.use("avx2")
    monkeypatch.setattr(os, "environ", {**os.environ, **cpu_kernels.PORTABLE_ENV})
    cpu_kernels.use("portable")  # already pinned: no restart
    assert cpu_kernels.is_portable()
    help_text = subprocess.run([sys.executable, "-m", "mist_steps.steps.score_mist", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "--determinism {native,portable}" in help_text


def test_torch_work_starts_with_mkl_warmed_up_on_one_thread(monkeypatch):
    """Every torch step (its parser, torch imported) and every seeded training block make
    MKL's first vector-math call on their own thread before any parallel work; see
    tests/chaos/mkl_first_call.py for the race this prevents."""
    calls = []
    monkeypatch.setattr(cpu_kernels, "warm_up_mkl", lambda: calls.append("warm"))

    def step(x: int) -> None:
        calls.append("step")

    parser = StepParser(step, "a torch step")
    parser.add_argument("--x", type=int, required=True)
    parser.run(["--x", "1"])
    assert calls == ["warm", "step"]
    calls.clear()
    with seeded_torch(threads=1, seed=0):
        calls.append("work")
    assert calls == ["warm", "work"]
