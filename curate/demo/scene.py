"""One photo: its size, a cluttered background and the layers (people and things) on it.

The *kind* of a scene decides how many people it shows and how much of the image they
cover, so that the curate rules (1-2 people, 20-70 % coverage, no crowd) keep some images
and reject others for each reason.
"""

from __future__ import annotations

import cv2
import numpy as np

from portraitkit.curate.demo import objects
from portraitkit.curate.demo.figures import rand_color, build_figure, limb_layer, place_figure
from portraitkit.curate.demo.render import Layer, layer_mask

KINDS = ("portrait", "pair", "bodypart", "none", "group", "tiny", "closeup", "crowd")
ASPECTS = (1.0, 4 / 3, 4 / 3, 3 / 2, 3 / 2, 16 / 9)


def image_size(rng: np.random.Generator, long_min: int, long_max: int, kind: str = "") -> tuple[int, int]:
    """(height, width): longest side in [long_min, long_max], portrait or landscape.

    Close-ups are portrait photos (head and shoulders fill a tall frame).
    """
    long_side = int(rng.integers(long_min, long_max + 1))
    short = int(round(long_side / ASPECTS[rng.integers(len(ASPECTS))]))
    tall = rng.random() < 0.45 or kind == "closeup"
    return (long_side, short) if tall else (short, long_side)


