"""Which CPU kernels a step's torch runs: ``native`` (the best the CPU has) or ``portable``
(pinned to kernels that every x86-64 CPU with AVX2 runs alike, Intel or AMD, of any
generation, so that they compute the same bits).

PyTorch, oneDNN and MKL each pick their kernels by the CPU they find: an AVX-512 machine and an
AVX2 one run other code for the same convolution or matrix product, and the last bits of a
result differ (the vanilla encoder of the same pretraining command was ``a6d9393e4d4d`` with
AVX-512 kernels, ``eb2998fd3dd9`` with AVX2 ones). ``portable`` sets, before torch starts,

* ``ATEN_CPU_CAPABILITY=avx2``: PyTorch's own vectorised kernels;
* ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN's (convolutions);
* ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility (matrix products, vector
  math) in the branch that Intel and AMD CPUs run alike: with ``AVX2,STRICT``, MKL's vector
  math still followed the CPU's vendor (a portable encoder was ``e95701dc79e3`` on MKL's generic
  path, ``6766746648e2`` on its Intel path; ``299ddfc9337d`` on both with ``COMPATIBLE``);

and the thread count is each step's ``--threads`` already. The variables are read once, when
each library starts, so a step that must change them starts itself again (``os.execv``: same
process id, same arguments) with them set.

Either way, :func:`warm_up_mkl` runs before a job's first parallel torch work: where MKL takes
its Intel code path, the process's first vector-math call (``torch.sqrt``, ``exp``, ... are
MKL VML calls on each thread's chunk) made by several threads at once can hand one of them a
~12-bit approximation (docs/cluster.md, Determinism).
"""

from __future__ import annotations

import os
import sys

MODES = ("native", "portable")
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                "MKL_CBWR": "COMPATIBLE"}


def is_portable() -> bool:
    """Whether this process runs with the portable pins."""
    return all(os.environ.get(k) == v for k, v in PORTABLE_ENV.items())


def use(mode: str) -> None:
    """Make this process run ``mode``'s kernels: for ``portable`` without the pins yet, start
    the process again with them (does not return); ``native`` leaves the environment as it is."""
    if mode not in MODES:
        raise ValueError(f"determinism must be one of {MODES}; got {mode!r}")
    if mode == "native" or is_portable():
        return
    os.environ.update(PORTABLE_ENV)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


_mkl_warm = False


def warm_up_mkl() -> None:
    """Make MKL's first vector-math call of the process on this thread alone (once).

    MKL VML sets itself up on its first call; when threads make that call at the same moment
    (an OpenMP team's chunks of one ``torch.sqrt``), one of them may run the call with a
    low-accuracy kernel: an Adagrad or Adam step whose first square root is ~12 bits off on the
    main thread's half of a weight. ``tests/chaos/mkl_first_call.py`` provokes it; a single
    call beforehand, small enough to stay on one thread, removes it."""
    global _mkl_warm
    if not _mkl_warm:
        import torch

        torch.sqrt(torch.ones(8))  # below ATen's parallel grain: one thread, one VML call
        _mkl_warm = True


def record() -> dict[str, str]:
    """What an artifact records of the kernels it was made with: the CPU capability PyTorch
    dispatches to (e.g. AVX512, AVX2) and the mode."""
    import torch

    return {"cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
            "determinism": "portable" if is_portable() else "native"}
