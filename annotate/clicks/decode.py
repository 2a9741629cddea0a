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

from curate.masks import ann_to_rle


def decode_cropped(ann: dict[str, Any], height: int, width: int) -> tuple[int, int, np.ndarray]:
    """``(x0, y0, mask)``: the annotation's uint8 0/1 mask on a window of the image at (x0, y0).

    The window holds every pixel of the object (it may be empty, shape (0, 0), for an empty one).
    """
    seg = ann["segmentation"]
    if isinstance(seg, list):
        polys = [p for p in seg if len(p) >= 6]
        if not polys:
            return 0, 0, np.zeros((0, 0), np.uint8)
        xs = [v for p in polys for v in p[0::2]]
        ys = [v for p in polys for v in p[1::2]]
        x0 = min(max(0, math.floor(min(xs)) - 2), width)
        y0 = min(max(0, math.floor(min(ys)) - 2), height)
        x1 = max(min(width, math.ceil(max(xs)) + 3), x0)
        y1 = max(min(height, math.ceil(max(ys)) + 3), y0)
        if x1 <= x0 or y1 <= y0:
            return 0, 0, np.zeros((0, 0), np.uint8)
        shifted = []
        for p in polys:
            q = [float(v) for v in p]
            q[0::2] = [v - x0 for v in q[0::2]]
            q[1::2] = [v - y0 for v in q[1::2]]
            shifted.append(q)
        m = mask_utils.decode(ann_to_rle({"segmentation": shifted}, y1 - y0, x1 - x0))
        return x0, y0, m
    rle = ann_to_rle(ann, height, width)
    if [int(v) for v in rle["size"]] != [height, width]:
        raise ValueError(f"RLE size {list(rle['size'])} differs from the image size [{height}, {width}]")
    full = mask_utils.decode(rle)
    c = np.ascontiguousarray(full)
    bx, by, bw, bh = cv2.boundingRect(c)
    return bx, by, c[by : by + bh, bx : bx + bw]
