"""``review build`` on the real stages' outputs (tests/conftest.py ``stage_outputs``), real mongod."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.review_fixtures import mongo_env  # noqa: F401 - fixture

pytestmark = pytest.mark.mongo


@pytest.fixture(scope="module")
def built(mongo_env, stage_outputs, tmp_path_factory):  # noqa: F811 - fixture
    import fiftyone as fo

    from portraitkit.annotate.review.build import build

    s = stage_outputs
    receipt = tmp_path_factory.mktemp("receipt") / "receipt.json"
    result = build("rv-pipeline", s.curated, s.images, s.flags, s.clicks, receipt=receipt)
    return fo.load_dataset("rv-pipeline"), result


def test_build_holds_every_kept_image_with_its_stage_outputs(built, stage_outputs):
    ds, result = built
    s = stage_outputs
    manifest = pd.read_parquet(s.curated / "manifest.parquet")
    kept = manifest[manifest["kept"]].set_index("image_id")
    flags = pd.read_parquet(s.flags / "flags.parquet").set_index("annotation_id")
    clicks = pd.read_parquet(s.clicks / "clicks.parquet")
    assert len(ds) == len(kept) == result.samples > 0
    assert sorted(ds.values("image_id")) == sorted(kept.index)
    assert sorted(ds.match_tags("flagged").values("image_id")) == sorted(set(flags.loc[flags["flagged"], "image_id"]))
    assert sorted(ds.match_tags("held_object").values("image_id")) == sorted(kept.index[kept["held_object_flag"]])
    assert sorted(ds.match_tags("body_part").values("image_id")) == sorted(kept.index[kept["body_part_flag"]])
    for sample in ds:
        row = kept.loc[sample["image_id"]]
        assert sample["split"] == row["split"] and sample["n_persons"] == row["n_persons"]
        mask = cv2.imread(str(s.curated / "masks" / f"{sample['image_id']}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(sample["segmentation"].get_mask(), mask)
        for det in sample["persons"].detections:
            assert det["coarseness"] == pytest.approx(flags.loc[det["annotation_id"], "coarseness"])
            assert det["flagged"] == bool(flags.loc[det["annotation_id"], "flagged"])
        h, w = sample.metadata.height, sample.metadata.width
        got = sorted((round(x * w), round(y * h)) for kp in sample["clicks"].keypoints if kp.label == "positive"
                     for x, y in kp.points)
        rows = clicks[clicks["image_id"] == sample["image_id"]]
        assert got == sorted(tuple(p) for ps in rows["positives"] for p in ps) and got
