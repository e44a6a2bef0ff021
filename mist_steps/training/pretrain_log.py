"""What a proxy pretraining run reports: the per-step log CSV beside the encoder file and
the accuracies logged and stored in its meta."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np

from mist_steps.formats.atomic import write_text

log = logging.getLogger(__name__)

# task: classes | motion (the second task's steps count from 0 again); accuracy: the batch's
# share of right answers (motion: of right per-primitive decisions at 0.5)
LOG_HEADER = "task,step,lr,loss,side_loss,accuracy,seconds\n"


def log_path(out_path: str | Path) -> Path:
    """Where the per-step training log of ``out_path`` goes."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".log.csv")


def write_log(out_path: str | Path, rows: list[tuple]) -> None:
    """Write the per-step rows of :func:`~mist_steps.training.pretrain_loop._train_steps` to
    :func:`log_path`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    buf.write(LOG_HEADER)
    writer.writerows((k, s, f"{r:.6g}", f"{lo:.6f}", f"{sl:.6f}", f"{a:.4f}", f"{t:.3f}")
                     for k, s, r, lo, sl, a, t in rows)
    write_text(log_path(out_path), buf.getvalue())


def _last_fifth_accuracy(rows: list[tuple]) -> float:
    return float(np.mean([r[5] for r in rows[-max(1, len(rows) // 5):]]))


def log_results(rows: list[tuple], classes: tuple[str, ...], val: dict, *, arch: str,
                input_size: int, batch_size: int, train_seconds: float) -> dict:
    """Log the ``classes`` task's accuracies (``val``: its validation summary, see
    :mod:`~mist_steps.training.proxy_tasks`) and return them for the meta."""
    steps = len(rows)
    train_acc = _last_fifth_accuracy(rows)
    clips_per_s = steps * batch_size / train_seconds
    log.info("proxy pretraining of %s: %d steps x %d clips at %d px in %.1f s (%.2f clips/s); "
             "train accuracy (last 20%% of steps) %.3f, val accuracy %.3f, chance %.3f", arch,
             steps, batch_size, input_size, train_seconds, clips_per_s, train_acc,
             val["val_accuracy"], val["chance"])
    log.info("proxy val accuracy per class: %s",
             ", ".join(f"{c} {a:.2f}" if a is not None else f"{c} -"
                       for c, a in val["val_accuracy_per_class"].items()))
    if val["val_accuracy"] < 1.5 * val["chance"]:
        log.warning("proxy val accuracy %.3f is close to chance (%.3f): the encoder learned "
                    "little; raise the steps or check the proxy", val["val_accuracy"],
                    val["chance"])
    return {"train_accuracy": train_acc, **val, "train_seconds": round(train_seconds, 2),
            "clips_per_second": round(clips_per_s, 3)}


def log_motion_results(rows: list[tuple], val: dict, *, train_seconds: float) -> dict:
    """Log the ``motion`` task's validation summary and return it for the meta."""
    val_map = val["val_map"]
    log.info("motion task: %d steps in %.1f s; val mean AP %s (positive rate %.3f), "
             "per-primitive decisions right %.3f", len(rows), train_seconds,
             "-" if val_map is None else f"{val_map:.3f}", val["positive_rate"],
             val["val_label_accuracy"])
    log.info("motion val AP per primitive: %s",
             ", ".join(f"{p} {a:.2f}" for p, a in val["val_ap_per_primitive"].items()))
    if val_map is not None and val_map < 1.5 * val["positive_rate"]:
        log.warning("motion val mean AP %.3f is close to chance (%.3f): raise motion_steps",
                    val_map, val["positive_rate"])
    return {"steps": len(rows), "train_label_accuracy": _last_fifth_accuracy(rows), **val,
            "train_seconds": round(train_seconds, 2)}
