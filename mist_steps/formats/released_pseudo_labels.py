"""The authors' released stage-I pseudo labels (fjchange/MIST_VAD ``data/<DS>_<ENC>_PLs.npy``).

Such a file is a NumPy ``.npy`` holding a pickled dict from ``'<video>.npy'`` to one float per
16-frame clip (``np.save`` of a dict). Unpickling can run arbitrary code, so the file is read
with an unpickler that accepts nothing but NumPy arrays and dtypes (the way
``torch.load(..., weights_only=True)`` reads checkpoints): a file that needs anything else is
refused, never executed.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from mist_steps.errors import InputError

_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array re-builder, whatever its module
_ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT}
HOW_TO = ("expected the official code's pseudo-label file (a pickled dict '<video>.npy' -> "
          "[clips], e.g. fjchange/MIST_VAD data/SHT_I3D_PLs.npy)")


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def read_released_pseudo_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Video id (the key without ``.npy``) -> its clip labels (float64, 1-D, finite, in
    [0, 1]). Anything else is an :class:`~mist_steps.errors.InputError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: released pseudo-label file not found; {HOW_TO}")
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            readers = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise InputError(f"{path}: .npy format version {version} is not read here "
                                 f"(1.0 and 2.0 are); {HOW_TO}")
            shape, _, dtype = readers[version](f, max_header_size=10_000)
            if shape != () or not dtype.hasobject:
                raise InputError(f"{path}: an array of shape {shape} and dtype {dtype}, not a "
                                 f"pickled dict; {HOW_TO}")
            obj = _ArraysOnly(f).load()
    except InputError:
        raise
    except (ValueError, EOFError, pickle.UnpicklingError, AttributeError, TypeError) as err:
        raise InputError(f"{path}: not a readable pseudo-label file ({err}); {HOW_TO}") from None
    obj = obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj
    if not isinstance(obj, dict) or not obj:
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a non-empty dict; {HOW_TO}")
    labels = {}
    for key, values in obj.items():
        if not isinstance(key, str) or not key.endswith(".npy"):
            raise InputError(f"{path}: key {key!r} is not '<video>.npy'; {HOW_TO}")
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{path}: the labels of {key} are not numbers; {HOW_TO}") from None
        if arr.ndim != 1 or arr.size == 0:
            raise InputError(f"{path}: the labels of {key} have shape {arr.shape}; expected "
                             f"one value per clip")
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise InputError(f"{path}: the labels of {key} leave [0, 1] (min {arr.min()}, max "
                             f"{arr.max()}); pseudo labels are min-max normalised scores")
        labels[key[:-len(".npy")]] = arr
    return labels
