"""Image signals of one person polygon, computed with OpenCV on a crop around the person.

- ``edge_alignment``: does the drawn outline sit on the image's edges? Along the outline,
  sampled every pixel, compare the gradient magnitude *on* the outline with the strongest
  gradient within ``edge_search_px`` inside or outside it (along the normal):
  ``sum(g_on) / sum(max_{|t|<=R} g(t))`` in [0, 1]; 1 = every edge near the outline is on it.
  Samples in flat regions weigh little (ratio of sums). Outline stretches on the image border
  (persons cut by the frame) or against another annotation's mask (an occluder meets the
  person: the edge there is the occluder's) are ignored, here and in ``chord_rel``. ``edge_contrast`` (reported only) is
  ``mean(g_on) / mean(g(-R), g(+R))``.
- ``refine_iou`` / ``refine_biou``: GrabCut is seeded from the polygon mask (sure foreground
  = mask eroded by ``seed_band * sqrt(area)``, sure background = outside the mask dilated by
  the same, probable foreground / background in the band between) and run for
  ``grabcut_iters`` iterations; the refined mask is compared with the polygon mask by IoU and
  by Boundary IoU (Cheng et al. 2021) with a band of ``biou_band`` x the image diagonal.
  A faithful outline is left where it is (both near 1); a coarse one is pulled to the edges.
  Other annotations' pixels outside the polygon are sure background (GrabCut may not grow the
  person into its occluder), and boundary pixels near an occluder are left out of the Boundary IoU.

- ``chord_rel``: long straight edges that separate nothing (``chord_signal``): chords through
  arms, torso or background, in units of sqrt(area).

GrabCut, the costliest part, is skipped (``refine_*`` NaN) when the other signals already
decide ``flagged`` whatever the IoUs would be (``skip_decided_refine``).
Everything runs on the person's bbox crop (padded), scaled so its longer side is ``work_side``
(GrabCut, IoU) or ``edge_side`` (edges) pixels, so the cost per person is bounded.
OpenCV's RNG is re-seeded before every GrabCut call: results do not depend on call order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from portraitkit.curate.coarseness.polygon_signals import PolygonInfo

_NAN = float("nan")
MIN_FREE_BOUNDARY = 0.2  # refine_biou is NaN (no evidence) when less of the outline's band is free of occluders
IMAGE_SIGNAL_KEYS = ("edge_alignment", "edge_contrast", "off_edge_frac", "chord_rel", "refine_iou", "refine_biou")


def _crop_box(info: PolygonInfo, width: int, height: int, params) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = info.bbox
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(width), x1), min(float(height), y1)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    pad = params.crop_pad * max(x1 - x0, y1 - y0) + params.seed_band * math.sqrt(max(info.area, 1.0)) + 2
    cx0, cy0 = int(max(0, math.floor(x0 - pad))), int(max(0, math.floor(y0 - pad)))
    cx1, cy1 = int(min(width, math.ceil(x1 + pad))), int(min(height, math.ceil(y1 + pad)))
    return cx0, cy0, cx1, cy1


def _raster(ann: dict[str, Any], info: PolygonInfo, box, size: tuple[int, int], height: int, width: int):
    """Polygon mask (uint8 0/1) of the crop ``box`` resized to ``size`` = (w, h)."""
    import cv2
    from pycocotools import mask as mask_utils

    cx0, cy0, cx1, cy1 = box
    w, h = size
    if info.is_rle:
        from portraitkit.curate.masks import ann_to_mask

        full = ann_to_mask(ann, height, width)[cy0:cy1, cx0:cx1].astype(np.float32)
        return (cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA) >= 0.5).astype(np.uint8)
    scale = (w / (cx1 - cx0), h / (cy1 - cy0))
    polys = []
    for r in info.rings:
        q = (r - (cx0, cy0)) * scale
        polys.append(q.reshape(-1).tolist())
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
    return mask_utils.decode(rle)


def _disk(r: int):
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _boundary(mask: np.ndarray, d: float) -> np.ndarray:
    """Pixels of ``mask`` within distance ``d`` of its contour (the crop border counts as outside)."""
    import cv2

    padded = np.pad(mask, 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return (mask > 0) & (dist <= d)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def boundary_iou(a: np.ndarray, b: np.ndarray, d: float, ignore: np.ndarray | None = None) -> float:
    """Boundary IoU (Cheng et al. 2021) of two masks: IoU of their pixels within ``d`` of their contours.

    The array border counts as outside, as in the paper's reference code. Shared with the evaluate stage.
    ``ignore`` (bool, same shape): pixels left out of both boundaries (the flag: where an occluder meets
    the person).
    """
    ba, bb = _boundary(a.astype(np.uint8), d), _boundary(b.astype(np.uint8), d)
    if ignore is not None:
        n_a = np.count_nonzero(ba)
        ba, bb = ba & ~ignore, bb & ~ignore
        if np.count_nonzero(ba) < MIN_FREE_BOUNDARY * n_a:  # nearly all of the outline is against occluders
            return _NAN
    return _iou(ba, bb)


def refine_agreement(crop_bgr: np.ndarray, mask: np.ndarray, band_px: int, biou_d: float, iters: int,
                     occluder: np.ndarray | None = None, contact_px: float = 0.0):
    """(refine_iou, refine_biou, refined mask) of GrabCut seeded from ``mask``; raises cv2.error.

    ``occluder`` (0/1, same shape): other annotations' pixels; outside ``mask`` they are sure
    background, and boundary pixels within ``contact_px`` + the Boundary IoU band of them are not scored.
    """
    import cv2

    m = mask.astype(bool)
    occ = occluder.astype(bool) if occluder is not None and occluder.any() else None
    band_px = max(1, int(band_px))
    eroded = cv2.erode(mask, _disk(band_px)).astype(bool)
    dilated = cv2.dilate(mask, _disk(band_px)).astype(bool)
    gc = np.full(mask.shape, cv2.GC_BGD, dtype=np.uint8)
    gc[dilated] = cv2.GC_PR_BGD
    gc[m] = cv2.GC_PR_FGD
    gc[eroded] = cv2.GC_FGD
    ignore = None
    if occ is not None:
        gc[occ & ~m] = cv2.GC_BGD
        reach = max(1, int(math.ceil(contact_px + biou_d)))
        ignore = cv2.dilate(occ.astype(np.uint8), _disk(reach)).astype(bool)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(12345)
    cv2.grabCut(crop_bgr, gc, None, bgd, fgd, int(iters), cv2.GC_INIT_WITH_MASK)
    refined = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    iou = _iou(m, refined)
    biou = boundary_iou(m, refined, biou_d, ignore)
    return iou, biou, refined


def _gradient(crop_bgr: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (max over channels of the Sobel magnitude), float32."""
    import cv2

    blur = cv2.GaussianBlur(crop_bgr, (0, 0), 1.0)
    gx = cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)  # not cv2.magnitude: its SIMD result depends on memory alignment
    return mag.max(axis=2) if mag.ndim == 3 else mag