# ---------------------------------------------------------------- background


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Float32 RGB background: gradient, floor, wall pattern, shapes, blurred blobs, noise.

    Drawn at half resolution and scaled up: it is a little out of focus, and twice as fast.
    """
    h, w = (height + 1) // 2, (width + 1) // 2
    c1, c2 = np.array(rand_color(rng, (0.05, 0.6)), np.float32), np.array(rand_color(rng, (0.05, 0.6)), np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = ((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)) / max(h, w) + 0.5
    img = c1 + (c2 - c1) * np.clip(t, 0, 1)[..., None]
    if rng.random() < 0.45:  # wall stripes or tiles
        period = rng.uniform(0.03, 0.12) * max(h, w)
        a = rng.uniform(0, np.pi)
        u = xx * np.cos(a) + yy * np.sin(a)
        if rng.random() < 0.5:
            pat = (np.floor(u / period) % 2)
        else:
            v = -xx * np.sin(a) + yy * np.cos(a)
            pat = (np.floor(u / period) + np.floor(v / period)) % 2
        img *= (1.0 - rng.uniform(0.08, 0.3) * pat)[..., None]
    if rng.random() < 0.6:  # a floor below a horizon
        hz = int(h * rng.uniform(0.5, 0.85))
        floor = np.array(rand_color(rng, (0.05, 0.5), (0.2, 0.8)), np.float32)
        shade = np.linspace(0.8, 1.1, h - hz, dtype=np.float32)[:, None, None]
        img[hz:] = floor * shade
        if rng.random() < 0.5:
            tile = rng.uniform(0.04, 0.1) * w
            pat = ((np.floor(xx[hz:] / tile) + np.floor(yy[hz:] / (tile * 0.5))) % 2)[..., None]
            img[hz:] *= 1.0 - 0.15 * pat
    shapes = np.zeros_like(img)
    smask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(4, 22))):  # clutter: boxes, discs, poles, lines
        col = rand_color(rng, (0.05, 0.8), (0.1, 0.95))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.uniform(0.03, 0.25) * max(h, w))
        k = rng.integers(4)
        for target, value in ((shapes, col), (smask, 1)):
            if k == 0:
                cv2.rectangle(target, (x, y), (x + s, y + int(s * rng.uniform(0.3, 2))), value, -1)
            elif k == 1:
                cv2.circle(target, (x, y), s // 2, value, -1)
            elif k == 2:
                cv2.rectangle(target, (x, 0 if rng.random() < 0.5 else y), (x + max(2, s // 6), h), value, -1)
            else:
                cv2.line(target, (x, y), (x + s, y + int(rng.integers(-s, s + 1))), value, max(1, s // 12))
    sel = smask.astype(bool)
    img[sel] = img[sel] * 0.35 + shapes[sel] * 0.65
    blobs = np.zeros_like(img)
    bmask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 8))):
        col = rand_color(rng, (0.1, 0.7), (0.3, 1.0))
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        r = int(rng.uniform(0.04, 0.18) * max(h, w))
        cv2.circle(blobs, c, r, col, -1)
        cv2.circle(bmask, c, r, 1.0, -1)
    if bmask.any():  # blur at 1/4 of this resolution: the blobs are smooth anyway
        sig = 0.03 * max(h, w) / 4
        small = (max(1, w // 4), max(1, h // 4))
        blobs = cv2.resize(cv2.GaussianBlur(cv2.resize(blobs, small, interpolation=cv2.INTER_AREA), (0, 0), sig), (w, h))
        bmask = cv2.resize(cv2.GaussianBlur(cv2.resize(bmask, small, interpolation=cv2.INTER_AREA), (0, 0), sig), (w, h))
        alpha = np.clip(bmask, 0, 1)[..., None] * rng.uniform(0.4, 0.8)
        img = img * (1 - alpha) + blobs / np.maximum(bmask[..., None], 1e-3) * alpha
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.2))  # the background is a little out of focus
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    img += rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(rng.uniform(2, 6))
    return img


# ---------------------------------------------------------------- people placement


def _coverage(layers: list[Layer], h: int, w: int) -> float:
    m = np.zeros((h, w), bool)
    for layer in layers:
        lm = layer_mask(layer, h, w)
        if lm is not None:
            x0, y0, mm = lm
            m[y0:y0 + mm.shape[0], x0:x0 + mm.shape[1]] |= mm
    return float(m.mean())


def _fit(make, target: float, scale: float, h: int, w: int, lo: float, hi: float, steps: int = 5,
         scan: bool = False) -> list[Layer]:
    """Layers from ``make(scale)``, with the scale adjusted until they cover about ``target``.

    With ``scan``, first tries scales across [lo, hi] (coverage of a close-up is not monotone).
    """
    if scan:
        tries = [(abs(_coverage(make(s), h, w) - target), float(s)) for s in np.geomspace(lo, hi, 12)]
        scale = min(tries)[1]
    layers = make(scale)
    for _ in range(steps):
        cov = _coverage(layers, h, w)
        if cov <= 0 or abs(cov - target) < 0.03:
            break
        scale = float(np.clip(scale * np.clip(np.sqrt(target / cov), 0.6, 1.6), lo, hi))
        layers = make(scale)
    return layers


def _people(rng, h, w, n, target, framing) -> list[Layer]:
    """``n`` people side by side covering about ``target`` of the image."""
    figs = [build_figure(rng) for _ in range(n)]
    rel = sorted(rng.uniform(0.75, 1.1, n))  # smaller (farther) first: nearer people overlap them
    if n == 1:
        xs = [rng.uniform(0.42, 0.58) if framing == "close" else rng.uniform(0.3, 0.7)]
    else:
        xs = list(rng.permutation(np.linspace(0.18, 0.82, n) + rng.uniform(-0.08, 0.08, n)))
    light = rng.uniform(-1, 1)
    if framing == "upper":  # head near the top, legs out of the frame
        tops = rng.uniform(0.02, 0.16, n)
        lo, hi, s0 = 0.5 * h, 6.0 * h, 1.6 * h
    elif framing == "close":
        tops = -rng.uniform(0.02, 0.2, n)
        # not so close that the face alone fills the photo: the chin stays above ~80 % of the height
        lo, hi, s0 = 1.0 * h, (0.8 - float(tops.min())) * h / 0.14, 3.0 * h
    else:  # full bodies standing on the ground
        ground = rng.uniform(0.7, 0.97)
        tops = None
        lo, hi, s0 = 0.05 * h, 0.97 * ground * h, 0.5 * h  # heads stay inside the photo

    def make(scale: float) -> list[Layer]:
        out = []
        for i, fig in enumerate(figs):
            s = scale * rel[i]
            if tops is None:
                y = (ground - 0.06 * (1 - rel[i])) * h - s
            else:
                y = tops[i] * h
            # upper-body and close framings centre the face, full bodies centre the body
            x = xs[i] * w - (fig.joints[0][0] * s if tops is not None else 0.0)
            layer = place_figure(fig, s, x, y, rng)
            layer.light = light
            out.append(layer)
        return out

    return _fit(make, target, s0, h, w, lo, hi, scan=framing == "close")


def _crowd(rng, h, w, group: int) -> list[Layer]:
    """Many small overlapping people in a band: one iscrowd annotation."""
    m = int(rng.integers(6, 15))
    s = rng.uniform(0.14, 0.28) * h
    ground = rng.uniform(0.45, 0.8) * h
    xs = np.sort(rng.uniform(0.05, 0.95, m)) * w
    out = []
    for i in rng.permutation(m):
        fig = build_figure(rng)
        si = s * rng.uniform(0.85, 1.1)
        out.append(place_figure(fig, si, xs[i], ground + rng.uniform(-0.1, 0.1) * s - si, rng, kind="crowd_member", group=group))
    return out


# ---------------------------------------------------------------- things around people


def _hold(rng, person: Layer) -> Layer:
    hand = int(rng.integers(2))
    pos, d = person.extra["hands"][hand], person.extra["hand_dirs"][hand]
    if rng.random() < 0.5:
        return objects.racket(rng, pos, d, 0.34 * person.scale)
    return objects.bat(rng, pos, d, 0.5 * person.scale)


def _with_things(rng, layers: list[Layer], h: int, w: int, full_body: bool) -> list[Layer]:
    """Add held objects, a dog in front of someone's legs, a ball, a chair or a cup."""
    people = [i for i, L in enumerate(layers) if L.kind == "person"]
    inserts: list[tuple[int, Layer]] = []  # (insert after index, layer)
    if people and rng.random() < 0.3:
        i = int(rng.choice(people))
        inserts.append((i, _hold(rng, layers[i])))
    if people and full_body and rng.random() < 0.25:
        i = int(rng.choice(people))
        p = layers[i]
        foot_y = float(p.keypoints[15:17, 1].max())
        inserts.append((i, objects.dog(rng, float(p.keypoints[11:13, 0].mean() + rng.uniform(-0.15, 0.15) * p.scale),
                                       foot_y + rng.uniform(0, 0.04) * p.scale, rng.uniform(0.35, 0.55) * p.scale)))
    if rng.random() < 0.2:
        if people and full_body:
            p = layers[int(rng.choice(people))]
            r = 0.06 * p.scale
            cx = float(p.keypoints[15:17, 0].mean() + rng.uniform(-0.3, 0.3) * p.scale)
            cy = float(p.keypoints[15:17, 1].max() - r + rng.uniform(-0.2, 0.0) * p.scale)
            inserts.append((len(layers) - 1, objects.ball(rng, cx, cy, r)))
        else:
            r = rng.uniform(0.03, 0.08) * min(h, w)
            inserts.append((len(layers) - 1, objects.ball(rng, rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h, r)))
    if rng.random() < 0.15:  # a chair behind everyone
        size = rng.uniform(0.3, 0.6) * h
        inserts.append((-1, objects.chair(rng, rng.uniform(0.15, 0.85) * w, rng.uniform(0.75, 1.0) * h, size)))
    if rng.random() < 0.12:
        size = rng.uniform(0.06, 0.12) * min(h, w)
        if people and rng.random() < 0.5:
            p = layers[int(rng.choice(people))]
            hx, hy = p.extra["hands"][int(rng.integers(2))]
            inserts.append((people[-1], objects.cup(rng, float(hx), float(hy) - 0.3 * size, size)))
        else:
            inserts.append((-1, objects.cup(rng, rng.uniform(0.1, 0.9) * w, rng.uniform(0.5, 0.95) * h, size)))
    out = list(layers)
    for after, layer in sorted(inserts, key=lambda t: -t[0]):
        out.insert(after + 1, layer)
    return out


