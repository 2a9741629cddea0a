"""Build small COCO files in tests, with exact pixel areas where a test needs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 43, "name": "tennis racket", "supercategory": "sports"},
    {"id": 62, "name": "chair", "supercategory": "furniture"},
]


def rect_rle(h: int, w: int, y0: int, x0: int, y1: int, x1: int) -> dict[str, Any]:
    """Uncompressed RLE (list counts) of the pixel rectangle [y0:y1, x0:x1]."""
    m = np.zeros((h, w), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    return mask_rle(m)


def mask_rle(m: np.ndarray) -> dict[str, Any]:
    """Uncompressed RLE of a mask, as COCO stores crowd regions."""
    flat = np.asfortranarray(m.astype(np.uint8)).flatten(order="F")
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": [int(c) for c in counts]}


def rect_poly(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


class CocoBuilder:
    def __init__(self) -> None:
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._next_ann = 1

    def image(self, image_id: int, width: int = 100, height: int = 100, file_name: str | None = None) -> int:
        self.images.append(
            {"id": image_id, "file_name": file_name or f"{image_id:012d}.jpg", "width": width, "height": height}
        )
        return image_id

    def ann(self, image_id: int, segmentation: Any, category_id: int = 1, iscrowd: int = 0, **extra: Any) -> int:
        aid = extra.pop("id", None) or self._next_ann
        self._next_ann = max(self._next_ann, aid) + 1
        record = {
            "id": aid,
            "image_id": image_id,
            "category_id": category_id,
            "segmentation": segmentation,
            "area": 0.0,
            "bbox": [0, 0, 1, 1],
            "iscrowd": iscrowd,
        }
        record.update(extra)
        self.annotations.append(record)
        return aid

    def data(self) -> dict[str, Any]:
        return {
            "info": {"description": "test"},
            "licenses": [{"id": 1, "name": "test", "url": ""}],
            "images": self.images,
            "annotations": self.annotations,
            "categories": [dict(c) for c in CATEGORIES],
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data()))
        return path

    def write_keypoints(self, path: Path, num_keypoints: dict[int, int]) -> Path:
        anns = [
            {"id": a["id"], "image_id": a["image_id"], "category_id": 1, "num_keypoints": num_keypoints.get(a["id"], 10),
             "keypoints": [0] * 51, "iscrowd": a["iscrowd"]}
            for a in self.annotations
            if a["category_id"] == 1
        ]
        path.write_text(json.dumps({"images": self.images, "annotations": anns, "categories": CATEGORIES[:1]}))
        return path


def rle_area(seg: dict[str, Any]) -> int:
    h, w = seg["size"]
    return int(mask_utils.area(mask_utils.frPyObjects(seg, h, w)))
