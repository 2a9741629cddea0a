"""Optional tier: curate on real COCO 2017 samples (skipped when ../shared/realdata is absent)."""

from __future__ import annotations


import numpy as np
import pytest
from pycocotools.coco import COCO

from portraitkit.curate.stage import run_curate
from portraitkit.params import CurateParams

from tests.realdata import REALDATA
COCO_MINI = REALDATA / "coco-mini"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not COCO_MINI.exists(), reason=f"{COCO_MINI} not present"),
]


def test_coverage_and_counts_match_plain_pycocotools(tmp_path):
    ann = COCO_MINI / "instances.json"
    result = run_curate(
        ann, tmp_path / "out", CurateParams(), seed=1,
        keypoints=COCO_MINI / "person_keypoints.json", images_dir=COCO_MINI / "images",
    )
    m = result.manifest.set_index("image_id")
    coco = COCO(str(ann))
    for iid in coco.getImgIds():
        img = coco.imgs[iid]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[iid], catIds=[1], iscrowd=None))
        union = np.zeros((img["height"], img["width"]), np.uint8)
        for a in anns:
            union |= coco.annToMask(a)
        row = m.loc[iid]
        if row["reason"] == "invalid":
            continue
        assert row["coverage"] == pytest.approx(union.mean(), abs=1e-12), iid
        assert row["n_persons"] == sum(1 for a in anns if not a["iscrowd"])
        assert row["has_crowd"] == any(a["iscrowd"] for a in anns)
    kept = m[m["kept"]]
    assert len(kept) > 10
    assert kept["coverage"].between(0.2, 0.7).all()
    assert (kept["n_persons"].between(1, 2)).all()
    # Real COCO has sports scenes: some kept images hold a racket, bat, frisbee or pet.
    assert kept["held_object_flag"].any()
