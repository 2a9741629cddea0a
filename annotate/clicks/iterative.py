"""The error-driven next click, for NoC evaluation and iterative training.

Given a predicted mask and the ground truth: the false negatives (object pixels the prediction
misses) and false positives (predicted pixels off the object) form two error regions. The
next click goes to the interior-most point (largest distance to the region's boundary, pixels
outside the image counting as outside the region) of one of them:

- rule ``"area"`` (default): the region with the larger area (false negatives on a tie);
- rule ``"depth"``: the region whose interior-most point is deeper (RITM's evaluation clicker).

The click is positive when it lies in the false negatives. Ties between equally deep pixels
go to the first in row-major order (smallest y, then smallest x), so the rule is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from portraitkit.annotate.clicks.instance import edt_inside


@dataclass(frozen=True)
class Click:
    """One click at image column ``x``, row ``y``."""

    x: int
    y: int
    positive: bool


def _deepest(region: np.ndarray) -> tuple[int, int, float]:
    """(x, y, depth) of the interior-most pixel of a non-empty boolean region."""
    u8 = region.view(np.uint8) if region.dtype == np.bool_ else (region != 0).astype(np.uint8)
    bx, by, bw, bh = cv2.boundingRect(u8)
    dt = edt_inside(np.ascontiguousarray(u8[by : by + bh, bx : bx + bw]))
    idx = int(np.argmax(dt))
    y, x = divmod(idx, bw)
    return bx + x, by + y, float(dt.flat[idx])


def error_regions(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false negatives, false positives) as boolean masks."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth shape {gt.shape}")
    g = gt != 0
    p = pred != 0
    return g & ~p, p & ~g


def next_click(pred: np.ndarray, gt: np.ndarray, rule: str = "area") -> Click | None:
    """The next simulated click, or None when the prediction already equals the ground truth."""
    fn, fp = error_regions(pred, gt)
    a_fn, a_fp = int(np.count_nonzero(fn)), int(np.count_nonzero(fp))
    if a_fn == 0 and a_fp == 0:
        return None
    if rule == "area":
        positive = a_fn >= a_fp
        x, y, _ = _deepest(fn if positive else fp)
        return Click(x, y, positive)
    if rule == "depth":
        cand_fn = _deepest(fn) if a_fn else (0, 0, -1.0)
        cand_fp = _deepest(fp) if a_fp else (0, 0, -1.0)
        positive = cand_fn[2] >= cand_fp[2]
        x, y, _ = cand_fn if positive else cand_fp
        return Click(x, y, positive)
    raise ValueError(f"unknown next-click rule {rule!r} (area|depth)")


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    p = pred != 0
    g = gt != 0
    union = int(np.count_nonzero(p | g))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(p & g)) / union
