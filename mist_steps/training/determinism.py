"""A reproducible torch run: thread count, deterministic algorithms and a seeded RNG that
leaves the caller's untouched; denormal floats flushed to zero."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch

from mist_steps import cpu_kernels


def _set_deterministic_algorithms(mode: bool, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` without its import of Inductor (2.5 s of every
    job's start-up on this CPU) when Inductor is not loaded: nothing here compiles, and
    Inductor's own deterministic flag is then nobody's concern. Same eager-mode setting."""
    if "torch._inductor" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextlib.contextmanager
def threads_and_determinism(threads: int, deterministic: bool = True) -> Iterator[None]:
    """For the block: ``threads`` torch threads and (``deterministic``) deterministic
    algorithms, warn-only; both restored afterwards. MKL is set up first, on this thread
    (:func:`mist_steps.cpu_kernels.warm_up_mkl`)."""
    cpu_kernels.warm_up_mkl()
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(int(threads))
    if deterministic:
        _set_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        _set_deterministic_algorithms(prev_det, warn_only=prev_warn)


@contextlib.contextmanager
def seeded_torch(threads: int, seed: int, dev: torch.device | None = None) -> Iterator[None]:
    """For the block: ``threads`` torch threads, deterministic algorithms (warn-only) on a
    CPU ``dev`` (None: the CPU), and the global RNG (and ``dev``'s on CUDA) forked and seeded
    with ``seed``; everything is restored afterwards. On CUDA, bf16 autocast is not bitwise
    reproducible anyway, so deterministic algorithms stay as they are.

    Denormal floats are flushed to zero on the CPU: weight decay drives the weights of dead
    feature dimensions towards 0, and arithmetic on denormals (|x| < 1.2e-38) is so slow on
    x86 that a generator run slowed from 2.6 to 0.4 steps/s as they appeared."""
    dev = torch.device("cpu") if dev is None else dev
    flushed = torch.set_flush_denormal(True)  # False where the CPU cannot
    try:
        with threads_and_determinism(threads, deterministic=dev.type == "cpu"):
            cuda = [dev.index if dev.index is not None else torch.cuda.current_device()] \
                if dev.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(seed)
                yield
    finally:
        if flushed:
            torch.set_flush_denormal(False)
