"""Small stage outputs for the report tests, written to the spec of each stage.

The report reads curate / flag / clicks / augment outputs; these helpers write a tiny,
deterministic version of each (real JPEG photos, COCO polygons, parquet tables) so the
report can be tested without running the other stages.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from portraitkit.io import sha256_file, write_json, write_parquet
from portraitkit.reports.collect import ReportInputs

W, H = 320, 240
N_IMAGES = 16
DOG = 18
CATEGORIES = [{"id": 1, "name": "person"}, {"id": DOG, "name": "dog"}]
SPLIT_OF = ["train", "train", "val", "train", "test", "train", "val", "train"]
ALL_STAGES = ("curated", "flags", "clicks", "augmented")


def _photo(i: int) -> np.ndarray:
    rng = np.random.default_rng([11, i])
    top, bottom = rng.integers(60, 230, 3), rng.integers(20, 160, 3)
    t = np.linspace(0, 1, H)[:, None, None]
    img = (top * (1 - t) + bottom * t).astype(np.uint8).repeat(W, axis=1)
    img = np.ascontiguousarray(img)
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 90)), y + int(rng.integers(10, 60))), c, -1)
    return img


def _person_polygon(cx: float, cy: float, rx: float, ry: float, vertices: int, phase: float) -> list[float]:
    pts = []
    for k in range(vertices):
        a = phase + 2 * math.pi * k / vertices
        pts += [round(cx + rx * math.cos(a), 2), round(cy + ry * math.sin(a), 2)]
    return pts


def write_images(images: Path, n: int = N_IMAGES) -> None:
    images.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        img = _photo(i)
        cx, cy = 100 + 9 * (i % 12), 130
        cv2.ellipse(img, (cx, cy), (40 + i % 5 * 6, 80), 0, 0, 360, (60, 90, 200), -1)
        cv2.circle(img, (cx, cy - 95), 22, (150, 180, 230), -1)
        cv2.imwrite(str(images / f"{i:012d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def write_curated(root: Path, images: Path, n: int = N_IMAGES, funnel_with_source: bool = False) -> pd.DataFrame:
    """manifest.parquet, funnel.json, {train,val,test}.json, masks/, identity.json."""
    root.mkdir(parents=True, exist_ok=True)
    reasons = {3: "crowd", 5: "no_person", 8: "coverage_low", 11: "too_many_persons", 14: "coverage_high"}
    rows, splits = [], {"train": [], "val": [], "test": []}
    anns_by_split: dict[str, list] = {"train": [], "val": [], "test": []}
    ann_id = 100
    kept_seen = 0
    for i in range(1, n + 1):
        reason = reasons.get(i, "")
        kept = reason == ""
        split = SPLIT_OF[kept_seen % len(SPLIT_OF)] if kept else None
        n_persons = 3 if reason == "too_many_persons" else (0 if reason == "no_person" else 1 + (i % 2))
        coverage = {"coverage_low": 0.08, "coverage_high": 0.83, "no_person": 0.0}.get(reason, 0.2 + 0.03 * (i % 14))
        body = i in (2, 9)
        held = i in (4, 10)
        rows.append({
            "image_id": i, "file_name": f"{i:012d}.jpg", "width": W, "height": H, "n_persons": n_persons,
            "has_crowd": reason == "crowd", "coverage": coverage, "kept": kept, "reason": reason, "split": split,
            "problems": ["segmentation: empty polygon"] if i == 7 else [],
            "overlapping_categories": ["dog"] if held else [], "n_body_parts": 1 if body else 0,
            "body_part_flag": body, "held_object_flag": held,
        })
        if not kept:
            continue
        kept_seen += 1
        splits[split].append({"id": i, "file_name": f"{i:012d}.jpg", "width": W, "height": H})
        cx = 100 + 9 * (i % 12)
        mask = np.zeros((H, W), np.uint8)
        for p in range(n_persons):
            verts = 5 + 7 * ((i + p) % 5)  # few vertices: coarse; many: fine
            poly = _person_polygon(cx + 120 * p, 110, 48, 105, verts, 0.3 * i)
            ann = {"id": ann_id, "image_id": i, "category_id": 1, "iscrowd": 0, "segmentation": [poly],
                   "area": 1000.0, "bbox": [cx - 48, 5, 96, 210], "num_keypoints": 0 if body and p == 0 else 9}
            anns_by_split[split].append(ann)
            cv2.fillPoly(mask, [np.round(np.asarray(poly).reshape(-1, 2)).astype(np.int32)], 255)
            ann_id += 1
        if held:
            dog = _person_polygon(cx + 60, 200, 30, 22, 12, 0.0)
            anns_by_split[split].append({"id": ann_id, "image_id": i, "category_id": DOG, "iscrowd": 0,
                                         "segmentation": [dog], "area": 500.0, "bbox": [cx + 30, 178, 60, 44]})
            ann_id += 1
        (root / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    manifest = pd.DataFrame(rows)
    write_parquet(root / "manifest.parquet", manifest)
    for split, imgs in splits.items():
        write_json(root / f"{split}.json", {"images": imgs, "annotations": anns_by_split[split], "categories": CATEGORIES})
    remaining = n
    funnel = [{"rule": "source", "dropped": 0, "remaining": n}] if funnel_with_source else []
    order = ["invalid", "crowd", "no_person", "too_many_persons", "coverage_low", "coverage_high",
             "body_part_only", "held_object", "rejected_in_review"]
    for rule in order:
        dropped = sum(1 for r in rows if r["reason"] == rule)
        remaining -= dropped
        funnel.append({"rule": rule, "dropped": dropped, "remaining": remaining})
    write_json(root / "funnel.json", funnel)
    write_json(root / "identity.json", {
        "params": {"seed": 1},
        "inputs": {"annotations": {"path": "annotations/instances.json", "sha256": sha256_file(root / "manifest.parquet")}},
    })
    return manifest


def _split_annotations(curated: Path) -> list[dict]:
    import json

    out = []
    for split in ("train", "val", "test"):
        coco = json.loads((curated / f"{split}.json").read_text())
        out += [dict(a, split=split) for a in coco["annotations"] if a["category_id"] == 1]
    return sorted(out, key=lambda a: a["id"])


def write_flags(root: Path, curated: Path) -> pd.DataFrame:
    rows = []
    for a in _split_annotations(curated):
        verts = len(a["segmentation"][0]) // 2
        coarse = round(1.0 / verts * 5, 4)
        rows.append({"annotation_id": a["id"], "image_id": a["image_id"], "split": a["split"], "coarseness": coarse,
                     "flagged": coarse > 0.3, "reasons": ["few_vertices"] if coarse > 0.3 else [],
                     "vertex_density": float(verts), "box_fill": round(0.5 + coarse / 2, 3)})
    df = pd.DataFrame(rows)
    write_parquet(root / "flags.parquet", df)
    write_parquet(root / "images.parquet", df.groupby("image_id", as_index=False)["flagged"].any())
    write_json(root / "summary.json", {"persons": len(df), "flagged": int(df["flagged"].sum()), "threshold": 0.3})
    return df


def write_clicks(root: Path, curated: Path) -> pd.DataFrame:
    rows = []
    for a in _split_annotations(curated):
        xs, ys = a["segmentation"][0][0::2], a["segmentation"][0][1::2]
        cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
        for strategy, npos, nneg in (("center", 1, 0), ("random", 3, 2)):
            for s in range(2):
                pos = [[round(cx + 8 * k - 8 * s, 1), round(cy + 12 * k, 1)] for k in range(npos)]
                neg = [[round(min(xs) - 15 - 10 * k, 1), round(cy - 20 * k, 1)] for k in range(nneg)]
                rows.append({"annotation_id": a["id"], "image_id": a["image_id"], "split": a["split"],
                             "strategy": strategy, "set_index": s, "positives": pos, "negatives": neg})
    df = pd.DataFrame(rows)
    write_parquet(root / "clicks.parquet", df)
    write_json(root / "summary.json", {"sets": len(df), "strategies": 2})
    return df


def write_augmented(root: Path, images: Path) -> pd.DataFrame:
    root.mkdir(parents=True, exist_ok=True)
    tiles = []
    for i in (1, 2, 4):
        img = cv2.imread(str(images / f"{i:012d}.jpg"))
        tiles.append(np.hstack([img, cv2.flip(img, 1), cv2.GaussianBlur(img, (9, 9), 3)]))
    cv2.imwrite(str(root / "preview.png"), np.vstack(tiles))
    rec = pd.DataFrame({"variant_id": list(range(9)), "image_id": [1, 1, 1, 2, 2, 2, 4, 4, 4],
                        "transform": ["identity", "hflip", "blur"] * 3, "file_name": [f"v{k}.jpg" for k in range(9)]})
    write_parquet(root / "records.parquet", rec)
    return rec


def make_report_inputs(base: Path, stages: tuple[str, ...] = ALL_STAGES, funnel_with_source: bool = False) -> ReportInputs:
    """Write the requested stage outputs under ``base`` and return where they are."""
    inputs = ReportInputs(curated=base / "curated", flags=base / "flags", clicks=base / "clicks",
                          augmented=base / "augmented", images=base / "images")
    write_images(inputs.images)
    if "curated" in stages or {"flags", "clicks"} & set(stages):
        write_curated(inputs.curated, inputs.images, funnel_with_source=funnel_with_source)
    if "flags" in stages:
        inputs.flags.mkdir(parents=True, exist_ok=True)
        write_flags(inputs.flags, inputs.curated)
    if "clicks" in stages:
        inputs.clicks.mkdir(parents=True, exist_ok=True)
        write_clicks(inputs.clicks, inputs.curated)
    if "augmented" in stages:
        write_augmented(inputs.augmented, inputs.images)
    return inputs
