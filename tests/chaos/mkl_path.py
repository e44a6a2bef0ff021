"""MKL's vector math (VML) for the chaos scripts: torch's MKL loaded without torch's start-up,
the code path it takes, a way to make it take the Intel one, and the C helpers (built with
``cc`` into a temporary folder).

MKL picks its kernels by CPU vendor: on Intel CPUs its Intel path (AVX-512 kernels with several
accuracy levels), elsewhere a generic path. The first-call race of ``mkl_first_call.py`` only
exists on the Intel path, so on an AMD machine a script can ask for it: ``mkl_shim.c``, preloaded,
answers MKL's vendor check with "Intel" (and counts ``vmsSqrt`` calls).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VML_HA, VML_EP = 0x2, 0x3  # MKL's high-accuracy and enhanced-performance (~half the bits) modes
VML_FLAGS = 0x140000 | 0x100  # VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE, as ATen calls it


def build(source: str, *flags: str, folder: Path | None = None) -> Path:
    """``tests/chaos/<source>`` compiled into a shared library in ``folder`` (default: a new
    temporary one); exits with a clear message where no C compiler is found."""
    folder = Path(tempfile.mkdtemp(prefix="mkl-chaos-")) if folder is None else folder
    out = folder / Path(source).with_suffix(".so").name
    try:
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", *flags, "-o", str(out),
                        str(HERE / source), "-ldl"], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as err:
        sys.exit(f"building {source} needs a C compiler (cc): {err}; install gcc")
    return out


def restart_with_shim(intel_path: bool) -> None:
    """Start this script again with ``mkl_shim.c`` preloaded (and, ``intel_path``, MKL's Intel
    path asked for); returns at once when it is."""
    if "mkl_shim" in os.environ.get("LD_PRELOAD", ""):
        return
    shim = build("mkl_shim.c")
    os.environ["LD_PRELOAD"] = " ".join(
        p for p in (str(shim), os.environ.get("LD_PRELOAD", "")) if p)
    if intel_path:
        os.environ["MKL_SHIM_INTEL_PATH"] = "1"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def vml() -> ctypes.CDLL | None:
    """torch's own MKL (``libtorch_cpu.so``), loaded without importing torch (whose start-up
    makes MKL service calls), or None where this torch has no MKL VML."""
    spec = importlib.util.find_spec("torch")
    lib = ctypes.CDLL(str(Path(spec.origin).parent / "lib" / "libtorch_cpu.so"))
    return lib if hasattr(lib, "vmsSqrt") else None


def vms_sqrt(lib: ctypes.CDLL, x: np.ndarray, out: np.ndarray, mode: int = VML_HA) -> None:
    """MKL's ``vmsSqrt`` of float32 ``x`` into ``out``."""
    lib.vmsSqrt(ctypes.c_int(x.size), x.ctypes.data_as(ctypes.c_void_p),
                out.ctypes.data_as(ctypes.c_void_p), ctypes.c_longlong(mode | VML_FLAGS))


def path(lib: ctypes.CDLL) -> str:
    """``intel`` where MKL's low-accuracy square root differs from its accurate one (the Intel
    path has both), else ``generic``. Makes VML calls: call it after a race, never before."""
    x = np.linspace(1e-12, 1e-6, 4096, dtype=np.float32)
    ha, ep = np.empty_like(x), np.empty_like(x)
    vms_sqrt(lib, x, ha, VML_HA)
    vms_sqrt(lib, x, ep, VML_EP)
    return "generic" if np.array_equal(ha, ep) else "intel"
