"""portraitkit evaluate: metrics on hand-checkable masks, the input spec, foreign ONNX files, bad files.

The data is the real demo-data and curate stages' output (a few dozen small photos); the models are
tiny torch modules exported here with torch.onnx.export.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from portraitkit.contracts import check_output
from portraitkit.errors import UserError
from portraitkit.io import read_json
from portraitkit.params import Params
from portraitkit.train.evaluation import metrics as M
from portraitkit.train.evaluation.runners import open_runner
from portraitkit.train.evaluation.contract import CONTRACT as EVALUATE_CONTRACT, INTERACTIVE_KEYS
from portraitkit.train.evaluation.stage import evaluate

from tests.evaluate_fixtures import Constant, RedForeign, RedLogit, demo, export_onnx as _export, params as _params  # noqa: F401


# ---------------------------------------------------------------- metrics on known shapes


def _square(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def test_scores_of_two_overlapping_squares():
    gt = _square(100, 100, 20, 60, 20, 60)  # 40x40
    pred = _square(100, 100, 20, 60, 40, 80)  # same square shifted right by 20
    s = M.score_image(pred, gt)
    assert s.iou == pytest.approx(800 / 2400)
    # background: pixels in neither (10000 - 2400) over pixels not in both (10000 - 800)
    assert s.iou_background == pytest.approx(7600 / 9200)
    assert s.miou == pytest.approx((800 / 2400 + 7600 / 9200) / 2)
    # band = 2 % of the diagonal = 2.83 px -> the two outermost pixel rings of each square.
    # Ring of one square: 1600 - 36*36 = 304 px; the rings share the top and bottom rows over x 40..59.
    assert M.band_px(100, 100) == pytest.approx(0.02 * math.hypot(100, 100))
    assert s.boundary_iou == pytest.approx(80 / (304 + 304 - 80))
    assert (s.intersection, s.union, s.gt_pixels, s.pred_pixels) == (800, 2400, 1600, 1600)


def test_boundary_iou_sees_outline_errors_that_iou_barely_sees():
    gt = _square(400, 400, 50, 350, 50, 350)
    jagged = gt.copy()
    jagged[50:350:4, 350:353] = 1  # thin teeth along one side: a handful of pixels
    s = M.score_image(jagged, gt)
    assert s.iou > 0.997
    assert s.boundary_iou < s.iou - 0.01
    perfect = M.score_image(gt, gt)
    assert (perfect.iou, perfect.miou, perfect.boundary_iou) == (1.0, 1.0, 1.0)


def test_empty_prediction_and_pooled_iou():
    small = _square(50, 50, 10, 20, 10, 20)  # 100 px, predicted perfectly
    big = _square(50, 50, 0, 40, 0, 50)  # 2000 px, half predicted
    half = _square(50, 50, 0, 20, 0, 50)
    scores = [M.score_image(small, small), M.score_image(half, big)]
    s = M.summarize(scores)
    assert s["iou"] == pytest.approx((1.0 + 0.5) / 2)
    assert s["iou_pooled"] == pytest.approx((100 + 1000) / (100 + 2000))
    empty = M.score_image(np.zeros_like(big), big)
    assert empty.iou == 0.0 and empty.boundary_iou == 0.0
    assert empty.iou_background == pytest.approx(500 / 2500)


# ---------------------------------------------------------------- real stage data


def test_constant_model_scores_the_ground_truth_coverage(demo, tmp_path):
    """An all-person prediction at the photo's own size: IoU = person pixels / image pixels."""
    model = _export(Constant(), tmp_path / "const.onnx", (1, 3, 32, 32))
    runner = open_runner(model, {"normalize": "0-1", "output": "logits", "resize": "stretch"}, device="cpu")
    res = evaluate(runner, demo / "curated", demo / "demo" / "images", tmp_path / "ev", _params())
    per = pd.read_parquet(tmp_path / "ev" / "per_image.parquet")
    man = pd.read_parquet(demo / "curated" / "manifest.parquet").set_index("image_id")
    assert len(per) == res.metrics["n_images"] == int((man["split"] == "train").sum())
    for row in per.itertuples():
        gt = cv2.imread(str(demo / "curated" / "masks" / f"{row.image_id}.png"), cv2.IMREAD_GRAYSCALE)
        assert gt.shape == (man.loc[row.image_id, "height"], man.loc[row.image_id, "width"])
        assert row.iou == pytest.approx(np.count_nonzero(gt) / gt.size)
        assert row.iou_background == 0.0
        assert row.miou == pytest.approx(row.iou / 2)
        pred = cv2.imread(str(tmp_path / "ev" / "predictions" / f"{row.image_id}.png"), cv2.IMREAD_GRAYSCALE)
        assert pred.shape == gt.shape and set(np.unique(pred)) == {255}
    check_output(tmp_path / "ev", EVALUATE_CONTRACT)  # what the report and review rely on
    m = read_json(tmp_path / "ev" / "metrics.json")
    assert m["iou"] == pytest.approx(per["iou"].mean())
    assert m["iou_pooled"] == pytest.approx(per["intersection"].sum() / per["union"].sum())
    assert {"iou", "miou", "boundary_iou", "iou_pooled", "n_images"} <= set(m)
    assert m["model"]["format"] == "onnx" and len(m["model"]["sha256"]) == 64
    assert m["model"]["size_bytes"] == model.stat().st_size


