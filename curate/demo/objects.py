"""Other COCO things in the photos: dog, sports ball, baseball bat, tennis racket, chair, cup.

Each builder returns a ``Layer`` in image coordinates; sizes are given in pixels.
"""

from __future__ import annotations

import numpy as np

from portraitkit.curate.demo.categories import BASEBALL_BAT, CHAIR, CUP, DOG, SPORTS_BALL, TENNIS_RACKET
from portraitkit.curate.demo.figures import rand_color, rotate
from portraitkit.curate.demo.render import Layer, Material, Part, capsule_poly, ellipse_poly


def ball(rng: np.random.Generator, cx: float, cy: float, r: float) -> Layer:
    style = rng.integers(3)
    if style == 0:  # football
        mat = Material((240, 240, 236), "checks", (30, 30, 30), period=0.5, angle=float(rng.uniform(0, 90)), strength=0.8)
    elif style == 1:  # basketball
        mat = Material((214, 110, 40), "stripes", (60, 30, 20), period=0.45, angle=float(rng.uniform(0, 180)), strength=0.25)
    else:  # tennis ball
        mat = Material((205, 225, 60), "mottle", (180, 200, 50), period=0.3)
    return Layer([Part(ellipse_poly(cx, cy, r, r, 0, 32), mat)], 2 * r, SPORTS_BALL)


def bat(rng: np.random.Generator, hand: np.ndarray, direction: np.ndarray, length: float) -> Layer:
    d = rotate(direction, rng.uniform(-70, 70))
    d = d / np.linalg.norm(d)
    start = hand - d * 0.1 * length
    end = start + d * length
    wood = rng.random() < 0.6
    mat = Material((196, 150, 96), "grain", (150, 105, 60), period=0.02, angle=float(np.degrees(np.arctan2(d[1], d[0]))),
                   strength=0.5) if wood else Material((150, 155, 165))
    parts = [Part(capsule_poly(start, end, 0.016 * length, 0.04 * length), mat),
             Part(capsule_poly(start, start + d * 0.18 * length, 0.021 * length, 0.017 * length), Material((30, 30, 30)))]
    return Layer(parts, length, BASEBALL_BAT)


def racket(rng: np.random.Generator, hand: np.ndarray, direction: np.ndarray, length: float) -> Layer:
    d = rotate(direction, rng.uniform(-60, 60))
    d = d / np.linalg.norm(d)
    start = hand - d * 0.08 * length
    neck = start + d * 0.45 * length
    centre = start + d * 0.7 * length
    ang = float(np.degrees(np.arctan2(d[1], d[0])))
    frame = Material(rand_color(rng, sat=(0.4, 0.9), val=(0.3, 0.9)))
    strings = Material((235, 235, 225), "checks", (120, 120, 115), period=0.03, angle=ang, strength=0.35, shade=False)
    parts = [
        Part(capsule_poly(start, neck, 0.03 * length, 0.022 * length), frame),
        Part(capsule_poly(start, start + d * 0.25 * length, 0.034 * length, 0.032 * length), Material((40, 40, 44))),
        Part(ellipse_poly(centre[0], centre[1], 0.27 * length, 0.2 * length, ang, 40), frame),
        Part(ellipse_poly(centre[0], centre[1], 0.24 * length, 0.17 * length, ang, 40), strings),
    ]
    return Layer(parts, length, TENNIS_RACKET)


