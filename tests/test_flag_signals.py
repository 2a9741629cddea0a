"""Coarseness signals on hand-made shapes with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from portraitkit.curate.coarseness.polygon_signals import polygon_signals
from portraitkit.curate.coarseness.score import badness, score
from portraitkit.curate.coarseness.stage import score_annotation
from portraitkit.params.flag import FlagParams

H, W = 480, 640
CX, CY, R = 320.0, 240.0, 150.0


def circle_poly(n: int, r: float = R, dx: float = 0.0, dy: float = 0.0) -> list[float]:
    t = np.arange(n) * 2 * np.pi / n
    pts = np.stack([CX + dx + r * np.cos(t), CY + dy + r * np.sin(t)], axis=1)
    return pts.reshape(-1).tolist()


def ann(poly, aid: int = 1) -> dict:
    return {"id": aid, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [poly] if poly and not isinstance(poly[0], list) else poly}


@pytest.fixture(scope="module")
def circle_image() -> np.ndarray:
    """A textured disc (the 'person') on a textured background, anti-aliased edge."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    inside = (np.hypot(xx + 0.5 - CX, yy + 0.5 - CY) <= R).astype(np.float32)
    inside = cv2.GaussianBlur(inside, (0, 0), 0.7)[:, :, None]
    bg = np.array([60, 140, 90], np.float32) + rng.normal(0, 8, (H, W, 3)).astype(np.float32)
    fg = np.array([170, 90, 200], np.float32) + rng.normal(0, 8, (H, W, 3)).astype(np.float32)
    return np.clip(fg * inside + bg * (1 - inside), 0, 255).astype(np.uint8)


def test_polygon_signals_circle_8_vs_200():
    coarse = polygon_signals(ann(circle_poly(8)), H, W).signals
    fine = polygon_signals(ann(circle_poly(200)), H, W).signals
    # vertices per 100 px of perimeter: 8 / (2*pi*150/100) ~ 0.85 vs 200 / 9.42 ~ 21
    assert coarse["vertex_density"] == pytest.approx(100 * 8 / (16 * R * math.sin(math.pi / 8)), rel=1e-6)
    assert fine["vertex_density"] > 20 > 1 > coarse["vertex_density"]
    # longest edge / sqrt(area): octagon side 2 R sin(pi/8) over sqrt(2 sqrt(2) R^2)
    assert coarse["longest_edge_rel"] == pytest.approx(2 * math.sin(math.pi / 8) / math.sqrt(2 * math.sqrt(2)), rel=1e-6)
    assert fine["longest_edge_rel"] < 0.05
    # both convex, one part
    assert coarse["hull_gap"] == pytest.approx(0.0, abs=1e-9) and fine["hull_gap"] == pytest.approx(0.0, abs=1e-9)
    assert coarse["n_parts"] == fine["n_parts"] == 1


def test_image_signals_circle_8_vs_200(circle_image):
    p = FlagParams(skip_decided_refine=False)
    fine = score_annotation(circle_image, ann(circle_poly(200)), W, H, p)
    coarse = score_annotation(circle_image, ann(circle_poly(8)), W, H, p)
    assert fine["edge_alignment"] > 0.9 and fine["refine_iou"] > 0.95 and fine["refine_biou"] > 0.85
    assert coarse["edge_alignment"] < fine["edge_alignment"] - 0.2
    assert coarse["refine_biou"] < fine["refine_biou"] - 0.2
    assert not fine["flagged"] and fine["coarseness"] < 0.2
    assert coarse["flagged"] and coarse["coarseness"] > 0.6
    assert "vertex_density" in coarse["reasons"].split(";")


def test_mask_shifted_off_edge(circle_image):
    p = FlagParams(skip_decided_refine=False)
    on = score_annotation(circle_image, ann(circle_poly(200)), W, H, p)
    off = score_annotation(circle_image, ann(circle_poly(200, dx=12, dy=6)), W, H, p)
    # same polygon geometry: polygon signals identical, image signals tell them apart
    for k in ("vertex_density", "longest_edge_rel", "hull_gap", "n_parts"):
        assert off[k] == pytest.approx(on[k])
    assert off["edge_alignment"] < 0.6 < on["edge_alignment"]
    assert off["refine_iou"] < on["refine_iou"] - 0.05
    assert off["flagged"] and not on["flagged"]
    reasons = off["reasons"].split(";")
    assert "edge_alignment" in reasons and "refine_biou" in reasons


