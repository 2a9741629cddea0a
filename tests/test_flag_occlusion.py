"""Occlusion-aware signals: an outline along the frame or another annotation's mask is no evidence.

A person half hidden behind a table is drawn with a straight edge where the table starts. With the
table's annotation among the image's annotations that edge is explained (``occlusion.Contact``);
without it (or with the neighbour elsewhere) the same straight edge is a chord and is flagged.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from portraitkit.curate.coarseness.occlusion import Contact, contact_for
from portraitkit.curate.coarseness.polygon_signals import polygon_signals
from portraitkit.curate.coarseness.stage import score_annotation
from portraitkit.params.flag import FlagParams

H, W = 480, 640
CX, CY, R = 320.0, 220.0, 150.0
TABLE_Y = 260.0  # the table's top edge: it hides the person below this line


def _arc_polygon(n: int = 240) -> list[float]:
    """The visible part of a disc above ``TABLE_Y``: a fine arc closed by one straight edge along the table."""
    half = math.asin((TABLE_Y - CY) / R)  # angle where the circle meets the table line (image y grows down)
    t = np.linspace(half, math.pi - half - 2 * math.pi, n)  # from the right end over the top to the left end
    pts = np.stack([CX + R * np.cos(t), CY + R * np.sin(t)], axis=1)
    return pts.reshape(-1).round(2).tolist()


def _ann(aid: int, seg, category_id: int = 1, iscrowd: int = 0) -> dict:
    return {"id": aid, "image_id": 1, "category_id": category_id, "iscrowd": iscrowd, "segmentation": seg,
            "area": 1.0, "bbox": [0, 0, 1, 1]}


TABLE = _ann(2, [[60.0, TABLE_Y, 580.0, TABLE_Y, 580.0, 470.0, 60.0, 470.0]], category_id=67)
FAR_CUP = _ann(3, [[20.0, 20.0, 60.0, 20.0, 60.0, 70.0, 20.0, 70.0]], category_id=47)  # elsewhere in the image


@pytest.fixture(scope="module")
def table_image() -> np.ndarray:
    return _table_image()


def _table_image() -> np.ndarray:
    """A textured disc behind a table of the person's colour (the table's edge is not visible)."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (np.hypot(xx + 0.5 - CX, yy + 0.5 - CY) <= R).astype(np.float32)
    table = ((yy + 0.5 >= TABLE_Y) & (xx >= 60) & (xx < 580) & (yy < 470)).astype(np.float32)
    disc = cv2.GaussianBlur(disc, (0, 0), 0.7)[:, :, None]
    table = table[:, :, None]
    bg = np.array([60, 140, 90], np.float32) + rng.normal(0, 8, (H, W, 3)).astype(np.float32)
    fg = np.array([170, 90, 200], np.float32) + rng.normal(0, 8, (H, W, 3)).astype(np.float32)
    tb = np.array([170, 90, 200], np.float32) + rng.normal(0, 8, (H, W, 3)).astype(np.float32)
    img = fg * disc + bg * (1 - disc)
    img = tb * table + img * (1 - table)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_straight_edge_along_a_table_is_not_a_chord():
    person = _ann(1, [_arc_polygon()])
    alone = polygon_signals(person, H, W).signals
    contact = contact_for(person, [person, TABLE], H, W, FlagParams().occluder_px)
    along = polygon_signals(person, H, W, contact).signals
    chord = 2 * math.sqrt(R**2 - (TABLE_Y - CY) ** 2)
    assert alone["longest_edge_rel"] == pytest.approx(chord / math.sqrt(alone["area"]), rel=1e-3)
    assert alone["longest_edge_rel"] > 1.0 and along["longest_edge_rel"] < 0.1
    assert along["area"] == alone["area"] and along["perimeter"] == alone["perimeter"]
    # the person itself is never its own occluder, and a far neighbour explains nothing
    assert contact_for(person, [person], H, W, 4.0).occluder_mask is None
    far = polygon_signals(person, H, W, contact_for(person, [FAR_CUP], H, W, 4.0)).signals
    assert far["longest_edge_rel"] == alone["longest_edge_rel"]


