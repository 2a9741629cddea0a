"""The error-driven next click, NoC evaluation, click encodings and the GrabCut baseline."""

from __future__ import annotations

import numpy as np
import pytest

from portraitkit.annotate.clicks import (
    Click,
    GrabCutPredictor,
    disk_maps,
    distance_maps,
    encode_clicks,
    evaluate,
    evaluate_instance,
    iou,
    next_click,
    stack_with_image,
    summarize,
)
from portraitkit.annotate.clicks.synthetic import make_image


def rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


# -- next click -----------------------------------------------------------------------------
def test_empty_prediction_clicks_centre_of_object():
    gt = rect(40, 50, 10, 31, 20, 41)  # 21 x 21, centre (30, 20)
    assert next_click(np.zeros_like(gt), gt) == Click(30, 20, True)
    wide = rect(40, 50, 10, 21, 20, 41)  # 11 x 21: a row of equally deep pixels, first one wins
    assert next_click(np.zeros_like(wide), wide) == Click(25, 15, True)


def test_false_positive_blob_larger_gives_negative_click():
    gt = rect(60, 60, 5, 15, 5, 15)
    pred = gt.copy()
    pred[30:51, 30:51] = 1  # 21 x 21 false positive, centre (40, 40)
    pred[5:15, 5:8] = 0  # 30 px false negative
    assert next_click(pred, gt) == Click(40, 40, False)


def test_false_negative_larger_gives_positive_click():
    gt = rect(60, 60, 10, 50, 10, 50)
    pred = gt.copy()
    pred[10:50, 30:50] = 0  # 40 x 20 missed, centre x in 30..49 -> deepest column 39/40
    pred[0:3, 0:3] = 1  # 9 px false positive
    c = next_click(pred, gt)
    # deepest FN pixels: columns 39/40 at depth 10, rows 19..40; the first in row-major order wins
    assert c == Click(39, 19, True)


def test_equal_areas_prefer_false_negative_and_ties_are_row_major():
    gt = rect(20, 20, 0, 4, 0, 4)
    pred = rect(20, 20, 10, 14, 10, 14)
    c = next_click(pred, gt)
    assert c.positive
    assert (c.x, c.y) == (1, 1)  # the four deepest pixels tie: first in row-major order


def _at_offset(arr: np.ndarray, offset: int) -> np.ndarray:
    """The same array in a buffer that starts ``offset`` bytes further on."""
    buf = np.zeros(arr.nbytes + 64, np.uint8)
    out = buf[offset : offset + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


def test_distances_and_next_click_do_not_depend_on_memory_alignment():
    # cv2's precise EDT changed a last bit with the buffer's alignment on such a small ragged mask:
    # the same error regions then gave the next click a row apart in two training processes
    from scipy.ndimage import distance_transform_edt

    from portraitkit.annotate.clicks.instance import edt_inside

    rng = np.random.default_rng(3)
    mask = np.zeros((97, 83), np.uint8)
    yy, xx = np.mgrid[0:97, 0:83]
    mask[(yy - 50) ** 2 + (xx - 40) ** 2 <= 30**2] = 1
    mask[rng.random(mask.shape) < 0.01] = 0
    exact = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1].astype(np.float32)
    for off in range(16):
        assert edt_inside(_at_offset(mask, off)).tobytes() == exact.tobytes(), off
    # click maps floor the distance: 5 must be 5, never 4.9999995 -> 4
    far = np.ones((97, 83), np.uint8)
    far[[50, 90], [40, 10]] = 0
    expected = np.minimum(np.floor(distance_transform_edt(far)), 255).astype(np.uint8)
    assert np.array_equal(distance_maps(97, 83, [[40, 50], [10, 90]], [], truncate=255)[:, :, 0], expected)
    gt = mask.astype(bool)
    pred = np.zeros_like(gt)
    seen = {next_click(_at_offset(pred, off), _at_offset(gt, 16 - off)) for off in range(16)}
    assert len(seen) == 1


def test_perfect_prediction_needs_no_click():
    gt = rect(10, 10, 2, 5, 2, 5)
    assert next_click(gt.copy(), gt) is None


def test_image_edge_counts_as_region_boundary():
    gt = rect(20, 40, 0, 20, 0, 10)  # touches the left, top and bottom edges
    c = next_click(np.zeros_like(gt), gt)
    # 5 deep at x = 4 (from the left edge) and x = 5 (from column 10); rows 4..15; first wins
    assert c == Click(4, 4, True)


