"""Per-image scores of a predicted person mask against the ground truth, at the image's own resolution.

- ``iou``: person IoU; ``iou_background``: IoU of the complements; ``miou``: their mean, the two-class
  mean IoU of the segmentation literature (the easy background class lifts it above the person IoU);
- ``boundary_iou``: Boundary IoU (Cheng et al. 2021) with the band ``band`` x the image diagonal,
  computed by the flag stage's implementation (``curate.coarseness.image_signals.boundary_iou``).

``pooled`` sums intersections and unions over all images (large persons weigh more), the usual
dataset-level IoU beside the mean over images.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from portraitkit.curate.coarseness.image_signals import boundary_iou

DEFAULT_BAND = 0.02  # Cheng et al. 2021: d = 2 % of the image diagonal


@dataclass(frozen=True)
class ImageScore:
    iou: float
    iou_background: float
    miou: float
    boundary_iou: float
    intersection: int
    union: int
    gt_pixels: int
    pred_pixels: int

    def as_dict(self) -> dict:
        return asdict(self)


def band_px(height: int, width: int, band: float = DEFAULT_BAND) -> float:
    """Boundary band in pixels: ``band`` x the image diagonal, at least one pixel."""
    return max(1.0, band * math.hypot(height, width))


def _iou(inter: int, union: int) -> float:
    return inter / union if union else 1.0


def score_image(pred: np.ndarray, gt: np.ndarray, band: float = DEFAULT_BAND) -> ImageScore:
    """Scores of a binary prediction (nonzero = person) against a binary ground truth of the same size."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    p, g = pred != 0, gt != 0
    inter = int(np.count_nonzero(p & g))
    union = int(np.count_nonzero(p | g))
    total = p.size
    # background: intersection = pixels neither predicts nor holds; union = total - person intersection
    bg_inter = total - union
    bg_union = total - inter
    iou, iou_bg = _iou(inter, union), _iou(bg_inter, bg_union)
    biou = boundary_iou(p, g, band_px(*gt.shape, band=band))
    return ImageScore(
        iou=iou,
        iou_background=iou_bg,
        miou=(iou + iou_bg) / 2.0,
        boundary_iou=biou,
        intersection=inter,
        union=union,
        gt_pixels=int(np.count_nonzero(g)),
        pred_pixels=int(np.count_nonzero(p)),
    )


def summarize(scores: Iterable[ImageScore]) -> dict[str, float | int]:
    """Means over images (``iou``, ``miou``, ``boundary_iou``, ``iou_background``) and the pooled IoU."""
    scores = list(scores)
    n = len(scores)
    if n == 0:
        nan = float("nan")
        return {"n_images": 0, "iou": nan, "miou": nan, "boundary_iou": nan, "iou_background": nan, "iou_pooled": nan}
    inter = sum(s.intersection for s in scores)
    union = sum(s.union for s in scores)
    return {
        "n_images": n,
        "iou": float(np.mean([s.iou for s in scores])),
        "miou": float(np.mean([s.miou for s in scores])),
        "boundary_iou": float(np.mean([s.boundary_iou for s in scores])),
        "iou_background": float(np.mean([s.iou_background for s in scores])),
        "iou_pooled": _iou(inter, union),
    }
