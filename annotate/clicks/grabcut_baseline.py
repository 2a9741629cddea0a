"""A classical, training-free click predictor: GrabCut seeded by the clicks.

The GrabCut label mask starts as "probably background"; pixels within ``near_frac`` of the
image's shorter side from a positive click, and (``hull``) the convex hull of three or more
positives, become "probably foreground"; disks of ``radius`` around negatives are sure
background and around positives sure foreground (the clicked pixels themselves always keep
their click's label). The defaults were picked on a small demo sample (radius 5/10/15,
near_frac 0.05-0.35, hull, iterations 2-5, max_side 256/384). For speed GrabCut runs on the
image scaled down to ``max_side`` pixels and the result is scaled back (nearest neighbour).
Only connected components that contain a positive click are kept.

This is the NoC any learned model must beat (see ``bench/clicks_noc.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from portraitkit.annotate.clicks.encoding import click_distance


class GrabCutPredictor:
    def __init__(
        self,
        radius: int = 10,
        near_frac: float = 0.1,
        iterations: int = 3,
        max_side: int = 256,
        keep_clicked: bool = True,
        hull: bool = True,
    ) -> None:
        self.radius = radius
        self.near_frac = near_frac
        self.iterations = iterations
        self.max_side = max_side
        self.keep_clicked = keep_clicked
        self.hull = hull

    def __call__(self, image: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        positives = np.asarray(positives, np.int64).reshape(-1, 2)
        negatives = np.asarray(negatives, np.int64).reshape(-1, 2)
        if len(positives) == 0:
            return np.zeros((h, w), np.uint8)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        scale = min(1.0, self.max_side / max(h, w))
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
        small = np.ascontiguousarray(small[:, :, :3], dtype=np.uint8)

        def to_small(p: np.ndarray) -> np.ndarray:
            q = np.floor((p + 0.5) * scale).astype(np.int64)
            q[:, 0] = np.clip(q[:, 0], 0, sw - 1)
            q[:, 1] = np.clip(q[:, 1], 0, sh - 1)
            return q

        sp, sn = to_small(positives), to_small(negatives)
        r = max(1.0, self.radius * scale)
        dpos = click_distance(sh, sw, sp, truncate=1e6)
        dneg = click_distance(sh, sw, sn, truncate=1e6)
        gc = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        gc[dpos <= self.near_frac * min(sh, sw)] = cv2.GC_PR_FGD
        if self.hull and len(sp) >= 3:
            hull = cv2.convexHull(sp.astype(np.int32).reshape(-1, 1, 2))
            cv2.fillConvexPoly(gc, hull, int(cv2.GC_PR_FGD))
        gc[dneg <= r] = cv2.GC_BGD
        gc[(dpos <= r) & (dpos < dneg)] = cv2.GC_FGD
        gc[sn[:, 1], sn[:, 0]] = cv2.GC_BGD
        gc[sp[:, 1], sp[:, 0]] = cv2.GC_FGD
        fg_init = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        if fg_init.all() or not fg_init.any():
            out = fg_init
        else:
            bgd = np.zeros((1, 65), np.float64)
            fgd = np.zeros((1, 65), np.float64)
            try:
                cv2.setRNGSeed(0)
                cv2.grabCut(small, gc, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
                out = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
            except cv2.error:
                out = fg_init
        out = out.astype(np.uint8)
        if self.keep_clicked:
            n, labels = cv2.connectedComponents(out, connectivity=8)
            if n > 2:
                keep = np.unique(labels[sp[:, 1], sp[:, 0]])
                keep = keep[keep > 0]
                out = np.isin(labels, keep).astype(np.uint8)
        if scale < 1:
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_NEAREST)
        return out
