"""Human figures: head, hair, torso, arms and legs as jointed capsules with random poses.

A figure is built in *unit* coordinates (height 1 from the top of the head to the soles,
y down, centred on x = 0, facing the camera so the person's left is image right) and
then placed into a photo with a scale and an offset. Its 17 joints are the COCO keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portraitkit.curate.demo.categories import PERSON
from portraitkit.curate.demo.render import Layer, Material, Part, capsule_poly, ellipse_poly, transform

SKIN = [(255, 224, 196), (241, 194, 160), (230, 178, 138), (205, 140, 100), (168, 110, 74),
        (128, 82, 54), (92, 60, 40)]
HAIR = [(22, 18, 16), (48, 32, 22), (92, 60, 36), (140, 98, 56), (206, 172, 112), (150, 66, 30),
        (160, 160, 160), (228, 226, 218)]
SHOES = [(30, 30, 32), (70, 44, 30), (235, 235, 235), (120, 30, 30), (40, 50, 80)]

# keypoint indices (COCO order)
NOSE, LEYE, REYE, LEAR, REAR, LSHO, RSHO, LELB, RELB, LWRI, RWRI, LHIP, RHIP, LKNE, RKNE, LANK, RANK = range(17)


@dataclass
class Figure:
    parts: list[Part]
    joints: np.ndarray  # (17, 2) unit coords
    hands: tuple[np.ndarray, np.ndarray]  # unit-coord hand centres (image-left, image-right)
    hand_dirs: tuple[np.ndarray, np.ndarray]  # forearm directions at the hands


def rotate(v: np.ndarray, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)


def _dir(side: int, outward_deg: float) -> np.ndarray:
    """Unit vector at ``outward_deg`` from straight down, turned away from the body on ``side``."""
    a = np.deg2rad(outward_deg)
    return np.array([side * np.sin(a), np.cos(a)])


def rand_color(rng: np.random.Generator, sat=(0.2, 0.9), val=(0.15, 0.95)) -> tuple[float, float, float]:
    import colorsys

    h = rng.random()
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return (255 * r, 255 * g, 255 * b)


def cloth_material(rng: np.random.Generator) -> Material:
    c = rand_color(rng)
    tex = rng.choice(["solid", "solid", "solid", "stripes", "checks", "mottle"])
    c2 = rand_color(rng) if tex in ("stripes", "checks") else tuple(v * 0.8 for v in c)
    return Material(c, str(tex), c2, period=float(rng.uniform(0.012, 0.03)), angle=float(rng.uniform(-20, 20) + rng.choice([0, 90])),
                    strength=float(rng.uniform(0.5, 1.0)))


def _skin(rng: np.random.Generator) -> Material:
    base = np.array(SKIN[rng.integers(len(SKIN))], float) * rng.uniform(0.92, 1.05)
    return Material(tuple(np.clip(base, 0, 255)), "mottle", tuple(np.clip(base * 0.94, 0, 255)), period=0.03, strength=0.6)


def _arm_pose(rng: np.random.Generator) -> tuple[float, float]:
    """(upper-arm angle outward from down, forearm angle) in degrees."""
    style = rng.choice(["down", "down", "bent", "akimbo", "raised", "wave", "forward"])
    if style == "down":
        a1 = rng.uniform(4, 22)
        return a1, a1 + rng.uniform(-8, 12)
    if style == "bent":  # forearm across the front of the body
        a1 = rng.uniform(5, 30)
        return a1, a1 - rng.uniform(60, 115)
    if style == "akimbo":
        a1 = rng.uniform(30, 50)
        return a1, a1 - rng.uniform(100, 130)
    if style == "raised":
        a1 = rng.uniform(110, 170)
        return a1, a1 + rng.uniform(-25, 25)
    if style == "wave":
        a1 = rng.uniform(55, 100)
        return a1, a1 + rng.uniform(60, 100)
    a1 = rng.uniform(40, 80)  # reaching out sideways
    return a1, a1 + rng.uniform(-20, 30)


def _leg_pose(rng: np.random.Generator) -> tuple[float, float]:
    style = rng.choice(["stand", "stand", "walk", "wide", "step"])
    if style == "stand":
        a = rng.uniform(0, 7)
        return a, a - rng.uniform(-2, 4)
    if style == "walk":
        a = rng.uniform(-6, 18)
        return a, a - rng.uniform(0, 22)
    if style == "wide":
        a = rng.uniform(10, 24)
        return a, a - rng.uniform(0, 8)
    a = rng.uniform(20, 45)  # a lifted, bent leg
    return a, a - rng.uniform(30, 70)


def build_figure(rng: np.random.Generator, child: bool | None = None) -> Figure:
    """A random person in unit coordinates."""
    if child is None:
        child = bool(rng.random() < 0.12)
    head_ry = rng.uniform(0.082, 0.09) if child else rng.uniform(0.06, 0.068)
    head_rx = head_ry * rng.uniform(0.76, 0.86)
    body = (1.0 - 2 * head_ry) / 0.87  # limb length factor
    build = rng.uniform(0.85, 1.2)
    turn = rng.uniform(0.78, 1.0)
    chin = 2 * head_ry
    sh_y = chin + 0.05 * body
    hip_y = chin + 0.39 * body
    sw, ww, hw = 0.108 * build * turn * body, 0.083 * build * turn * body, 0.08 * build * turn * body
    tilt = rng.normal(0, 3.5)
    head_tilt = tilt + rng.normal(0, 6)
    pelvis = np.array([0.0, hip_y])

    def torso_pt(x, y):
        return pelvis + rotate(np.array([x, y - hip_y]), tilt)

    skin = _skin(rng)
    top = cloth_material(rng)
    bottom_style = rng.choice(["pants", "pants", "pants", "shorts", "skirt", "dress"])
    bottom = top if bottom_style == "dress" else cloth_material(rng)
    sleeves = rng.choice(["short", "long", "long", "none"])
    hair_style = rng.choice(["short", "short", "long", "long", "bun", "bald"])
    hc = HAIR[rng.integers(len(HAIR))]
    hair = Material(hc, "grain", tuple(v * 0.75 for v in hc), period=0.006,
                    angle=float(rng.uniform(60, 120)), strength=0.5)
    shoe = Material(SHOES[rng.integers(len(SHOES))])
    dark = Material((30, 22, 20), shade=False)
    lips = Material(tuple(np.array(skin.color) * (0.72, 0.55, 0.55)), shade=False)

    parts: list[Part] = []
    joints = np.zeros((17, 2))

    # torso outline (local, mirrored)
    half = [(0.0, sh_y - 0.014), (sw * 0.6, sh_y - 0.012), (sw * 0.93, sh_y + 0.002), (sw, sh_y + 0.035),
            (sw * 0.95, sh_y + 0.12 * body), (ww, (sh_y + hip_y) / 2 + 0.05 * body), (hw * 1.06, hip_y - 0.01),
            (hw * 1.07, hip_y + 0.045 * body)]
    outline = [torso_pt(x, y) for x, y in half] + [torso_pt(-x, y) for x, y in reversed(half)][:-1]
    torso = np.array(outline)
    neck_base = torso_pt(0, sh_y - 0.005)
    head_c = neck_base + rotate(np.array([0.0, -(sh_y - 0.005 - head_ry)]), head_tilt)
    neck_top = head_c + rotate(np.array([0.0, head_ry * 0.6]), head_tilt)

    for side, (sho, elb, wri) in ((+1, (LSHO, LELB, LWRI)), (-1, (RSHO, RELB, RWRI))):
        joints[sho] = torso_pt(side * sw * 0.8, sh_y + 0.025)
    for side, hip in ((+1, LHIP), (-1, RHIP)):
        joints[hip] = torso_pt(side * hw * 0.62, hip_y + 0.015)

    # back hair (behind everything)
    if hair_style == "long":
        hl = rng.uniform(1.6, 2.8) * head_ry
        back = ellipse_poly(0, 0, head_rx * rng.uniform(1.15, 1.35), hl, 0, 36)
        back = head_c + rotate(back + (0, hl - 0.9 * head_ry), head_tilt)
        parts.append(Part(back, hair))

    # legs
    thigh, shin = 0.245 * body, 0.235 * body
    r_th, r_kn, r_an = 0.046 * build * body, 0.034 * build * body, 0.024 * body
    leg_mat_up = skin if bottom_style in ("skirt", "dress") else bottom
    leg_mat_lo = bottom if bottom_style == "pants" else skin
    for side, (hip, kne, ank) in ((+1, (LHIP, LKNE, LANK)), (-1, (RHIP, RKNE, RANK))):
        a1, a2 = _leg_pose(rng)
        joints[kne] = joints[hip] + thigh * _dir(side, a1)
        joints[ank] = joints[kne] + shin * _dir(side, a2)
        parts.append(Part(capsule_poly(joints[hip], joints[kne], r_th, r_kn), leg_mat_up))
        parts.append(Part(capsule_poly(joints[kne], joints[ank], r_kn * 0.98, r_an), leg_mat_lo))
        toe = joints[ank] + np.array([side * 0.05 * body, 0.018 * body])
        parts.append(Part(capsule_poly(joints[ank] + (0, 0.008), toe, r_an * 1.05, r_an * 0.85), shoe))
    if bottom_style in ("skirt", "dress"):
        ln = rng.uniform(0.13, 0.26) * body
        flare = rng.uniform(1.25, 1.8)
        skirt = np.array([torso_pt(-hw * 1.05, hip_y - 0.03), torso_pt(hw * 1.05, hip_y - 0.03),
                          torso_pt(hw * flare, hip_y + ln), torso_pt(-hw * flare, hip_y + ln)])
        parts.append(Part(skirt, bottom))
    # neck first: the collar of the shirt covers its base
    parts.append(Part(capsule_poly(neck_base, neck_top, 0.024 * body * build ** 0.5, 0.022 * body), skin))
    parts.append(Part(torso, top))
    if bottom_style in ("pants", "shorts") and rng.random() < 0.8:
        # trousers up to the waist, under the shirt hem
        parts.append(Part(np.array([torso_pt(-hw * 1.07, hip_y - 0.02), torso_pt(hw * 1.07, hip_y - 0.02),
                                    torso_pt(hw * 1.07, hip_y + 0.05 * body), torso_pt(-hw * 1.07, hip_y + 0.05 * body)]), bottom))
    # head, face
    parts.append(Part(head_c + rotate(ellipse_poly(0, 0, head_rx, head_ry, 0, 44), head_tilt), skin))
    ear_l = head_c + rotate(np.array([head_rx * 0.98, 0.05 * head_ry]), head_tilt)
    ear_r = head_c + rotate(np.array([-head_rx * 0.98, 0.05 * head_ry]), head_tilt)
    for e in (ear_l, ear_r):
        parts.append(Part(ellipse_poly(e[0], e[1], head_rx * 0.16, head_ry * 0.24, head_tilt, 14), skin))
    joints[LEAR], joints[REAR] = ear_l, ear_r
    joints[LEYE] = head_c + rotate(np.array([head_rx * 0.36, -0.02 * head_ry]), head_tilt)
    joints[REYE] = head_c + rotate(np.array([-head_rx * 0.36, -0.02 * head_ry]), head_tilt)
    joints[NOSE] = head_c + rotate(np.array([0.0, 0.3 * head_ry]), head_tilt)
    for e in (joints[LEYE], joints[REYE]):
        parts.append(Part(ellipse_poly(e[0], e[1], head_rx * 0.11, head_ry * 0.06, head_tilt, 12), dark, in_mask=False))
    mouth = head_c + rotate(np.array([0.0, 0.58 * head_ry]), head_tilt)
    parts.append(Part(ellipse_poly(mouth[0], mouth[1], head_rx * 0.26, head_ry * 0.05, head_tilt, 12), lips, in_mask=False))
    nose_poly = ellipse_poly(joints[NOSE][0], joints[NOSE][1], head_rx * 0.09, head_ry * 0.05, head_tilt, 10)
    parts.append(Part(nose_poly, Material(tuple(np.array(skin.color) * 0.8), shade=False), in_mask=False))
    # hair on top
    if hair_style != "bald":
        cut = rng.uniform(-0.45, -0.2) if hair_style != "long" else rng.uniform(-0.35, -0.1)
        k = np.degrees(np.arcsin(-cut / 1.1))
        cap = ellipse_poly(0, 0, head_rx * 1.1, head_ry * 1.1, 0, 30, start=180 + k, end=360 - k)
        parts.append(Part(head_c + rotate(cap, head_tilt), hair))
        if hair_style == "bun":
            b = head_c + rotate(np.array([rng.uniform(-0.3, 0.3) * head_rx, -1.15 * head_ry]), head_tilt)
            parts.append(Part(ellipse_poly(b[0], b[1], head_rx * 0.45, head_ry * 0.35, head_tilt, 20), hair))
    # arms (in front of the torso)
    upper, fore = 0.165 * body, 0.15 * body
    r_sh, r_el, r_wr = 0.032 * build * body, 0.025 * build * body, 0.019 * body
    arm_up = skin if sleeves == "none" else top
    arm_lo = top if sleeves == "long" else skin
    hands, dirs = [], []
    for side, (sho, elb, wri) in ((-1, (RSHO, RELB, RWRI)), (+1, (LSHO, LELB, LWRI))):
        a1, a2 = _arm_pose(rng)
        joints[elb] = joints[sho] + upper * _dir(side, a1)
        d2 = _dir(side, a2)
        joints[wri] = joints[elb] + fore * d2
        parts.append(Part(capsule_poly(joints[sho], joints[elb], r_sh, r_el), arm_up))
        parts.append(Part(capsule_poly(joints[elb], joints[wri], r_el, r_wr), arm_lo))
        hand_end = joints[wri] + 0.055 * body * rotate(d2, side * rng.uniform(-15, 15))
        parts.append(Part(capsule_poly(joints[wri], hand_end, r_wr * 1.15, r_wr * 1.05), skin))
        hands.append(joints[wri] + 0.03 * body * d2)
        dirs.append(d2)
    return Figure(parts, joints, (hands[0], hands[1]), (dirs[0], dirs[1]))


def place_figure(fig: Figure, scale: float, x: float, y: float, rng: np.random.Generator,
                 kind: str = "person", group: int | None = None) -> Layer:
    """Put a unit figure into the photo: the top of its head at (x, y), ``scale`` px tall."""
    parts = [Part(transform(p.poly, scale, x, y), p.material, p.in_mask) for p in fig.parts]
    kps = transform(fig.joints, scale, x, y)
    layer = Layer(parts, scale, PERSON, kind=kind, keypoints=kps, group=group, light=float(rng.uniform(-1, 1)))
    layer.extra["hands"] = [transform(h[None], scale, x, y)[0] for h in fig.hands]
    layer.extra["hand_dirs"] = list(fig.hand_dirs)
    return layer


def limb_layer(rng: np.random.Generator, height: int, width: int) -> Layer:
    """An arm or a leg entering the photo from one border: a person of whom only a limb shows."""
    scale = rng.uniform(0.9, 1.8) * min(height, width)  # the unseen person's height in px
    side = rng.integers(4)  # 0 left, 1 right, 2 top, 3 bottom
    along = rng.uniform(0.25, 0.75)
    if side == 0:
        entry, inward = np.array([0.0, along * height]), np.array([1.0, 0.0])
    elif side == 1:
        entry, inward = np.array([width, along * height]), np.array([-1.0, 0.0])
    elif side == 2:
        entry, inward = np.array([along * width, 0.0]), np.array([0.0, 1.0])
    else:
        entry, inward = np.array([along * width, height]), np.array([0.0, -1.0])
    d1 = rotate(inward, rng.uniform(-35, 35))
    bend = rng.uniform(-60, 60)
    skin = _skin(rng)
    cloth = cloth_material(rng)
    parts = []
    if rng.random() < 0.55:  # arm
        l1, l2, r1, r2, r3 = 0.165, 0.15, 0.032, 0.025, 0.019
        start = entry - d1 * rng.uniform(0.02, 0.1) * scale
        elbow = start + d1 * l1 * scale
        d2 = rotate(d1, bend)
        wrist = elbow + d2 * l2 * scale
        sleeve = rng.random() < 0.6
        parts.append(Part(capsule_poly(start, elbow, r1 * scale, r2 * scale), cloth if sleeve else skin))
        parts.append(Part(capsule_poly(elbow, wrist, r2 * scale, r3 * scale), skin))
        parts.append(Part(capsule_poly(wrist, wrist + d2 * 0.055 * scale, r3 * 1.15 * scale, r3 * 1.05 * scale), skin))
    else:  # leg
        l1, l2, r1, r2, r3 = 0.245, 0.235, 0.046, 0.034, 0.024
        start = entry - d1 * rng.uniform(0.02, 0.1) * scale
        knee = start + d1 * l1 * scale
        d2 = rotate(d1, bend * 0.6)
        ankle = knee + d2 * l2 * scale
        parts.append(Part(capsule_poly(start, knee, r1 * scale, r2 * scale), cloth))
        parts.append(Part(capsule_poly(knee, ankle, r2 * scale, r3 * scale), cloth if rng.random() < 0.6 else skin))
        toe = ankle + rotate(d2, rng.choice([-80, 80])) * 0.05 * scale
        parts.append(Part(capsule_poly(ankle, toe, r3 * 1.05 * scale, r3 * 0.85 * scale), Material(SHOES[rng.integers(len(SHOES))])))
    return Layer(parts, scale, PERSON, kind="bodypart", keypoints=None, light=float(rng.uniform(-1, 1)))
