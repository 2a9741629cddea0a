"""COCO segmentation to masks, with pycocotools doing the rasterisation.

Shared by every stage that needs a person mask (flag, clicks, augment, review).
All functions take plain COCO annotation dicts and the image height/width.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from pycocotools import mask as mask_utils


def ann_to_rle(ann: dict[str, Any], height: int, width: int) -> dict[str, Any]:
    """One compressed RLE for an annotation's segmentation (polygons, RLE or compressed RLE)."""
    seg = ann["segmentation"]
    if isinstance(seg, list):
        rles = mask_utils.frPyObjects(seg, height, width)
        # merging one polygon's RLE returns it unchanged: skip the copy (most persons are one polygon)
        return rles[0] if len(rles) == 1 else mask_utils.merge(rles)
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(seg, height, width)
    if isinstance(seg["counts"], str):
        return {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
    return seg


def ann_to_mask(ann: dict[str, Any], height: int, width: int) -> np.ndarray:
    """Binary uint8 mask (0/1) of one annotation."""
    return mask_utils.decode(ann_to_rle(ann, height, width))


def union_rle(anns: Iterable[dict[str, Any]], height: int, width: int) -> dict[str, Any] | None:
    """RLE of the union of several annotations (overlaps counted once), or None if empty."""
    rles = [ann_to_rle(a, height, width) for a in anns]
    if not rles:
        return None
    return mask_utils.merge(rles) if len(rles) > 1 else rles[0]


def union_mask(anns: Iterable[dict[str, Any]], height: int, width: int) -> np.ndarray:
    """Binary uint8 mask (0/1) of the union of annotations; all zeros when there are none."""
    rle = union_rle(anns, height, width)
    if rle is None:
        return np.zeros((height, width), dtype=np.uint8)
    return mask_utils.decode(rle)


def rle_area(rle: dict[str, Any] | None) -> int:
    return 0 if rle is None else int(mask_utils.area(rle))


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed RLE of a binary mask, with ``counts`` as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle
