"""The augment stage on real COCO photos (``../shared/realdata``; skipped when absent)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from portraitkit.augment import realism
from portraitkit.images import read_image
from portraitkit.augment.pipeline import Augmenter
from portraitkit.augment.stage import run_augment
from portraitkit.curate.masks import union_mask
from portraitkit.params.augment import AugmentParams
from tests.realdata import REALDATA

REAL = REALDATA / "coco-val-single-person"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (REAL / "person_keypoints.json").is_file(), reason="../shared/realdata is absent"),
]


@pytest.fixture(scope="module")
def coco():
    d = json.loads((REAL / "person_keypoints.json").read_text())
    images = sorted(d["images"], key=lambda i: i["id"])[:60:10]
    ids = {i["id"] for i in images}
    return {"images": images, "annotations": [a for a in d["annotations"] if a["image_id"] in ids],
            "categories": d["categories"]}


def test_real_photos_stay_realistic_and_binary(coco):
    aug = Augmenter(AugmentParams())
    passed = total = 0
    for img in coco["images"]:
        rgb = read_image(REAL / "images" / img["file_name"], img["width"], img["height"]).rgb
        mask = union_mask([a for a in coco["annotations"] if a["image_id"] == img["id"]], img["height"], img["width"])
        assert rgb.shape[:2] == mask.shape
        orig = realism.measure(rgb)
        for v in range(4):
            r = aug(rgb, mask, seed=[1, img["id"], v])
            total += 1
            passed += r.passed
            assert set(np.unique(r.mask).tolist()) <= {0, 1, 255}
            if r.passed:
                assert realism.check(realism.measure(r.image), aug.params.realism, orig) == []
    assert passed / total >= 0.9


def test_stage_on_real_photos(coco, tmp_path):
    cur = tmp_path / "curated"
    cur.mkdir()
    (cur / "train.json").write_text(json.dumps(coco))
    params = AugmentParams.model_validate({"variants": 2, "preview_images": 3})
    s = run_augment(cur, REAL / "images", tmp_path / "out", params, seed=3)
    assert s["images_skipped"] == 0 and s["variants_written"] + s["variants_dropped_unrealistic"] == 2 * len(
        coco["images"]
    )
    v = pd.read_parquet(tmp_path / "out" / "variants.parquet")
    assert (v["person_fraction"] > 0).all()
    assert (tmp_path / "out" / "preview.png").stat().st_size < 2_000_000
