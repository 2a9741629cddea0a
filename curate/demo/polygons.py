"""Masks to COCO polygons and back, and the deliberate coarsening of some person outlines.

Polygons are traced on the mask upsampled 2x so that, rasterised by pycocotools, the
unsimplified outline reproduces the mask exactly; ``approxPolyDP`` then drops vertices
within ``epsilon`` px of the outline.
"""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

COARSENINGS = ("few_vertices", "chords", "bulge", "shrink")


def mask_to_polygons(mask: np.ndarray, epsilon: float = 0.6, min_area: float = 4.0) -> list[np.ndarray]:
    """Outlines of a binary mask as (N, 2) float arrays in COCO pixel coordinates.

    A hole (a gap between an arm on the hip and the body) is cut into its outline through a
    zero-width "keyhole" bridge, which pycocotools' even-odd rasterisation leaves empty.
    """
    up = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]

    def simplify(c: np.ndarray) -> np.ndarray | None:
        a = cv2.approxPolyDP(c, 2.0 * epsilon, True)[:, 0, :].astype(np.float64) / 2.0
        return a if len(a) >= 3 and polygon_area(a) >= min_area else None

    polys = []
    for i, c in enumerate(contours):
        if hierarchy[i][3] != -1:
            continue
        outer = simplify(c)
        if outer is None:
            continue
        child = hierarchy[i][2]
        while child != -1:
            hole = simplify(contours[child])
            if hole is not None:
                outer = _keyhole(outer, hole)
            child = hierarchy[child][0]
        polys.append(outer)
    # largest first, so a coarsened outline keeps the main body
    polys.sort(key=lambda p: -polygon_area(p))
    return polys


def _keyhole(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """One polygon: ``outer``, a bridge to the nearest vertex of ``hole``, around it, and back."""
    d = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    ring = np.roll(hole, -j, axis=0)
    return np.concatenate([outer[: i + 1], ring, ring[:1], outer[i:]], axis=0)


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area of one polygon."""
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def to_coco(polys: list[np.ndarray]) -> list[list[float]]:
    return [[round(float(v), 2) for v in p.reshape(-1)] for p in polys]


def rasterise(segmentation: list[list[float]], height: int, width: int) -> np.ndarray:
    """Bool mask of COCO polygons, rasterised the way pycocotools does it."""
    if not segmentation:
        return np.zeros((height, width), bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    return mask_utils.decode(rle).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _few_vertices(mask, rng, target, h, w):
    polys = mask_to_polygons(mask, epsilon=0.6)
    if not polys:
        return None
    main = polys[0].astype(np.float32)
    k = int(rng.integers(6, 15))
    best = None
    for eps in np.geomspace(1.0, max(h, w) / 2.0, 40):
        a = cv2.approxPolyDP(main, float(eps), True)[:, 0, :].astype(np.float64)
        if len(a) < 3:
            break
        best = [a]
        if len(a) <= k:
            break
    return best


def _chords(mask, rng, target, h, w):
    polys = mask_to_polygons(mask, epsilon=0.6)
    if not polys:
        return None
    p = polys[0]
    for _ in range(12):
        n = len(p)
        if n < 8:
            break
        i = int(rng.integers(n))
        span = int(max(3, rng.uniform(0.1, 0.25) * n))
        idx = [(i + j) % n for j in range(span + 1)]
        keep = np.ones(n, bool)
        keep[idx[1:-1]] = False
        q = p[keep]
        if len(q) < 3:
            break
        p = q
        if iou(rasterise(to_coco([p]), h, w), mask) <= target:
            break
    return [p]


def _morph(mask, rng, target, h, w, grow: bool):
    best = None
    size = mask.sum()
    for r in range(1, 60):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        m2 = (cv2.dilate if grow else cv2.erode)(mask.astype(np.uint8), k)
        if m2.sum() < 0.1 * size:
            break
        polys = mask_to_polygons(m2, epsilon=1.2)
        if not polys:
            break
        best = polys
        if iou(rasterise(to_coco(polys), h, w), mask) <= target:
            break
    return best


def coarsen(mask: np.ndarray, method: str, rng: np.random.Generator, lo: float = 0.6, hi: float = 0.88):
    """A deliberately coarse outline of ``mask`` with IoU in [lo, hi] if one can be found.

    Tries ``method`` first and the other methods after it. Returns (polygons, method, iou)
    or None when no coarse outline in range was found (then the faithful one is kept).
    """
    h, w = mask.shape
    target = float(rng.uniform(lo + 0.05, hi - 0.04))
    order = [method] + [m for m in COARSENINGS if m != method]
    for m in order:
        if m == "few_vertices":
            polys = _few_vertices(mask, rng, target, h, w)
        elif m == "chords":
            polys = _chords(mask, rng, target, h, w)
        else:
            polys = _morph(mask, rng, target, h, w, grow=(m == "bulge"))
        if not polys:
            continue
        value = iou(rasterise(to_coco(polys), h, w), mask)
        if lo <= value <= hi:
            return polys, m, value
    return None
