"""Files of the official MIST code (fjchange/MIST_VAD ``data/``), read safely:

* released stage-I pseudo labels, ``<DS>_<ENC>_PLs.npy``: a dict from ``'<video>.npy'`` to one
  float per 16-frame clip (:func:`read_released_pseudo_labels`);
* UCF-Crime spatial annotations, ``Test_Spatial_Annotation.npy``: a dict from
  ``'<Name>_x264'`` to ``{frame index: [x1, y1, x2, y2]}`` in pixels of the 320x240 videos
  (:func:`read_spatial_boxes`).

Both are NumPy ``.npy`` files holding a pickled dict (``np.save`` of a dict). Unpickling can
run arbitrary code, so they are read with an unpickler that accepts nothing but NumPy arrays
and dtypes (the way ``torch.load(..., weights_only=True)`` reads checkpoints): a file that
needs anything else is refused, never executed.
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


def load_pickled_dict(path: str | os.PathLike, how_to: str) -> dict:
    """The non-empty dict a ``.npy`` file of the official code holds (module docstring);
    ``how_to``: what the file should be, for the errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; {how_to}")
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            readers = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise InputError(f"{path}: .npy format version {version} is not read here "
                                 f"(1.0 and 2.0 are); {how_to}")
            shape, _, dtype = readers[version](f, max_header_size=10_000)
            if shape != () or not dtype.hasobject:
                raise InputError(f"{path}: an array of shape {shape} and dtype {dtype}, not a "
                                 f"pickled dict; {how_to}")
            obj = _ArraysOnly(f).load()
    except InputError:
        raise
    except (ValueError, EOFError, pickle.UnpicklingError, AttributeError, TypeError) as err:
        raise InputError(f"{path}: not a readable file of this kind ({err}); {how_to}") from None
    obj = obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj
    if not isinstance(obj, dict) or not obj:
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a non-empty dict; {how_to}")
    return obj


def read_released_pseudo_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Video id (the key without ``.npy``) -> its clip labels (float64, 1-D, finite, in
    [0, 1]). Anything else is an :class:`~mist_steps.errors.InputError` naming the file."""
    obj = load_pickled_dict(path, HOW_TO)
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


SPATIAL_HOW_TO = ("expected the official UCF-Crime spatial annotation file (a pickled dict "
                  "'<Name>_x264' -> {frame: [x1, y1, x2, y2]}, fjchange/MIST_VAD "
                  "data/Test_Spatial_Annotation.npy)")
SPATIAL_FRAME = (240, 320)  # (H, W) of the videos the boxes' pixels refer to


def read_spatial_boxes(path: str | os.PathLike) -> dict[str, dict[int, list[tuple]]]:
    """Video id -> frame index -> boxes ``[(x0, y0, x1, y1)]`` (pixels of a 320x240 frame,
    :data:`SPATIAL_FRAME`; one box a frame in the official file), checked: integer frames,
    four finite numbers with x0 < x1 and y0 < y1."""
    obj = load_pickled_dict(path, SPATIAL_HOW_TO)
    out: dict[str, dict[int, list[tuple]]] = {}
    for video, frames in obj.items():
        if not isinstance(video, str) or not isinstance(frames, dict):
            raise InputError(f"{path}: entry {video!r} is not '<video>' -> {{frame: box}}; "
                             f"{SPATIAL_HOW_TO}")
        for frame, box in frames.items():
            try:
                t, (x0, y0, x1, y1) = int(frame), (float(v) for v in np.asarray(box).ravel())
            except (TypeError, ValueError):
                raise InputError(f"{path}: video {video}, frame {frame!r}: box {box!r} is not "
                                 f"[x1, y1, x2, y2]; {SPATIAL_HOW_TO}") from None
            if not (np.isfinite([x0, y0, x1, y1]).all() and x0 < x1 and y0 < y1):
                raise InputError(f"{path}: video {video}, frame {t}: box {box!r} is empty or "
                                 f"not finite")
            out.setdefault(video, {}).setdefault(t, []).append((x0, y0, x1, y1))
    return out
