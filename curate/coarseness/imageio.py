"""Robust photo reading for the flag stage: never raises, always says what happened.

``read_image`` returns 8-bit BGR pixels in the frame the COCO annotation was drawn in, or
``None`` plus a *problem* (the image then gets no image signals). Decodable images in an
unusual form are converted and scored; the conversion is reported as a *note*:

- grayscale / palette / 16-bit / CMYK images -> ``image_converted:<PIL mode>``;
- alpha channels are dropped -> ``image_alpha_dropped``;
- EXIF orientation: COCO annotations are drawn on the stored pixels (``width``/``height`` in
  the JSON are the stored size), so the tag is ignored when the stored size matches
  (``exif_orientation_ignored:<tag>``); when only the rotated size matches, the rotation is
  applied (``exif_orientation_applied:<tag>``).

Problems: ``image_missing``, ``image_unreadable:<why>``, ``image_size_mismatch:<file WxH>!=<json WxH>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_ORIENTATION_TAG = 0x0112
_TRANSPOSING = {5, 6, 7, 8}


@dataclass
class ImageRead:
    bgr: np.ndarray | None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


def _to_bgr(img) -> tuple[np.ndarray, list[str]]:
    import cv2

    notes: list[str] = []
    mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        notes.append("image_alpha_dropped")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        notes.append(f"image_converted:{mode}")
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), notes
    if mode != "RGB":
        if mode not in ("RGBA", "RGBa"):
            notes.append(f"image_converted:{mode}")
        img = img.convert("RGB")
    rgb = np.asarray(img)
    return np.ascontiguousarray(rgb[:, :, ::-1]), notes


def read_image(path: str | Path, width: int, height: int) -> ImageRead:
    """Pixels of ``path`` as uint8 BGR of shape (height, width, 3), or a problem. Never raises."""
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        return ImageRead(None, "image_missing")
    try:
        with Image.open(path) as img:
            img.load()
            try:
                orientation = int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
                orientation = 1
            notes: list[str] = []
            w, h = img.size
            if (w, h) == (width, height):
                if orientation != 1:
                    notes.append(f"exif_orientation_ignored:{orientation}")
            elif orientation in _TRANSPOSING and (h, w) == (width, height):
                img = ImageOps.exif_transpose(img)
                notes.append(f"exif_orientation_applied:{orientation}")
            else:
                return ImageRead(None, f"image_size_mismatch:{w}x{h}!={width}x{height}")
            bgr, conv = _to_bgr(img)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported, never raised
        why = type(exc).__name__
        return ImageRead(None, f"image_unreadable:{why}")
    if bgr.shape[:2] != (height, width):  # defensive: decoders disagreeing with the header
        return ImageRead(None, f"image_size_mismatch:{bgr.shape[1]}x{bgr.shape[0]}!={width}x{height}")
    return ImageRead(bgr, None, notes + conv)
