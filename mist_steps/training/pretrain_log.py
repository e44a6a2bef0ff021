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

LOG_HEADER = "step,lr,loss,side_loss,accuracy,seconds\n"


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
    writer.writerows((s, f"{r:.6g}", f"{lo:.6f}", f"{sl:.6f}", f"{a:.4f}", f"{t:.3f}")
                     for s, r, lo, sl, a, t in rows)
    write_text(log_path(out_path), buf.getvalue())


def log_results(rows: list[tuple], classes: tuple[str, ...], val: tuple, *, arch: str,
                input_size: int, batch_size: int, train_seconds: float) -> dict:
    """Log the run's accuracies (``val``: accuracy, loss, per-class accuracy on the held-out
    clips) and return them for the meta."""
    val_acc, val_loss, per_class = val
    steps = len(rows)
    train_acc = float(np.mean([r[4] for r in rows[-max(1, steps // 5):]]))  # last 20 %
    chance = 1.0 / len(classes)
    clips_per_s = steps * batch_size / train_seconds
    log.info("proxy pretraining of %s: %d steps x %d clips at %d px in %.1f s (%.2f clips/s); "
             "train accuracy (last 20%% of steps) %.3f, val accuracy %.3f, chance %.3f", arch,
             steps, batch_size, input_size, train_seconds, clips_per_s, train_acc, val_acc,
             chance)
    log.info("proxy val accuracy per class: %s",
             ", ".join(f"{c} {a:.2f}" if a is not None else f"{c} -"
                       for c, a in zip(classes, per_class, strict=True)))
    if val_acc < 1.5 * chance:
        log.warning("proxy val accuracy %.3f is close to chance (%.3f): the encoder learned "
                    "little; raise the steps or check the proxy", val_acc, chance)
    return {"train_accuracy": train_acc, "val_accuracy": val_acc, "val_loss": val_loss,
            "val_accuracy_per_class": dict(zip(classes, per_class, strict=True)),
            "chance": chance, "train_seconds": round(train_seconds, 2),
            "clips_per_second": round(clips_per_s, 3)}