def _resample(ring: np.ndarray, step: float = 1.0):
    """Points every ``step`` px along a closed ring, their unit normals and edge index, edge lengths."""
    closed = np.vstack([ring, ring[:1]])
    seg = np.diff(closed, axis=0)
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    ok = seglen > 1e-9
    seg, seglen, starts = seg[ok], seglen[ok], closed[:-1][ok]
    if len(seg) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, int), np.zeros(0)
    n_per = np.maximum(1, np.round(seglen / step).astype(int))
    idx = np.repeat(np.arange(len(seg)), n_per)
    frac = np.concatenate([(np.arange(n) + 0.5) / n for n in n_per])
    pts = starts[idx] + seg[idx] * frac[:, None]
    tang = seg[idx] / seglen[idx, None]
    normals = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    return pts, normals, idx, seglen


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``img`` (h, w[, c]) sampled at pixel-centre coordinates ``x``, ``y`` (any shape), border replicated.

    Plain numpy, not cv2.remap: remap's SIMD path gives last-bit differences with the memory
    alignment of ``img``, which differs between processes (outputs must not depend on workers).
    """
    h, w = img.shape[:2]
    x = np.clip(x - 0.5, 0, w - 1)
    y = np.clip(y - 0.5, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2) if w > 1 else np.zeros(x.shape, np.intp)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2) if h > 1 else np.zeros(y.shape, np.intp)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    if img.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    im = img.astype(np.float64, copy=False)
    top = im[y0, x0] * (1 - fx) + im[y0, x1] * fx
    bottom = im[y1, x0] * (1 - fx) + im[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _circular_mean(x: np.ndarray, win: int) -> np.ndarray:
    if win <= 1 or len(x) < 3:
        return x
    win = min(win, len(x))
    k = win // 2
    ext = np.concatenate([x[-k:], x, x[: win - k - 1]]) if k else np.concatenate([x, x[: win - 1]])
    c = np.concatenate([[0.0], np.cumsum(ext)])
    return (c[win:] - c[:-win]) / win


def edge_signals(grad: np.ndarray, rings_px: list[np.ndarray], valid_fn, search: float, weak_frac: float = 0.25,
                 window: int = 9) -> tuple[float, float, float]:
    """(edge_alignment, edge_contrast, off_edge_frac) of outline rings in ``grad``'s pixel coordinates.

    ``off_edge_frac``: fraction of the outline (outside the image border) where the gradient on
    the outline, averaged over ``window`` px along it, is below ``weak_frac`` x the median of
    the strongest nearby gradient along this outline: stretches that run through no edge at all
    (chords through arms, hair, background).
    """
    R = max(1, int(round(search)))
    offsets = np.arange(-R, R + 1, dtype=np.float64)
    on_parts, max_parts, off_parts = [], [], []
    for ring in rings_px:
        pts, normals, _, _ = _resample(ring)
        if len(pts) == 0:
            continue
        sx = pts[:, None, 0] + offsets[None, :] * normals[:, None, 0]
        sy = pts[:, None, 1] + offsets[None, :] * normals[:, None, 1]
        vals = _bilinear(grad, sx, sy)
        keep = valid_fn(pts)
        on = _circular_mean(vals[:, R].astype(np.float64), window)
        on_parts.append((vals[keep, R], on[keep]))
        max_parts.append(vals[keep].max(axis=1))
        off_parts.append(0.5 * (vals[keep, 0] + vals[keep, -1]))
    if not on_parts:
        return _NAN, _NAN, _NAN
    on_raw = np.concatenate([p[0] for p in on_parts]).astype(np.float64)
    on_smooth = np.concatenate([p[1] for p in on_parts])
    mx = np.concatenate(max_parts).astype(np.float64)
    off = np.concatenate(off_parts).astype(np.float64)
    # math.fsum, not ndarray.sum: numpy's SIMD summation order depends on memory alignment,
    # which differs between processes (last-bit differences would break byte-identical outputs)
    s_on, s_mx, s_off = math.fsum(on_raw), math.fsum(mx), math.fsum(off)
    if len(mx) == 0 or s_mx <= 1e-6:
        return _NAN, _NAN, _NAN
    alignment = s_on / s_mx
    contrast = s_on / s_off if s_off > 1e-6 else _NAN
    ref = float(np.median(mx))
    off_edge = float(np.mean(on_smooth < weak_frac * ref)) if ref > 1e-6 else _NAN
    return alignment, contrast, off_edge


def chord_signal(colour: np.ndarray, rings_px: list[np.ndarray], valid_fn, d: float, min_len: float,
                 support: float) -> float:
    """Length of long straight edges that separate nothing (px of ``colour``; NaN if unknown).

    For every outline sample, the colours at ``d`` px outside and inside it (``colour`` is
    blurred) differ by some amount; its median over the outline is the person's typical
    boundary contrast. For every edge at least ``min_len`` long, the mean colour of the strip
    outside the edge is compared with the mean of the strip inside: an edge on the person's
    boundary separates two regions (large difference); a chord through an arm, the torso or
    background has the same stuff on both sides (texture averages out). Each long edge counts
    with its length x ``clip(1 - diff / (support x typical), 0, 1)``.
    """
    per_point, edges = [], []
    for ring in rings_px:
        pts, normals, idx, seglen = _resample(ring)
        if len(pts) == 0:
            continue
        keep = valid_fn(pts)
        pts, normals, idx = pts[keep], normals[keep], idx[keep]
        if len(pts) == 0:  # the whole ring lies on the image border
            continue
        both = np.concatenate([pts + d * normals, pts - d * normals])
        c = _bilinear(colour, both[:, 0], both[:, 1]).reshape(2, len(pts), -1)
        per_point.append(np.linalg.norm(c[0] - c[1], axis=1))
        for e in np.flatnonzero(seglen >= min_len):
            sel = idx == e
            if sel.sum() >= 0.5 * seglen[e]:
                edges.append((sel.sum(), np.linalg.norm(c[0, sel].mean(axis=0) - c[1, sel].mean(axis=0))))
    if not per_point:
        return _NAN
    typical = float(np.median(np.concatenate(per_point)))
    if typical <= 1e-6:
        return _NAN
    return float(sum(n * min(1.0, max(0.0, 1.0 - diff / (support * typical))) for n, diff in edges))


def image_signals(bgr: np.ndarray, ann: dict[str, Any], info: PolygonInfo, params,
                  decided=None) -> tuple[dict[str, float], list[str]]:
    """Image signals of one person (NaN when they cannot be computed) and notes saying why.

    ``decided(signals so far)``: when it returns True, GrabCut is skipped (``refine_*`` NaN).
    """
    import cv2

    height, width = bgr.shape[:2]
    out = {k: _NAN for k in IMAGE_SIGNAL_KEYS}
    notes: list[str] = []
    if info.bbox is None or info.area <= 0:
        return out, notes
    if info.area < params.min_area_px:
        notes.append("too_small")
        return out, notes
    box = _crop_box(info, width, height, params)
    if box is None:
        notes.append("polygon_outside_image")
        return out, notes
    cx0, cy0, cx1, cy1 = box
    cw, ch = cx1 - cx0, cy1 - cy0
    crop = bgr[cy0:cy1, cx0:cx1]
    sqrt_area = math.sqrt(info.area)
    diag = math.hypot(width, height)

    # --- edge alignment, on the crop at edge_side
    se = min(1.0, params.edge_side / max(cw, ch))
    ew, eh = max(1, int(round(cw * se))), max(1, int(round(ch * se)))
    ecrop = crop if se == 1.0 else cv2.resize(crop, (ew, eh), interpolation=cv2.INTER_AREA)
    grad = _gradient(ecrop)
    rings_e = [(r - (cx0, cy0)) * (ew / cw, eh / ch) for r in info.rings]
    contact = info.contact

    def valid(pts_e: np.ndarray) -> np.ndarray:  # outline points not on the frame nor against an occluder
        img_pts = np.stack([pts_e[:, 0] * (cw / ew) + cx0, pts_e[:, 1] * (ch / eh) + cy0], axis=1)
        if contact is None:
            from portraitkit.curate.coarseness.occlusion import Contact

            return ~Contact(width, height).explained(img_pts)
        return ~contact.explained(img_pts)

    out["edge_alignment"], out["edge_contrast"], out["off_edge_frac"] = edge_signals(grad, rings_e, valid, params.edge_search_px)
    sa_e = sqrt_area * se
    blurred = cv2.GaussianBlur(ecrop, (0, 0), 1.5)
    chord = chord_signal(blurred, rings_e, valid, params.edge_search_px, params.chord_min_len * sa_e, params.chord_support)
    out["chord_rel"] = chord / sa_e

    if decided is not None and decided(out):
        return out, notes

    # --- GrabCut refinement agreement, on the crop at work_side
    sg = min(1.0, params.work_side / max(cw, ch))
    gw, gh = max(1, int(round(cw * sg))), max(1, int(round(ch * sg)))
    gcrop = crop if sg == 1.0 else cv2.resize(crop, (gw, gh), interpolation=cv2.INTER_AREA)
    mask = _raster(ann, info, box, (gw, gh), height, width)
    if not mask.any():
        notes.append("refine_failed:empty_mask")
        return out, notes
    band = max(1, int(round(params.seed_band * sqrt_area * sg)))
    biou_d = max(1.0, params.biou_band * diag * sg)
    occ = None
    if contact is not None and contact.occluder_mask is not None:
        occ = cv2.resize(contact.occluder_mask[cy0:cy1, cx0:cx1], (gw, gh), interpolation=cv2.INTER_NEAREST)
    try:
        out["refine_iou"], out["refine_biou"], _ = refine_agreement(
            gcrop, mask, band, biou_d, params.grabcut_iters, occ, contact.occluder_px * sg if contact else 0.0)
    except cv2.error:
        notes.append("refine_failed:grabcut")
    return out, notes