def test_person_behind_a_table_is_flagged_only_without_the_table(table_image):
    p = FlagParams(skip_decided_refine=False)
    person = _ann(1, [_arc_polygon()])
    alone = score_annotation(table_image, person, W, H, p, others=[person])
    far = score_annotation(table_image, person, W, H, p, others=[person, FAR_CUP])
    behind = score_annotation(table_image, person, W, H, p, others=[person, TABLE, FAR_CUP])
    assert alone["flagged"] and far["flagged"], (alone, far)
    assert not behind["flagged"], behind
    assert behind["coarseness"] < alone["coarseness"] - 0.3
    # the image signals leave the table edge out: it neither looks like a chord nor like an outline off the edges
    assert behind["chord_rel"] < 0.1 < alone["chord_rel"]
    assert behind["edge_alignment"] >= alone["edge_alignment"] and behind["off_edge_frac"] < alone["off_edge_frac"]
    # GrabCut may not grow the person into the table, and the contact band is not scored
    assert behind["refine_biou"] > alone["refine_biou"] + 0.2


def test_coarse_outline_beside_an_occluder_is_still_flagged(table_image):
    """Only the stretch along the table is explained: a 10-vertex outline above it stays coarse."""
    p = FlagParams(skip_decided_refine=False)
    pts = np.asarray(_arc_polygon(), np.float64).reshape(-1, 2)
    coarse = pts[np.linspace(0, len(pts) - 1, 10).round().astype(int)]
    person = _ann(1, [coarse.reshape(-1).tolist()])
    row = score_annotation(table_image, person, W, H, p, others=[person, TABLE])
    assert row["flagged"], row


def test_crowd_rle_and_other_persons_are_occluders():
    person = _ann(1, [_arc_polygon()])
    # an uncompressed crowd RLE (column-major run lengths, as in real COCO) covering rows >= TABLE_Y
    col = [int(TABLE_Y), H - int(TABLE_Y)]
    crowd = _ann(9, {"size": [H, W], "counts": [c for _ in range(W) for c in col]}, iscrowd=1)
    other_person = _ann(4, [[0.0, TABLE_Y, 640.0, TABLE_Y, 640.0, 480.0, 0.0, 480.0]])
    for occ in (crowd, other_person):
        c = contact_for(person, [occ], H, W, 4.0)
        assert c.occluder_mask is not None and c.occluder_mask[int(TABLE_Y) + 2, 10] == 1
        assert polygon_signals(person, H, W, c).signals["longest_edge_rel"] < 0.1
    # an unreadable neighbour is skipped, never a crash
    broken = _ann(7, {"size": [H, W]})  # no counts
    assert contact_for(person, [broken], H, W, 4.0).occluder_mask is None


def test_occluder_px_zero_counts_only_the_frame():
    person = _ann(1, [_arc_polygon()])
    c = contact_for(person, [TABLE], H, W, 0.0)
    assert c.occluder_mask is None
    assert polygon_signals(person, H, W, c).signals["longest_edge_rel"] > 1.0
    frame = Contact(W, H)
    assert frame.explained(np.array([[0.0, 100.0], [320.0, 479.0], [320.0, 240.0]])).tolist() == [True, True, False]


def test_the_same_person_drawn_twice_is_no_occluder():
    """A coarse and a fine outline of one person (or a crowd region around it) explain nothing."""
    person = _ann(1, [_arc_polygon()])
    fine_copy = _ann(5, [_arc_polygon(400)])
    around = _ann(6, [[0.0, 0.0, 640.0, 0.0, 640.0, 480.0, 0.0, 480.0]], iscrowd=1)
    for o in (fine_copy, around):
        assert contact_for(person, [o], H, W, 4.0).occluder_mask is None
