"""Click encodings as extra input channels, ready to stack with an RGB image.

- Distance maps (Xu et al. 2016): per pixel, the Euclidean distance to the nearest click of
  the kind, truncated at ``truncate`` (255): 0 on a click, ``truncate`` far away or when there
  is no click of that kind.
- Disks: 255 within ``radius`` of a click of the kind, 0 elsewhere.

Both return an H x W x 2 uint8 array: channel 0 positives, channel 1 negatives. Clicks are
``[x, y]`` pairs (x = column, y = row).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from portraitkit.annotate.clicks.instance import precise_edt


def _points(points: Iterable[Sequence[int]] | np.ndarray | None, height: int, width: int) -> np.ndarray:
    if points is None:
        return np.zeros((0, 2), np.int64)
    arr = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    if arr.size and (
        (arr[:, 0] < 0).any() or (arr[:, 0] >= width).any() or (arr[:, 1] < 0).any() or (arr[:, 1] >= height).any()
    ):
        raise ValueError(f"click outside the {width}x{height} image: {arr.tolist()}")
    return arr


def click_distance(height: int, width: int, points, truncate: float = 255.0) -> np.ndarray:
    """H x W float32 distance to the nearest of ``points`` (``truncate`` everywhere if none)."""
    pts = _points(points, height, width)
    if len(pts) == 0:
        return np.full((height, width), float(truncate), np.float32)
    img = np.ones((height, width), np.uint8)
    img[pts[:, 1], pts[:, 0]] = 0
    dt = precise_edt(img)
    return np.minimum(dt, np.float32(truncate))


def distance_maps(height: int, width: int, positives, negatives, truncate: int = 255) -> np.ndarray:
    """H x W x 2 uint8 truncated distance maps (positives, negatives)."""
    if not 1 <= truncate <= 255:
        raise ValueError(f"truncate must be in 1..255 (got {truncate})")
    out = np.empty((height, width, 2), np.uint8)
    for c, pts in enumerate((positives, negatives)):
        out[:, :, c] = click_distance(height, width, pts, truncate).astype(np.uint8)  # floor
    return out


def disk_maps(height: int, width: int, positives, negatives, radius: int = 5) -> np.ndarray:
    """H x W x 2 uint8 disks (255 within ``radius`` of a click, 0 elsewhere)."""
    out = np.zeros((height, width, 2), np.uint8)
    for c, pts in enumerate((positives, negatives)):
        pts = _points(pts, height, width)
        if len(pts):
            out[:, :, c] = np.where(click_distance(height, width, pts, radius + 1.0) <= radius, 255, 0)
    return out


def encode_clicks(
    height: int, width: int, positives, negatives, kind: str = "distance", radius: int = 5, truncate: int = 255
) -> np.ndarray:
    """``kind`` ``"distance"`` or ``"disk"``: H x W x 2 uint8 (positives, negatives)."""
    if kind == "distance":
        return distance_maps(height, width, positives, negatives, truncate)
    if kind == "disk":
        return disk_maps(height, width, positives, negatives, radius)
    raise ValueError(f"unknown click encoding {kind!r} (distance|disk)")


def stack_with_image(image: np.ndarray, encoded: np.ndarray) -> np.ndarray:
    """H x W x (C + 2) uint8: the image's channels followed by the click channels."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[:2] != encoded.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and clicks {encoded.shape[:2]} differ in size")
    return np.concatenate([image.astype(np.uint8, copy=False), encoded], axis=2)
