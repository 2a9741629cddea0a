"""Where a person's outline is explained by something else: the image frame or another annotation.

A straight polygon stretch is only evidence of coarseness where the person's outline is free.
Where the person is cut by the image frame, or meets another annotated object (a table, a car,
another person, a crowd region: any category), the drawn outline is straight because the visible
person is, and the image there shows the occluder's edge, not the person's. ``Contact`` answers,
for points in image pixels, whether they lie within ``border_px`` of the image border or within
``occluder_px`` of another annotation's mask; the signals leave those points / edges out.

A neighbour that overlaps the person by more than ``SAME_THING_OVERLAP`` of the smaller of the two
masks is no occluder: it is the same thing drawn again (a duplicate, a coarse and a fine outline
of one person), or a region that contains the person (a crowd region around it) or lies inside
it (a tie): its outline is the person's, so it explains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

BORDER_TOL_PX = 5.0  # outline this close to the image border is "cut by the frame" (annotators click near it)
SAME_THING_OVERLAP = 0.5  # |A & B| / min(|A|, |B|) above this: not an occluder (see above)


@dataclass
class Contact:
    width: int
    height: int
    border_px: float = BORDER_TOL_PX
    occluder_px: float = 0.0
    occluder_dist: np.ndarray | None = None  # (h, w) float32: px to the nearest pixel of another annotation
    occluder_mask: np.ndarray | None = None  # (h, w) uint8 0/1: union of the other annotations' masks

    def near_border(self, pts: np.ndarray) -> np.ndarray:
        x, y, m = pts[:, 0], pts[:, 1], self.border_px
        return (x <= m) | (y <= m) | (x >= self.width - m) | (y >= self.height - m)

    def near_occluder(self, pts: np.ndarray) -> np.ndarray:
        if self.occluder_dist is None or len(pts) == 0:
            return np.zeros(len(pts), bool)
        xi = np.clip(np.floor(pts[:, 0]).astype(np.intp), 0, self.width - 1)
        yi = np.clip(np.floor(pts[:, 1]).astype(np.intp), 0, self.height - 1)
        return self.occluder_dist[yi, xi] <= self.occluder_px

    def explained(self, pts: np.ndarray) -> np.ndarray:
        """Per point (image px): on the frame or against another annotation (not evidence either way)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return self.near_border(pts) | self.near_occluder(pts)

    def explained_edges(self, ring: np.ndarray, min_frac: float = 0.8) -> np.ndarray:
        """Per edge (vertex i -> i+1): are at least ``min_frac`` of its points explained?"""
        nxt = np.roll(ring, -1, axis=0)
        length = np.hypot(*(nxt - ring).T)
        n = np.clip(np.ceil(length).astype(int), 2, 256)  # one sample per px, at most 256 per edge
        idx = np.repeat(np.arange(len(ring)), n)
        t = np.concatenate([(np.arange(k) + 0.5) / k for k in n])
        pts = ring[idx] + (nxt - ring)[idx] * t[:, None]
        hit = self.explained(pts).astype(np.float64)
        frac = np.bincount(idx, weights=hit, minlength=len(ring)) / n
        return frac >= min_frac


def contact_for(ann: dict[str, Any], others: Iterable[dict[str, Any]] | None, height: int, width: int,
                occluder_px: float) -> Contact:
    """The ``Contact`` of one annotation against the image border and every *other* annotation of its image."""
    import cv2

    from portraitkit.curate.masks import ann_to_mask

    own = ann.get("id")
    occ = None
    own_mask = None
    for o in others or ():
        if o is ann or (own is not None and o.get("id") == own):
            continue
        try:
            m = ann_to_mask(o, height, width)
        except Exception:  # noqa: BLE001 - an unreadable neighbour is no occluder, never a crash
            continue
        if m.shape != (height, width) or not m.any():
            continue
        if own_mask is None:
            try:
                own_mask = ann_to_mask(ann, height, width).astype(bool)
            except Exception:  # noqa: BLE001 - an unreadable person: its neighbours all count
                own_mask = np.zeros((height, width), bool)
        n_own, n_other = int(np.count_nonzero(own_mask)), int(np.count_nonzero(m))
        if n_own and np.count_nonzero(own_mask & (m > 0)) > SAME_THING_OVERLAP * min(n_own, n_other):
            continue  # the same thing drawn again, or a region containing / inside the person
        occ = m if occ is None else np.maximum(occ, m)
    if occ is None or not occ.any() or occluder_px <= 0:
        return Contact(width, height, occluder_px=occluder_px)
    # distance of every pixel to the nearest occluder pixel (0 on it)
    dist = cv2.distanceTransform((occ == 0).astype(np.uint8), cv2.DIST_L2, 3)
    return Contact(width, height, occluder_px=occluder_px, occluder_dist=dist, occluder_mask=occ)
