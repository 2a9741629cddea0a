"""The ``augment`` stage end to end on a tiny hand-made curated set, plus robust image reading."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from portraitkit.augment.cli import app
from portraitkit.augment.pipeline import replay
from portraitkit.curate.masks import ann_to_mask, union_mask
from portraitkit.images import read_image
from portraitkit.io import sha256_tree
from portraitkit.params.augment import AugmentParams


def _photo(h: int, w: int, rng: np.random.Generator, persons: list[np.ndarray]) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([70 + 90 * xx / w, 100 + 50 * yy / h, 150 - 60 * xx / w], -1) + rng.normal(0, 6, (h, w, 3))
    for i, poly in enumerate(persons):
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [poly.astype(np.int32)], 1)
        color = np.array([200, 150, 125]) if i == 0 else np.array([60, 70, 120])
        img = np.where(m[..., None] == 1, color + rng.normal(0, 8, (h, w, 3)), img)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_curated(root: Path, n: int = 4, masks: bool = True) -> dict:
    """curated/{train,val,test}.json (+ masks/), images/, clicks/clicks.parquet; some awkward files."""
    rng = np.random.default_rng(0)
    cur, imgs, clk = root / "curated", root / "images", root / "clicks"
    for d in (cur, imgs, clk):
        d.mkdir(parents=True)
    images, anns, click_rows = [], [], []
    aid = 100
    for i in range(n):
        iid = 10 + i
        h, w = (96, 80) if i % 2 == 0 else (80, 104)
        p1 = np.array([[w * 0.3, h * 0.2], [w * 0.6, h * 0.2], [w * 0.7, h * 0.95], [w * 0.25, h * 0.95]])
        p2 = np.array([[w * 0.75, h * 0.5], [w * 0.95, h * 0.5], [w * 0.95, h * 0.95], [w * 0.75, h * 0.95]])
        rgb = _photo(h, w, rng, [p1, p2])
        name = f"img_{iid}.png" if i == 1 else f"img_{iid}.jpg"
        if i == 1:  # 16-bit PNG
            cv2.imwrite(str(imgs / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
        else:
            Image.fromarray(rgb).save(imgs / name, quality=95)
        images.append({"id": iid, "file_name": name, "width": w, "height": h})
        for poly in (p1, p2):
            anns.append({"id": aid, "image_id": iid, "category_id": 1, "iscrowd": 0,
                         "segmentation": [poly.ravel().round(1).tolist()], "area": 1.0,
                         "bbox": [float(poly[:, 0].min()), float(poly[:, 1].min()), 1.0, 1.0]})
            aid += 1
        first = anns[-2]
        m = ann_to_mask(first, h, w)
        ys, xs = np.nonzero(m)
        bys, bxs = np.nonzero(union_mask(anns[-2:], h, w) == 0)  # negatives off both persons
        sel, bsel = rng.choice(len(xs), 3), rng.choice(len(bxs), 3)
        click_rows.append({
            "annotation_id": first["id"], "image_id": iid, "split": "train", "strategy": "random", "set_index": 0,
            "positives": [[int(xs[k]), int(ys[k])] for k in sel], "negatives": [[int(bxs[k]), int(bys[k])] for k in bsel],
        })
    # an image whose mask size disagrees with the photo
    bad = {"id": 99, "file_name": "bad.jpg", "width": 64, "height": 64}
    Image.fromarray(_photo(50, 70, rng, [])).save(imgs / "bad.jpg")
    anns.append({"id": 999, "image_id": 99, "category_id": 1, "iscrowd": 0,
                 "segmentation": [[10, 10, 40, 10, 40, 60, 10, 60]], "area": 1.0, "bbox": [10, 10, 30, 50]})
    images.append(bad)
    cats = [{"id": 1, "name": "person"}]
    (cur / "train.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    for split in ("val", "test"):
        (cur / f"{split}.json").write_text(json.dumps({"images": [], "annotations": [], "categories": cats}))
    if masks:
        (cur / "masks").mkdir()
        for img in images:
            m = union_mask([a for a in anns if a["image_id"] == img["id"]], img["height"], img["width"])
            cv2.imwrite(str(cur / "masks" / f"{img['id']}.png"), m * 255)
    pd.DataFrame(click_rows).to_parquet(clk / "clicks.parquet")
    return {"curated": cur, "images": imgs, "clicks": clk, "anns": anns, "image_list": images}


def _params_file(tmp: Path, **augment) -> Path:
    base = AugmentParams().model_dump(mode="json")
    base.update({"variants": 3, "image_format": "png", "preview_images": 3, **augment})
    path = tmp / "params.yaml"
    path.write_text(json.dumps({"seed": 5, "augment": base}))  # JSON is YAML
    return path


def _run(data: dict, out: Path, params: Path, *extra: str):
    res = CliRunner().invoke(
        app,
        ["--curated", str(data["curated"]), "--images", str(data["images"]), "--clicks", str(data["clicks"]),
         "--out", str(out), "--params", str(params), *extra],
    )
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    data = make_curated(root)
    params = _params_file(root)
    _run(data, root / "out", params)
    return data, root, params


def test_stage_outputs(staged):
    data, root, _ = staged
    out = root / "out"
    v = pd.read_parquet(out / "variants.parquet")
    s = json.loads((out / "summary.json").read_text())
    assert s["images_in"] == 5 and s["images_skipped"] == 1 and s["images_augmented"] == 4
    assert len(v) == s["variants_written"] == 12 - s["variants_dropped_unrealistic"]
    for row in v.itertuples():
        img = cv2.imread(str(out / row.image_file))
        m = cv2.imread(str(out / row.mask_file), cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == m.shape == (row.height, row.width)
        assert set(np.unique(m).tolist()) <= {0, 1, 255}
    assert (out / "preview.png").stat().st_size < 2_000_000
    assert (out / "README.md").is_file()
    log = (out / "log.txt").read_text()
    assert "image 99 (bad.jpg): skipped:" in log and "64x64" in log
    assert "image_converted:RGB;16" in log  # the one reader's notes (portraitkit.images)


def test_stage_clicks_moved_and_counted(staged):
    _, root, _ = staged
    out = root / "out"
    c = pd.read_parquet(out / "clicks.parquet")
    v = pd.read_parquet(out / "variants.parquet").set_index(["image_id", "variant"])
    s = json.loads((out / "summary.json").read_text())["clicks"]
    assert len(c) == len(v)  # one click set per image here
    assert s["in"] == s["kept"] + s["dropped_outside"] + s["dropped_wrong_side"] == 6 * len(v)
    for row in c.itertuples():
        m = cv2.imread(str(out / v.loc[(row.image_id, row.variant), "mask_file"]), cv2.IMREAD_UNCHANGED)
        for x, y in row.positives:
            assert m[y, x] == 1
        for x, y in row.negatives:
            assert m[y, x] == 0


def test_stage_variant_replays_from_its_record(staged):
    data, root, params_file = staged
    from portraitkit.params import load_params

    params = load_params(params_file).augment
    out = root / "out"
    v = pd.read_parquet(out / "variants.parquet")
    by_id = {img["id"]: img for img in data["image_list"]}
    for row in v.itertuples():
        img = by_id[row.image_id]
        src = read_image(data["images"] / img["file_name"], img["width"], img["height"]).rgb
        mask = union_mask([a for a in data["anns"] if a["image_id"] == row.image_id], img["height"], img["width"])
        r = replay(row._asdict(), src, mask, params)
        saved = cv2.cvtColor(cv2.imread(str(out / row.image_file)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(r.image, saved)
        assert np.array_equal(r.mask, cv2.imread(str(out / row.mask_file), cv2.IMREAD_UNCHANGED))


def test_stage_is_deterministic_whatever_the_workers(staged, tmp_path):
    data, root, params = staged
    _run(data, tmp_path / "again", params, "--workers", "2")
    assert sha256_tree(tmp_path / "again") == sha256_tree(root / "out")


def test_stage_decodes_masks_from_annotations(tmp_path):
    data = make_curated(tmp_path / "d", n=2, masks=False)
    params = _params_file(tmp_path, preview_images=0)
    _run(data, tmp_path / "out", params)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["images_augmented"] == 2 and s["images_skipped"] == 1  # the mask from the 64x64 COCO size disagrees
    assert "image 99 (bad.jpg): skipped: cannot read image: image_size_mismatch:70x50!=64x64" in (tmp_path / "out" / "log.txt").read_text()


def test_stage_bad_input_is_a_user_error(tmp_path):
    (tmp_path / "in").mkdir()  # --out beside the inputs: an --out inside an input is refused first
    res = CliRunner().invoke(app, ["--curated", str(tmp_path / "in"), "--images", str(tmp_path / "in"), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "train.json" in str(res.exception)


def test_variant_depends_only_on_seed_image_and_variant(staged, tmp_path):
    """Drop other images from train.json: the remaining image's variants are byte-identical."""
    data, root, params = staged
    coco = json.loads((data["curated"] / "train.json").read_text())
    keep = 12
    coco["images"] = [i for i in coco["images"] if i["id"] == keep]
    cur = tmp_path / "curated"
    cur.mkdir()
    (cur / "train.json").write_text(json.dumps(coco))
    (cur / "masks").symlink_to(data["curated"] / "masks")
    sub = dict(data, curated=cur)
    _run(sub, tmp_path / "out", params, "--variants", "2")
    v = pd.read_parquet(tmp_path / "out" / "variants.parquet")
    assert sorted(v["variant"]) == [0, 1] and set(v["image_id"]) == {keep}
    for row in v.itertuples():
        for f in (row.image_file, row.mask_file):
            assert (tmp_path / "out" / f).read_bytes() == (root / "out" / f).read_bytes()
