"""The curate rules, one image at a time.

Rules run in a fixed order and the first one that fails names the image's ``reason``.
Measurements that cost pixels (the union person mask, object overlaps) are made with
pycocotools RLE operations, never by summing COCO ``area`` fields: overlapping persons
are counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from portraitkit.curate.masks import ann_to_rle
from portraitkit.params import CurateParams

REASONS = (
    "invalid",
    "crowd",
    "no_person",
    "too_many_persons",
    "coverage_low",
    "coverage_high",
    "body_part_only",
    "held_object",
    "rejected_in_review",
)


@dataclass
class PersonMeasure:
    n_persons: int
    has_crowd: bool
    coverage: float
    union_rle: dict[str, Any] | None = field(default=None, repr=False)


def measure_persons(anns: list[dict[str, Any]], height: int, width: int, person_id: int) -> PersonMeasure:
    """Count non-crowd persons, detect crowd, and measure the union person mask coverage.

    Crowd regions take part in the union (they are people in the picture), but not in the count.
    """
    persons = [a for a in anns if a.get("category_id") == person_id]
    n_persons = sum(1 for a in persons if not a.get("iscrowd", 0))
    has_crowd = any(a.get("iscrowd", 0) for a in persons)
    if not persons:
        return PersonMeasure(0, False, 0.0, None)
    rles = [ann_to_rle(a, height, width) for a in persons]
    union = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    coverage = float(mask_utils.area(union)) / float(height * width)
    return PersonMeasure(n_persons, has_crowd, coverage, union)


def _expand_box(box: Any, pad: float) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    return x - pad, y - pad, x + w + pad, y + h + pad


def _boxes_touch(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _segmentation_box(seg: Any, height: int, width: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a segmentation without rasterising it (polygons: from the coordinates)."""
    if isinstance(seg, list):
        coords = np.concatenate([np.asarray(p, dtype=np.float64) for p in seg])
        xs, ys = coords[0::2], coords[1::2]
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
    return _expand_box(mask_utils.toBbox(ann_to_rle({"segmentation": seg}, height, width)), 0)


def _mask_in_window(ann: dict[str, Any], rle: dict[str, Any], window: tuple[int, int, int, int]) -> np.ndarray:
    """The annotation's mask inside window (x0, y0, x1, y1), rasterised at window size.

    Polygons are shifted into the window and rasterised at window size instead of decoding
    the whole image. pycocotools rounds half-pixel positions, so a shifted polygon can gain
    or lose a pixel on its outline: immaterial for a test that already tolerates
    ``touch_px`` pixels of distance, and deterministic.
    """
    x0, y0, x1, y1 = window
    seg = ann["segmentation"]
    if isinstance(seg, list):
        shift = np.array([x0, y0], dtype=np.float64)
        shifted = [(np.asarray(p, dtype=np.float64).reshape(-1, 2) - shift).ravel() for p in seg]
        return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(shifted, y1 - y0, x1 - x0)))
    return mask_utils.decode(rle)[y0:y1, x0:x1]


def overlapping_categories(
    anns: list[dict[str, Any]],
    union_rle: dict[str, Any] | None,
    height: int,
    width: int,
    person_id: int,
    category_names: dict[int, str],
    touch_px: int,
) -> list[str]:
    """Names of non-person categories whose mask overlaps (or comes within touch_px of) a person.

    A held racket is usually drawn next to the hand rather than over it, hence the tolerance.
    """
    others = [a for a in anns if a.get("category_id") != person_id]
    if not others or union_rle is None:
        return []
    person_box = _expand_box(mask_utils.toBbox(union_rle), touch_px + 1)
    names: set[str] = set()
    near: list[tuple[dict[str, Any], dict[str, Any], tuple[float, float, float, float]]] = []
    for ann in others:
        name = category_names.get(ann["category_id"], str(ann["category_id"]))
        if name in names:
            continue
        box = _segmentation_box(ann["segmentation"], height, width)
        if not _boxes_touch(person_box, box):
            continue
        rle = ann_to_rle(ann, height, width)
        if mask_utils.area(mask_utils.merge([union_rle, rle], intersect=True)) > 0:
            names.add(name)
        elif touch_px > 0:
            near.append((ann, rle, box))
    if not near:
        return sorted(names)
    person = mask_utils.decode(union_rle)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * touch_px + 1, 2 * touch_px + 1))
    for ann, rle, (bx0, by0, bx1, by1) in near:
        name = category_names.get(ann["category_id"], str(ann["category_id"]))
        if name in names:
            continue
        window = (
            max(int(np.floor(bx0)) - touch_px - 2, 0),
            max(int(np.floor(by0)) - touch_px - 2, 0),
            min(int(np.ceil(bx1)) + touch_px + 3, width),
            min(int(np.ceil(by1)) + touch_px + 3, height),
        )
        obj = cv2.dilate(_mask_in_window(ann, rle, window), kernel)
        x0, y0, x1, y1 = window
        if np.logical_and(obj, person[y0:y1, x0:x1]).any():
            names.add(name)
    return sorted(names)


def count_reason(measure: PersonMeasure, params: CurateParams) -> str:
    """The first failing rule among crowd / person count / coverage, or '' when all pass."""
    if measure.has_crowd:
        return "crowd"
    if measure.n_persons < max(params.min_persons, 1):
        return "no_person"
    if measure.n_persons > params.max_persons:
        return "too_many_persons"
    # Coverage bounds are inclusive: an image at exactly min_coverage is kept.
    if measure.coverage < params.min_coverage:
        return "coverage_low"
    if measure.coverage > params.max_coverage:
        return "coverage_high"
    return ""
