"""Which CPU kernels a step's torch runs: ``native`` (the best the CPU has) or ``portable``
(pinned to AVX2, so that x86-64 CPUs of different generations compute the same bits).

PyTorch, oneDNN and MKL each pick their kernels by the CPU they find: an AVX-512 machine and an
AVX2 one run other code for the same convolution or matrix product, and the last bits of a
result differ (the vanilla encoder of the same pretraining command was ``a6d9393e4d4d`` with
AVX-512 kernels, ``eb2998fd3dd9`` with AVX2 ones). ``portable`` sets, before torch starts,

* ``ATEN_CPU_CAPABILITY=avx2``: PyTorch's own vectorised kernels;
* ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN's (convolutions);
* ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility (matrix products);

and the thread count is each step's ``--threads`` already. The variables are read once, when
each library starts, so a step that must change them starts itself again (``os.execv``: same
process id, same arguments) with them set.
"""

from __future__ import annotations

import os
import sys

MODES = ("native", "portable")
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                "MKL_CBWR": "AVX2,STRICT"}


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


def record() -> dict[str, str]:
    """What an artifact records of the kernels it was made with: the CPU capability PyTorch
    dispatches to (e.g. AVX512, AVX2) and the mode."""
    import torch

    return {"cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
            "determinism": "portable" if is_portable() else "native"}
