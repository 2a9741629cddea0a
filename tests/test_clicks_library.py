"""Property tests of the click samplers: every constraint holds on random shapes.

Reference distances come from scipy's exact Euclidean distance transform, independent of
the OpenCV maps the library uses.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from portraitkit.annotate.clicks import (
    STRATEGY_CODES,
    InstanceMaps,
    build_maps,
    instance_rng,
    instance_sets,
    multipoint_clicks,
    simulate,
    xu_negatives_background,
    xu_negatives_boundary,
    xu_negatives_other_objects,
    xu_positives,
)
from portraitkit.annotate.clicks.instance import Candidates
from portraitkit.annotate.clicks.multipoint import border_width
from portraitkit.annotate.clicks.sampling import Sampler, covering_radius
from portraitkit.params import ClicksParams

EPS = 1e-4


def random_shape(seed: int, h: int, w: int) -> np.ndarray:
    """A random blob: union of 1-3 ellipses/rectangles/polygons (may touch the image edge)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            ax, ay = int(rng.integers(1, max(2, w // 2))), int(rng.integers(1, max(2, h // 2)))
            cv2.ellipse(m, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif kind == 1:
            x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.rectangle(m, (min(cx, x1), min(cy, y1)), (max(cx, x1), max(cy, y1)), 1, -1)
        else:
            pts = np.stack([rng.integers(0, w, 5), rng.integers(0, h, 5)], 1).astype(np.int32)
            cv2.fillPoly(m, [pts], 1)
    return m


def dt_in_ref(mask: np.ndarray) -> np.ndarray:
    """Distance of object pixels to the nearest non-object pixel; outside the image is non-object."""
    return ndi.distance_transform_edt(np.pad(mask != 0, 1))[1:-1, 1:-1]


def dt_out_ref(mask: np.ndarray) -> np.ndarray:
    """Distance of each pixel to the nearest object pixel."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndi.distance_transform_edt(mask == 0)


def pairwise_min(points: np.ndarray) -> float:
    if len(points) < 2:
        return np.inf
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(points), 1)].min())


def assert_maximal(points: np.ndarray, valid: np.ndarray, d_step: float, n: int) -> None:
    """Fewer than n points only when every valid pixel is too close to a chosen one."""
    assert len(points) <= n
    if len(points) < n:
        ys, xs = np.nonzero(valid)
        for x, y in zip(xs, ys):
            d2 = ((points - [x, y]) ** 2).sum(1) if len(points) else np.array([np.inf])
            assert d2.min() < max(d_step**2, 1.0), f"valid pixel ({x}, {y}) left although only {len(points)}/{n} clicks"


def at(points: np.ndarray, arr: np.ndarray) -> np.ndarray:
    return arr[points[:, 1], points[:, 0]] if len(points) else np.zeros(0, arr.dtype)


shapes = st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 70), st.integers(8, 70))


@settings(max_examples=60, deadline=None)
@given(shape=shapes, d_margin=st.sampled_from([0, 1, 2.5, 5]), d_step=st.sampled_from([0, 3, 10]),
       n=st.integers(0, 8), seed=st.integers(0, 1000))
def test_positives_inside_deep_enough_and_spaced(shape, d_margin, d_step, n, seed):
    mask = random_shape(*shape)
    maps = InstanceMaps.build(mask, reach=1)
    sampler = Sampler(np.random.default_rng(seed))  # several sets from one stream, as the stage draws them
    for pts in [xu_positives(mask, n, d_margin, d_step, np.random.default_rng(seed))] + [
        xu_positives(maps, n, d_margin, d_step, sampler) for _ in range(3)
    ]:
        assert pts.shape[1] == 2 and pts.dtype.kind == "i"
        assert (at(pts, mask) == 1).all()
        assert (at(pts, dt_in_ref(mask)) >= d_margin - EPS).all()
        assert pairwise_min(pts) >= max(d_step, 1) - EPS
        valid = (mask == 1) & (dt_in_ref(mask) >= d_margin - EPS)
        assert_maximal(pts, valid, d_step, n)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, d_margin=st.sampled_from([0, 2, 5]), d_step=st.sampled_from([0, 4, 10]),
       d_max=st.sampled_from([3, 8, 40]), n=st.integers(0, 10), seed=st.integers(0, 1000))
def test_strategy1_background_band(shape, d_margin, d_step, d_max, n, seed):
    mask = random_shape(*shape)
    maps = InstanceMaps.build(mask, reach=d_max)
    sampler = Sampler(np.random.default_rng(seed))
    dto = dt_out_ref(mask)
    for pts in [xu_negatives_background(mask, n, d_margin, d_step, d_max, np.random.default_rng(seed))] + [
        xu_negatives_background(maps, n, d_margin, d_step, d_max, sampler) for _ in range(3)
    ]:
        assert (at(pts, mask) == 0).all()
        assert (at(pts, dto) >= d_margin - EPS).all()
        assert (at(pts, dto) <= d_max + EPS).all()
        assert pairwise_min(pts) >= max(d_step, 1) - EPS
        valid = (mask == 0) & (dto >= max(d_margin, 1e-6) - EPS) & (dto <= d_max + EPS)
        assert_maximal(pts, valid, d_step, n)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, other=st.integers(0, 2**32 - 1), d_margin=st.sampled_from([0, 2, 5]),
       d_step=st.sampled_from([0, 4, 10]), n=st.integers(0, 6), seed=st.integers(0, 1000))
def test_strategy2_on_other_objects(shape, other, d_margin, d_step, n, seed):
    mask = random_shape(*shape)
    others = random_shape(other, *mask.shape)
    maps = InstanceMaps.build(mask, reach=d_margin, others=others)
    sampler = Sampler(np.random.default_rng(seed))
    dto = dt_out_ref(mask)
    for pts in [xu_negatives_other_objects(mask, n, d_margin, d_step, np.random.default_rng(seed), others=others)] + [
        xu_negatives_other_objects(maps, n, d_margin, d_step, sampler) for _ in range(3)
    ]:
        assert (at(pts, others) == 1).all()
        assert (at(pts, mask) == 0).all()
        assert (at(pts, dto) >= d_margin - EPS).all()
        assert pairwise_min(pts) >= max(d_step, 1) - EPS
        valid = (others == 1) & (mask == 0) & (dto >= d_margin - EPS)
        assert_maximal(pts, valid, d_step, n)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, d_margin=st.sampled_from([1, 3, 5]), band=st.sampled_from([0, 2, 3]),
       n=st.integers(0, 12), seed=st.integers(0, 1000))
def test_strategy3_covers_the_boundary(shape, d_margin, band, n, seed):
    mask = random_shape(*shape)
    pts = xu_negatives_boundary(mask, n, d_margin, band, np.random.default_rng(seed))
    dto = dt_out_ref(mask)
    band_px = (mask == 0) & (dto >= d_margin - EPS) & (dto <= d_margin + band + EPS)
    ys, xs = np.nonzero(band_px)
    cand = np.stack([xs, ys], 1)
    assert band_px[pts[:, 1], pts[:, 0]].all() if len(pts) else True
    assert len({tuple(p) for p in pts.tolist()}) == len(pts)
    if len(pts) < n:  # only when every band pixel is taken
        assert len(pts) == len(cand)
    if len(pts) >= 2:
        # greedy farthest-point cover: no band pixel is farther from the clicks than two clicks are apart
        assert covering_radius(cand, pts) <= pairwise_min(pts) + EPS
    if len(pts) and n >= 1:
        assert covering_radius(cand, pts) < np.inf


@settings(max_examples=40, deadline=None)
@given(shape=shapes, other=st.integers(0, 2**32 - 1), seed=st.integers(0, 1000))
def test_multipoint_clicks_valid(shape, other, seed):
    mask = random_shape(*shape)
    others = random_shape(other, *mask.shape)
    p = ClicksParams(mp_max_points=12)
    maps = build_maps(mask, p, others)
    sampler = Sampler(np.random.default_rng(seed))
    dti = dt_in_ref(mask)
    for _ in range(3):
        pos, neg, n_pos, n_neg = multipoint_clicks(maps, sampler, max_points=12)
        assert 1 <= n_pos <= 12 and 0 <= n_neg <= 12
        assert len(pos) <= n_pos and len(neg) <= n_neg
        assert (at(pos, mask) == 1).all()
        if (dti > 3).any():
            assert (at(pos, dti) > 3 - EPS).all()
        assert (at(neg, mask) == 0).all()
        for pts in (pos, neg):
            assert len({tuple(q) for q in pts.tolist()}) == len(pts)
        if len(pos) < n_pos:  # fewer positives only when the object has no more pixels
            assert len(pos) == int(mask.sum()) or len(pos) == int((dti > 3).sum())


@settings(max_examples=30, deadline=None)
@given(shape=shapes, other=st.integers(0, 2**32 - 1), seed=st.integers(0, 1000),
       source=st.sampled_from(["bg", "other", "border"]))
def test_multipoint_negative_sources(shape, other, seed, source):
    mask = random_shape(*shape)
    others = random_shape(other, *mask.shape)
    probs = {"bg": (1.0, 0.0, 0.0), "other": (0.0, 1.0, 0.0), "border": (0.0, 0.0, 1.0)}[source]
    maps = build_maps(mask, ClicksParams(), others)
    _, neg, _, _ = multipoint_clicks(maps, np.random.default_rng(seed), max_points=10, gamma=0.95, neg_probs=probs)
    ring = border_width(int(mask.sum()), 0.025)
    dto = dt_out_ref(mask)
    assert (at(neg, mask) == 0).all()
    if source == "bg":
        assert (at(neg, dto) > ring - EPS).all()
    elif source == "other":
        assert (at(neg, others) == 1).all()
    else:
        assert (at(neg, dto) <= ring + EPS).all()


@pytest.mark.parametrize("strategy", ["xu_pos_neg1", "xu_pos_neg2", "xu_pos_neg3", "multipoint"])
@pytest.mark.parametrize("tiny", ["empty", "pixel", "2x2", "line"])
def test_tiny_objects_give_fewer_clicks_and_say_so(strategy, tiny):
    mask = np.zeros((30, 30), np.uint8)
    if tiny == "pixel":
        mask[10, 10] = 1
    elif tiny == "2x2":
        mask[0:2, 0:2] = 1
    elif tiny == "line":
        mask[15, 3:27] = 1
    p = ClicksParams(n_pos=(3, 3), n_neg2=(2, 2))
    maps = build_maps(mask, p, others=None)
    sampler = Sampler(instance_rng(1, 1, 7))
    for k in range(5):
        cs = simulate(maps, strategy, p, sampler if k % 2 else instance_rng(1, 1, 7 + k))
        produced = len(cs.positives) + len(cs.negatives)
        assert cs.shortfall == cs.n_pos_requested + cs.n_neg_requested - produced
        if strategy != "multipoint":
            assert len(cs.positives) == 0  # nowhere 5 px deep
            assert cs.shortfall >= 3
        for pts in (cs.positives, cs.negatives):
            assert ((pts >= 0) & (pts < 30)).all()
        if tiny != "empty":
            assert (mask[cs.positives[:, 1], cs.positives[:, 0]] == 1).all()
            assert (mask[cs.negatives[:, 1], cs.negatives[:, 0]] == 0).all()
        else:
            assert produced == 0


def test_whole_image_object_has_no_negatives_and_no_crash():
    mask = np.ones((20, 25), np.uint8)
    p = ClicksParams(n_neg1=(3, 3), n_neg3=(3, 3))
    maps = build_maps(mask, p, others=np.zeros_like(mask))
    for s in p.strategies:
        cs = simulate(maps, s, p, instance_rng(0, 1, 1))
        assert len(cs.negatives) == 0
        assert (mask[cs.positives[:, 1], cs.positives[:, 0]] == 1).all()


def test_sets_depend_only_on_seed_annotation_and_strategy():
    mask = random_shape(5, 60, 60)
    p = ClicksParams()
    a = instance_sets(build_maps(mask, p), 42, p, seed=1)
    b = instance_sets(build_maps(mask, p), 42, p, seed=1)
    assert [(s, k, c.positives.tolist(), c.negatives.tolist()) for s, k, c in a] == [
        (s, k, c.positives.tolist(), c.negatives.tolist()) for s, k, c in b
    ]
    # fewer strategies / sets: the remaining ones are unchanged
    for strategy in p.strategies:
        p2 = ClicksParams(strategies=[strategy], sets_per_strategy=2)
        c = instance_sets(build_maps(mask, p2), 42, p2, seed=1)
        ref = [x for x in a if x[0] == strategy and x[1] < 2]
        assert [(x[2].positives.tolist(), x[2].negatives.tolist()) for x in c] == [
            (x[2].positives.tolist(), x[2].negatives.tolist()) for x in ref
        ]
    # the sets of one strategy are different draws
    mp = [x[2].positives.tolist() for x in a if x[0] == "multipoint"]
    assert len({str(v) for v in mp}) == len(mp)
    d = instance_sets(build_maps(mask, p), 43, p, seed=1)
    assert [x[2].positives.tolist() for x in d] != [x[2].positives.tolist() for x in a]


@settings(max_examples=40, deadline=None)
@given(shape=shapes)
def test_maps_match_reference_distances(shape):
    mask = random_shape(*shape)
    maps = InstanceMaps.build(mask, reach=10)
    if not mask.any():
        assert maps.area == 0
        return
    ref_out = dt_out_ref(mask)[maps.y0 : maps.y1, maps.x0 : maps.x1]
    assert np.allclose(maps.dt_out, ref_out, atol=1e-3)
    ref_in = dt_in_ref(mask)[maps.by0 : maps.by1, maps.bx0 : maps.bx1]
    assert np.allclose(maps.dt_in, ref_in, atol=1e-3)
    assert maps.area == int(mask.sum())


def test_candidates_from_mask_and_empty():
    m = np.zeros((4, 5), bool)
    m[1, 2] = m[3, 4] = True
    c = Candidates.from_mask(m, 10, 20)
    assert c.xy().tolist() == [[12, 21], [14, 23]]
    assert len(Candidates.empty()) == 0


@settings(max_examples=25, deadline=None)
@given(shape=shapes, o1=st.integers(0, 2**32 - 1), o2=st.integers(0, 2**32 - 1), seed=st.integers(0, 100))
def test_stage_layers_give_the_same_sets_as_full_masks(shape, o1, o2, seed):
    """The stage passes other objects as cropped pieces; results equal those from a full mask."""
    from portraitkit.annotate.clicks.decode import decode_cropped
    from portraitkit.annotate.clicks.instance import ImageObjects
    from portraitkit.annotate.clicks.sets import build_maps_from_crop
    from portraitkit.curate.masks import mask_to_rle

    mask = random_shape(*shape)
    h, w = mask.shape
    a, b = random_shape(o1, h, w), random_shape(o2, h, w)
    pieces = [decode_cropped({"segmentation": mask_to_rle(m)}, h, w) for m in (a, b)]
    x0, y0, crop = decode_cropped({"segmentation": mask_to_rle(mask)}, h, w)
    p = ClicksParams()
    m1 = build_maps(mask, p, others=(a | b))
    objects = ImageObjects(h, w, [pieces[0], (x0, y0, crop), pieces[1]])  # this object among the others
    m2 = build_maps_from_crop(h, w, x0, y0, crop, p, objects.others(1))
    for s in p.strategies:
        c1 = simulate(m1, s, p, instance_rng(seed, 1, 5))
        c2 = simulate(m2, s, p, instance_rng(seed, 1, 5))
        assert c1.positives.tolist() == c2.positives.tolist()
        assert c1.negatives.tolist() == c2.negatives.tolist()


@settings(max_examples=40, deadline=None)
@given(shape=shapes, hole=st.integers(0, 2**32 - 1))
def test_exact_outer_distance_queries_with_holes(shape, hole):
    """The k-d tree of traced borders gives exact distances, also inside holes and at the edges."""
    mask = random_shape(*shape)
    mask[random_shape(hole, *mask.shape) == 1] = 0  # punch holes / cut pieces
    if not mask.any():
        return
    maps = InstanceMaps.build(mask, reach=5)
    ys, xs = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    d = maps.dist_out(xs.ravel(), ys.ravel()).reshape(mask.shape)
    off = mask == 0  # dist_out is defined for pixels off the object
    assert np.allclose(d[off], dt_out_ref(mask)[off], atol=1e-6)
    for r, strict in ((1, True), (2.5, False), (5, True), (3, False), (8, False), (6, False), (7, True), (12, False), (0, False)):
        x0, y0, near = maps.dilated(r, strict)
        ref = dt_out_ref(mask) < r if strict else dt_out_ref(mask) <= r
        assert np.array_equal(near, ref[y0 : y0 + near.shape[0], x0 : x0 + near.shape[1]])
        assert not ref[:y0].any() and not ref[y0 + near.shape[0] :].any()
        assert not ref[:, :x0].any() and not ref[:, x0 + near.shape[1] :].any()
        ero = maps.eroded(r, strict)
        din = dt_in_ref(mask)[maps.by0 : maps.by1, maps.bx0 : maps.bx1]
        assert np.array_equal(ero, (din >= r) if strict else (din > r))


@pytest.mark.parametrize(
    "ids",
    [(0, 1, 0), (2**32 - 1, 4, 2**32 - 1), (2**40 + 3, 2, 2**33), (-1, 3, 5), (123, 1, 7), (5, 255, 2**56 - 1)],
)
def test_instance_rng_is_philox_keyed_by_seed_annotation_and_strategy(ids):
    """The documented key; the stage's re-keyed generator draws exactly what a new one draws,
    whatever was drawn from it before."""
    from portraitkit.annotate.clicks.sampling import reused_instance_rng

    seed, code, aid = ids
    def draws(g: np.random.Generator) -> tuple:
        return g.random(9).tolist(), g.integers(0, 1000, 5).tolist(), g.multinomial(7, [0.3, 0.7]).tolist()

    want = draws(np.random.Generator(np.random.Philox(key=np.array([seed & 0xFFFFFFFFFFFFFFFF, aid * 256 + code], np.uint64))))
    assert draws(instance_rng(seed, code, aid)) == want
    reused = reused_instance_rng(1, 2, 3)
    reused.random(3), reused.integers(0, 9, 1)  # leave the shared generator mid-stream
    assert draws(reused_instance_rng(seed, code, aid)) == want
    assert instance_rng(seed, code, aid).random() != instance_rng(seed, code, aid - 1 if aid else 1).random()
    assert instance_rng(seed, code, aid).random() != instance_rng(seed, code % 4 + 1 if code != 1 else 2, aid).random()
    with pytest.raises(ValueError):
        instance_rng(seed, code, 2**56)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_border_tree_gives_exact_outer_distances(s):
    """dist_out (k-d tree of the object's 4-boundary pixels) equals the exact distance transform."""
    rng = np.random.default_rng(s)
    mask = np.zeros((40, 50), np.uint8)
    for _ in range(3):
        cv2.circle(mask, (int(rng.integers(0, 50)), int(rng.integers(0, 40))), int(rng.integers(1, 9)), 1, -1)
    mask[rng.random(mask.shape) < 0.03] ^= 1
    if not mask.any():
        return
    maps = InstanceMaps.build(mask, reach=10)
    y, x = np.nonzero(mask == 0)  # dist_out is asked of non-object pixels
    want = ndi.distance_transform_edt(mask == 0)[y, x]
    assert np.allclose(maps.dist_out(x, y), want)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, other=st.integers(0, 2**32 - 1), seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4))
def test_instance_sets_equal_simulate_one_by_one(shape, other, seed, k):
    """The stage's batched path draws exactly what K simulate() calls on one sampler draw."""
    mask = random_shape(*shape)
    others = random_shape(other, *mask.shape)
    p = ClicksParams(sets_per_strategy=k)
    got = instance_sets(build_maps(mask, p, others), 9, p, seed=seed)
    maps = build_maps(mask, p, others)
    want = []
    for s in p.strategies:
        sampler = Sampler(instance_rng(seed, STRATEGY_CODES[s], 9))
        want += [(s, i, simulate(maps, s, p, sampler)) for i in range(k)]
    assert [(s, i, c.positives.tolist(), c.negatives.tolist(), c.n_pos_requested, c.n_neg_requested) for s, i, c in got] == [
        (s, i, c.positives.tolist(), c.negatives.tolist(), c.n_pos_requested, c.n_neg_requested) for s, i, c in want
    ]
