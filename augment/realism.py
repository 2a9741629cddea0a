"""Realism check: would a camera have produced this image?

Three measures on the luminance (Rec. 601 luma, 0..1), taken on every other pixel
(plenty for global statistics, four times cheaper):

* ``mean``: mean luminance; below ``min_mean_luma`` is almost black, above
  ``max_mean_luma`` is washed out;
* ``clipped``: fraction of pixels whose luma is <= 2 or >= 253 (crushed shadows or
  blown highlights; one saturated channel alone is a strong colour, not clipping);
* ``rms``: RMS contrast (std of luminance); below ``min_rms_contrast`` is flat.

The bounds are relative to the original where the original itself is outside them:
augmentation may not push an image *further* out than the photo already was (a real
night shot stays allowed; making it darker still is not).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from portraitkit.params.augment import RealismParams


CLIP_LOW, CLIP_HIGH = 2, 253  # luma at or beyond these counts as crushed black / blown white


@dataclass(frozen=True)
class Stats:
    mean: float
    clipped: float
    rms: float


def measure(image: np.ndarray) -> Stats:
    """Luminance statistics of a uint8 RGB (or grey) image."""
    sub = np.ascontiguousarray(image[::2, ::2])
    if sub.ndim == 3 and sub.shape[2] == 3:
        luma = cv2.cvtColor(sub, cv2.COLOR_RGB2GRAY)
    else:
        luma = sub.reshape(sub.shape[0], sub.shape[1])
    ok = cv2.inRange(luma, CLIP_LOW + 1, CLIP_HIGH - 1)  # 255 where neither crushed nor blown
    clipped = 1.0 - cv2.countNonZero(ok) / ok.size
    mean, std = cv2.meanStdDev(luma)
    return Stats(float(mean[0, 0]) / 255.0, float(clipped), float(std[0, 0]) / 255.0)


def check(stats: Stats, bounds: RealismParams, original: Stats | None = None) -> list[str]:
    """Reasons the image fails the realism bounds (empty list: it passes)."""
    lo_mean, hi_mean = bounds.min_mean_luma, bounds.max_mean_luma
    max_clip, min_rms = bounds.max_clipped_fraction, bounds.min_rms_contrast
    if original is not None:
        lo_mean = min(lo_mean, original.mean)
        hi_mean = max(hi_mean, original.mean)
        max_clip = max(max_clip, original.clipped)
        min_rms = min(min_rms, original.rms)
    reasons = []
    if stats.mean < lo_mean:
        reasons.append(f"almost black (mean luma {stats.mean:.3f} < {lo_mean:.3f})")
    if stats.mean > hi_mean:
        reasons.append(f"washed out (mean luma {stats.mean:.3f} > {hi_mean:.3f})")
    if stats.clipped > max_clip:
        reasons.append(f"clipped ({stats.clipped:.1%} of pixels crushed or blown > {max_clip:.1%})")
    if stats.rms < min_rms:
        reasons.append(f"flat (RMS contrast {stats.rms:.3f} < {min_rms:.3f})")
    return reasons
