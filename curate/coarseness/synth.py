"""Small synthetic person scenes with known-good and known-coarse polygons (tests, benches).

``scene(rng)`` draws a person-like silhouette (head, torso, arms, legs) over a textured
background and returns the photo, the exact mask and polygons derived from it:
``faithful`` (fine simplification) and coarse variants (``few``: few vertices, ``chords``:
straight cuts, ``bulge`` / ``shrink``: outline moved off the edge).
"""

from __future__ import annotations

import numpy as np


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, amp: float) -> np.ndarray:
    import cv2

    noise = rng.normal(0, 1, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 0.3, (h, w, 3)).astype(np.float32)
    return np.clip(base[None, None, :] + amp * (noise + fine), 0, 255)


def silhouette(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A uint8 0/1 person-like mask."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    cx = w * rng.uniform(0.4, 0.6)
    top = h * rng.uniform(0.08, 0.15)
    s = h * rng.uniform(0.7, 0.85)
    head_r = int(0.07 * s)
    cv2.circle(m, (int(cx), int(top + head_r)), head_r, 1, -1)
    neck = top + 2 * head_r
    tw = 0.14 * s * rng.uniform(0.9, 1.2)
    torso = np.array([[cx - tw, neck + 0.05 * s], [cx + tw, neck + 0.05 * s], [cx + 0.8 * tw, neck + 0.45 * s],
                      [cx - 0.8 * tw, neck + 0.45 * s]], np.int32)
    cv2.fillPoly(m, [torso], 1)
    cv2.rectangle(m, (int(cx - 0.3 * tw), int(neck - 2)), (int(cx + 0.3 * tw), int(neck + 0.06 * s)), 1, -1)
    arm_w = max(3, int(0.045 * s))
    for side in (-1, 1):
        sh = (int(cx + side * tw * 0.95), int(neck + 0.08 * s))
        ang = rng.uniform(0.1, 0.9)
        el = (int(sh[0] + side * 0.25 * s * np.sin(ang)), int(sh[1] + 0.25 * s * np.cos(ang)))
        hand = (int(el[0] + side * 0.2 * s * rng.uniform(-0.3, 0.8)), int(el[1] + 0.2 * s))
        cv2.line(m, sh, el, 1, arm_w)
        cv2.line(m, el, hand, 1, arm_w)
        hip = (int(cx + side * 0.45 * tw), int(neck + 0.43 * s))
        foot = (int(hip[0] + side * rng.uniform(0.0, 0.12) * s), int(min(h - 2, hip[1] + 0.45 * s)))
        cv2.line(m, hip, foot, 1, int(arm_w * 1.5))
    return m


def mask_polygon(mask: np.ndarray, eps: float) -> list[float]:
    """Largest outer contour of ``mask`` simplified with Douglas-Peucker ``eps`` px, as a COCO polygon."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    approx = cv2.approxPolyDP(c, eps, True).reshape(-1, 2).astype(np.float64) + 0.5
    return approx.reshape(-1).tolist()


def coarse_polygon(mask: np.ndarray, kind: str, rng: np.random.Generator) -> list[float]:
    import cv2

    h, w = mask.shape
    diag = float(np.hypot(*np.ptp(np.argwhere(mask), axis=0)))
    if kind == "few":
        return mask_polygon(mask, 0.035 * diag)
    if kind == "chords":
        hull = cv2.convexHull(cv2.findNonZero(mask)).reshape(-1, 2).astype(np.float64) + 0.5
        return hull.reshape(-1).tolist()
    k = max(3, int(0.04 * diag)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    moved = cv2.dilate(mask, kernel) if kind == "bulge" else cv2.erode(mask, kernel)
    return mask_polygon(moved, 1.0)


def scene(rng: np.random.Generator, h: int = 480, w: int = 640):
    """(bgr image, exact mask, dict kind -> COCO polygon) of one synthetic person."""
    import cv2

    mask = silhouette(rng, h, w)
    bg = _texture(rng, h, w, rng.uniform(40, 215, 3), rng.uniform(8, 25))
    fg_base = rng.uniform(40, 215, 3)
    while np.abs(fg_base - bg.mean(axis=(0, 1))).max() < 50:
        fg_base = rng.uniform(40, 215, 3)
    fg = _texture(rng, h, w, fg_base, rng.uniform(8, 25))
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)[:, :, None]
    img = np.clip(fg * soft + bg * (1 - soft), 0, 255).astype(np.uint8)
    polys = {"faithful": mask_polygon(mask, 1.0)}
    for kind in ("few", "chords", "bulge", "shrink"):
        polys[kind] = coarse_polygon(mask, kind, rng)
    return img, mask, polys