def test_foreign_nhwc_imagenet_file_scores_like_the_nchw_original(demo, tmp_path):
    ours = _export(RedLogit(), tmp_path / "red.onnx", (1, 3, 64, 64))
    foreign = _export(RedForeign(), tmp_path / "red_foreign.onnx", (1, 64, 64, 3))
    images, curated = demo / "demo" / "images", demo / "curated"
    a = evaluate(
        open_runner(ours, {"normalize": "0-1", "output": "logits", "resize": "stretch"}, device="cpu"),
        curated, images, tmp_path / "a", _params(),
    ).metrics
    spec = {"layout": "nhwc", "normalize": "imagenet", "output": "probabilities", "output_channel": 1, "resize": "stretch"}
    runner = open_runner(foreign, spec, device="cpu")
    assert runner.spec.input_size == (64, 64)  # read off the file's static input shape
    b = evaluate(runner, curated, images, tmp_path / "b", _params()).metrics
    assert a["iou"] > 0.01  # the red detector finds something, so equality below means something
    for key in ("iou", "miou", "boundary_iou", "iou_pooled"):
        assert b[key] == pytest.approx(a[key], abs=2e-3), key
    # stated wrongly (no ImageNet normalisation, channel 0 = background), the same file scores differently
    wrong = open_runner(foreign, {**spec, "normalize": "0-1", "output_channel": 0}, device="cpu")
    c = evaluate(wrong, curated, images, tmp_path / "c", _params()).metrics
    assert abs(c["iou"] - a["iou"]) > 0.05


def test_spec_from_export_json_beside_the_file(demo, tmp_path):
    model = _export(RedLogit(), tmp_path / "model.onnx", (1, 3, 64, 64))
    (tmp_path / "export.json").write_text(
        '{"files": [{"file": "model.onnx", "input_spec": {"normalize": "0-1", "output": "logits", "resize": "stretch"}}]}'
    )
    runner = open_runner(model, {}, device="cpu")
    assert (runner.spec.normalize, runner.spec.output, runner.spec.resize) == ("0-1", "logits", "stretch")
    # the command line wins over export.json
    assert open_runner(model, {"normalize": "-1-1"}, device="cpu").spec.normalize == "-1-1"


