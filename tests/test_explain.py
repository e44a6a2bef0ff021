"""Spatial explanation (mist_steps.viz.explain, mist_steps.viz.render): geometry, hit rate,
rendering."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
from conftest import write_video

from mist_steps.data.preprocess import Preprocess, crop_snippet
from mist_steps.formats.mist_model import save_mist_model
from mist_steps.formats.scores import ScoreFile, ScoreWriter
from mist_steps.models import build_encoder
from mist_steps.models.sga import MISTModel
from mist_steps.steps.attention_hits import attention_hits
from mist_steps.steps.explain import explain_video
from mist_steps.steps.score_mist import score_videos
from mist_steps.viz.explain import MAP_GROUPS, frame_hits
from mist_steps.viz.render import crop_region

FRAMES = 40  # 2 snippets and 8 trailing frames


@pytest.mark.parametrize("arch, size, hw", [("i3d", 32, (48, 64)), ("i3d", 64, (96, 96)),
                                            ("c3d", None, (120, 160))])
def test_crop_region_is_where_the_encoder_crop_comes_from(arch, size, hw):
    """A frame whose red/green values are its x/y coordinates: the crop's corner pixels must
    show the coordinates crop_region predicts (pixel centres, bilinear resize)."""
    h, w = hw
    ys, xs = np.mgrid[0:h, 0:w]
    frame = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)
    prep = Preprocess(arch, size, "center")
    resized = prep.frame_resizer()(frame)
    crop = crop_snippet(torch.from_numpy(resized[None]), prep.crop, "center")[0, 0].numpy()
    x0, y0, x1, y1 = crop_region(arch, size, h, w)
    sx, sy = (x1 - x0) / prep.crop, (y1 - y0) / prep.crop
    for (r, c) in ((0, 0), (prep.crop - 1, prep.crop - 1)):
        expect_x, expect_y = x0 + (c + 0.5) * sx - 0.5, y0 + (r + 0.5) * sy - 0.5
        assert abs(crop[r, c, 0] - expect_x) <= 1.0 and abs(crop[r, c, 1] - expect_y) <= 1.0


def test_frame_hits_by_hand():
    att = np.array([[0.1, 0.2], [0.9, 0.3]])  # peak: row 1, column 0 = x 0-32, y 32-64
    hit = frame_hits(att, (0, 0, 64, 64), [(10, 40, 20, 56)])
    assert hit == {"peak_in_box": 1.0, "peak_cell_holds_anomaly": 1.0,
                   "box_area_share": 10 * 16 / 64 ** 2, "chance_cell_centre_in_box": 0.25,
                   "chance_cell_holds_anomaly": 0.25}
    miss = frame_hits(att, (0, 0, 64, 64), [(40, 0, 60, 20), (36, 36, 40, 40)])
    assert miss["peak_in_box"] == 0.0 and miss["peak_cell_holds_anomaly"] == 0.0
    assert miss["chance_cell_holds_anomaly"] == 0.5  # box centres in two of the four cells


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny test video, a score file with hand-made attention maps, boxes, and a model."""
    root = tmp_path_factory.mktemp("explain")
    video = write_video(root / "A1.mp4", FRAMES, size=(48, 64),
                        pixels=lambda i, s: np.random.default_rng(i).integers(0, 256, (*s, 3),
                                                                                dtype=np.uint8))
    index = root / "videos.csv"
    index.write_text("video_id,path,split,label,class,frame_count,fps\n"
                     f"A1,{video},test,1,Fighting,{FRAMES},25.0\n")
    region = crop_region("i3d", 32, 48, 64)  # the peak cell (1, 1): its centre is at (cx, cy)
    cx, cy = region[0] + 0.75 * (region[2] - region[0]), region[1] + 0.75 * (region[3] - region[1])
    att = np.array([[[0.1, 0.2], [0.3, 0.8]], [[0.9, 0.1], [0.1, 0.1]]], np.float32)
    scores = root / "scores.h5"
    with ScoreWriter(scores, attrs={"arch": "i3d", "input_size": 32, "crop_mode": "center"}) as w:
        w.add("A1", {"scores": np.array([0.2, 0.7]), "attention": att,
                     "cam": np.stack([att[1], att[1]])},
              attrs={"label": 1, "class": "Fighting", "fps": 25.0, "frame_count": FRAMES})
    boxes = root / "anomaly_boxes.csv"  # frames 8-23 around the peak of snippet 0
    boxes.write_text("video_id,split,frame,x0,y0,x1,y1\n" + "".join(
        f"A1,test,{t},{int(cx) - 3},{int(cy) - 3},{int(cx) + 3},{int(cy) + 3}\n"
        for t in range(8, 24)))
    torch.manual_seed(0)
    model = root / "encoder_mist.pt"
    save_mist_model(model, MISTModel(build_encoder("i3d", 2), input_size=32), {"seed": 0})
    return {"root": root, "video": video, "index": index, "scores": scores, "boxes": boxes,
            "model": model}


