"""The one reader of input photos, used by every stage (flag, augment, train, evaluate, the reports).

Policy (``read_image(path, width, height)``; the same for every caller):

- **Result**: uint8 pixels of shape (H, W, 3), RGB or BGR as the caller asks (``order``), or a
  *problem* (``image_missing``, ``image_unreadable:<why>``, ``image_too_large:<W>x<H>``,
  ``image_size_mismatch:<file WxH>!=<record WxH>``). ``read_image`` never raises; a stage
  quarantines the record with the problem as its reason, or ``load_image`` makes it a one-line
  ``UserError`` naming the file.
- **Size limit**: an image whose header claims more than ``MAX_PIXELS`` pixels (the limit curate
  enforces on the COCO records, ``curate.validate.MAX_PIXELS``) or a side over ``MAX_SIDE`` is
  refused from its header, before any pixel is decoded (decompression bombs). When the record's
  size is given, a file whose size fits neither frame (below) is refused from its header too.
- **EXIF orientation**: the annotation frame decides. With no record size (display only), the
  orientation is applied: the photo as a person sees it. With the record's ``width``/``height``:
  the stored pixels when their size matches (COCO's annotation tools drew on the stored pixels;
  the tag is ignored, note ``exif_orientation_ignored:<tag>``), else the rotated pixels when
  their size matches (note ``exif_orientation_applied:<tag>``), else ``image_size_mismatch``.
  So the pixels always lie in the frame the annotations were drawn in.
- **Alpha** (RGBA, LA, PA, palette with transparency): composited over ``BACKGROUND`` (white),
  note ``image_alpha_composited`` (only when some pixel is not opaque).
- **Bit depth**: 16-bit (grayscale ``I;16*``/``I``, 16-bit RGB(A) PNG/TIFF read at full depth
  with OpenCV) scaled to 8 bits as ``round(v / 257)``; float ``F`` images from 0..1 (or 0..255);
  note ``image_converted:<mode>`` (``RGB;16`` for 16-bit colour).
- **Modes**: grayscale (``L``, ``1``) replicated to three channels; palette, CMYK (no colour
  management: Pillow's formula), YCbCr and any other mode Pillow converts to RGB, note
  ``image_converted:<mode>``; a mode Pillow cannot convert is ``image_unreadable:mode <mode>``.
- Multi-frame files (GIF, TIFF): the first frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from portraitkit.errors import UserError

#: the most pixels a photo may have (equal to ``curate.validate.MAX_PIXELS``: 128 MiB per mask)
MAX_PIXELS = 1 << 27
#: the longest side a photo may have (equal to ``curate.validate.MAX_SIDE``)
MAX_SIDE = 1 << 15
#: what transparent pixels are composited over (RGB)
BACKGROUND = (255, 255, 255)

ORIENTATION_TAG = 0x0112
_TRANSPOSING = {5, 6, 7, 8}
_GRAY16 = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")

Order = Literal["RGB", "BGR"]


class ImageReadError(Exception):
    """A photo that cannot be used; ``problem`` is the record's quarantine reason."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


@dataclass
class ImageRead:
    """What :func:`read_image` found: ``pixels`` (uint8 H x W x 3 in ``order``) or a ``problem``."""

    pixels: np.ndarray | None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)
    order: Order = "RGB"
    orientation: int = 1  # the file's EXIF orientation tag (1: none)

    def _as(self, order: Order) -> np.ndarray | None:
        if self.pixels is None or order == self.order:
            return self.pixels
        return np.ascontiguousarray(self.pixels[:, :, ::-1])

    @property
    def rgb(self) -> np.ndarray | None:
        return self._as("RGB")

    @property
    def bgr(self) -> np.ndarray | None:
        return self._as("BGR")


def read_image(
    path: str | Path, width: int | None = None, height: int | None = None, *, order: Order = "RGB"
) -> ImageRead:
    """The photo at ``path`` by the module's policy; ``width``/``height``: the record's frame. Never raises."""
    try:
        pixels, notes, orientation = _decode(Path(path), width, height)
    except ImageReadError as exc:
        return ImageRead(None, exc.problem, order=order)
    if order == "BGR":
        pixels = np.ascontiguousarray(pixels[:, :, ::-1])
    return ImageRead(pixels, None, notes, order, orientation)


def load_image(
    path: str | Path, width: int | None = None, height: int | None = None, *, order: Order = "RGB",
    context: str | None = None,
) -> np.ndarray:
    """Like :func:`read_image`, but a problem is a one-line ``UserError`` (``path: context: problem``)."""
    read = read_image(path, width, height, order=order)
    if read.pixels is None:
        raise UserError(": ".join(str(p) for p in (path, context, read.problem) if p))
    return read.pixels


# ---------------------------------------------------------------------------------------------