def test_depth_rule_prefers_deeper_region():
    gt = rect(60, 60, 0, 1, 0, 60)  # a 60 px line missed
    pred = gt.copy()
    pred[20:31, 20:31] = 1  # 121 px... make FN larger by area but shallower
    gt2 = gt.copy()
    gt2[50:52, 0:60] = 1  # add 120 more FN px, still thin
    pred2 = pred.copy()
    pred2[0:1, :] = 0
    c_area = next_click(pred2, gt2, rule="area")
    c_depth = next_click(pred2, gt2, rule="depth")
    assert c_area.positive  # 180 FN px > 121 FP px
    assert not c_depth.positive and (c_depth.x, c_depth.y) == (25, 25)
    with pytest.raises(ValueError):
        next_click(pred2, gt2, rule="nope")


def test_iou():
    a = rect(10, 10, 0, 5, 0, 10)
    b = rect(10, 10, 0, 10, 0, 5)
    assert iou(a, b) == pytest.approx(25 / 75)
    assert iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


# -- NoC ------------------------------------------------------------------------------------
def test_noc_perfect_predictor_is_one():
    gt = rect(50, 60, 10, 40, 15, 45)
    res = evaluate_instance(np.zeros((50, 60, 3), np.uint8), gt, lambda img, p, n: gt.copy())
    assert res.noc == {0.85: 1, 0.90: 1}
    assert res.reached == {0.85: True, 0.90: True}
    assert len(res.ious) == 20 and all(v == 1.0 for v in res.ious)
    assert len(res.clicks) == 1 and res.clicks[0].positive


def test_noc_predictor_ignoring_clicks_is_twenty():
    gt = rect(50, 60, 10, 40, 15, 45)
    img = np.zeros((50, 60, 3), np.uint8)
    res = evaluate_instance(img, gt, lambda img, p, n: np.zeros(img.shape[:2], np.uint8))
    assert res.noc == {0.85: 20, 0.90: 20}
    assert res.reached == {0.85: False, 0.90: False}
    assert len(res.ious) == 20 and len(res.clicks) == 20
    summary, _ = evaluate([(img, gt), (img, gt)], lambda img, p, n: np.zeros(img.shape[:2], np.uint8))
    assert summary.mean_noc == {0.85: 20.0, 0.90: 20.0}
    assert summary.never_reached == {0.85: 2, 0.90: 2}
    d = summary.as_dict()
    assert d["NoC@85"] == 20.0 and d["never_reached@90"] == 2 and len(d["mean_iou_per_click"]) == 20


def test_noc_counts_clicks_until_threshold():
    gt = rect(50, 60, 10, 40, 15, 45)

    def predict(img, pos, neg):
        # IoU 0.5, 0.87, then perfect from the third click on
        k = len(pos) + len(neg)
        if k >= 3:
            return gt.copy()
        out = gt.copy()
        cut = {1: 15, 2: 26}[k]  # IoU 15/30, 26/30
        out[10 + cut :, :] = 0
        return out

    res = evaluate_instance(np.zeros((50, 60, 3), np.uint8), gt, predict)
    assert res.noc[0.85] == 2 and res.noc[0.90] == 3
    s = summarize([res])
    assert s.mean_noc[0.85] == 2.0 and s.never_reached[0.85] == 0


def test_noc_passes_clicks_as_xy_arrays():
    gt = rect(30, 40, 5, 25, 10, 30)
    seen = []

    def predict(img, pos, neg):
        seen.append((pos.copy(), neg.copy()))
        return np.zeros(gt.shape, np.uint8)

    evaluate_instance(np.zeros((30, 40, 3), np.uint8), gt, predict, max_clicks=2)
    pos, neg = seen[0]
    assert pos.shape == (1, 2) and neg.shape == (0, 2)
    assert pos.tolist() == [[19, 14]]  # [x, y]: the object's centre, first of the four deepest
    assert gt[14, 19] == 1


def test_noc_rejects_empty_ground_truth():
    with pytest.raises(ValueError):
        evaluate_instance(np.zeros((5, 5, 3), np.uint8), np.zeros((5, 5), np.uint8), lambda i, p, n: p)


