"""Step score_generator: every clip's stage-I score of the chosen videos.

:func:`score_videos` - every clip of every chosen video (``split`` train, test or
all) through the trained generator in eval mode, written with :mod:`mist_steps.formats.scores`:
``/scores/<video_id>`` float32 [n_clips], attributes label, class, split; root attributes
generator (path), generator_sha256, features (path), split, crops, l2_normalize.
"""

from __future__ import annotations

import json
import logging

import torch
from tqdm import tqdm

from mist_steps import cpu_kernels
from mist_steps.cli import StepParser, run_cli
from mist_steps.data.selection import SPLITS, select_videos
from mist_steps.data.video_table import read_video_table
from mist_steps.formats.digest import file_sha256
from mist_steps.formats.features import FeatureFile
from mist_steps.formats.generator_file import (
    check_feature_shape,
    load_generator,
)
from mist_steps.formats.scores import ScoreWriter
from mist_steps.training.mil import score_features

log = logging.getLogger(__name__)


def score_videos(generator_pt, features_h5, videos_csv, out_scores_h5, *, split: str = "test",
                 threads: int = 1) -> dict:
    """Score every clip of every ``split`` video (train, test or all) with the generator and
    write ``out_scores_h5`` (module docstring). Videos without features are left out with a
    log line (the evaluation reports, or refuses, missing test videos)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    model, config, _ = load_generator(generator_pt)
    table = read_video_table(videos_csv)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    n_clips = 0
    try:
        with FeatureFile(features_h5) as ff:
            root = ff.attrs()
            check_feature_shape(config, root["dim"], root["n_crops"],
                                generator_path=generator_pt, features_path=features_h5)
            chosen = select_videos(table, ff, split, videos_csv=videos_csv)
            attrs = {"generator": str(generator_pt),
                     "generator_sha256": file_sha256(generator_pt),
                     "features": str(features_h5), "split": split, "crops": config["crops"],
                     "l2_normalize": bool(config["l2_normalize"]),
                     "left_out": json.dumps(chosen.left_out), **cpu_kernels.record()}
            with ScoreWriter(out_scores_h5, attrs=attrs) as writer:
                for vid, label, cls, vsplit in tqdm(
                        list(zip(chosen.ids, chosen.labels, chosen.classes, chosen.splits)),
                        desc="score", unit="video", mininterval=5.0):
                    scores = score_features(model, ff.read(vid), crops=config["crops"],
                                            l2_normalize=config["l2_normalize"])
                    writer.add(vid, {"scores": scores},
                               attrs={"label": label, "class": cls, "split": vsplit})
                    n_clips += len(scores)
    finally:
        torch.set_num_threads(prev_threads)
    log.info("scored %d %s videos (%d clips, %d left out) into %s", len(chosen.ids), split,
             n_clips, len(chosen.left_out), out_scores_h5)
    return {"videos": len(chosen.ids), "clips": n_clips, "left_out": len(chosen.left_out)}


def main(argv: list[str] | None = None) -> None:
    p = StepParser(score_videos, "Score every clip of the chosen videos with a trained stage-I "
                   "generator.", prog="python -m mist_steps.steps.score_generator")
    p.add_argument("--generator", required=True, help="trained generator file (.pt)")
    p.add_argument("--features", required=True, help="feature file (.h5)")
    p.shared("videos")
    p.add_argument("--out", dest="out_scores_h5", required=True, help="output score file (.h5)")
    p.add_argument("--split", choices=SPLITS, help="which videos of videos.csv")
    p.shared("threads", "determinism")
    p.run(argv)


if __name__ == "__main__":
    run_cli(main)
