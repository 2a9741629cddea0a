"""review build --predictions with an evaluate output folder: per-sample scores and the worst-predictions view."""

from __future__ import annotations

import pandas as pd
import pytest

from portraitkit.train.evaluation.runners import open_runner
from portraitkit.train.evaluation.stage import evaluate
from tests.evaluate_fixtures import RedLogit, demo, export_onnx, params  # noqa: F401 - fixtures
from tests.review_fixtures import mongo_env  # noqa: F401 - fixture

pytestmark = pytest.mark.mongo


def test_review_build_takes_the_evaluate_output(mongo_env, demo, tmp_path):
    import fiftyone as fo

    from portraitkit.annotate.review.build import build

    model = export_onnx(RedLogit(), tmp_path / "red.onnx", (1, 3, 64, 64))
    runner = open_runner(model, {"normalize": "0-1", "output": "logits", "resize": "stretch"}, device="cpu")
    ev = tmp_path / "ev"
    evaluate(runner, demo / "curated", demo / "demo" / "images", ev, params("train"))
    per = pd.read_parquet(ev / "per_image.parquet").set_index("image_id")

    result = build("ev-review", demo / "curated", demo / "demo" / "images", predictions=ev)
    assert "worst-predictions" in result.views
    assert {"prediction_iou", "prediction_miou", "prediction_biou", "predictions"} <= set(result.fields)
    ds = fo.load_dataset("ev-review")
    scored = 0
    for sample in ds.iter_samples():
        iid = sample["image_id"]
        if iid in per.index:
            scored += 1
            assert sample["prediction_iou"] == pytest.approx(per.loc[iid, "iou"])
            assert sample["prediction_biou"] == pytest.approx(per.loc[iid, "boundary_iou"])
            assert sample["prediction_miou"] == pytest.approx(per.loc[iid, "miou"])
            assert sample["predictions"] is not None
        else:  # another split: not scored by this evaluate run
            assert sample["prediction_iou"] is None and sample["predictions"] is None
    assert scored == len(per) > 0
    worst = ds.load_saved_view("worst-predictions")
    ious = worst.values("prediction_iou")
    assert len(ious) == len(per) and ious == sorted(ious)
    assert worst.first()["image_id"] == int(per["iou"].idxmin())
    # a rebuild without --predictions keeps the scores and the view
    build("ev-review", demo / "curated", demo / "demo" / "images")
    ds.reload()
    assert len(ds.exists("prediction_iou")) == len(per)
    assert "worst-predictions" in ds.list_saved_views()


def test_review_build_rejects_an_incomplete_evaluate_output(mongo_env, demo, tmp_path):
    from portraitkit.annotate.review.build import build
    from portraitkit.errors import UserError

    broken = tmp_path / "ev"
    broken.mkdir()
    pd.DataFrame({"image_id": [1], "iou": [0.5], "boundary_iou": [0.4]}).to_parquet(broken / "per_image.parquet")
    with pytest.raises(UserError, match="no predictions/ folder"):
        build("ev-broken", demo / "curated", demo / "demo" / "images", predictions=broken)