def test_bad_model_files_are_one_line_errors(demo, tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(UserError, match="garbage.onnx: not a readable ONNX model"):
        open_runner(garbage, {"normalize": "0-1", "output": "logits"})
    bad_tflite = tmp_path / "bad.tflite"
    bad_tflite.write_bytes(b"\0" * 64)
    with pytest.raises(UserError, match="bad.tflite: not a readable TFLite model"):
        open_runner(bad_tflite, {"normalize": "0-1", "output": "logits"})
    with pytest.raises(UserError, match="unknown model format"):
        open_runner(tmp_path / "m.h5", {})
    with pytest.raises(UserError, match="model file not found"):
        open_runner(tmp_path / "missing.onnx", {})
    model = _export(RedLogit(), tmp_path / "red.onnx", (1, 3, 64, 64))
    with pytest.raises(UserError, match=r"--normalize --output"):
        open_runner(model, {})
    not_ours = tmp_path / "random.pt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    with pytest.raises(UserError, match="random.pt"):
        open_runner(not_ours, {}, device="cpu")
    # the command-line: one line on stderr, exit code 2, no traceback
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit", "evaluate", "--model", str(garbage), "--curated", str(demo / "curated"),
         "--images", str(demo / "demo" / "images"), "--out", str(tmp_path / "o"), "--normalize", "0-1", "--output", "logits"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("params: ")]
    assert "Traceback" not in proc.stderr and len(lines) == 1
    assert not (tmp_path / "o").exists()


def test_out_folder_of_another_stage_is_never_replaced(demo, tmp_path):
    model = _export(Constant(), tmp_path / "const.onnx", (1, 3, 32, 32))
    runner = open_runner(model, {"normalize": "0-1", "output": "logits", "resize": "stretch"}, device="cpu")
    with pytest.raises(UserError, match="is the input"):
        evaluate(runner, demo / "curated", demo / "demo" / "images", demo / "curated", _params())
    other = tmp_path / "someone_elses"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="did not write"):
        evaluate(runner, demo / "curated", demo / "demo" / "images", other, _params())
    assert (other / "notes.txt").read_text() == "keep me"
    # its own earlier output is replaced
    evaluate(runner, demo / "curated", demo / "demo" / "images", tmp_path / "ev", _params())
    evaluate(runner, demo / "curated", demo / "demo" / "images", tmp_path / "ev", _params())


class ClickDisk(torch.nn.Module):
    """A toy interactive model (RGB + distance maps): person = near a positive click, far from negatives."""

    def forward(self, x):
        return 20.0 * (0.3 - x[:, 3:4]) - 20.0 * (0.05 - x[:, 4:5]).clamp(min=0)


def test_interactive_noc_beside_grabcut(demo, tmp_path):
    model = _export(ClickDisk(), tmp_path / "click.onnx", (1, 5, 64, 64))
    spec = tmp_path / "spec.json"
    spec.write_text('{"normalize": "0-1", "output": "logits", "resize": "stretch", "click_encoding": {"kind": "distance"}}')
    runner = open_runner(model, {}, spec_from=spec, device="cpu")
    assert runner.interactive and runner.spec.in_channels == 5
    m = evaluate(runner, demo / "curated", demo / "demo" / "images", tmp_path / "ev", _params("val")).metrics
    for key in ("noc85", "noc90", "noc85_failed", "noc90_failed", "iou_at_1", "iou_at_3", "iou_at_5"):
        assert key in m and key in m["grabcut"], key
    check_output(tmp_path / "ev", EVALUATE_CONTRACT)
    assert set(INTERACTIVE_KEYS) <= set(m)
    noc = pd.read_parquet(tmp_path / "ev" / "noc_instances.parquet")
    mine = noc[noc.predictor == "model"]
    assert len(mine) == m["noc_instances"] == len(noc[noc.predictor == "grabcut"]) > 0
    # a person that never reaches 90 % counts max_clicks and is counted as failed
    assert m["noc90_failed"] == int((~mine.reached90).sum())
    assert m["noc90"] == pytest.approx(mine.noc90.mean())
    assert (mine[~mine.reached90].noc90 == 20).all()
    assert all(len(v) == 20 for v in mine.ious)
    assert m["iou_at_3"] == pytest.approx(np.mean([v[2] for v in mine.ious]))
    curve = pd.read_csv(tmp_path / "ev" / "noc_curve.csv")
    assert list(curve.columns) == ["clicks", "model", "grabcut"] and len(curve) == 20
    assert curve.grabcut.iloc[-1] > curve.model.iloc[-1]  # the toy disk model is no match for GrabCut
