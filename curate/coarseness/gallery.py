"""A contact sheet of persons with their polygon drawn over the photo (review, reports).

``render_gallery(flags, coco_by_ann, images_dir, out_png, ...)`` draws tiles of the given rows
(in the given order): the photo crop around the person, the polygon outline (red if flagged,
green otherwise), and a caption with annotation id, coarseness and the first reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _tile(bgr: np.ndarray | None, ann: dict[str, Any], row: pd.Series, size: int) -> np.ndarray:
    import cv2

    tile = np.full((size + 30, size, 3), 40, np.uint8)
    seg = ann.get("segmentation")
    polys = [np.asarray(p, np.float64).reshape(-1, 2) for p in seg] if isinstance(seg, list) else []
    polys = [p for p in polys if len(p) >= 2]
    if bgr is not None and polys:
        allp = np.concatenate(polys)
        x0, y0 = allp.min(axis=0)
        x1, y1 = allp.max(axis=0)
        pad = 0.08 * max(x1 - x0, y1 - y0) + 4
        h, w = bgr.shape[:2]
        cx0, cy0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        cx1, cy1 = int(min(w, x1 + pad + 1)), int(min(h, y1 + pad + 1))
        if cx1 > cx0 and cy1 > cy0:
            crop = bgr[cy0:cy1, cx0:cx1]
            s = size / max(crop.shape[:2])
            crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))),
                              interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR).copy()
            color = (0, 0, 255) if bool(row["flagged"]) else (0, 220, 0)
            for p in polys:
                q = np.round((p - (cx0, cy0)) * s * 4).astype(np.int32)
                cv2.polylines(crop, [q], True, color, 1, cv2.LINE_AA, shift=2)
                for v in q:
                    cv2.circle(crop, tuple(int(t) for t in v), 2 * 4, color, -1, cv2.LINE_AA, shift=2)
            oy, ox = (size - crop.shape[0]) // 2, (size - crop.shape[1]) // 2
            tile[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    c = row["coarseness"]
    reason = str(row.get("reasons", "") or "").split(";")[0][:28]
    cv2.putText(tile, f"{int(row['annotation_id'])} c={c:.2f}" if c == c else f"{int(row['annotation_id'])} c=nan",
                (3, size + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(tile, reason, (3, size + 25), cv2.FONT_HERSHEY_SIMPLEX, 0.34, (200, 200, 200), 1, cv2.LINE_AA)
    return tile


def render_gallery(rows: pd.DataFrame, anns: dict[int, dict[str, Any]], images: dict[int, dict[str, Any]],
                   images_dir: str | Path, out_png: str | Path, cols: int = 6, tile: int = 200,
                   title: str | None = None) -> Path:
    """Write a PNG grid of ``rows`` (flags rows; ``anns``/``images``: COCO records by id)."""
    import cv2

    from portraitkit.images import read_image
    from portraitkit.io import safe_join, write_png

    tiles = []
    cache: dict[int, np.ndarray | None] = {}
    for _, row in rows.iterrows():
        ann = anns[int(row["annotation_id"])]
        iid = int(ann["image_id"])
        if iid not in cache:
            img = images[iid]
            path = safe_join(images_dir, img["file_name"], context=f"image {iid}")
            cache[iid] = read_image(path, int(img["width"]), int(img["height"]), order="BGR").bgr
        tiles.append(_tile(cache[iid], ann, row, tile))
    if not tiles:
        tiles = [np.full((tile + 30, tile, 3), 40, np.uint8)]
    n_rows = (len(tiles) + cols - 1) // cols
    blank = np.full_like(tiles[0], 40)
    tiles += [blank] * (n_rows * cols - len(tiles))
    grid = np.vstack([np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(n_rows)])
    if title:
        bar = np.full((24, grid.shape[1], 3), 20, np.uint8)
        cv2.putText(bar, title, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        grid = np.vstack([bar, grid])
    write_png(out_png, grid)
    return Path(out_png)
