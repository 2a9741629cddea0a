"""The demo data generator: COCO validity, determinism, hidden truth, the scene mix."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from portraitkit.curate.demo import DemoParams, generate
from portraitkit.curate.demo.categories import CATEGORY_ID, KEYPOINT_NAMES, SKELETON
from portraitkit.curate.demo.dataset import kind_of
from portraitkit.curate.demo.scene import KINDS
from portraitkit.curate.masks import ann_to_mask, union_mask
from portraitkit.io import sha256_file, sha256_tree

N = 16
SMALL = dict(long_side_min=160, long_side_max=240, coarse_fraction=0.5,
             mix={k: 1 for k in KINDS})  # every kind twice in 16 images


def small_params(**kw) -> DemoParams:
    return DemoParams.model_validate({**SMALL, **kw})


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "demo"
    summary = generate(out, N, 11, small_params())
    return out, summary


def load(out: Path, name: str) -> dict:
    return json.loads((out / "annotations" / name).read_text())


def test_layout_and_summary(demo):
    out, summary = demo
    from portraitkit.outputs import MARKER

    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["README.md", "annotations", "images", "truth"]
    assert (out / MARKER).is_file()  # the ownership marker: a later run may replace this folder
    assert summary["images"] == N == len(list((out / "images").glob("*.jpg")))
    assert summary["kinds"] == {k: 2 for k in KINDS}
    assert "seed 11" in (out / "README.md").read_text()
    assert not any(p.name.startswith(".") for p in out.parent.iterdir()), "stage_output left a temp folder"


def test_instances_is_valid_coco(demo):
    out, _ = demo
    coco = COCO(str(out / "annotations" / "instances.json"))
    data = load(out, "instances.json")
    assert set(data) == {"info", "licenses", "images", "annotations", "categories"}
    image_ids = [im["id"] for im in data["images"]]
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(set(image_ids)) == len(image_ids) and len(set(ann_ids)) == len(ann_ids)
    license_ids = {lic["id"] for lic in data["licenses"]}
    for im in data["images"]:
        assert im["file_name"] == f"{im['id']:012d}.jpg"
        assert im["license"] in license_ids
        photo = cv2.imread(str(out / "images" / im["file_name"]))
        assert photo.shape[:2] == (im["height"], im["width"])
        assert 160 <= max(photo.shape[:2]) <= 240
    cat_ids = {c["id"] for c in data["categories"]}
    for a in data["annotations"]:
        assert a["image_id"] in coco.imgs and a["category_id"] in cat_ids
        assert set(a) == {"segmentation", "area", "iscrowd", "image_id", "bbox", "category_id", "id"}
        assert a["area"] > 0 and a["bbox"][2] > 0 and a["bbox"][3] > 0
    assert {im["height"] > im["width"] for im in data["images"]} == {True, False}, "both orientations"


def test_real_coco_categories(demo):
    out, _ = demo
    data = load(out, "instances.json")
    cats = {c["id"]: c for c in data["categories"]}
    assert len(cats) == 80 and max(cats) == 90
    for name, cid in [("person", 1), ("dog", 18), ("sports ball", 37), ("baseball bat", 39),
                      ("tennis racket", 43), ("cup", 47), ("chair", 62)]:
        assert cats[cid]["name"] == name and CATEGORY_ID[name] == cid
    assert cats[1]["supercategory"] == "person" and cats[18]["supercategory"] == "animal"
    used = {a["category_id"] for a in data["annotations"]}
    assert 1 in used and len(used) >= 3


def test_polygon_area_and_bbox(demo):
    out, _ = demo
    for a in load(out, "instances.json")["annotations"]:
        if a["iscrowd"]:
            continue
        pts = np.concatenate([np.reshape(p, (-1, 2)) for p in a["segmentation"]])
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in a["segmentation"])
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        assert a["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=0.02)
        shoelace = sum(abs(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))) / 2
                       for p in (np.reshape(s, (-1, 2)) for s in a["segmentation"]))
        assert a["area"] == pytest.approx(shoelace, abs=0.05)


def test_crowd_is_uncompressed_rle(demo):
    out, _ = demo
    data = load(out, "instances.json")
    images = {im["id"]: im for im in data["images"]}
    crowds = [a for a in data["annotations"] if a["iscrowd"]]
    assert crowds
    for a in crowds:
        im = images[a["image_id"]]
        seg = a["segmentation"]
        assert seg["size"] == [im["height"], im["width"]]
        assert isinstance(seg["counts"], list) and all(isinstance(c, int) and c >= 0 for c in seg["counts"])
        assert sum(seg["counts"]) == im["height"] * im["width"]
        m = ann_to_mask(a, im["height"], im["width"])
        assert m.sum() == a["area"] > 0
        assert a["category_id"] == 1
        assert a["bbox"] == pytest.approx(list(mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m)))))


def test_keypoints_file_matches_instances(demo):
    out, _ = demo
    COCO(str(out / "annotations" / "person_keypoints.json"))
    inst, kp = load(out, "instances.json"), load(out, "person_keypoints.json")
    assert kp["images"] == inst["images"]
    (cat,) = kp["categories"]
    assert cat["id"] == 1 and cat["keypoints"] == KEYPOINT_NAMES and len(KEYPOINT_NAMES) == 17
    assert cat["skeleton"] == SKELETON and len(SKELETON) == 19
    persons = {a["id"]: a for a in inst["annotations"] if a["category_id"] == 1}
    kps = {a["id"]: a for a in kp["annotations"]}
    assert set(kps) == set(persons)
    images = {im["id"]: im for im in inst["images"]}
    visible = 0
    for aid, a in kps.items():
        assert a["segmentation"] == persons[aid]["segmentation"] and a["bbox"] == persons[aid]["bbox"]
        k = np.reshape(a["keypoints"], (17, 3))
        assert set(k[:, 2]) <= {0, 1, 2}
        assert a["num_keypoints"] == int((k[:, 2] > 0).sum())
        assert (k[k[:, 2] == 0, :2] == 0).all()
        im = images[a["image_id"]]
        on = k[k[:, 2] > 0]
        assert ((on[:, 0] >= 0) & (on[:, 0] < im["width"]) & (on[:, 1] >= 0) & (on[:, 1] < im["height"])).all()
        visible += a["num_keypoints"]
        if a["iscrowd"]:
            assert a["num_keypoints"] == 0
    assert visible > 17 * 5


def test_body_part_only_persons_have_no_keypoints(demo):
    out, _ = demo
    truth = pd.read_parquet(out / "truth" / "persons.parquet")
    kps = {a["id"]: a for a in load(out, "person_keypoints.json")["annotations"]}
    parts = truth[truth.body_part_only]
    assert len(parts) >= 1
    for aid in parts.annotation_id:
        assert kps[aid]["num_keypoints"] == 0 and not any(kps[aid]["keypoints"])
    whole = truth[~truth.body_part_only]
    assert (np.array([kps[a]["num_keypoints"] for a in whole.annotation_id]) > 0).mean() > 0.8


def test_truth_masks_agree_with_faithful_polygons_only(demo):
    out, _ = demo
    inst = load(out, "instances.json")
    images = {im["id"]: im for im in inst["images"]}
    anns = {a["id"]: a for a in inst["annotations"]}
    truth = pd.read_parquet(out / "truth" / "persons.parquet")
    assert list(truth.columns) == ["annotation_id", "image_id", "coarsened", "coarsening", "polygon_iou", "body_part_only"]
    non_crowd = {a["id"] for a in inst["annotations"] if a["category_id"] == 1 and not a["iscrowd"]}
    assert set(truth.annotation_id) == non_crowd
    assert {p.stem for p in (out / "truth" / "masks").glob("*.png")} == {str(i) for i in non_crowd}
    assert truth.coarsened.sum() >= 2 and (~truth.coarsened).sum() >= 5
    for row in truth.itertuples():
        a, im = anns[row.annotation_id], images[row.image_id]
        assert a["image_id"] == row.image_id
        exact = cv2.imread(str(out / "truth" / "masks" / f"{row.annotation_id}.png"), cv2.IMREAD_UNCHANGED)
        assert exact.shape == (im["height"], im["width"]) and set(np.unique(exact)) <= {0, 255}
        poly = ann_to_mask(a, im["height"], im["width"]).astype(bool)
        e = exact > 0
        iou = (poly & e).sum() / (poly | e).sum()
        assert iou == pytest.approx(row.polygon_iou, abs=1e-4)
        if row.coarsened:
            assert row.coarsening in {"few_vertices", "chords", "bulge", "shrink"}
            assert 0.55 <= iou <= 0.9
        else:
            assert row.coarsening == ""
            assert iou >= 0.9
    # the truth never leaks into the COCO files
    for name in ("instances.json", "person_keypoints.json"):
        text = (out / "annotations" / name).read_text()
        assert "coarsen" not in text and "truth" not in text


def test_visible_masks_do_not_overlap(demo):
    out, _ = demo
    truth = pd.read_parquet(out / "truth" / "persons.parquet")
    for _, rows in truth.groupby("image_id"):
        masks = [cv2.imread(str(out / "truth" / "masks" / f"{a}.png"), 0) > 0 for a in rows.annotation_id]
        total = np.sum(masks, axis=0)
        assert total.max() <= 1, "exact masks are visible pixels: occluded parts belong to the front person"


def test_same_seed_same_bytes_other_seed_differs(demo, tmp_path):
    out, _ = demo
    again = tmp_path / "again"
    generate(again, N, 11, small_params())
    assert sha256_tree(again) == sha256_tree(out)
    other = tmp_path / "other"
    generate(other, N, 12, small_params())
    for name in ("annotations/instances.json", "images/000000000001.jpg"):
        assert sha256_file(other / name) != sha256_file(out / name)
    # the first images do not depend on how many are generated
    few = tmp_path / "few"
    generate(few, 3, 11, small_params())
    for i in (1, 2, 3):
        assert sha256_file(few / "images" / f"{i:012d}.jpg") == sha256_file(out / "images" / f"{i:012d}.jpg")


def test_rewrites_its_own_folder_atomically_and_refuses_a_users(tmp_path):
    from portraitkit.errors import UserError

    out = tmp_path / "demo"
    generate(out, 3, 3, small_params())
    summary = generate(out, 2, 3, small_params())  # its own earlier output: replaced
    assert summary["images"] == 2 == len(list((out / "images").glob("*.jpg")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "stale.txt").write_text("old")
    with pytest.raises(UserError, match="did not write"):
        generate(mine, 2, 3, small_params())
    assert [p.name for p in mine.iterdir()] == ["stale.txt"] and (mine / "stale.txt").read_text() == "old"


def test_scene_mix_schedule():
    params = DemoParams()
    block = sum(params.mix.model_dump().values())
    for b in range(3):
        got = Counter(kind_of(i, 7, params) for i in range(b * block, (b + 1) * block))
        assert got == Counter({k: v for k, v in params.mix.model_dump().items() if v})
    assert [kind_of(i, 7, params) for i in range(block)] != [kind_of(i, 8, params) for i in range(block)]


def test_default_mix_gives_curate_a_good_sample(tmp_path):
    """With curate's default rules about 35-50 % of images are kept, and every rule rejects some."""
    out = tmp_path / "demo"
    generate(out, 40, 5, DemoParams(long_side_min=160, long_side_max=200))
    data = load(out, "instances.json")
    by_image: dict[int, list] = {}
    for a in data["annotations"]:
        if a["category_id"] == 1:
            by_image.setdefault(a["image_id"], []).append(a)
    reasons = Counter()
    for im in data["images"]:
        anns = by_image.get(im["id"], [])
        single = [a for a in anns if not a["iscrowd"]]
        cover = union_mask(single, im["height"], im["width"]).mean() if single else 0.0
        if any(a["iscrowd"] for a in anns):
            reasons["crowd"] += 1
        elif not single:
            reasons["no person"] += 1
        elif len(single) > 2:
            reasons["too many"] += 1
        elif cover < 0.2:
            reasons["too small"] += 1
        elif cover > 0.7:
            reasons["too big"] += 1
        else:
            reasons["kept"] += 1
    assert set(reasons) == {"crowd", "no person", "too many", "too small", "too big", "kept"}, reasons
    assert 0.3 <= reasons["kept"] / 40 <= 0.6, reasons


def test_params_validation():
    with pytest.raises(Exception, match="long_side_min"):
        DemoParams(long_side_min=500, long_side_max=400)
    with pytest.raises(Exception):
        DemoParams.model_validate({"mix": {"portrait": 1, "selfie": 2}})
    with pytest.raises(Exception, match="at least one"):
        DemoParams.model_validate({"mix": {k: 0 for k in KINDS}})
    assert set(DemoParams().mix.model_dump()) == set(KINDS)


def test_cli(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("demo:\n  images: 2\n  seed: 4\n  long_side_min: 120\n  long_side_max: 160\n")
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "portraitkit.cli", "demo-data", str(out), "--params", str(params), "--images", "3"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "3 images" in r.stderr and "seed 4" in r.stderr
    assert len(load(out, "instances.json")["images"]) == 3
    r = subprocess.run(cmd[:-1] + ["0"], capture_output=True, text=True)
    assert r.returncode == 2 and "demo.images" in r.stderr and "Traceback" not in r.stderr
