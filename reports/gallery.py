"""Gallery thumbnails: photos with polygons, masks and clicks drawn over them, as JPEG data URIs.

Everything is drawn on the already-downscaled thumbnail (coordinates scaled), so big
photos cost little. OpenCV's resize and JPEG encoder are deterministic, so the same
inputs give the same bytes. A photo that cannot be read becomes a grey canvas of the
image's size with the overlay still drawn, never a broken image.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from portraitkit.curate.masks import ann_to_mask
from portraitkit.io import safe_join

# BGR colours.
PERSON = (229, 70, 79)  # indigo #4f46e5
OUTLINE = (71, 224, 253)  # yellow #fde047
OBJECT = (11, 158, 245)  # amber #f59e0b
POSITIVE = (94, 197, 34)  # green #22c55e
NEGATIVE = (68, 68, 239)  # red #ef4444
WHITE = (255, 255, 255)
MAX_VERTEX_DOTS = 120


@dataclass
class GalleryItem:
    """One tile of a gallery: an image, a title, a caption and small labelled values (chips)."""

    src: str
    alt: str
    title: str = ""
    caption: str = ""
    chips: list[tuple[str, str]] = field(default_factory=list)
    tone: str = ""  # "" | "bad" | "good" | "warn": colours the tile's accent


def load_photo(images_dir: Path, file_name: str | None, width: int | None, height: int | None) -> np.ndarray:
    """The photo as BGR (``portraitkit.images`` policy: the frame of the record's ``width`` x ``height``),
    or a grey canvas of (height, width) when it is missing or unreadable."""
    from portraitkit.images import read_image

    img = None
    if file_name:
        try:
            path = safe_join(images_dir, str(file_name), context=str(images_dir))
        except Exception:  # a bad file name only costs the photo, not the report
            path = None
        if path is not None:
            img = read_image(path, width, height, order="BGR").bgr
    if img is None:
        h, w = int(height or 240), int(width or 320)
        img = np.full((max(h, 1), max(w, 1), 3), 226, np.uint8)
        cv2.putText(img, "photo missing", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (120, 120, 120), 1, cv2.LINE_AA)
    return img


@dataclass(frozen=True)
class Xform:
    """Image (COCO) coordinates to thumbnail pixels: ``(x * scale - dx, y * scale - dy)``."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def points(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(xy, dtype=float) * self.scale - (self.dx, self.dy)

    def warp(self, mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A full-image mask moved into the thumbnail frame (nearest neighbour)."""
        m = np.float32([[self.scale, 0, -self.dx], [0, self.scale, -self.dy]])
        return cv2.warpAffine(mask.astype(np.uint8), m, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


def crop_box(
    box: Sequence[float], image_size: tuple[int, int], pad: float = 0.15, min_frac: float = 0.35, aspect: float = 4 / 3
) -> tuple[int, int, int, int]:
    """A crop (x0, y0, x1, y1) around ``box`` (x, y, w, h) with padding, at least ``min_frac`` of the image."""
    h, w = image_size
    x, y, bw, bh = (float(v) for v in box)
    side_w = max(bw * (1 + 2 * pad) + 8, w * min_frac)
    side_h = max(bh * (1 + 2 * pad) + 8, h * min_frac)
    # widen (or heighten) towards the gallery tile's shape, as far as the image allows
    side_w = min(max(side_w, side_h * aspect), float(w))
    side_h = min(max(side_h, side_w / aspect), float(h))
    cx, cy = x + bw / 2, y + bh / 2
    x0 = int(np.clip(round(cx - side_w / 2), 0, max(w - 1, 0)))
    y0 = int(np.clip(round(cy - side_h / 2), 0, max(h - 1, 0)))
    x1 = int(np.clip(round(cx + side_w / 2), x0 + 1, w))
    y1 = int(np.clip(round(cy + side_h / 2), y0 + 1, h))
    return x0, y0, x1, y1


def framed(img: np.ndarray, coco_size: tuple[int, int], max_px: int, box: Sequence[float] | None = None) -> tuple[np.ndarray, Xform]:
    """Thumbnail of ``img`` (cropped around ``box`` in COCO coordinates, if given) and its transform.

    ``coco_size`` is the (height, width) the annotations refer to; the file may differ in size.
    """
    fh, fw = img.shape[:2]
    c = fw / float(coco_size[1] or fw)
    x0 = y0 = 0
    if box is not None:
        x0, y0, x1, y1 = crop_box([v * c for v in box], (fh, fw))
        img = img[y0:y1, x0:x1]
    thumb, s = thumbnail(img, max_px, upscale=2.0 if box is not None else 1.0)
    return thumb, Xform(scale=c * s, dx=x0 * s, dy=y0 * s)


def thumbnail(img: np.ndarray, max_px: int, upscale: float = 1.0) -> tuple[np.ndarray, float]:
    """Resize so the longest side is ``max_px`` (enlarging small crops at most ``upscale`` times)."""
    h, w = img.shape[:2]
    scale = min(upscale, max_px / float(max(h, w)))
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        scale = size[0] / float(w)
    else:
        img = img.copy()
    return img, scale


def _blend(img: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], alpha: float) -> None:
    if mask.any():
        tint = np.empty_like(img)
        tint[:] = colour
        img[mask] = (img[mask] * (1 - alpha) + tint[mask] * alpha).astype(np.uint8)


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape[:2] != shape:
        mask = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


def draw_mask(
    img: np.ndarray, mask: np.ndarray, colour=PERSON, alpha: float = 0.45, outline=OUTLINE, xform: Xform | None = None
) -> None:
    """Tint a (full-resolution) binary mask onto the thumbnail and outline it."""
    m = xform.warp(mask > 0, img.shape[:2]) if xform is not None else _resize_mask(mask > 0, img.shape[:2])
    _blend(img, m, colour, alpha)
    if outline is not None:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, outline, 1, cv2.LINE_AA)


def draw_annotation(
    img: np.ndarray,
    ann: dict[str, Any],
    xform: Xform,
    full_size: tuple[int, int],
    colour=PERSON,
    outline=OUTLINE,
    alpha: float = 0.4,
    vertices: bool = False,
) -> None:
    """Fill and outline one COCO annotation (polygons drawn as polygons, RLE as its contour)."""
    seg = ann.get("segmentation")
    if isinstance(seg, list) and seg:
        polys = [
            np.round(xform.points(np.asarray(p, dtype=float).reshape(-1, 2))).astype(np.int32)
            for p in seg
            if len(p) >= 6
        ]
        fill = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(fill, polys, 1)
        _blend(img, fill.astype(bool), colour, alpha)
        cv2.polylines(img, polys, True, outline, 2 if max(img.shape[:2]) >= 300 else 1, cv2.LINE_AA)
        if vertices and sum(len(p) for p in polys) <= MAX_VERTEX_DOTS:  # dense vertices read as a dotted line
            for poly in polys:
                for x, y in poly:
                    cv2.circle(img, (int(x), int(y)), 2, WHITE, -1, cv2.LINE_AA)
    elif seg:
        h, w = full_size
        draw_mask(img, ann_to_mask(ann, h, w), colour, alpha, outline, xform)


def draw_clicks(img: np.ndarray, positives: Iterable[Sequence[float]], negatives: Iterable[Sequence[float]], xform: Xform) -> None:
    """Positives: green dots with a white '+'; negatives: red dots with a white '−' (x = column)."""
    r = max(4, round(max(img.shape[:2]) / 55))
    arm = max(2, r - 2)
    for kind, pts in (("neg", negatives), ("pos", positives)):
        colour = POSITIVE if kind == "pos" else NEGATIVE
        for x, y in pts:
            px, py = xform.points(np.array([x, y]))
            c = (int(round(px)), int(round(py)))
            cv2.circle(img, c, r + 1, WHITE, -1, cv2.LINE_AA)
            cv2.circle(img, c, r, colour, -1, cv2.LINE_AA)
            cv2.line(img, (c[0] - arm, c[1]), (c[0] + arm, c[1]), WHITE, 1, cv2.LINE_AA)
            if kind == "pos":
                cv2.line(img, (c[0], c[1] - arm), (c[0], c[1] + arm), WHITE, 1, cv2.LINE_AA)


def jpeg_uri(img: np.ndarray, quality: int) -> str:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise RuntimeError("could not encode a thumbnail as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def file_as_jpeg_uri(path: Path, max_px: int, quality: int) -> str | None:
    """Any image file (e.g. the augmentation preview PNG) resized and embedded as JPEG."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    img, _ = thumbnail(img, max_px)
    return jpeg_uri(img, quality)