def test_shrunk_and_grown_masks(circle_image):
    p = FlagParams()
    for r in (R - 15, R + 15):
        row = score_annotation(circle_image, ann(circle_poly(200, r=r)), W, H, p)
        assert row["flagged"] and "edge_contrast" in row["reasons"].split(";"), (r, row)


def test_badness_ramp_both_directions():
    assert badness(0.8, good=0.8, bad=0.4) == 0.0
    assert badness(0.6, good=0.8, bad=0.4) == pytest.approx(0.5)
    assert badness(0.1, good=0.8, bad=0.4) == 1.0
    assert badness(2.0, good=4.0, bad=0.0) == pytest.approx(0.5)
    assert badness(0.9, good=0.25, bad=0.8) == 1.0
    assert math.isnan(badness(float("nan"), 0, 1))


def test_score_skips_missing_signals_and_documents_reasons():
    p = FlagParams()
    sig = {"vertex_density": 0.5, "longest_edge_rel": 0.9, "hull_gap": 0.1, "n_parts": 1.0,
           "edge_alignment": float("nan"), "refine_iou": float("nan"), "refine_biou": float("nan")}
    c, flagged, reasons, bads = score(sig, ["image_missing"], p)
    assert c == pytest.approx(1.0) and flagged
    assert reasons.split(";") == ["longest_edge_rel", "vertex_density", "image_missing"]
    c, flagged, reasons, _ = score({k: float("nan") for k in sig}, [], p)
    assert math.isnan(c) and not flagged and reasons == ""


def test_params_reject_unknown_signal():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        FlagParams(signals={"nope": {"good": 0, "bad": 1}})
    with pytest.raises(ValidationError):
        FlagParams(signals={"hull_gap": {"good": 1, "bad": 1}})


def test_grabcut_skipped_only_when_it_cannot_change_the_flag(circle_image):
    full, fast = FlagParams(skip_decided_refine=False), FlagParams()
    for poly in (circle_poly(200), circle_poly(8), circle_poly(200, dx=12, dy=6), circle_poly(200, r=R - 15)):
        a, b = score_annotation(circle_image, ann(poly), W, H, full), score_annotation(circle_image, ann(poly), W, H, fast)
        assert a["flagged"] == b["flagged"]
        assert math.isfinite(a["refine_biou"])
        assert b["edge_alignment"] == a["edge_alignment"] and b["chord_rel"] == a["chord_rel"]
    # a fine circle on its edge: clearly fine whatever GrabCut says -> skipped
    assert math.isnan(score_annotation(circle_image, ann(circle_poly(200)), W, H, fast)["refine_biou"])


def test_chord_through_the_person_is_decisive():
    from portraitkit.curate.coarseness import synth

    rng = np.random.default_rng(3)
    img, mask, _ = synth.scene(rng, H, W)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    fine = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 1.0, True).reshape(-1, 2).astype(np.float64) + 0.5
    # cut a quarter of the outline off with one straight edge (through an arm / across a gap)
    n = len(fine)
    chord = np.concatenate([fine[: n // 2], fine[n // 2 + n // 3 :]])
    p = FlagParams(decisive={"chord_rel": {"good": 0.0, "bad": 1.2}})  # the mechanism, on a fixed ramp
    good = score_annotation(img, ann(fine.reshape(-1).tolist()), W, H, p)
    bad = score_annotation(img, ann(chord.reshape(-1).tolist()), W, H, p)
    assert good["chord_rel"] < 0.1 and not good["flagged"]
    assert bad["chord_rel"] > 0.5 and bad["flagged"]
    assert "chord_rel" in bad["reasons"].split(";")


def test_longest_edge_ignores_the_image_border():
    # a person cut by the bottom of the frame: the long edge along the border is no chord
    cut = [50, 480, 50, 400, 300, 300, 550, 400, 550, 480]  # 500-px bottom edge on the frame
    s = polygon_signals(ann(cut), 480, 640).signals
    assert s["longest_edge_rel"] == pytest.approx(math.hypot(250, 100) / math.sqrt(s["area"]))


def test_one_decisive_signal_is_enough():
    p = FlagParams(threshold=0.5, decisive={"chord_rel": {"good": 0.0, "bad": 1.2}})  # the mechanism, fixed ramps
    sig = {"vertex_density": 20.0, "longest_edge_rel": 0.2, "edge_alignment": 0.95, "refine_biou": 0.9,
           "refine_iou": 0.98, "chord_rel": 0.0}
    c, flagged, _, _ = score(sig, [], p)
    assert c == 0.0 and not flagged
    c, flagged, reasons, _ = score({**sig, "chord_rel": 0.9}, [], p)
    assert c == pytest.approx(0.75) and flagged and reasons == "chord_rel"
