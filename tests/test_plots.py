"""The report's figures (mist_steps.viz.score_plots): which videos are drawn, which benchmarks
are read.
The figures themselves are built and checked in the tiny workflow run (test_workflow.py)."""

from __future__ import annotations

import pandas as pd

from mist_steps.viz.run_plots import benchmark_files
from mist_steps.viz.score_plots import choose_videos

TEST = pd.DataFrame({
    "video_id": ["Fight1", "Fight2", "Fight3", "Run1", "Run2", "N1", "N2", "N3"],
    "label": [1, 1, 1, 1, 1, 0, 0, 0],
    "class": ["Fighting"] * 3 + ["Running"] * 2 + ["Normal"] * 3,
})


def test_choose_videos_takes_classes_in_turn_and_a_quarter_normal():
    everything = set(TEST["video_id"])
    assert choose_videos(TEST, 4, everything) == ["Fight1", "Run1", "Fight2", "N1"]
    assert choose_videos(TEST, 8, everything) == ["Fight1", "Run1", "Fight2", "Run2", "Fight3",
                                                  "N1", "N2", "N3"]
    assert choose_videos(TEST, 1, everything) == ["Fight1"]
    # only videos with scores; normal ones fill up when abnormal ones run out
    assert choose_videos(TEST, 4, {"Run2", "N1", "N2", "N3"}) == ["Run2", "N1", "N2", "N3"]
    assert choose_videos(TEST, 20, everything)[-3:] == ["N1", "N2", "N3"]


def test_benchmark_files_expands_folders_and_skips_missing(tmp_path):
    run = tmp_path / "benchmarks" / "synth_i3d"
    run.mkdir(parents=True)
    for name in ("finetune.tsv", "score_mist.tsv", "notes.txt"):
        (run / name).write_text("s\n1.0\n")
    shared = tmp_path / "benchmarks" / "make_synth.tsv"
    shared.write_text("s\n2.0\n")
    found = benchmark_files([shared, tmp_path / "missing.tsv", run, run / "finetune.tsv"])
    assert found == [shared, run / "finetune.tsv", run / "score_mist.tsv"]
