"""Rasterising layers: polygons with materials (colour + texture), per-part shading.

A *layer* is one drawable thing (a person, a dog, a racket): a list of ``Part`` polygons
in image coordinates, drawn in order. Masks are filled without anti-aliasing so the
instance mask is pixel-exact; the photo gets its mild blur later, over the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

SHIFT = 3  # fillPoly sub-pixel bits: vertices are placed to 1/8 px
_ONE = 1 << SHIFT


@dataclass(frozen=True)
class Material:
    """A colour (RGB 0-255) with an optional texture.

    texture: "solid", "stripes", "checks", "mottle" (low-frequency blotches) or "grain".
    ``period`` is in units of the layer's scale (figure height), ``angle`` in degrees.
    """

    color: tuple[float, float, float]
    texture: str = "solid"
    color2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    period: float = 0.04
    angle: float = 0.0
    strength: float = 1.0
    shade: bool = True


@dataclass
class Part:
    poly: np.ndarray  # (N, 2) float, x/y
    material: Material
    in_mask: bool = True  # False: paint only (eyes, mouth), never changes the mask


@dataclass
class Layer:
    """Something drawn on the photo; later layers cover earlier ones."""

    parts: list[Part]
    scale: float  # pixels per unit (a figure's height), sets texture periods and shading
    category_id: int
    kind: str = "object"  # person | bodypart | crowd_member | object
    keypoints: np.ndarray | None = None  # (17, 2) image coords for persons
    group: int | None = None  # crowd members share one annotation
    light: float = 0.0  # directional light, -1..1 (left..right)
    extra: dict = field(default_factory=dict)


def _fill(mask: np.ndarray, poly: np.ndarray, ox: float, oy: float) -> None:
    pts = np.round((poly - (ox, oy)) * _ONE).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=SHIFT)


def _pattern(mat: Material, xs: np.ndarray, ys: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray | None:
    if mat.texture == "solid":
        return None
    period = max(3.0, mat.period * scale)
    if mat.texture == "mottle":
        h, w = ys.shape[0], xs.shape[1]
        gh, gw = max(2, int(h / period) + 2), max(2, int(w / period) + 2)
        small = rng.random((gh, gw)).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * mat.strength
    t = np.deg2rad(mat.angle)
    u = xs * np.cos(t) + ys * np.sin(t)
    if mat.texture == "stripes":
        return ((np.floor(u / period) % 2) * mat.strength).astype(np.float32)
    if mat.texture == "checks":
        v = -xs * np.sin(t) + ys * np.cos(t)
        return (((np.floor(u / period) + np.floor(v / period)) % 2) * mat.strength).astype(np.float32)
    if mat.texture == "grain":
        v = -xs * np.sin(t) + ys * np.cos(t)
        return (0.5 + 0.5 * np.sin(u / period * 6.0 + 2.0 * np.sin(v / (period * 3.0)))).astype(np.float32) * mat.strength
    raise ValueError(f"unknown texture {mat.texture!r}")


def render_layer(layer: Layer, height: int, width: int, rng: np.random.Generator):
    """Rasterise a layer inside its bounding window.

    Returns ``(x0, y0, mask, rgb)``, mask bool (window), rgb float32 (window, 3), or None
    when the layer falls outside the image.
    """
    allpts = np.concatenate([p.poly for p in layer.parts], axis=0)
    x0 = int(max(0, np.floor(allpts[:, 0].min()) - 2))
    y0 = int(max(0, np.floor(allpts[:, 1].min()) - 2))
    x1 = int(min(width, np.ceil(allpts[:, 0].max()) + 3))
    y1 = int(min(height, np.ceil(allpts[:, 1].max()) + 3))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    rgb = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    for part in layer.parts:
        px0 = int(max(x0, np.floor(part.poly[:, 0].min()) - 1))
        py0 = int(max(y0, np.floor(part.poly[:, 1].min()) - 1))
        px1 = int(min(x1, np.ceil(part.poly[:, 0].max()) + 2))
        py1 = int(min(y1, np.ceil(part.poly[:, 1].max()) + 2))
        if px1 - px0 < 1 or py1 - py0 < 1:
            continue
        pm = np.zeros((py1 - py0, px1 - px0), np.uint8)
        _fill(pm, part.poly, px0, py0)
        sel = pm.astype(bool)
        if not sel.any():
            continue
        mat = part.material
        col = np.empty(pm.shape + (3,), np.float32)
        col[:] = mat.color
        xs = np.arange(px0, px1, dtype=np.float32)[None, :]
        ys = np.arange(py0, py1, dtype=np.float32)[:, None]
        pat = _pattern(mat, xs, ys, layer.scale, rng)
        if pat is not None:
            col += (np.asarray(mat.color2, np.float32) - np.asarray(mat.color, np.float32)) * pat[..., None]
        if mat.shade:
            # cylinder-like shading: darker towards the outline of the part
            dt = cv2.distanceTransform(np.pad(pm, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
            r = max(1.0, float(dt.max()) * 0.85)
            col *= (0.62 + 0.38 * np.sqrt(np.clip(dt / r, 0.0, 1.0)))[..., None]
        wy, wx = slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0)
        rgb[wy, wx][sel] = col[sel]
        if part.in_mask:
            mask[wy, wx][sel] = 1
    m = mask.astype(bool)
    if not m.any():
        return None
    if layer.light:
        xs = np.arange(x0, x1, dtype=np.float32)
        cx = 0.5 * (allpts[:, 0].min() + allpts[:, 0].max())
        span = max(8.0, 0.5 * (allpts[:, 0].max() - allpts[:, 0].min()))
        rgb *= (1.0 + 0.16 * layer.light * np.clip((xs - cx) / span, -1, 1))[None, :, None]
    return x0, y0, m, rgb


def ellipse_poly(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 40,
                 start: float = 0.0, end: float = 360.0) -> np.ndarray:
    t = np.deg2rad(np.linspace(start, end, n, endpoint=(end - start) < 360.0))
    x, y = rx * np.cos(t), ry * np.sin(t)
    a = np.deg2rad(angle)
    return np.stack([cx + x * np.cos(a) - y * np.sin(a), cy + x * np.sin(a) + y * np.cos(a)], axis=1)


def capsule_poly(p1, p2, r1: float, r2: float, n: int = 10) -> np.ndarray:
    """Outline of a tapered capsule from p1 (radius r1) to p2 (radius r2)."""
    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    d = p2 - p1
    length = float(np.hypot(*d))
    base = np.arctan2(d[1], d[0]) if length > 1e-9 else 0.0
    t1 = base + np.linspace(np.pi / 2, 3 * np.pi / 2, n)
    t2 = base + np.linspace(-np.pi / 2, np.pi / 2, n)
    a = np.stack([p1[0] + r1 * np.cos(t1), p1[1] + r1 * np.sin(t1)], axis=1)
    b = np.stack([p2[0] + r2 * np.cos(t2), p2[1] + r2 * np.sin(t2)], axis=1)
    return np.concatenate([a, b], axis=0)


def transform(poly: np.ndarray, scale: float, ox: float, oy: float) -> np.ndarray:
    """Unit coordinates to image coordinates."""
    return poly * scale + (ox, oy)


def layer_mask(layer: Layer, height: int, width: int):
    """Only the mask of a layer: ``(x0, y0, mask)`` in its window, or None if off the image."""
    allpts = np.concatenate([p.poly for p in layer.parts if p.in_mask], axis=0)
    x0 = int(max(0, np.floor(allpts[:, 0].min()) - 1))
    y0 = int(max(0, np.floor(allpts[:, 1].min()) - 1))
    x1 = int(min(width, np.ceil(allpts[:, 0].max()) + 2))
    y1 = int(min(height, np.ceil(allpts[:, 1].max()) + 2))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for part in layer.parts:
        if part.in_mask:
            _fill(mask, part.poly, x0, y0)
    return x0, y0, mask.astype(bool)
