"""determinism: portable - the CPU kernels pinned to AVX2, so that an AVX-512 machine and an
AVX2 one make the same vanilla encoder bit for bit; every artifact records its kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from mist_steps import cpu_kernels

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
    procs = {name: subprocess.Popen([*PRETRAIN, "--out", str(tmp_path / f"{name}.pt"),
                                     "--determinism", mode], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, (mode, env) in runs.items()}
    made = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        made[name] = torch.load(tmp_path / f"{name}.pt", weights_only=True)
    assert made["portable"]["weights_sha256"] == made["portable_on_avx2"]["weights_sha256"]
    for name in ("portable", "portable_on_avx2"):
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