def _things_only(rng, h, w) -> list[Layer]:
    out = []
    for _ in range(int(rng.integers(1, 4))):
        k = rng.integers(4)
        if k == 0:
            out.append(objects.dog(rng, rng.uniform(0.25, 0.75) * w, rng.uniform(0.7, 0.95) * h, rng.uniform(0.3, 0.6) * w))
        elif k == 1:
            out.append(objects.ball(rng, rng.uniform(0.1, 0.9) * w, rng.uniform(0.2, 0.9) * h, rng.uniform(0.03, 0.1) * min(h, w)))
        elif k == 2:
            out.append(objects.chair(rng, rng.uniform(0.2, 0.8) * w, rng.uniform(0.8, 1.0) * h, rng.uniform(0.35, 0.7) * h))
        else:
            out.append(objects.cup(rng, rng.uniform(0.2, 0.8) * w, rng.uniform(0.3, 0.8) * h, rng.uniform(0.08, 0.2) * min(h, w)))
    return out


def layers_for(kind: str, rng: np.random.Generator, h: int, w: int) -> list[Layer]:
    """Every layer of a scene of ``kind``, back to front."""
    if kind == "portrait":
        return _with_things(rng, _people(rng, h, w, 1, rng.uniform(0.25, 0.6), "upper"), h, w, False)
    if kind == "pair":
        framing = "upper" if rng.random() < 0.6 else "full"
        return _with_things(rng, _people(rng, h, w, 2, rng.uniform(0.26, 0.6), framing), h, w, framing == "full")
    if kind == "bodypart":
        layers = _people(rng, h, w, 1, rng.uniform(0.25, 0.5), "upper") if rng.random() < 0.5 else []
        return layers + [limb_layer(rng, h, w)]
    if kind == "none":
        return _things_only(rng, h, w)
    if kind == "group":
        framing = "upper" if rng.random() < 0.4 else "full"
        n = int(rng.integers(3, 6))
        return _with_things(rng, _people(rng, h, w, n, rng.uniform(0.2, 0.55), framing), h, w, framing == "full")
    if kind == "tiny":
        n = int(rng.integers(1, 3))
        return _with_things(rng, _people(rng, h, w, n, rng.uniform(0.025, 0.13), "full"), h, w, True)
    if kind == "closeup":
        return _people(rng, h, w, 1, rng.uniform(0.76, 0.9), "close")
    if kind == "crowd":
        layers = _crowd(rng, h, w, group=0)
        n = int(rng.integers(0, 3))
        if n:
            layers += _people(rng, h, w, n, rng.uniform(0.1, 0.35), "full")
        return layers
    raise ValueError(f"unknown scene kind {kind!r}")
