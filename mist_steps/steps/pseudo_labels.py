"""Step: clip-level pseudo labels of the training videos from the trained generator (stage I).

Every clip of every TRAINING video (those with features; skipped ones are left out with a
log line) is scored by the generator (:func:`mist_steps.training.mil.score_features`, eval mode). As
in the official ``Augment_Pseudo_Label_Refilement``, an ABNORMAL video's scores are then

1. smoothed: a centred moving average over ``window`` clips (odd; the ends are padded by
   repeating the first/last score), applied ``smooth_passes`` times (:func:`moving_average`);
2. min-max normalised to [0, 1] within the video (:func:`min_max`). A video whose smoothed
   scores are constant (range below 1e-6, e.g. a single clip) has no ordering to normalise:
   its labels are all 0 and a warning names it (the official code would divide by zero).

NORMAL videos get label 0 on every clip (their video-level label is certain).

Output ``pseudo_labels.h5`` (``mist-pseudo-labels-v1``, :mod:`mist_steps.formats.scores`):
``/raw/<video_id>`` the generator's clip scores, ``/refined/<video_id>`` the pseudo labels,
float32, one value per clip, aligned with the features (length n_clips); dataset attributes
``label``, ``class``, ``constant`` (1 where rule 2's fallback applied); root attributes
``window``, ``passes``, ``generator``, ``generator_sha256``, ``features``,
``constant_videos`` (JSON list) and ``left_out`` (JSON list of {video_id, reason}).

Command line: ``python -m mist_steps.steps.pseudo_labels --help``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import torch
from tqdm import tqdm

from mist_steps import cpu_kernels
from mist_steps.cli import StepParser, at_least, run_cli
from mist_steps.data.selection import select_videos
from mist_steps.data.video_table import read_video_table
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.features import FeatureFile
from mist_steps.formats.generator_file import check_feature_shape, load_generator
from mist_steps.formats.scores import PSEUDO_LABELS_FORMAT, ScoreWriter
from mist_steps.training.mil import score_features
from mist_steps.training.pseudo_labels import moving_average, refine

log = logging.getLogger(__name__)


def make_pseudo_labels(generator_pt, features_h5, videos_csv, out_h5, *, window: int = 5,
                       smooth_passes: int = 2, threads: int = 1) -> dict:
    """Score the training videos with the generator and write their pseudo labels
    (module docstring). Returns a summary dict."""
    moving_average(np.zeros(1), window, smooth_passes)  # check the arguments before the work
    model, config, _ = load_generator(generator_pt)
    table = read_video_table(videos_csv)
    constant: list[str] = []
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with FeatureFile(features_h5) as ff:
            root = ff.attrs()
            check_feature_shape(config, root["dim"], root["n_crops"],
                                generator_path=generator_pt, features_path=features_h5)
            chosen = select_videos(table, ff, "train", videos_csv=videos_csv)
            attrs = {"window": int(window), "passes": int(smooth_passes),
                     "generator": str(generator_pt),
                     "generator_sha256": file_sha256(generator_pt),
                     "features": str(features_h5), "left_out": json.dumps(chosen.left_out),
                     **cpu_kernels.record()}
            with ScoreWriter(out_h5, format=PSEUDO_LABELS_FORMAT, attrs=attrs) as writer:
                for vid, label, cls in tqdm(list(zip(chosen.ids, chosen.labels, chosen.classes)),
                                            desc="pseudo labels", unit="video", mininterval=5.0):
                    raw = score_features(model, ff.read(vid), crops=config["crops"],
                                         l2_normalize=config["l2_normalize"])
                    if label == 1:
                        refined = refine(raw, window=window, passes=smooth_passes, video_id=vid)
                        is_constant = not refined.any()
                    else:
                        refined, is_constant = np.zeros_like(raw), False
                    if is_constant:
                        constant.append(vid)
                    writer.add(vid, {"raw": raw, "refined": refined},
                               attrs={"label": label, "class": cls, "constant": int(is_constant)})
                writer.set_attrs({"constant_videos": json.dumps(constant)})
    finally:
        torch.set_num_threads(prev_threads)
    n_abnormal = chosen.labels.count(1)
    log.info("pseudo labels of %d training videos (%d abnormal, %d of them constant; %d left "
             "out) written to %s", len(chosen.ids), n_abnormal, len(constant),
             len(chosen.left_out), out_h5)
    return {"videos": len(chosen.ids), "abnormal": n_abnormal, "constant": constant,
            "left_out": len(chosen.left_out)}


def main(argv: list[str] | None = None) -> None:
    p = StepParser(make_pseudo_labels, "MIST stage I: clip-level pseudo labels of the training "
                   "videos from the trained generator (smoothed, min-max normalised per abnormal "
                   "video; 0 for normal).", prog="python -m mist_steps.steps.pseudo_labels")
    p.add_argument("--generator", required=True, help="trained generator file (.pt)")
    p.add_argument("--features", required=True, help="vanilla feature file (.h5)")
    p.shared("videos", out="output pseudo-label file (.h5)")
    p.add_argument("--window", type=at_least(1), help="moving-average window in clips, odd")
    p.add_argument("--smooth-passes", type=at_least(0),
                   help="times the moving average is applied")
    p.shared("threads", "determinism")
    p.check(lambda a: a.window % 2 == 1, "--window must be odd")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
