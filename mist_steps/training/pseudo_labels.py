"""Pseudo labels from generator scores: moving-average smoothing and per-video min-max
normalisation.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)
CONSTANT_RANGE = 1e-6  # scores are in [0, 1]; a smaller spread is float noise, not an ordering


def moving_average(x: np.ndarray, window: int = 5, passes: int = 1) -> np.ndarray:
    """Centred moving average of ``window`` (odd) values, ends edge-replicated, ``passes``
    times; same length as ``x``, float32."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number; got {window}")
    if passes < 0:
        raise ValueError(f"passes must be >= 0; got {passes}")
    y = np.asarray(x, dtype=np.float64)
    box = np.full(window, 1.0 / window)
    for _ in range(passes):
        y = np.convolve(np.pad(y, window // 2, mode="edge"), box, mode="valid")
    return y.astype(np.float32)


def min_max(x: np.ndarray, *, video_id: str | None = None) -> np.ndarray:
    """``(x - min) / (max - min)``, float32; all zeros (and a warning) when ``x`` is constant
    (range below :data:`CONSTANT_RANGE`)."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < CONSTANT_RANGE:
        log.warning("video %s: constant scores (%.6g over %d clips); its pseudo labels are "
                    "all 0", video_id or "?", lo, x.size)
        return np.zeros(x.shape, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def refine(scores: np.ndarray, *, window: int = 5, passes: int = 2,
           video_id: str | None = None) -> np.ndarray:
    """Pseudo labels of an abnormal video from its clip scores (smooth, then min-max)."""
    return min_max(moving_average(scores, window, passes), video_id=video_id)
