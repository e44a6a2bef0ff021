"""Step: make the "vanilla" encoder that MIST stage I extracts features with.

MIST starts from an action-recognition network (I3D on Kinetics, C3D on Sports-1M). Two ways
to the same artifact, a ``mist-encoder-v1`` file (:func:`mist_steps.formats.encoder_file.save_encoder`):

* ``weights`` given - import a public checkpoint (piergiaj ``rgb_imagenet.pt``, hassony2
  ``model_rgb.pth``, DavideA ``c3d.pickle``). Head policy: the model is built with the
  checkpoint's own class count (400 / 157 / 487, read from its head) and loaded strictly, so
  the artifact's weights equal the file's, head included (features never use the head). An
  explicit ``num_classes`` builds that head size instead; the checkpoint's head is then loaded
  only if its shape fits, otherwise the seeded fresh head is kept.
* ``weights`` None - no public weights can be downloaded here, so train the encoder from
  random initialisation on two synthetic proxy tasks in turn, whose abstract shapes and
  camera motion differ on purpose from the surveillance scenes:
  ``classes`` (:mod:`mist_steps.synth.proxy_clips`, ``steps``) - one big object, one of 8
  motion classes; then ``motion`` (:mod:`mist_steps.synth.motion_clips`, ``motion_steps``) -
  several objects of many sizes, the set of 14 motion primitives in view as a multi-hot
  target. The file keeps the last task's head (features never use it).

The workflow's synthetic default (300 + 1000 steps, ~11 min on 2 idle cores) is made once and
shipped in ``resources/encoders/`` with its checksum. The first task alone (the previous
default) left features that a linear probe on the true clip labels could barely separate, and
a generator AUC that swung by 15 points between pretraining seeds: one big object teaches
"where does the main thing go", while an anomaly is one small thing moving differently from
the rest. What makes a from-scratch run learn anything (module
:mod:`mist_steps.training.pretrain_loop`):

* a curriculum - each task's clutter (and the motion task's number of objects) ramps from
  none to full over the first half of its steps (on cluttered clips from the start, the loss
  does not move for hundreds of steps), and the motion task starts from the classes task's
  trunk (from scratch, 300 of its steps left the encoder near chance: val mean AP 0.24
  at a positive rate of ~0.18);
* deep supervision - a temporary linear head on the pooled stage-II tap (I3D Mixed_4f) adds
  half its loss, a short gradient path into the lower layers;
* zero-initialised heads, no dropout during the run (the module's rate is restored), AdamW
  at a modest 3e-4 (1e-3 and above stall at 8+ classes) with a linear warm-up over 10 % of
  each task's steps and cosine decay, gradient-norm clipping;
* BatchNorm in train mode with momentum 0.1 (I3D's own 0.01 would leave the running
  statistics mostly at their initial values after 100 steps), then "precise BN": after each
  task the running statistics are re-estimated exactly over fresh full-clutter clips, since
  the encoder is used in eval mode from here on.

Batches are generated on the fly by a background thread; each clip depends only on
(seed, split, index, difficulty), so thread timing cannot change the data. After each task the
model is evaluated on ``val_clips`` held-out clips (own RNG stream) at full clutter: accuracy,
per-class accuracy and chance (the motion task: mean average precision, per-primitive AP and
the positive rate, under ``meta["motion"]``) go into the meta and the log, with a warning
when near chance. C3D's fc6 needs 112 px clips; at another size C3D is trained through a
temporary linear head on its pooled conv5b, and fc6-fc8 keep their initialisation (the meta
says so).

Same seed, same ``threads``, same machine type -> bitwise identical weights (CPU).
Outputs: ``out_path`` and ``<out_path>.log.csv`` (per step: task, step, lr, loss of the
encoder's head, side_loss of the deep-supervision head, batch accuracy, seconds; header only
for an import), both written atomically, the log first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from mist_steps.cli import StepParser, comma_list, run_cli
from mist_steps.formats.atomic import write_text
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.encoder_file import FORMAT, save_encoder
from mist_steps.formats.public_weights import load_encoder_weights, read_checkpoint
from mist_steps.models import build_encoder
from mist_steps.synth.proxy_clips import (
    CLASSES,
    DEFAULT_CLASSES,
)
from mist_steps.training.determinism import threads_and_determinism
from mist_steps.training.pretrain_log import LOG_HEADER, log_path
from mist_steps.training.pretrain_loop import (
    _HEAD_BIAS,
    DEFAULTS,
    _check_settings,
    train_proxy_encoder,
)

log = logging.getLogger(__name__)


# -- import -------------------------------------------------------------------------------------
def _checkpoint_classes(obj: object) -> int | None:
    """Class count of a raw checkpoint's classification head, or None if none is found (the
    loader then reports what is wrong with the file)."""
    candidates = [obj]
    if isinstance(obj, dict):
        candidates += [obj.get(k) for k in ("state_dict", "model")]
    for state in candidates:
        if not isinstance(state, dict):
            continue
        for key, value in state.items():
            bare = key.removeprefix("module.") if isinstance(key, str) else key
            if bare in _HEAD_BIAS and isinstance(value, torch.Tensor) and value.ndim == 1:
                return int(value.shape[0])
    return None


def import_encoder(out_path: str | Path, *, arch: str, weights: str | Path,
                   num_classes: int | None = None, seed: int = 0) -> dict:
    """Write the vanilla encoder from a public checkpoint; returns the meta stored with it."""
    weights = Path(weights)
    obj = read_checkpoint(weights)  # InputError naming the file if unreadable
    found = _checkpoint_classes(obj)
    # a file this workflow wrote (e.g. the shipped proxy-pretrained encoder) keeps its history
    origin = obj.get("meta") if isinstance(obj, dict) and obj.get("format") == FORMAT else None
    del obj
    torch.manual_seed(seed)  # a head that is not loaded is still reproducible
    n = num_classes or found or len(DEFAULT_CLASSES)
    model = build_encoder(arch, n)
    head = "strict" if num_classes is None else "if_match"
    report = load_encoder_weights(model, weights, head=head)
    meta = {
        "source": "imported", "weights_file": str(weights), "weights_sha256": file_sha256(weights),
        "format": report.format, "head": report.head, "num_classes": n, "seed": seed,
    }
    if origin is not None:
        meta["origin"] = origin
    write_text(log_path(out_path), LOG_HEADER)  # no training steps: header only
    digest = save_encoder(out_path, model, meta)
    log.info("imported %s (%s naming, head %s) -> %s [weights %s]", weights, report.format,
             report.head, out_path, digest[:12])
    return meta


def make_vanilla_encoder(out_path: str | Path, *, arch: str, weights: str | Path | None = None,
                         input_size: int = DEFAULTS["input_size"], num_classes: int | None = None,
                         classes: Sequence[str] = DEFAULT_CLASSES, steps: int = DEFAULTS["steps"],
                         motion_steps: int = DEFAULTS["motion_steps"],
                         batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
                         weight_decay: float = DEFAULTS["weight_decay"],
                         val_clips: int = DEFAULTS["val_clips"], seed: int = DEFAULTS["seed"],
                         threads: int = DEFAULTS["threads"], progress: bool = True) -> dict:
    """Write the vanilla ``arch`` encoder to ``out_path``: imported from ``weights`` if given,
    else pretrained on the synthetic proxy. Returns the meta stored in the file.

    Deterministic for a given seed and thread count: sets ``torch.manual_seed(seed)``,
    deterministic algorithms and ``threads`` intra-op threads for the call (restored after).
    """
    arch = str(arch).lower()
    _check_settings(arch, input_size, steps, batch_size, lr, weight_decay, val_clips, threads,
                    motion_steps)
    with threads_and_determinism(threads):
        if weights is not None:
            return import_encoder(out_path, arch=arch, weights=weights, num_classes=num_classes,
                                  seed=seed)
        return train_proxy_encoder(
            out_path, arch=arch, input_size=input_size, num_classes=num_classes, classes=classes,
            steps=steps, motion_steps=motion_steps, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay,
            val_clips=val_clips, seed=seed, threads=threads, progress=progress)


# -- CLI ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    p = StepParser(make_vanilla_encoder, "Make the vanilla (stage-I) encoder: import public "
                   "weights (--weights) or pretrain it on a synthetic action-classification "
                   "proxy.")
    p.add_argument("--arch", required=True, choices=("i3d", "c3d"))
    p.add_argument("--out", dest="out_path", required=True, type=Path,
                   help="output .pt (mist-encoder-v1); the per-step log goes to <out>.log.csv")
    p.add_argument("--weights", type=Path,
                   help="public checkpoint to import (piergiaj rgb_imagenet.pt, hassony2 "
                   "model_rgb.pth, DavideA c3d.pickle); omit to pretrain on the proxy")
    p.add_argument("--input-size", type=int, help="clip size in px")
    p.add_argument("--num-classes", type=int,
                   help="head size (default: the proxy's class count, or the checkpoint's)")
    p.add_argument("--classes", type=comma_list,
                   help=f"comma-separated proxy classes, from {','.join(CLASSES)}")
    p.add_argument("--steps", type=int, help="steps of the first task (one object, one class)")
    p.add_argument("--motion-steps", type=int,
                   help="then steps of the multi-label motion task (several objects, the set "
                   "of motions in view); 0: none")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--val-clips", type=int)
    p.shared("seed", "threads", "determinism")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
