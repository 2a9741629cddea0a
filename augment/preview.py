"""``preview.png``: a few originals beside their variants, for a person to judge at a glance.

Each row: the original (left) and its first variants. On every tile the person mask is
outlined in bright green, the ignore area (padding) is tinted magenta, and the first
click set of the image is drawn (green dots positive, red dots negative; on the
variants, the moved clicks that survived). Under each variant: the transforms applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from portraitkit.io import write_png
from portraitkit.params.augment import AugmentParams

TILE = 176
LABEL_H = 30
PAD = 4
GREEN = (0, 255, 0)  # BGR
RED = (0, 0, 255)
MAGENTA = np.array([255, 0, 255], np.float32)

SHORT = {
    "framing.hflip": "flip",
    "framing.scale_crop": "zoom",
    "rotation.tilt": "tilt",
    "rotation.rot90": "rot90",
    "shade.cast_shadow": "shadow",
    "shade.uneven_light": "uneven",
    "motion_blur.camera_shake": "shake",
    "motion_blur.subject_motion": "motion",
    "lighting.low_light": "lowlight",
    "lighting.brightness_contrast": "br/ct",
    "lighting.gamma": "gamma",
    "lighting.tone_curve": "curve",
    "lighting.temperature": "temp",
    "lighting.color_jitter": "jitter",
}


def tile(rgb: np.ndarray, mask: np.ndarray, ignore: int, pos=(), neg=(), label: str = "") -> np.ndarray:
    """One BGR tile: image letterboxed into TILE x TILE, outline, ignore tint, clicks, label."""
    h, w = mask.shape
    s = TILE / max(h, w)
    th, tw = max(1, round(h * s)), max(1, round(w * s))
    img = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (tw, th), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_NEAREST)
    ign = m == ignore
    if ign.any():
        img[ign] = (img[ign].astype(np.float32) * 0.6 + MAGENTA * 0.4).astype(np.uint8)
    person = (m == 1).astype(np.uint8)
    contours, _ = cv2.findContours(person, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(img, contours, -1, GREEN, 1, lineType=cv2.LINE_8)
    for pts, color in ((pos, GREEN), (neg, RED)):
        for x, y in pts:
            c = (int(round((x + 0.5) * s - 0.5)), int(round((y + 0.5) * s - 0.5)))
            cv2.circle(img, c, 4, (0, 0, 0), -1, lineType=cv2.LINE_AA)
            cv2.circle(img, c, 3, color, -1, lineType=cv2.LINE_AA)
    out = np.full((TILE + LABEL_H, TILE, 3), 32, np.uint8)
    y0, x0 = (TILE - th) // 2, (TILE - tw) // 2
    out[y0 : y0 + th, x0 : x0 + tw] = img
    words, lines, cur = label.split(), [], ""
    for word in words:
        if len(cur) + len(word) + 1 > 30 and cur:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    if cur:
        lines.append(cur)
    for i, line in enumerate(lines[:2]):
        cv2.putText(out, line, (3, TILE + 12 + 13 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 235, 235), 1,
                    cv2.LINE_AA)
    return out


def render_preview(out: Path, images: Path, curated: Path, variants: pd.DataFrame, click_rows: list[dict[str, Any]],
                   params: AugmentParams, tasks, results) -> bool:
    """Write ``out/preview.png``; False when there is nothing to show."""
    from portraitkit.augment import stage

    if params.preview_images == 0 or variants.empty:
        return False
    done = sorted(set(variants["image_id"].tolist()))
    k = min(params.preview_images, len(done))
    picks = [done[int(i)] for i in np.unique(np.linspace(0, len(done) - 1, k).round().astype(int))]
    by_task = {t.image_id: t for t in tasks}
    ncols = 1 + min(params.preview_variants, params.variants)
    rows = []
    for iid in picks:
        task = by_task[iid]
        pair = stage._load_pair(task, stage.TaskResult(iid))
        if pair is None:
            continue
        rgb, mask = pair
        sets = [c for c in click_rows if c["image_id"] == iid]
        first = task.click_sets[0] if task.click_sets else None
        tiles = [tile(rgb, mask, params.mask_ignore_value,
                      first["positives"] if first else (), first["negatives"] if first else (),
                      f"original {iid}")]
        vrows = variants[variants["image_id"] == iid].sort_values("variant").head(ncols - 1)
        for row in vrows.itertuples(index=False):
            vimg = cv2.cvtColor(cv2.imread(str(out / row.image_file), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            vmask = cv2.imread(str(out / row.mask_file), cv2.IMREAD_GRAYSCALE)
            moved = None
            if first is not None:
                moved = next(
                    (c for c in sets if c["variant"] == row.variant and c["annotation_id"] == first["annotation_id"]
                     and c["strategy"] == first["strategy"] and c["set_index"] == first["set_index"]),
                    None,
                )
            label = " ".join(SHORT.get(n, n) for n in row.applied) or "(none)"
            tiles.append(tile(vimg, vmask, params.mask_ignore_value, moved["positives"] if moved else (),
                              moved["negatives"] if moved else (), label))
        while len(tiles) < ncols:
            tiles.append(np.full_like(tiles[0], 32))
        rows.append(np.concatenate([np.pad(t, ((PAD, PAD), (PAD, PAD), (0, 0)), constant_values=16) for t in tiles],
                                   axis=1))
    if not rows:
        return False
    write_png(out / "preview.png", np.concatenate(rows, axis=0))
    return True
