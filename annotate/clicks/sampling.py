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
    return np.random.default_rng(
        [int(seed) & 0xFFFFFFFFFFFFFFFF, CLICKS_SALT, int(strategy_code), int(annotation_id), int(set_index)]
    )


def draw_count(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    """Uniform integer in the inclusive range ``[lo, hi]``."""
    lo, hi = lo_hi
    return int(rng.integers(lo, hi + 1)) if hi > lo else int(lo)


def no_points() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


def _far_enough(x: int, y: int, fixed: list[tuple[int, int]], md2: float) -> bool:
    for cx, cy in fixed:
        dx, dy = x - cx, y - cy
        if dx * dx + dy * dy < md2:
            return False
    return True


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
        pts = rng.integers((cand.x0, cand.y0), (cand.x1, cand.y1), size=(m, 2))
        ok = cand.pred(pts[:, 0], pts[:, 1])
        for x, y in pts[ok].tolist():
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
        for i in rng.integers(0, len(pool), size=2 * (n - len(chosen)) + 4).tolist():
            x, y = int(pool[i, 0]), int(pool[i, 1])
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
        pts = rng.integers((cand.x0, cand.y0), (cand.x1, cand.y1), size=(m, 2))
        ok = cand.pred(pts[:, 0], pts[:, 1])
        for q in map(tuple, pts[ok].tolist()):
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
    if n <= 0:
        return no_points()
    xy = cand.xy()
    if not len(xy):
        return no_points()
    xs, ys = cand.xy_float()
    j = int(rng.integers(0, xy.shape[0]))
    chosen = [j]
    d2 = (xs - xs[j]) ** 2 + (ys - ys[j]) ** 2
    while len(chosen) < n:
        j = int(np.argmax(d2))
        if d2[j] <= 0:
            break
        chosen.append(j)
        np.minimum(d2, (xs - xs[j]) ** 2 + (ys - ys[j]) ** 2, out=d2)
    return xy[chosen]


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