# -- encodings ------------------------------------------------------------------------------
def test_distance_maps_truncated_and_zero_at_clicks():
    enc = distance_maps(40, 300, [[10, 5]], [], truncate=255)
    assert enc.shape == (40, 300, 2) and enc.dtype == np.uint8
    assert enc[5, 10, 0] == 0
    assert enc[5, 13, 0] == 3 and enc[9, 13, 0] == 5  # 3-4-5 triangle
    assert enc[5, 299, 0] == 255  # 289 px away, truncated
    assert (enc[:, :, 1] == 255).all()  # no negatives
    enc2 = encode_clicks(10, 10, [], [[0, 0], [9, 9]], kind="distance", truncate=4)
    assert enc2[0, 0, 1] == 0 and enc2[9, 9, 1] == 0 and enc2[0, 9, 1] == 4 and enc2.max() <= 4


def test_disk_maps():
    enc = disk_maps(20, 20, [[10, 10]], [[0, 0]], radius=3)
    assert enc[10, 13, 0] == 255 and enc[10, 14, 0] == 0 and enc[12, 12, 0] == 255 and enc[13, 13, 0] == 0
    assert enc[0, 0, 1] == 255 and enc[3, 0, 1] == 255 and enc[3, 1, 1] == 0
    assert set(np.unique(enc)) <= {0, 255}
    assert (encode_clicks(20, 20, [[1, 1]], [], kind="disk", radius=0)[:, :, 0].sum()) == 255


def test_encoding_stacks_with_rgb_and_rejects_bad_clicks():
    img = np.zeros((8, 9, 3), np.uint8)
    st = stack_with_image(img, encode_clicks(8, 9, [[1, 2]], [[3, 4]]))
    assert st.shape == (8, 9, 5) and st.dtype == np.uint8
    with pytest.raises(ValueError):
        encode_clicks(8, 9, [[9, 0]], [])
    with pytest.raises(ValueError):
        encode_clicks(8, 9, [], [], kind="gauss")
    with pytest.raises(ValueError):
        stack_with_image(np.zeros((7, 9, 3), np.uint8), encode_clicks(8, 9, [], []))


# -- GrabCut baseline -----------------------------------------------------------------------
def test_grabcut_baseline_segments_a_clear_object():
    rng = np.random.default_rng(3)
    img = np.clip(rng.normal(60, 10, (120, 160, 3)), 0, 255).astype(np.uint8)
    gt = np.zeros((120, 160), np.uint8)
    gt[30:90, 50:110] = 1
    img[gt == 1] = np.clip(rng.normal(200, 10, (int(gt.sum()), 3)), 0, 255).astype(np.uint8)
    pred = GrabCutPredictor()(img, np.array([[80, 60]]), np.zeros((0, 2), int))
    assert pred.shape == gt.shape and pred.dtype == np.uint8
    assert iou(pred, gt) > 0.9
    res = evaluate_instance(img, gt, GrabCutPredictor(), max_clicks=5)
    assert res.noc[0.85] <= 2


def test_grabcut_baseline_edge_cases():
    img = np.zeros((30, 30, 3), np.uint8)
    g = GrabCutPredictor()
    assert g(img, np.zeros((0, 2), int), np.array([[1, 1]])).sum() == 0  # no positive: nothing
    out = g(img, np.array([[15, 15]]), np.zeros((0, 2), int))  # flat image: no crash
    assert out.shape == (30, 30) and out[15, 15] == 1
    out = g(img[:, :, 0], np.array([[15, 15]]), np.array([[2, 2]]))  # grey image
    assert out[15, 15] == 1 and out[2, 2] == 0


def test_grabcut_noc_on_synthetic_images_is_finite():
    rng = np.random.default_rng(11)
    samples = []
    for _ in range(3):
        img, shapes = make_image(96, 128, rng)
        persons = [m for c, m in shapes if c == 1 and m.sum() > 50]
        samples += [(img, m) for m in persons[:1]]
    summary, results = evaluate(samples, GrabCutPredictor(), max_clicks=8)
    assert summary.instances == len(samples) > 0
    for r in results:  # NoC is the first click whose IoU reaches the threshold (max_clicks when none does)
        first = next((k + 1 for k, iou in enumerate(r.ious) if iou >= 0.85), None)
        assert r.reached[0.85] == (first is not None)
        assert r.noc[0.85] == (first if first is not None else 8)
    assert summary.never_reached[0.85] < len(results)  # GrabCut does get there on some synthetic person
    assert summary.mean_iou_per_click[-1] > 0.5
