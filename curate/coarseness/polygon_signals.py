"""Polygon signals of one COCO person annotation, computed with shapely.

- ``vertex_density``: vertices per 100 px of the free outline (edges not explained by the frame
  or an occluder; hand-drawn outlines that follow the person have many, a dozen clicks around a
  whole body have few);
- ``longest_edge_rel``: the longest edge over sqrt(area) (straight chords through arms/hair);
  edges along the image border (persons cut by the frame) or along another annotation's mask
  (occluders, ``occlusion.Contact``) do not count;
- ``vertex_spacing_rel``: mean length of the free edges over sqrt(area): the vertex spacing in units of
  the person's size (scale-free, unlike ``vertex_density``; a dozen clicks around a whole body: ~0.4);
- ``hull_gap``: 1 - area / convex-hull area (a person's outline is far from convex; a coarse
  one is close to its hull);
- ``n_parts``: number of polygon parts.

Invalid polygons (self-intersecting, repeated points) are repaired with ``shapely.make_valid``
and the row says so in its notes (``polygon_repaired:<why>``); parts with fewer than 3 distinct
points are dropped (``polygon_part_dropped``); an annotation with no area left is
``polygon_degenerate``. Non-crowd RLE segmentations have no drawn vertices: their outline is
traced from the mask and the vertex signals are NaN (``rle_segmentation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from portraitkit.curate.coarseness.occlusion import BORDER_TOL_PX, Contact  # noqa: F401 (re-export)


@dataclass
class PolygonInfo:
    rings: list[np.ndarray]  # drawn outlines (float, (n, 2), x/y in image px), not closed
    area: float
    bbox: tuple[float, float, float, float] | None  # x0, y0, x1, y1 of the drawn outline
    signals: dict[str, float]
    notes: list[str] = field(default_factory=list)
    is_rle: bool = False
    contact: Contact | None = None  # frame / occluders the outline may run along


def _dedupe(pts: np.ndarray) -> np.ndarray:
    if len(pts) < 2:
        return pts
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    pts = pts[keep]
    if len(pts) > 1 and np.all(pts[0] == pts[-1]):
        pts = pts[:-1]
    return pts


def _polygonal(geom):
    """Polygon/MultiPolygon parts of any shapely geometry (make_valid may return collections)."""
    from shapely.geometry import MultiPolygon, Polygon

    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        out = []
        for g in geom.geoms:
            out.extend(_polygonal(g))
        return out
    return []


def _rings_from_rle(ann: dict[str, Any], height: int, width: int) -> list[np.ndarray]:
    import cv2

    from portraitkit.curate.masks import ann_to_mask

    mask = ann_to_mask(ann, height, width)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3]


def polygon_signals(ann: dict[str, Any], height: int, width: int, contact: Contact | None = None) -> PolygonInfo:
    """Signals of one annotation's segmentation. Never raises on bad geometry.

    ``contact``: where the outline is explained by the frame / other annotations (default: the frame only).
    """
    import shapely
    from shapely.geometry import Polygon
    from shapely.validation import explain_validity

    notes: list[str] = []
    seg = ann.get("segmentation")
    is_rle = isinstance(seg, dict)
    rings: list[np.ndarray] = []
    if is_rle:
        notes.append("rle_segmentation")
        try:
            rings = _rings_from_rle(ann, height, width)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"segmentation_unreadable:{type(exc).__name__}")
    elif isinstance(seg, list):
        for part in seg:
            try:
                pts = np.asarray(part, dtype=np.float64).reshape(-1, 2)
            except (ValueError, TypeError):
                notes.append("polygon_part_dropped")
                continue
            pts = _dedupe(pts) if np.all(np.isfinite(pts)) else np.zeros((0, 2))
            if len(pts) < 3:
                notes.append("polygon_part_dropped")
                continue
            rings.append(pts)
    else:
        notes.append("segmentation_unreadable:type")

    polys = []
    repaired = set()
    for pts in rings:
        poly = Polygon(pts)
        if not poly.is_valid:
            why = explain_validity(poly).split("[")[0].strip().replace(" ", "_").lower() or "invalid"
            repaired.add(why)
            poly = shapely.make_valid(poly)
        polys.extend(p for p in _polygonal(poly) if p.area > 0)
    for why in sorted(repaired):
        notes.append(f"polygon_repaired:{why}")

    geom = shapely.unary_union(polys) if polys else None
    area = float(geom.area) if geom is not None else 0.0
    nan = float("nan")
    signals = {
        "n_parts": float(len(rings)),
        "n_vertices": float(sum(len(r) for r in rings)),
        "perimeter": nan,
        "area": area,
        "vertex_density": nan,
        "longest_edge_rel": nan,
        "vertex_spacing_rel": nan,
        "hull_gap": nan,
    }
    contact = contact or Contact(width, height)
    if not rings or area <= 0:
        notes.append("polygon_degenerate")
        bbox = None
        if rings:
            allp = np.concatenate(rings)
            bbox = (float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max()))
        return PolygonInfo(rings, 0.0, bbox, signals, notes, is_rle, contact)

    edges = [np.linalg.norm(np.roll(r, -1, axis=0) - r, axis=1) for r in rings]
    perimeter = float(sum(e.sum() for e in edges))
    # edges along the frame or an occluder say nothing about how carefully the person was drawn
    free = [~contact.explained_edges(r) for r in rings]
    inner = [e[f] for e, f in zip(edges, free)]
    free_perimeter = float(sum(e.sum() for e in inner))
    signals["perimeter"] = perimeter
    hull_area = float(geom.convex_hull.area)
    signals["hull_gap"] = float(max(0.0, 1.0 - area / hull_area)) if hull_area > 0 else nan
    if not is_rle:
        n_free = float(sum(int(f.sum()) for f in free))
        signals["vertex_density"] = 100.0 * n_free / free_perimeter if free_perimeter > 0 else nan
        signals["longest_edge_rel"] = float(max((e.max() for e in inner if len(e)), default=0.0)) / math.sqrt(area)
        # scale-free: a close-up drawn with 40 clicks is as careful as a small person drawn with 40
        signals["vertex_spacing_rel"] = free_perimeter / n_free / math.sqrt(area) if n_free else nan
    allp = np.concatenate(rings)
    bbox = (float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max()))
    return PolygonInfo(rings, area, bbox, signals, notes, is_rle, contact)
