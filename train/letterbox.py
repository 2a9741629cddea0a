"""Letterboxing: fit an image into a size x size square without distortion, and undo it.

The image is scaled by ``size / max(h, w)`` and centred; the padding is 0 in the image and 255
(ignore) in the mask, so the loss never learns from it. ``unletterbox`` crops the padding off a
prediction and resizes it back to the original image size. Clicks are pixel positions: their
centres map as ``(x + 0.5) * scale - 0.5 + pad_x``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

IGNORE = 255


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: int
    pad_y: int
    orig_h: int
    orig_w: int
    size: int

    @property
    def content_w(self) -> int:
        return max(1, min(self.size, int(round(self.orig_w * self.scale))))

    @property
    def content_h(self) -> int:
        return max(1, min(self.size, int(round(self.orig_h * self.scale))))


def make_letterbox(orig_h: int, orig_w: int, size: int) -> Letterbox:
    if orig_h <= 0 or orig_w <= 0 or size <= 0:
        raise ValueError(f"bad letterbox geometry {orig_h}x{orig_w} -> {size}")
    scale = size / max(orig_h, orig_w)
    cw = max(1, min(size, int(round(orig_w * scale))))
    chh = max(1, min(size, int(round(orig_h * scale))))
    return Letterbox(scale, (size - cw) // 2, (size - chh) // 2, orig_h, orig_w, size)


def _resize(arr: np.ndarray, w: int, h: int, nearest: bool) -> np.ndarray:
    if arr.shape[1] == w and arr.shape[0] == h:
        return arr
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if w < arr.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(arr, (w, h), interpolation=interp)


def letterbox_image(img_hwc_uint8: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """(float32 C x size x size in [0, 1], Letterbox) for an H x W x C uint8 image."""
    img = img_hwc_uint8 if img_hwc_uint8.ndim == 3 else img_hwc_uint8[:, :, None]
    lb = make_letterbox(img.shape[0], img.shape[1], size)
    resized = _resize(img, lb.content_w, lb.content_h, nearest=False)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    out = np.zeros((img.shape[2], size, size), np.float32)
    out[:, lb.pad_y : lb.pad_y + lb.content_h, lb.pad_x : lb.pad_x + lb.content_w] = (
        resized.transpose(2, 0, 1).astype(np.float32) * np.float32(1.0 / 255.0)
    )
    return out, lb


def letterbox_mask(mask_hw_uint8: np.ndarray, lb: Letterbox) -> np.ndarray:
    """uint8 size x size: the mask resized with nearest neighbour, padding = 255 (ignore)."""
    if mask_hw_uint8.shape[:2] != (lb.orig_h, lb.orig_w):
        raise ValueError(f"mask {mask_hw_uint8.shape[:2]} does not match the letterboxed image {(lb.orig_h, lb.orig_w)}")
    out = np.full((lb.size, lb.size), IGNORE, np.uint8)
    out[lb.pad_y : lb.pad_y + lb.content_h, lb.pad_x : lb.pad_x + lb.content_w] = _resize(
        np.ascontiguousarray(mask_hw_uint8, dtype=np.uint8), lb.content_w, lb.content_h, nearest=True
    )
    return out


def unletterbox(prob: np.ndarray, lb: Letterbox) -> np.ndarray:
    """float32 orig_h x orig_w: the padding cropped off a size x size map, resized back (bilinear)."""
    if prob.shape != (lb.size, lb.size):
        raise ValueError(f"prediction {prob.shape} is not {lb.size}x{lb.size}")
    crop = np.ascontiguousarray(prob[lb.pad_y : lb.pad_y + lb.content_h, lb.pad_x : lb.pad_x + lb.content_w], np.float32)
    return cv2.resize(crop, (lb.orig_w, lb.orig_h), interpolation=cv2.INTER_LINEAR)


def letterbox_points(points, lb: Letterbox) -> np.ndarray:
    """Clicks ``[[x, y], ...]`` in original pixels -> int64 pixels of the letterboxed square."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    x = np.rint((pts[:, 0] + 0.5) * lb.scale - 0.5 + lb.pad_x)
    y = np.rint((pts[:, 1] + 0.5) * lb.scale - 0.5 + lb.pad_y)
    x = np.clip(x, lb.pad_x, lb.pad_x + lb.content_w - 1)
    y = np.clip(y, lb.pad_y, lb.pad_y + lb.content_h - 1)
    return np.stack([x, y], axis=1).astype(np.int64)


def unletterbox_points(points, lb: Letterbox) -> np.ndarray:
    """Clicks in letterboxed pixels -> int64 pixels of the original image."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    x = np.rint((pts[:, 0] - lb.pad_x + 0.5) / lb.scale - 0.5)
    y = np.rint((pts[:, 1] - lb.pad_y + 0.5) / lb.scale - 0.5)
    x = np.clip(x, 0, lb.orig_w - 1)
    y = np.clip(y, 0, lb.orig_h - 1)
    return np.stack([x, y], axis=1).astype(np.int64)
