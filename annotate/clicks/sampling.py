"""Seeded point samplers over candidate pixel sets, shared by every strategy."""

from __future__ import annotations

import numpy as np

from annotate.clicks.instance import Candidates

# Every click set has its own generator:
# np.random.default_rng([seed, CLICKS_SALT, strategy code, annotation id, set index]).
CLICKS_SALT = 0xC11C5
_REJECTION_ROUNDS = 3


def instance_rng(seed: int, strategy_code: int, annotation_id: int, set_index: int) -> np.random.Generator:
    """The generator of one click set: depends only on these ids, never on order or worker count."""
    if annotation_id < 0:
        raise ValueError(f"annotation id must be >= 0 (got {annotation_id})")
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF, CLICKS_SALT, int(strategy_code), int(annotation_id), int(set_index)]
    if 0 <= min(entropy) and max(entropy) <= 0xFFFFFFFF:
        # the same entropy words as the list (each value < 2**32 is one 32-bit word), coerced
        # by numpy about twice as fast
        return np.random.default_rng(np.array(entropy, np.uint32))
    return np.random.default_rng(entropy)


def draw_count(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    """Uniform integer in the inclusive range ``[lo, hi]``."""
    lo, hi = lo_hi
    return int(rng.integers(lo, hi + 1)) if hi > lo else int(lo)


def no_points() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


def uniform_pixels(cand: Candidates, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` uniform random pixels ``[x, y]`` of the candidate rectangle (an (m, 2) int64 array).

    One ``rng.random`` draw per pixel (several times cheaper than ``rng.integers`` with array
    bounds): flat index ``floor(u * area)``, row-major.
    """
    w = cand.x1 - cand.x0
    idx = (rng.random(m) * (w * (cand.y1 - cand.y0))).astype(np.int64)
    pts = np.empty((m, 2), np.int64)
    np.floor_divide(idx, w, out=pts[:, 1])
    pts[:, 0] = idx - pts[:, 1] * w
    pts[:, 0] += cand.x0
    pts[:, 1] += cand.y0
    return pts


def _far_enough(x: int, y: int, fixed: list[tuple[int, int]], md2: float) -> bool:
    for cx, cy in fixed:
        dx, dy = x - cx, y - cy
        if dx * dx + dy * dy < md2:
            return False
    return True


def _random_candidates(cand: Candidates, m: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """The candidates among ``m`` uniform random pixels of the rectangle, as ``(x, y)`` tuples in draw order."""
    if cand.mapped:
        flat = cand.flat()
        w = cand.x1 - cand.x0
        idx = (rng.random(m) * flat.size).astype(np.int64)
        idx = idx[flat[idx]]
        ys = idx // w
        idx -= ys * w
        idx += cand.x0
        ys += cand.y0
        return list(zip(idx.tolist(), ys.tolist()))
    pts = uniform_pixels(cand, m, rng)
    return list(map(tuple, pts[cand.pred(pts[:, 0], pts[:, 1])].tolist()))


def spaced_sample(
    cand: Candidates,
    n: int,
    min_dist: float,
    rng: np.random.Generator,
    avoid: np.ndarray | None = None,
) -> np.ndarray:
    """Up to ``n`` distinct random candidates, pairwise at least ``min_dist`` apart.

    ``avoid``: (k, 2) image ``[x, y]`` points the new ones must also be ``min_dist`` from and
    differ from. Points are drawn uniformly from the valid candidates, first by rejection on the
    candidate rectangle, then (if that found too few) from the exact enumeration, so fewer than
    ``n`` points come back only when no valid candidate is left.
    Returns an (m, 2) int64 array of image ``[x, y]``.
    """
    if n <= 0 or cand.region_empty:
        return no_points()
    md2 = max(float(min_dist) ** 2, 1.0)  # distinct pixels at least
    fixed: list[tuple[int, int]] = [tuple(q) for q in np.asarray(avoid).tolist()] if avoid is not None else []
    if md2 <= 1.0:
        return _distinct_sample(cand, n, rng, set(fixed))
    chosen: list[tuple[int, int]] = []
    # 1. rejection sampling on the rectangle: no enumeration for the common case
    for attempt in range(_REJECTION_ROUNDS):
        m = (4 * (n - len(chosen)) + 16) << (2 * attempt)  # larger batches when candidates are sparse
        for x, y in _random_candidates(cand, m, rng):
            if _far_enough(x, y, fixed, md2):
                chosen.append((x, y))
                fixed.append((x, y))
                if len(chosen) == n:
                    return np.asarray(chosen, np.int64)
    # 2. exact: enumerate, drop what is too close, draw from the rest
    pool = cand.xy()
    while len(chosen) < n and len(pool):
        keep = np.ones(len(pool), bool)
        for cx, cy in fixed:
            keep &= (pool[:, 0] - cx) ** 2 + (pool[:, 1] - cy) ** 2 >= md2
        pool = pool[keep]
        if not len(pool):
            break
        for x, y in pool[(rng.random(2 * (n - len(chosen)) + 4) * len(pool)).astype(np.int64)].tolist():
            if _far_enough(x, y, fixed, md2):
                chosen.append((x, y))
                fixed.append((x, y))
                if len(chosen) == n:
                    break
    return np.asarray(chosen, np.int64).reshape(-1, 2)


def _distinct_sample(cand: Candidates, n: int, rng: np.random.Generator, taken: set) -> np.ndarray:
    """:func:`spaced_sample` without spacing: ``n`` distinct candidates not in ``taken``."""
    chosen: list[tuple[int, int]] = []
    for attempt in range(_REJECTION_ROUNDS):
        m = (2 * (n - len(chosen)) + 16) << (2 * attempt)
        for q in _random_candidates(cand, m, rng):
            if q not in taken:
                taken.add(q)
                chosen.append(q)
                if len(chosen) == n:
                    return np.asarray(chosen, np.int64)
    pool = cand.xy()
    if len(pool):
        if taken:
            keys = pool[:, 0] * (1 << 32) + pool[:, 1]
            pool = pool[~np.isin(keys, np.array([x * (1 << 32) + y for x, y in taken], np.int64))]
        k = min(n - len(chosen), len(pool))
        if k:
            pick = np.sort(rng.choice(len(pool), size=k, replace=False))
            chosen.extend(map(tuple, pool[pick].tolist()))
    return np.asarray(chosen, np.int64).reshape(-1, 2)


def farthest_point_cover(cand: Candidates, n: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy farthest-point cover: a random first candidate, then each next one farthest from the chosen.

    The result's covering radius (largest distance of any candidate to its nearest chosen
    point) is at most the smallest distance between two chosen points (a 2-approximation of the
    best cover with this many points). Fewer than ``n`` only when the candidates run out.
    Ties go to the first candidate in row-major order.
    """
    if n <= 0 or cand.region_empty:
        return no_points()
    xs, ys = cand.xy_int()  # relative to the rectangle's corner
    if not len(xs):
        return no_points()
    j = int(rng.integers(0, len(xs)))
    chosen = [j]
    dx = np.empty_like(xs)
    dy = np.empty_like(ys)

    def sq_dist(j: int) -> np.ndarray:  # squared distances to candidate j, into dx (exact integers)
        np.subtract(xs, xs[j], out=dx)
        np.multiply(dx, dx, out=dx)
        np.subtract(ys, ys[j], out=dy)
        np.multiply(dy, dy, out=dy)
        return np.add(dx, dy, out=dx)

    d2 = sq_dist(j).copy()
    while len(chosen) < n:
        j = int(d2.argmax())
        if d2[j] <= 0:
            break
        chosen.append(j)
        np.minimum(d2, sq_dist(j), out=d2)
    idx = np.asarray(chosen, np.int64)
    return np.stack([xs[idx].astype(np.int64) + cand.x0, ys[idx].astype(np.int64) + cand.y0], axis=1)


def covering_radius(cand_xy: np.ndarray, points: np.ndarray) -> float:
    """Largest distance from any candidate to its nearest point (inf when there are no points)."""
    if len(cand_xy) == 0:
        return 0.0
    if len(points) == 0:
        return float("inf")
    best = np.full(len(cand_xy), np.inf)
    for x, y in np.asarray(points):
        np.minimum(best, (cand_xy[:, 0] - x) ** 2 + (cand_xy[:, 1] - y) ** 2, out=best)
    return float(np.sqrt(best.max()))