def dog(rng: np.random.Generator, cx: float, ground: float, size: float) -> Layer:
    """A standing dog, ``size`` px long, paws on ``ground``, facing left or right."""
    s = 1 if rng.random() < 0.5 else -1
    coat_c = [(60, 42, 30), (180, 130, 80), (225, 205, 170), (30, 28, 28), (140, 110, 90), (245, 245, 240)][rng.integers(6)]
    coat = Material(coat_c, "mottle", tuple(c * 0.75 for c in coat_c), period=0.15, strength=0.7)
    leg_h = size * rng.uniform(0.3, 0.42)
    body_y = ground - leg_h - 0.12 * size
    bx = np.array([cx - s * 0.3 * size, cx + s * 0.25 * size])
    parts = []
    # tail, far legs, body, near legs, head
    tail0 = np.array([bx[0] - s * 0.05 * size, body_y - 0.05 * size])
    parts.append(Part(capsule_poly(tail0, tail0 + np.array([-s * 0.22, -rng.uniform(0.05, 0.25)]) * size,
                                   0.04 * size, 0.02 * size), coat))
    for x in (bx[0] + s * 0.05 * size, bx[1] + s * 0.05 * size):
        parts.append(Part(capsule_poly((x, body_y), (x + s * 0.02 * size, ground - 0.02 * size), 0.045 * size, 0.035 * size),
                          Material(tuple(c * 0.8 for c in coat_c))))
    parts.append(Part(ellipse_poly(cx, body_y, 0.36 * size, 0.13 * size, rng.uniform(-6, 6), 36), coat))
    for x in (bx[0] - s * 0.02 * size, bx[1] - s * 0.02 * size):
        parts.append(Part(capsule_poly((x, body_y), (x - s * 0.02 * size, ground), 0.05 * size, 0.038 * size), coat))
    head = np.array([bx[1] + s * 0.1 * size, body_y - rng.uniform(0.17, 0.26) * size])
    parts.append(Part(capsule_poly((bx[1] - s * 0.02 * size, body_y - 0.02 * size), head, 0.1 * size, 0.08 * size), coat))
    parts.append(Part(ellipse_poly(head[0], head[1], 0.11 * size, 0.1 * size, 0, 24), coat))
    parts.append(Part(capsule_poly(head, head + np.array([s * 0.16 * size, 0.04 * size]), 0.065 * size, 0.045 * size), coat))
    ear = Material(tuple(c * 0.6 for c in coat_c))
    parts.append(Part(capsule_poly(head + np.array([-s * 0.04, -0.06]) * size, head + np.array([-s * 0.09, 0.08]) * size,
                                   0.045 * size, 0.035 * size), ear))
    nose = head + np.array([s * 0.2 * size, 0.035 * size])
    parts.append(Part(ellipse_poly(nose[0], nose[1], 0.025 * size, 0.02 * size, 0, 10), Material((20, 20, 20), shade=False)))
    eye = head + np.array([s * 0.05, -0.025]) * size
    parts.append(Part(ellipse_poly(eye[0], eye[1], 0.016 * size, 0.016 * size, 0, 10), Material((15, 12, 10), shade=False),
                      in_mask=False))
    return Layer(parts, size, DOG, light=float(rng.uniform(-1, 1)))


def chair(rng: np.random.Generator, cx: float, ground: float, size: float) -> Layer:
    """A chair seen from the front, ``size`` px tall."""
    c = rand_color(rng, sat=(0.1, 0.6), val=(0.2, 0.8))
    wood = Material(c, "grain", tuple(v * 0.8 for v in c), period=0.02, angle=90.0, strength=0.4)
    w = size * rng.uniform(0.4, 0.55)
    seat_y = ground - 0.45 * size
    top = ground - size
    parts = [
        Part(np.array([[cx - w / 2, top], [cx + w / 2, top], [cx + w / 2, seat_y], [cx - w / 2, seat_y]]), wood),
        Part(np.array([[cx - w * 0.55, seat_y - 0.03 * size], [cx + w * 0.55, seat_y - 0.03 * size],
                       [cx + w * 0.58, seat_y + 0.04 * size], [cx - w * 0.58, seat_y + 0.04 * size]]), wood),
    ]
    for x in (cx - w * 0.5, cx + w * 0.5 - 0.05 * size):
        parts.append(Part(np.array([[x, seat_y], [x + 0.05 * size, seat_y], [x + 0.05 * size, ground], [x, ground]]), wood))
    return Layer(parts, size, CHAIR)


def cup(rng: np.random.Generator, cx: float, cy: float, size: float) -> Layer:
    c = rand_color(rng)
    mat = Material(c, "stripes" if rng.random() < 0.3 else "solid", (240, 240, 240), period=0.2, angle=90.0, strength=0.8)
    w, h = 0.7 * size, size
    body = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w * 0.38, cy + h / 2], [cx - w * 0.38, cy + h / 2]])
    s = 1 if rng.random() < 0.5 else -1
    handle = capsule_poly((cx + s * w * 0.45, cy - h * 0.25), (cx + s * w * 0.62, cy + h * 0.1), 0.08 * size, 0.08 * size)
    return Layer([Part(handle, mat), Part(body, mat)], size, CUP)
