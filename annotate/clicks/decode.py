"""Decode a COCO annotation into a crop around it instead of the whole image (speed).

Polygons are shifted by an integer offset and rasterised by pycocotools (via
``curate.masks.ann_to_rle``) on a crop that holds them with a margin; pycocotools'
rasteriser is exactly translation-invariant for integer shifts, and clipping at the image
edge stays where the crop meets the image edge, so the crop equals the same window of the
full-image mask (tests check this). RLE segmentations are decoded in full and cropped.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from portraitkit.curate.masks import ann_to_rle


def decode_cropped(ann: dict[str, Any], height: int, width: int) -> tuple[int, int, np.ndarray]:
    """``(x0, y0, mask)``: the annotation's uint8 0/1 mask on a window of the image at (x0, y0).

    The window holds every pixel of the object (it may be empty, shape (0, 0), for an empty one).
    """
    seg = ann["segmentation"]
    if isinstance(seg, list):
        polys = [np.array(p, np.float64) for p in seg if len(p) >= 6]  # copies: shifted below
        if not polys:
            return 0, 0, np.zeros((0, 0), np.uint8)
        lo = np.min([(p[0::2].min(), p[1::2].min()) for p in polys], axis=0)
        hi = np.max([(p[0::2].max(), p[1::2].max()) for p in polys], axis=0)
        x0 = min(max(0, math.floor(lo[0]) - 2), width)
        y0 = min(max(0, math.floor(lo[1]) - 2), height)
        x1 = max(min(width, math.ceil(hi[0]) + 3), x0)
        y1 = max(min(height, math.ceil(hi[1]) + 3), y0)
        if x1 <= x0 or y1 <= y0:
            return 0, 0, np.zeros((0, 0), np.uint8)
        for p in polys:
            p[0::2] -= x0
            p[1::2] -= y0
        m = mask_utils.decode(ann_to_rle({"segmentation": polys}, y1 - y0, x1 - x0))
        return x0, y0, m
    rle = ann_to_rle(ann, height, width)
    if [int(v) for v in rle["size"]] != [height, width]:
        raise ValueError(f"RLE size {list(rle['size'])} differs from the image size [{height}, {width}]")
    full = mask_utils.decode(rle)
    c = np.ascontiguousarray(full)
    bx, by, bw, bh = cv2.boundingRect(c)
    return bx, by, c[by : by + bh, bx : bx + bw]
