"""The ablation table (mist_steps.steps.ablation_table) and the seed and robustness summaries
(mist_steps.steps.seed_table) on hand-written evaluation JSONs with hand-computed results."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mist_steps.errors import InputError
from mist_steps.evaluation import ablation_rows
from mist_steps.evaluation import seed_summary as seed_rows
from mist_steps.evaluation.seed_summary import seed_summary
from mist_steps.formats.features import FeatureWriter
from mist_steps.steps import seed_table
from mist_steps.steps.ablation_table import ablation_table
from mist_steps.steps.ablation_table import main as ablation_main


def _metrics(path, auc, **kw):
    doc = {"format": "mist-evaluation-v1", "auc": auc, "auc_abnormal": kw.get("auc_abnormal"),
           "far": kw.get("far"), "far_negative_frames": None, "threshold": 0.5,
           "score_gap": kw.get("score_gap"), "per_class": {},
           "counts": {"videos": kw.get("videos", 10), "normal_videos": 5, "abnormal_videos": 5,
                      "frames": kw.get("frames", 1600), "anomalous_frames": 160,
                      "normal_video_frames": 800, "skipped": 0},
           "skipped": [], "notes": {}, "inputs": {}, "extra": None}
    path.write_text(json.dumps(doc))
    return path


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --- ablations ------------------------------------------------------------------------------


@pytest.fixture
def variants(tmp_path):
    return [
        ("mist", "mist", "full MIST", _metrics(tmp_path / "mist.json", 0.76, auc_abnormal=0.6,
                                               far=0.1, score_gap=0.3)),
        ("generator", "generator", "stage I only",
         _metrics(tmp_path / "gen.json", 0.70123456, far=0.123456, videos=9, frames=1440)),
        ("no-sga", "mist", "without SGA, with a comma", _metrics(tmp_path / "nosga.json", 0.74)),
    ]


def test_ablation_table_by_hand(tmp_path, variants):
    out = tmp_path / "ablations.csv"
    rows = ablation_table(variants, out)
    on_disk = _csv(out)
    assert tuple(on_disk[0]) == ablation_rows.COLUMNS
    assert [r["variant"] for r in on_disk] == ["mist", "generator", "no-sga"]
    mist, gen, nosga = on_disk
    assert mist == {"variant": "mist", "stage": "mist", "description": "full MIST",
                    "auc": "0.76", "auc_abnormal": "0.6", "far": "0.1", "score_gap": "0.3",
                    "delta_auc": "0.0", "videos": "10", "frames": "1600",
                    "metrics": str(tmp_path / "mist.json")}
    # 0.70123456 - 0.76 = -0.05876544 -> -0.0588; null metrics are empty cells
    assert gen["auc"] == "0.7012" and gen["delta_auc"] == "-0.0588" and gen["far"] == "0.1235"
    assert gen["auc_abnormal"] == "" and gen["score_gap"] == ""
    assert gen["videos"] == "9" and gen["frames"] == "1440" and gen["stage"] == "generator"
    assert nosga["delta_auc"] == "-0.02" and nosga["description"] == "without SGA, with a comma"
    assert rows[1]["delta_auc"] == -0.0588 and rows[1]["auc_abnormal"] is None


def test_ablation_reference_and_null_auc(tmp_path, variants):
    rows = ablation_table(variants, tmp_path / "a.csv", reference="generator")
    assert [r["delta_auc"] for r in rows] == [0.0588, 0.0, 0.0388]
    rows = ablation_table(variants, tmp_path / "b.csv", reference="absent")
    assert all(r["delta_auc"] is None for r in rows)
    assert {r["delta_auc"] for r in _csv(tmp_path / "b.csv")} == {""}
    _metrics(variants[2][3], None)  # an undefined AUC is an empty cell, not an error
    rows = ablation_table(variants, tmp_path / "c.csv")
    assert rows[2]["auc"] is None and rows[2]["delta_auc"] is None


@pytest.mark.parametrize("breakage,message", [
    ("missing", "metrics JSON not found"),
    ("invalid", "not valid JSON"),
    ("no_auc", "no 'auc' key"),
    ("text_auc", "'auc' is 'high'"),
])
def test_ablation_bad_json_names_the_file(tmp_path, variants, breakage, message):
    path = variants[1][3]
    if breakage == "missing":
        path.unlink()
    elif breakage == "invalid":
        path.write_text("{oops")
    elif breakage == "no_auc":
        path.write_text(json.dumps({"far": 0.1}))
    else:
        path.write_text(json.dumps({"auc": "high"}))
    out = tmp_path / "ablations.csv"
    with pytest.raises(InputError, match=message) as err:
        ablation_table(variants, out)
    assert str(path) in str(err.value) and not out.exists()


def test_ablation_bad_rows(tmp_path, variants):
    with pytest.raises(InputError, match="'odd': stage must be one of"):
        ablation_table([("odd", "stage3", "x", variants[0][3])], tmp_path / "a.csv")
    with pytest.raises(InputError, match="'mist' listed twice"):
        ablation_table([variants[0], variants[0]], tmp_path / "a.csv")
    with pytest.raises(InputError, match="at least one row"):
        ablation_table([], tmp_path / "a.csv")


def test_ablation_cli(tmp_path, variants, capsys):
    out = tmp_path / "ablations.csv"
    args = ["--out", str(out)]
    for name, stage, description, path in variants:
        args += ["--row", name, stage, description, str(path)]
    ablation_main(args + ["--reference", "no-sga"])
    assert [r["delta_auc"] for r in _csv(out)] == ["0.02", "-0.0388", "0.0"]
    with pytest.raises(SystemExit) as exit_:
        ablation_main(["--help"])
    assert exit_.value.code == 0 and "--reference" in capsys.readouterr().out


# --- seeds -----------------------------------------------------------------------------------


@pytest.fixture
def runs(tmp_path):
    gen = [_metrics(tmp_path / f"gen{s}.json", a) for s, a in enumerate([0.70, 0.72, 0.68])]
    mist = [_metrics(tmp_path / f"mist{s}.json", a) for s, a in enumerate([0.75, 0.78, 0.75])]
    return gen, mist


def test_seed_summary_by_hand(tmp_path, runs):
    out, md = tmp_path / "seeds.csv", tmp_path / "seeds.md"
    result = seed_summary(*runs, out, md, seeds=[0, 1, 2])
    # generator mean .70, deviations 0 .02 -.02 -> var .0008/2, std .02
    # MIST mean .76, deviations -.01 .02 -.01 -> var .0006/2, std sqrt(.0003) = .017320...
    # gains .05 .06 .07 -> mean .06, std .01, min .05
    assert result["generator"] == [0.70, 0.72, 0.68] and result["mist"] == [0.75, 0.78, 0.75]
    assert result["gain_mean"] == pytest.approx(0.06)
    assert result["gain_std"] == pytest.approx(0.01)
    assert result["min_gain"] == pytest.approx(0.05)
    assert result["generator_std"] == pytest.approx(0.02)
    assert result["mist_std"] == pytest.approx(0.0003 ** 0.5)
    rows = _csv(out)
    assert tuple(rows[0]) == seed_rows.COLUMNS
    assert [r["seed"] for r in rows] == ["0", "1", "2", "mean", "std", "min", "max"]
    assert rows[1] == {"seed": "1", "generator_auc": "0.72", "mist_auc": "0.78", "gain": "0.06"}
    assert rows[3] == {"seed": "mean", "generator_auc": "0.7", "mist_auc": "0.76", "gain": "0.06"}
    assert rows[4] == {"seed": "std", "generator_auc": "0.02", "mist_auc": "0.0173",
                       "gain": "0.01"}
    assert rows[5] == {"seed": "min", "generator_auc": "0.68", "mist_auc": "0.75", "gain": "0.05"}
    assert rows[6] == {"seed": "max", "generator_auc": "0.72", "mist_auc": "0.78", "gain": "0.07"}
    lines = md.read_text().splitlines()
    assert lines[0] == "| Seed | Generator AUC (%) | MIST AUC (%) | Gain (points) |"
    assert len(lines) == 7
    assert lines[2] == "| 0 | 70.0 | 75.0 | +5.0 |"
    assert lines[-2] == "| mean ± std (3 seeds) | 70.0 ± 2.0 | 76.0 ± 1.7 | +6.0 ± 1.0 |"
    assert lines[-1] == "| min – max | 68.0 – 72.0 | 75.0 – 78.0 | +5.0 – +7.0 |"


def test_robustness_table_with_feature_collapse(tmp_path, runs):
    """The robustness table's form: an encoder-seed label and each seed's top-5 PC share."""
    rng = np.random.default_rng(0)
    files = []
    for i, spread in enumerate([np.ones(16), np.r_[np.ones(5) * 100.0, np.ones(11) * 1e-3],
                                np.r_[np.ones(5), np.zeros(11)]]):
        path = tmp_path / f"features{i}.h5"
        attrs = {"encoder": "i3d", "weights_sha256": "0" * 64, "crop_mode": "center",
                 "input_size": 64, "feature": "feature"}
        with FeatureWriter(path, attrs, dtype="float32") as w:
            for v in range(3):
                x = rng.standard_normal((40, 2, 16)).astype(np.float32) * spread
                w.add(f"v{v}", x, fps=25.0, frame_count=640, n_frames_decoded=640)
        files.append(path)
    out, md = tmp_path / "rob.csv", tmp_path / "rob.md"
    result = seed_summary(*runs, out, md, seeds=[0, 1, 2], label="Encoder seed", features=files)
    share = result["pc_share"]
    # isotropic 16-d: ~5/16 (sampling noise); 5 strong directions: ~1; 5 non-zero dims: 1
    assert 0.3 < share[0] < 0.55 and share[1] > 0.999 and share[2] == pytest.approx(1.0)
    rows = _csv(out)
    assert tuple(rows[0]) == seed_rows.COLUMNS + ("top5_pc_share",)
    lines = md.read_text().splitlines()
    assert lines[0] == ("| Encoder seed | Generator AUC (%) | MIST AUC (%) | Gain (points) "
                        "| Top-5 PC variance (%) |")
    assert lines[4].startswith("| 2 | 68.0 | 75.0 | +7.0 | 100.0 |")
    with pytest.raises(InputError, match="2 features file"):
        seed_summary(*runs, out, features=files[:2])


def test_single_seed_has_zero_std(tmp_path, runs):
    result = seed_summary(runs[0][:1], runs[1][:1], tmp_path / "s.csv")
    assert result["seeds"] == [0] and result["gain_std"] == 0.0
    assert result["gain_mean"] == pytest.approx(0.05)


def test_seed_summary_bad_inputs(tmp_path, runs):
    gen, mist = runs
    out = tmp_path / "s.csv"
    with pytest.raises(InputError, match=r"3 generator JSON.*2 MIST JSON.*mist1\.json"):
        seed_summary(gen, mist[:2], out)
    with pytest.raises(InputError, match="2 seed label"):
        seed_summary(gen, mist, out, seeds=[0, 1])
    mist[2].unlink()
    with pytest.raises(InputError, match=r"mist2\.json: metrics JSON not found"):
        seed_summary(gen, mist, out)
    mist[2].write_text(json.dumps({"far": 0.1}))
    with pytest.raises(InputError, match=r"mist2\.json: no 'auc' key"):
        seed_summary(gen, mist, out)
    _metrics(gen[1], None)
    with pytest.raises(InputError, match=r"gen1\.json: 'auc' is null"):
        seed_summary(gen, mist, out)
    assert not out.exists()


def test_seed_cli(tmp_path, runs, capsys):
    gen, mist = runs
    out, md = tmp_path / "s.csv", tmp_path / "s.md"
    seed_table.main(["--generator", *map(str, gen), "--mist", *map(str, mist), "--seeds", "3", "4",
                    "5", "--out", str(out), "--md", str(md)])
    assert [r["seed"] for r in _csv(out)] == ["3", "4", "5", "mean", "std", "min", "max"]
    assert md.read_text().splitlines()[2].startswith("| 3 | 70.0 |")
    with pytest.raises(SystemExit) as exit_:
        seed_table.main(["--help"])
    assert exit_.value.code == 0 and "--md" in capsys.readouterr().out