def _decode(path: Path, width: int | None, height: int | None) -> tuple[np.ndarray, list[str], int]:
    from PIL import Image, UnidentifiedImageError

    try:
        if not path.is_file():
            raise ImageReadError("image_missing")
    except (OSError, ValueError) as exc:  # a name the file system cannot hold (too long, NUL)
        raise ImageReadError(f"image_unreadable:bad file name ({type(exc).__name__})") from None
    frame = (int(width), int(height)) if width is not None and height is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(path) as img:
                w, h = img.size
                if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
                    raise ImageReadError(f"image_too_large:{w}x{h}")
                wide = _is_wide_colour(img)  # before getexif(), which may load the pixels
                orientation = _orientation(img)
                rotate = _choose_frame((w, h), orientation, frame)
                notes: list[str] = []
                if orientation not in (0, 1):
                    notes.append(f"exif_orientation_{'applied' if rotate else 'ignored'}:{orientation}")
                img.load()
                if wide:
                    rgb = _read_wide(path, (w, h), notes)
                else:
                    rgb = _pil_to_rgb(img, notes)
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        raise ImageReadError("image_too_large:decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageReadError("image_unreadable:not an image") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, MemoryError, IndexError, KeyError) as exc:
        raise ImageReadError(f"image_unreadable:{type(exc).__name__}") from None
    if rgb.shape[:2] != (h, w):  # decoders disagreeing with the header
        raise ImageReadError(f"image_unreadable:decoded {rgb.shape[1]}x{rgb.shape[0]}, header says {w}x{h}")
    if rotate:
        rgb = transpose(rgb, orientation)
    return np.ascontiguousarray(rgb), notes, orientation if orientation else 1


def _orientation(img) -> int:
    try:
        value = int(img.getexif().get(ORIENTATION_TAG, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
        return 1
    return value if 1 <= value <= 8 else 1


def _choose_frame(stored: tuple[int, int], orientation: int, frame: tuple[int, int] | None) -> bool:
    """Whether to apply the EXIF orientation (see the module docstring), or a size-mismatch problem."""
    w, h = stored
    shown = (h, w) if orientation in _TRANSPOSING else (w, h)
    if frame is None:
        return orientation not in (0, 1)
    if frame == (w, h):
        return False
    if orientation in _TRANSPOSING and frame == shown:
        return True
    raise ImageReadError(f"image_size_mismatch:{w}x{h}!={frame[0]}x{frame[1]}")


def _is_wide_colour(img) -> bool:
    """16-bit colour that Pillow would truncate to 8 bits (its tile's raw mode says so)."""
    if img.mode not in ("RGB", "RGBA") or img.format not in ("PNG", "TIFF"):
        return False
    try:
        return any(";16" in str(t[3] if isinstance(t[3], str) else t[3][0]) for t in img.tile)
    except (IndexError, TypeError):
        return False


def _read_wide(path: Path, size: tuple[int, int], notes: list[str]) -> np.ndarray:
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if data is None or data.ndim != 3 or data.shape[2] not in (3, 4) or data.shape[1::-1] != size:
        raise ImageReadError("image_unreadable:16-bit colour")
    notes.append("image_converted:RGB;16")
    arr = scale16(data) if data.dtype == np.uint16 else data.astype(np.uint8)
    rgb = arr[:, :, 2::-1]
    if arr.shape[2] == 4:
        rgb = _composite(rgb, arr[:, :, 3], notes)
    return rgb


def scale16(arr: np.ndarray) -> np.ndarray:
    """16-bit values to 8 bits: ``round(v / 257)`` (0 -> 0, 65535 -> 255)."""
    return np.clip(np.rint(np.clip(arr, 0, 65535).astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _composite(rgb: np.ndarray, alpha: np.ndarray, notes: list[str]) -> np.ndarray:
    if alpha.min(initial=255) == 255:
        return np.ascontiguousarray(rgb)
    notes.append("image_alpha_composited")
    a = alpha.astype(np.float32)[..., None] / 255.0
    bg = np.asarray(BACKGROUND, np.float32)
    return np.clip(rgb.astype(np.float32) * a + bg * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def _pil_to_rgb(img, notes: list[str]) -> np.ndarray:
    mode = img.mode
    if mode in _GRAY16:
        arr = np.asarray(img)
        notes.append(f"image_converted:{mode}")
        gray = arr.astype(np.uint8) if arr.dtype == np.uint8 else scale16(arr)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        notes.append(f"image_converted:{mode}")
        gray = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode not in ("RGB", "RGBA", "RGBa"):
        notes.append(f"image_converted:{mode}")
    if mode in _ALPHA or (mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"))
        return _composite(rgba[:, :, :3], rgba[:, :, 3], notes)
    if mode == "RGB":
        return np.asarray(img)
    try:
        return np.asarray(img.convert("RGB"))
    except ValueError:
        raise ImageReadError(f"image_unreadable:mode {mode}") from None


def transpose(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (2..8) to an H x W (x C) array, as ``ImageOps.exif_transpose`` does."""
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
