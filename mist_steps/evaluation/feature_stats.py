"""Building block: how collapsed a features file is.

A barely trained encoder maps every clip to nearly the same direction: a few principal
components then hold almost all of the features' variance, and a stage-I generator on them
scores every clip alike. :func:`top_pc_share` measures that: the share of the total variance
of the clip features (crop mean, every video of the file) in their top ``k`` principal
components (1.0: all variance in k directions; k / D for isotropic features).
"""

from __future__ import annotations

import os

import numpy as np

from mist_steps.errors import InputError
from mist_steps.formats.features import FeatureFile

TOP_PCS = 5


def pc_variances(features: np.ndarray) -> np.ndarray:
    """Variances along the principal components of ``features`` [N, D], largest first."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    # eigenvalues of the D x D covariance: cheaper than an SVD of N x D when N > D
    cov = x.T @ x / max(len(x) - 1, 1)
    return np.clip(np.linalg.eigvalsh(cov)[::-1], 0.0, None)


def top_pc_share(features_h5: str | os.PathLike, k: int = TOP_PCS) -> float:
    """Share of the variance of ``features_h5``'s clip features in their top ``k`` PCs."""
    with FeatureFile(features_h5) as ff:
        rows = [x.astype(np.float32).mean(axis=1) for _, x in ff]
    if not rows or sum(len(r) for r in rows) < 2:
        raise InputError(f"{features_h5}: fewer than two clips; the principal components of "
                         f"its features are undefined")
    var = pc_variances(np.concatenate(rows))
    total = var.sum()
    if total <= 0:
        return 1.0  # every clip has the same feature: fully collapsed
    return float(var[:k].sum() / total)
