"""The two proxy tasks a vanilla encoder is pretrained on, one after the other.

* ``classes`` (:mod:`mist_steps.synth.proxy_clips`): one big object, one motion class per
  clip; cross-entropy; reported by accuracy (overall and per class).
* ``motion`` (:mod:`mist_steps.synth.motion_clips`): several objects of many sizes, the set
  of motion primitives in view as a multi-hot target; a binary cross-entropy per primitive;
  reported by mean average precision over the primitives (scikit-learn) and the share of
  right per-primitive decisions at 0.5.

A task bundles what the shared loop (:mod:`mist_steps.training.pretrain_loop`) needs: its
labels, a batch maker, the loss and the batch accuracy for the log, and the validation summary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from mist_steps.synth.motion_clips import PRIMITIVES, make_motion_batch
from mist_steps.synth.proxy_clips import make_batch


@dataclass(frozen=True)
class ProxyTask:
    name: str
    labels: tuple[str, ...]
    # (seed, indices, size, split, difficulty) -> (uint8 clips [B, T, S, S, 3], targets)
    make_batch: Callable[..., tuple[np.ndarray, np.ndarray]]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    accuracy: Callable[[torch.Tensor, torch.Tensor], float]
    # (logits [N, C], targets) of the validation clips -> the metrics for the meta and the log
    summarise: Callable[[np.ndarray, np.ndarray], dict]


def _class_batch(classes, seed, indices, size, split, difficulty):
    return make_batch(seed, indices, size=size, classes=classes, split=split,
                      difficulty=difficulty)


def _class_accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    return float((logits.argmax(1) == target).float().mean())


def _class_summary(classes: tuple[str, ...], logits: np.ndarray, target: np.ndarray) -> dict:
    n = len(classes)
    scores = torch.from_numpy(logits)
    loss = float(F.cross_entropy(scores, torch.from_numpy(target), reduction="mean"))
    right = logits.argmax(1) == target
    per_class = [float(right[target == k].mean()) if (target == k).any() else None
                 for k in range(n)]
    return {"val_accuracy": float(right.mean()), "val_loss": loss,
            "val_accuracy_per_class": dict(zip(classes, per_class, strict=True)),
            "chance": 1.0 / n}


def classes_task(classes: Sequence[str]) -> ProxyTask:
    """Single-label classification of the proxy clips' main motion."""
    classes = tuple(classes)
    return ProxyTask("classes", classes, partial(_class_batch, classes), F.cross_entropy,
                     _class_accuracy, partial(_class_summary, classes))


def _motion_batch(seed, indices, size, split, difficulty):
    return make_motion_batch(seed, indices, size=size, split=split, difficulty=difficulty)


def _label_accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    return float(((logits > 0).float() == target).float().mean())


def _motion_summary(logits: np.ndarray, target: np.ndarray) -> dict:
    loss = float(F.binary_cross_entropy_with_logits(torch.from_numpy(logits),
                                                    torch.from_numpy(target)))
    present = [k for k in range(len(PRIMITIVES)) if 0 < target[:, k].sum() < len(target)]
    ap = {PRIMITIVES[k]: float(average_precision_score(target[:, k], logits[:, k]))
          for k in present}
    return {"val_map": float(np.mean(list(ap.values()))) if ap else None,
            "val_ap_per_primitive": ap, "val_loss": loss,
            "val_label_accuracy": float(((logits > 0) == (target > 0.5)).mean()),
            "positive_rate": float(target.mean())}


def motion_task() -> ProxyTask:
    """Multi-label: which motion primitives happen anywhere in the clip."""
    return ProxyTask("motion", PRIMITIVES, _motion_batch, F.binary_cross_entropy_with_logits,
                     _label_accuracy, _motion_summary)
