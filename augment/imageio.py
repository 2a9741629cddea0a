"""Robust image reading: any mode in, uint8 RGB out, or a reason why not.

* EXIF orientation is applied (``ImageOps.exif_transpose``) so the pixels are the
  photo as a person sees it; the raw (unrotated) pixels are kept too, because COCO
  annotations may have been drawn on either (the caller picks the one whose size
  matches the mask, and says so).
* Grayscale (L, 1, I, I;16, F) is replicated to three channels; 16-bit data is
  scaled to 8 bits (``round(v / 257)``), read with OpenCV for 16-bit PNG/TIFF since
  Pillow truncates 16-bit RGB.
* RGBA / LA / P with transparency is composited onto white (a photo has no alpha).
* CMYK / YCbCr / LAB etc. are converted by Pillow (``convert("RGB")``).
* Every non-trivial conversion is returned as a note for the stage log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class ImageReadError(Exception):
    """The file cannot be read as an image (missing, truncated, unknown format)."""


@dataclass
class Decoded:
    rgb: np.ndarray  # uint8 (H, W, 3), EXIF orientation applied
    raw_rgb: np.ndarray | None = None  # the same without the EXIF orientation (None when no rotation)
    notes: list[str] = field(default_factory=list)
    exif_orientation: int = 1


def _scale16(arr: np.ndarray) -> np.ndarray:
    return np.clip((arr.astype(np.float64) / 257.0).round(), 0, 255).astype(np.uint8)


def _pil_to_rgb(img, notes: list[str]) -> np.ndarray:
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        if arr.dtype != np.uint8:
            if arr.max(initial=0) > 255 or mode.startswith("I;16"):
                notes.append(f"{mode} {arr.dtype} scaled to 8 bits")
                arr = _scale16(np.clip(arr, 0, 65535))
            else:
                arr = arr.astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        hi = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        notes.append(f"float image scaled from 0..{hi:g}")
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            notes.append(f"{mode} alpha composited onto white")
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    if mode != "RGB":
        if mode not in ("L", "P", "1"):
            notes.append(f"converted from {mode}")
        return np.asarray(img.convert("RGB"))
    return np.asarray(img)


def read_image(path: str | Path) -> Decoded:
    """Decode ``path`` to uint8 RGB; raises :class:`ImageReadError` with the reason."""
    import cv2
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageReadError("file not found")
    notes: list[str] = []
    try:
        with Image.open(path) as img:
            img.load()
            fmt = img.format
            orientation = int(img.getexif().get(0x0112, 1) or 1)
            raw = img.copy()
            rotated = ImageOps.exif_transpose(img) if orientation not in (0, 1) else raw
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot decode ({exc})") from None

    # Pillow cannot hold 16-bit colour: read those with OpenCV at full depth.
    wide = None
    if fmt in ("PNG", "TIFF"):
        data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if data is not None and data.dtype == np.uint16 and data.ndim == 3:
            notes.append(f"16-bit {fmt} scaled to 8 bits")
            arr = _scale16(data)
            if arr.shape[2] == 4:
                a = arr[..., 3:4].astype(np.float32) / 255.0
                if a.min() < 1.0:
                    notes.append("alpha composited onto white")
                arr = (arr[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
            wide = np.ascontiguousarray(arr[..., ::-1])  # BGR -> RGB

    raw_rgb = wide if wide is not None else _pil_to_rgb(raw, notes)
    if orientation in (0, 1):
        return Decoded(np.ascontiguousarray(raw_rgb), None, notes, 1)
    if wide is not None:
        rgb = _transpose(wide, orientation)
    else:
        rgb = _pil_to_rgb(rotated, [])
    notes.append(f"EXIF orientation {orientation} applied")
    return Decoded(np.ascontiguousarray(rgb), np.ascontiguousarray(raw_rgb), notes, orientation)


def _transpose(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation (2..8) to an array, as ImageOps.exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops.get(orientation, lambda a: a)(arr))


def read_mask(path: str | Path) -> np.ndarray:
    """A stored person mask PNG (0/255 or 0/1) as uint8 0/1."""
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ImageReadError(f"cannot decode mask {path}")
    return (m > (127 if m.max(initial=0) > 1 else 0)).astype(np.uint8)
