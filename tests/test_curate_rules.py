"""The curate rules, one at a time, on hand-made COCO files with exact pixel areas."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pycocotools.coco import COCO

from portraitkit.curate.stage import run_curate
from portraitkit.curate.split import assign_split
from portraitkit.params import CurateParams
from tests.coco_factory import CocoBuilder, rect_poly, rect_rle

SEED = 123


def curate(tmp_path, builder, **kwargs):
    params = kwargs.pop("params", CurateParams())
    ann_path = builder.write(tmp_path / "in" / "instances.json")
    result = run_curate(ann_path, tmp_path / "out", params, seed=SEED, **kwargs)
    return result.manifest.set_index("image_id")


def test_overlapping_persons_counted_once(tmp_path):
    b = CocoBuilder()
    b.image(1)
    # Two 40x50 rectangles that overlap in a 20x50 band: union 60x50 = 3000 px, sum of areas 4000.
    b.ann(1, rect_rle(100, 100, 0, 0, 50, 40))
    b.ann(1, rect_rle(100, 100, 0, 20, 50, 60))
    m = curate(tmp_path, b)
    assert m.loc[1, "coverage"] == pytest.approx(0.30)
    assert m.loc[1, "n_persons"] == 2
    assert m.loc[1, "kept"]


def test_crowd_drops_image_and_counts_in_coverage(tmp_path):
    b = CocoBuilder()
    b.image(1)
    b.ann(1, rect_rle(100, 100, 0, 0, 50, 50))
    b.ann(1, rect_rle(100, 100, 60, 60, 70, 70), iscrowd=1)
    m = curate(tmp_path, b)
    assert m.loc[1, "reason"] == "crowd"
    assert bool(m.loc[1, "has_crowd"])
    assert m.loc[1, "n_persons"] == 1  # crowd regions are not counted as persons
    assert m.loc[1, "coverage"] == pytest.approx(0.26)  # but they are part of the union


@pytest.mark.parametrize(
    "pixels, reason",
    [(199, "coverage_low"), (200, ""), (700, ""), (701, "coverage_high")],
)
def test_coverage_bounds_are_inclusive(tmp_path, pixels, reason):
    b = CocoBuilder()
    b.image(1, width=100, height=10)  # 1000 px
    rows, rest = divmod(pixels, 100)
    import numpy as np

    from tests.coco_factory import mask_rle

    mask = np.zeros((10, 100), dtype=np.uint8)
    mask[:rows, :] = 1
    mask[rows, :rest] = 1
    b.ann(1, mask_rle(mask))
    m = curate(tmp_path, b)
    assert m.loc[1, "reason"] == reason
    assert m.loc[1, "kept"] == (reason == "")


def test_person_count_rules(tmp_path):
    b = CocoBuilder()
    b.image(1)  # no annotation at all
    b.image(2)
    b.ann(2, rect_rle(100, 100, 0, 0, 60, 60), category_id=62)  # a chair, no person
    b.image(3)
    for k in range(3):
        b.ann(3, rect_rle(100, 100, 0, 30 * k, 30, 30 * k + 20))
    b.image(4)
    b.ann(4, rect_rle(100, 100, 0, 0, 50, 50))
    m = curate(tmp_path, b)
    assert m.loc[1, "reason"] == "no_person"
    assert m.loc[2, "reason"] == "no_person"
    assert m.loc[3, "reason"] == "too_many_persons"
    assert m.loc[4, "reason"] == ""


def test_rule_order_first_failing_rule_wins(tmp_path):
    b = CocoBuilder()
    b.image(1)
    # crowd AND too many persons AND low coverage: crowd comes first.
    for k in range(3):
        b.ann(1, rect_rle(100, 100, 0, 10 * k, 2, 10 * k + 2))
    b.ann(1, rect_rle(100, 100, 50, 50, 52, 52), iscrowd=1)
    m = curate(tmp_path, b)
    assert m.loc[1, "reason"] == "crowd"


def test_body_part_policy(tmp_path):
    b = CocoBuilder()
    b.image(1)
    a1 = b.ann(1, rect_rle(100, 100, 0, 0, 50, 50))
    b.image(2)
    b.ann(2, rect_rle(100, 100, 0, 0, 50, 50))
    kp = b.write_keypoints(tmp_path / "kp.json", {a1: 0})
    flagged = curate(tmp_path, b, keypoints=kp)
    assert flagged.loc[1, "kept"] and flagged.loc[1, "body_part_flag"]
    assert flagged.loc[1, "n_body_parts"] == 1
    assert not flagged.loc[2, "body_part_flag"]
    dropped = curate(tmp_path, b, keypoints=kp, params=CurateParams(body_part_policy="drop"))
    assert dropped.loc[1, "reason"] == "body_part_only"
    kept = curate(tmp_path, b, keypoints=kp, params=CurateParams(body_part_policy="keep"))
    assert kept.loc[1, "kept"] and not kept.loc[1, "body_part_flag"]


def test_held_object_touching_person(tmp_path):
    b = CocoBuilder()
    b.image(1)
    b.ann(1, rect_rle(100, 100, 0, 0, 50, 50))
    b.ann(1, rect_poly(52, 10, 70, 30), category_id=43)  # racket 2 px right of the person
    b.ann(1, rect_poly(80, 80, 95, 95), category_id=18)  # dog far away
    b.image(2)
    b.ann(2, rect_rle(100, 100, 0, 0, 50, 50))
    b.ann(2, rect_poly(30, 30, 70, 70), category_id=62)  # chair overlapping, not a held object
    m = curate(tmp_path, b)
    assert list(m.loc[1, "overlapping_categories"]) == ["tennis racket"]
    assert list(m.loc[1, "held_objects"]) == ["tennis racket"]
    assert m.loc[1, "kept"] and m.loc[1, "held_object_flag"]
    assert list(m.loc[2, "overlapping_categories"]) == ["chair"]
    assert not m.loc[2, "held_object_flag"]
    dropped = curate(tmp_path, b, params=CurateParams(held_object_policy="drop"))
    assert dropped.loc[1, "reason"] == "held_object"
    assert dropped.loc[2, "kept"]
    far = curate(tmp_path, b, params=CurateParams(held_object_touch_px=0))
    assert list(far.loc[1, "held_objects"]) == []


def test_review_rejections(tmp_path):
    b = CocoBuilder()
    for iid in (1, 2, 3):
        b.image(iid)
        b.ann(iid, rect_rle(100, 100, 0, 0, 50, 50))
    reviews = tmp_path / "decisions.csv"
    reviews.write_text("image_id,decision,note\n1,reject,arm missing\n2,accept,\n99,reject,gone\n")
    result = run_curate(b.write(tmp_path / "i.json"), tmp_path / "out", CurateParams(), seed=SEED, reviews=reviews)
    m = result.manifest.set_index("image_id")
    assert m.loc[1, "reason"] == "rejected_in_review"
    assert m.loc[2, "kept"] and m.loc[3, "kept"]
    assert result.unknown_review_ids == [99]


def test_outputs_are_valid_coco_with_all_categories(tmp_path):
    b = CocoBuilder()
    for iid in range(1, 41):
        b.image(iid)
        b.ann(iid, rect_rle(100, 100, 0, 0, 50, 50))
        b.ann(iid, rect_poly(60, 60, 90, 90), category_id=62)
    b.image(41)  # dropped
    curate(tmp_path, b)
    out = tmp_path / "out"
    seen = set()
    for split in ("train", "val", "test"):
        coco = COCO(str(out / f"{split}.json"))
        ids = set(coco.getImgIds())
        assert not ids & seen
        seen |= ids
        for iid in ids:
            cats = {a["category_id"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[iid]))}
            assert cats == {1, 62}
        assert len(coco.dataset["categories"]) == 4
    assert seen == set(range(1, 41))
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel[0] == {"rule": "source", "dropped": 0, "remaining": 41}
    assert funnel[-1]["remaining"] == 40
    assert [f["rule"] for f in funnel[1:]] == [
        "invalid", "crowd", "no_person", "too_many_persons", "coverage_low", "coverage_high",
        "body_part_only", "held_object", "rejected_in_review",
    ]


def test_masks_are_binary_union(tmp_path):
    import cv2

    b = CocoBuilder()
    b.image(5, width=80, height=60)
    b.ann(5, rect_rle(60, 80, 0, 0, 30, 40))
    b.ann(5, rect_rle(60, 80, 10, 20, 30, 60))
    curate(tmp_path, b, write_masks=True)
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "5.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (60, 80)
    assert set(mask.ravel().tolist()) == {0, 255}
    assert int((mask == 255).sum()) == 30 * 40 + 20 * 20


def test_split_fractions_and_stability():
    fr = {"train": 0.7, "val": 0.2, "test": 0.1}
    splits = [assign_split(7, i, fr) for i in range(20000)]
    counts = pd.Series(splits).value_counts(normalize=True)
    assert counts["train"] == pytest.approx(0.7, abs=0.015)
    assert counts["val"] == pytest.approx(0.2, abs=0.015)
    assert counts["test"] == pytest.approx(0.1, abs=0.015)
    assert splits != [assign_split(8, i, fr) for i in range(20000)]


def test_adding_images_never_moves_others(tmp_path):
    b = CocoBuilder()
    for iid in range(1, 60):
        b.image(iid)
        b.ann(iid, rect_rle(100, 100, 0, 0, 50, 50))
    first = curate(tmp_path, b)["split"]
    for iid in range(1000, 1100):
        b.image(iid)
        b.ann(iid, rect_rle(100, 100, 0, 0, 50, 50))
    b.images = [img for img in b.images if img["id"] != 3]
    b.annotations = [a for a in b.annotations if a["image_id"] != 3]
    second = curate(tmp_path, b)["split"]
    common = first.index.intersection(second.index)
    assert len(common) == 58
    assert (first[common] == second[common]).all()


def test_window_rasterisation_equals_crop_of_full_rasterisation():
    import cv2
    import numpy as np

    from portraitkit.curate.masks import ann_to_mask, ann_to_rle
    from portraitkit.curate.rules import _mask_in_window

    rng = np.random.default_rng(0)
    for _ in range(60):
        h, w = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        n = int(rng.integers(3, 12))
        pts = np.stack([rng.uniform(0, w - 1, n), rng.uniform(0, h - 1, n)], 1).round(2)
        ann = {"segmentation": [pts.ravel().tolist()]}
        full = ann_to_mask(ann, h, w)
        pad = int(rng.integers(0, 6))
        window = (
            max(int(np.floor(pts[:, 0].min())) - pad - 2, 0),
            max(int(np.floor(pts[:, 1].min())) - pad - 2, 0),
            min(int(np.ceil(pts[:, 0].max())) + pad + 3, w),
            min(int(np.ceil(pts[:, 1].max())) + pad + 3, h),
        )
        got = _mask_in_window(ann, ann_to_rle(ann, h, w), window)
        crop = full[window[1]:window[3], window[0]:window[2]]
        assert crop.sum() == full.sum()  # the window holds the whole object
        # Differences only where pycocotools rounds a half pixel: on the outline itself.
        outline = cv2.dilate(crop, np.ones((3, 3), np.uint8)) != cv2.erode(crop, np.ones((3, 3), np.uint8))
        assert not np.any((got != crop) & ~outline)
        if crop.sum() > 50:
            assert np.logical_and(got, crop).sum() / np.logical_or(got, crop).sum() > 0.8