def test_attention_hits(run, tmp_path):
    doc = attention_hits(run["scores"], run["index"], run["boxes"], tmp_path / "hits.json",
                         out_png=tmp_path / "hits.png")
    assert json.loads((tmp_path / "hits.json").read_text()) == doc
    # frames 8-15 belong to snippet 0 (peak in the box), 16-23 to snippet 1 (peak elsewhere)
    assert doc["frames"] == 16 and doc["videos"] == 1
    assert doc["peak_in_box"] == 0.5 and doc["peak_cell_holds_anomaly"] == 0.5
    assert doc["chance_cell_holds_anomaly"] == 0.25 and 0 < doc["box_area_share"] < 0.05
    assert doc["per_class"]["Fighting"]["frames"] == 16
    assert doc["peak_cells"] == {"(0, 0)": 1, "(1, 1)": 1} and doc["map_shape"] == [2, 2]
    assert (tmp_path / "hits.png").stat().st_size > 0 and doc["method"] == "sga"
    # the CAM's maps (here both peak in cell (0, 0)): the peak misses the box
    cam = attention_hits(run["scores"], run["index"], run["boxes"], tmp_path / "cam.json",
                         method="cam")
    assert cam["method"] == "cam" and cam["peak_in_box"] == 0.0
    assert cam["box_area_share"] == doc["box_area_share"]  # the same chance levels


def test_explain_video_from_the_scores_and_from_the_model(run, tmp_path):
    mp4, png = tmp_path / "A1.mp4", tmp_path / "A1.png"
    summary = explain_video("A1", run["index"], mp4, png, scores_h5=run["scores"],
                            boxes_csv=run["boxes"], min_size=96, tiles=4)
    assert summary == {"video_id": "A1", "method": "sga", "frames": FRAMES, "snippets": 2,
                       "attention_max": pytest.approx(0.9)}
    with av.open(str(mp4)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == FRAMES  # trailing frames drawn too, without a score
    assert frames[0].shape[0] > 96 and frames[0].shape[1] == 128  # 2x, plus the score strip
    assert png.read_bytes()[:4] == b"\x89PNG"

    # No stored maps for the video: the model computes them, as the scoring step would.
    batch = tmp_path / "batch.h5"
    score_videos(run["model"], run["index"], batch, batch_size=2, threads=1)
    with ScoreFile(batch) as sf:
        stored = {method: sf.read("A1", group) for method, group in MAP_GROUPS.items()}
    for method in MAP_GROUPS:
        summary = explain_video("A1", run["index"], tmp_path / f"{method}.mp4",
                                tmp_path / f"{method}.png", model_pt=run["model"], min_size=48,
                                tiles=2, method=method)
        assert summary["snippets"] == 2 and summary["method"] == method
        assert summary["attention_max"] == pytest.approx(float(stored[method].max()), abs=1e-5)


def test_cam_follows_the_official_definition():
    """CAM.py: the fused final map averaged over time, weighted by softmax over the channels
    of H_c's anomalous-class weights, min-max normalised per clip."""
    torch.manual_seed(1)
    model = MISTModel(build_encoder("i3d", 2), input_size=32).eval()
    x = torch.randn(2, 3, 16, 64, 96)
    with torch.no_grad():
        out = model(x)
        m = model.encoder.forward_until(x, model.tap)
        final = model.encoder.forward_from(m, model.tap)
        final = final + model.sga(m)[0] * final
        w = torch.softmax(model.head_c.weight[1], dim=0)
        cam = (w[None, :, None, None] * final.mean(dim=2)).sum(dim=1)
        low = cam.flatten(1).min(1).values[:, None, None]
        high = cam.flatten(1).max(1).values[:, None, None]
        expected = (cam - low) / (high - low)
    assert out.cam.shape == (2, 2, 3)  # the final map of a 64x96 input
    torch.testing.assert_close(out.cam, expected, atol=1e-5, rtol=1e-4)
    assert model.train()(x).cam is None  # training never computes it


def test_official_spatial_boxes_give_the_same_measure(run, tmp_path):
    """UCF-Crime's official boxes (pixels of 320x240 videos) are scaled to the decoded frame:
    the synthetic test video's boxes written that way (its frames are 64x48) measure the same."""
    boxes = {}
    for line in run["boxes"].read_text().splitlines()[1:]:
        vid, _, frame, *xyxy = line.split(",")
        boxes.setdefault(vid, {})[int(frame)] = [5 * int(v) for v in xyxy]
    spatial = tmp_path / "Test_Spatial_Annotation.npy"
    np.save(spatial, np.array(boxes, dtype=object), allow_pickle=True)
    csv_doc = attention_hits(run["scores"], run["index"], run["boxes"], tmp_path / "a.json")
    npy_doc = attention_hits(run["scores"], run["index"], spatial, tmp_path / "b.json")
    for key in ("peak_in_box", "peak_cell_holds_anomaly", "frames", "chance_cell_holds_anomaly"):
        assert npy_doc[key] == csv_doc[key], key
    assert npy_doc["box_area_share"] == pytest.approx(csv_doc["box_area_share"], abs=1e-3)
