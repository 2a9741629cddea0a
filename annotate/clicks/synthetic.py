"""Tiny synthetic curated datasets (tests, benchmarks): the same files the curate stage writes.

``make_curated(out, n_images, seed)`` writes ``train.json``, ``val.json``, ``test.json``
(COCO: images, annotations, categories), ``manifest.parquet`` and, with ``images=True``,
PNG images under ``out/images``. Each image has 1-2 "persons" (an ellipse body and a disk
head, category 1) and 0-2 other objects (rectangles, category 18 "dog"), drawn in distinct
colours on a noisy gradient; annotations are polygons traced from the drawn shapes, with
later shapes occluding earlier ones. Deterministic in ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from portraitkit.io import write_json, write_parquet, write_png

CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
]


def _polygons(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        if len(c) >= 3:
            polys.append([float(v) for v in c.reshape(-1)])
    return polys


def _person(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cx = int(rng.integers(w // 5, 4 * w // 5))
    ax = int(rng.integers(w // 10, w // 5))
    ay = int(rng.integers(h // 5, h // 3))
    cy = int(rng.integers(h // 2, h - ay // 2))
    cv2.ellipse(m, (cx, cy), (ax, ay), float(rng.uniform(-15, 15)), 0, 360, 1, -1)
    hr = max(3, int(ax * rng.uniform(0.5, 0.8)))
    cv2.circle(m, (cx, max(hr, cy - ay - hr + 4)), hr, 1, -1)
    return m


def _thing(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
    cv2.rectangle(m, (x0, y0), (min(w - 1, x0 + int(rng.integers(8, w // 3))), min(h - 1, y0 + int(rng.integers(8, h // 3)))), 1, -1)
    return m


def make_image(h: int, w: int, rng: np.random.Generator):
    """(image BGR uint8, [(category_id, mask), ...]) with occlusion already applied."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 200, size=3)
    img = np.stack([base[c] + 30 * np.sin(xx / (15 + 10 * c) + yy / 40.0) for c in range(3)], axis=2)
    shapes = [(1, _person(h, w, rng)) for _ in range(int(rng.integers(1, 3)))]
    shapes += [(18, _thing(h, w, rng)) for _ in range(int(rng.integers(0, 3)))]
    order = rng.permutation(len(shapes))
    shapes = [shapes[i] for i in order]
    for i, (_, m) in enumerate(shapes):  # occlusion: later shapes cover earlier ones
        for _, later in shapes[i + 1 :]:
            m[later != 0] = 0
    for _, m in shapes:
        colour = rng.integers(0, 256, size=3)
        img[m != 0] = colour + rng.normal(0, 12, size=(int(m.sum()), 3))
    img = np.clip(img + rng.normal(0, 6, size=img.shape), 0, 255).astype(np.uint8)
    return img, shapes


def make_curated(out: str | Path, n_images: int = 12, seed: int = 0, size: tuple[int, int] = (120, 160), images: bool = True) -> Path:
    """Write a tiny curated dataset under ``out`` (``size`` = (height, width)); returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0x5E7])
    h, w = size
    splits = ("train", "val", "test")
    coco = {s: {"images": [], "annotations": [], "categories": CATEGORIES} for s in splits}
    manifest = []
    ann_id = 1000
    for i in range(n_images):
        image_id = i + 1
        split = splits[i % 3]
        img, shapes = make_image(h, w, rng)
        file_name = f"{image_id:06d}.png"
        if images:
            write_png(out / "images" / file_name, img)
        n_persons = 0
        for cat, m in shapes:
            polys = _polygons(m)
            if not polys:
                continue
            ann_id += 1
            n_persons += cat == 1
            x, y, bw, bh = cv2.boundingRect(m)
            coco[split]["annotations"].append(
                {"id": ann_id, "image_id": image_id, "category_id": cat, "segmentation": polys,
                 "area": float(m.sum()), "bbox": [x, y, bw, bh], "iscrowd": 0}
            )
        coco[split]["images"].append({"id": image_id, "file_name": file_name, "width": w, "height": h})
        manifest.append({"image_id": image_id, "file_name": file_name, "width": w, "height": h,
                         "n_persons": n_persons, "kept": True, "reason": "", "split": split})
    for s in splits:
        write_json(out / f"{s}.json", coco[s], indent=None)
    write_parquet(out / "manifest.parquet", pd.DataFrame(manifest))
    return out
