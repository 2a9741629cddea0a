"""Seeded point samplers over candidate pixel sets, shared by every strategy.

A :class:`Sampler` wraps the generator of one (instance, strategy) and keeps, per candidate
set, a stream of uniform random pixels of the set (drawn in batches on its rectangle, filtered
by the set's map or predicate). The K click sets of the strategy consume these streams in
order: set k uses the draws after those set k-1 used, so every set is an independent uniform
sample, and one batch of draws (one vectorised test) serves several sets.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from portraitkit.annotate.clicks.instance import Candidates

# Every (instance, strategy) has its own generator: Philox, a counter-based generator whose
# key picks one of 2**128 independent streams, keyed by [seed, annotation id * 256 + strategy code].
# Uniform draws one click set may spend on rejection sampling (per requested point, plus a
# constant) before it enumerates the candidates exactly: sparse or exhausted sets end there.
_DRAWS_PER_POINT = 84
_DRAWS_BASE = 336
_MIN_BATCH, _MAX_BATCH = 256, 1 << 14  # one batch usually serves all K sets


def stream_key(seed: int, strategy_code: int, annotation_id: int) -> np.ndarray:
    """The Philox key of one (instance, strategy): two 64-bit words."""
    if not 0 <= annotation_id < 1 << 56:
        raise ValueError(f"annotation id must be in [0, 2**56) (got {annotation_id})")
    if not 0 <= strategy_code < 256:
        raise ValueError(f"strategy code must be in [0, 256) (got {strategy_code})")
    return np.array([int(seed) & 0xFFFFFFFFFFFFFFFF, (int(annotation_id) << 8) | int(strategy_code)], np.uint64)


def instance_rng(seed: int, strategy_code: int, annotation_id: int) -> np.random.Generator:
    """The generator of one (instance, strategy): depends only on these ids, never on order or
    worker count."""
    return np.random.Generator(np.random.Philox(key=stream_key(seed, strategy_code, annotation_id)))


_reusable = threading.local()


def reused_instance_rng(seed: int, strategy_code: int, annotation_id: int) -> np.random.Generator:
    """:func:`instance_rng`'s generator, made by re-keying one generator per thread instead of
    building a new one (a few microseconds instead of tens: the stage asks for four per
    instance). The previous one stops being valid: only for callers that finish with a
    generator before asking for the next."""
    gen = getattr(_reusable, "gen", None)
    if gen is None:
        gen = _reusable.gen = np.random.Generator(np.random.Philox(0))
    gen.bit_generator.state = {
        "bit_generator": "Philox",
        "state": {"counter": np.zeros(4, np.uint64), "key": stream_key(seed, strategy_code, annotation_id)},
        "buffer": np.zeros(4, np.uint64),
        "buffer_pos": 4,  # empty: the next draw starts at counter 0, as in a new Philox
        "has_uint32": 0,
        "uinteger": 0,
    }
    return gen


def draw_count(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    """Uniform integer in the inclusive range ``[lo, hi]``."""
    lo, hi = lo_hi
    return int(rng.integers(lo, hi + 1)) if hi > lo else int(lo)


def no_points() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


def as_points(points: list[tuple[int, int]]) -> np.ndarray:
    """``(x, y)`` pairs as the (m, 2) int64 array the public functions return."""
    return np.asarray(points, np.int64).reshape(-1, 2)


class _Stream:
    """Uniform random candidates of one set, in draw order (``pos``: the next unused one)."""

    __slots__ = ("cand", "xs", "ys", "pos", "drawn", "hits")

    def __init__(self, cand: Candidates) -> None:
        self.cand = cand
        self.xs: list[int] = []
        self.ys: list[int] = []
        self.pos = 0  # next unused candidate
        self.drawn = 0
        self.hits = 0

    def more(self, rng: np.random.Generator, want: int, left: int) -> bool:
        """Draw another batch if ``left`` draws remain (False when the budget is spent).
        ``xs`` and ``ys`` stay the same list objects, so callers may hold on to them."""
        if left <= 0:
            return False
        self.refill(rng, want, left)
        return True

    def refill(self, rng: np.random.Generator, want: int, limit: int) -> None:
        """Draw a batch sized to yield about ``want`` candidates, at most ``limit`` draws."""
        rate = (self.hits + 1) / (self.drawn + 2)  # Laplace estimate of the hit rate
        m = int(min(limit, _MAX_BATCH, max(_MIN_BATCH, math.ceil(1.5 * want / rate))))
        cand = self.cand
        w = cand.x1 - cand.x0
        # uniform pixels of the rectangle: one rng.random per pixel (several times cheaper than
        # rng.integers with array bounds), flat row-major index floor(u * area)
        idx = (rng.random(m) * (w * (cand.y1 - cand.y0))).astype(np.int64)
        if cand.mapped:  # one lookup in the region map keeps the candidates
            idx = idx[cand.flat()[idx]]
            ys, xs = np.divmod(idx, w)
            xs += cand.x0
            ys += cand.y0
            hits = len(idx)
        else:
            ys, xs = np.divmod(idx, w)
            xs += cand.x0
            ys += cand.y0
            ok = cand.pred(xs, ys)
            xs, ys = xs[ok], ys[ok]
            hits = len(xs)
        # compact the consumed prefix away now and then (streams live for one instance)
        if self.pos > 256:
            del self.xs[: self.pos], self.ys[: self.pos]
            self.pos = 0
        self.xs.extend(xs.tolist())
        self.ys.extend(ys.tolist())
        self.drawn += m
        self.hits += hits


class Sampler:
    """Draws points for the click sets of one (instance, strategy) from one generator.

    ``spaced`` and ``cover`` consume the generator (and the per-set streams) in call order, so
    a fixed sequence of calls gives fixed points; set k of a strategy depends only on the
    generator and the sets before it (fewer sets per strategy leave the first ones unchanged).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._streams: dict[int, _Stream] = {}

    def _stream(self, cand: Candidates) -> _Stream:
        s = self._streams.get(id(cand))
        if s is None or s.cand is not cand:
            s = self._streams[id(cand)] = _Stream(cand)
        return s

    def spaced(self, cand: Candidates, n: int, min_dist: float, avoid: np.ndarray | None = None) -> np.ndarray:
        """:meth:`spaced_list` as an (m, 2) int64 array of image ``[x, y]``."""
        return as_points(self.spaced_list(cand, n, min_dist, avoid))

    def spaced_list(
        self, cand: Candidates, n: int, min_dist: float, avoid: np.ndarray | list | None = None
    ) -> list[tuple[int, int]]:
        """Up to ``n`` distinct random candidates, pairwise at least ``min_dist`` apart.

        ``avoid``: (k, 2) image ``[x, y]`` points the new ones must also be ``min_dist`` from
        and differ from. Points are uniform over the valid candidates: first by rejection
        sampling on the candidate rectangle, then (if that found too few) from the exact
        enumeration, so fewer than ``n`` come back only when no valid candidate is left.
        Returns a list of ``(x, y)`` image pixels.
        """
        if n <= 0 or cand.region_empty:
            return []
        md2 = max(float(min_dist) ** 2, 1.0)  # distinct pixels at least
        if avoid is None:
            fixed: list[tuple[int, int]] = []
        elif isinstance(avoid, list):
            fixed = list(avoid)
        else:
            fixed = [tuple(q) for q in np.asarray(avoid).tolist()]
        s = self._stream(cand)
        budget = _DRAWS_PER_POINT * n + _DRAWS_BASE
        start = s.drawn
        chosen: list[tuple[int, int]] = []
        xs, ys = s.xs, s.ys
        if md2 <= 1.0:
            taken = set(fixed)
            while True:
                if s.pos == len(xs):
                    if not s.more(self.rng, n - len(chosen), budget - (s.drawn - start)):
                        break
                    continue
                q = (xs[s.pos], ys[s.pos])
                s.pos += 1
                if q not in taken:
                    taken.add(q)
                    chosen.append(q)
                    if len(chosen) == n:
                        return chosen
            return self._distinct_exact(cand, n, chosen, taken)
        while True:
            if s.pos == len(xs):
                if not s.more(self.rng, n - len(chosen), budget - (s.drawn - start)):
                    break
                continue
            x, y = xs[s.pos], ys[s.pos]
            s.pos += 1
            for cx, cy in fixed:
                dx, dy = x - cx, y - cy
                if dx * dx + dy * dy < md2:
                    break
            else:
                chosen.append((x, y))
                fixed.append((x, y))
                if len(chosen) == n:
                    return chosen
        return self._spaced_exact(cand, n, md2, chosen, fixed)

    def _spaced_exact(self, cand: Candidates, n: int, md2: float, chosen: list, fixed: list) -> list:
        """Finish a spaced sample from the enumerated candidates (rejection sampling fell short)."""
        pool = cand.xy()
        while len(chosen) < n and len(pool):
            keep = np.ones(len(pool), bool)
            for cx, cy in fixed:
                keep &= (pool[:, 0] - cx) ** 2 + (pool[:, 1] - cy) ** 2 >= md2
            pool = pool[keep]
            if not len(pool):
                break
            for x, y in pool[(self.rng.random(2 * (n - len(chosen)) + 4) * len(pool)).astype(np.int64)].tolist():
                if all((x - cx) ** 2 + (y - cy) ** 2 >= md2 for cx, cy in fixed):
                    chosen.append((x, y))
                    fixed.append((x, y))
                    if len(chosen) == n:
                        break
        return chosen

    def _distinct_exact(self, cand: Candidates, n: int, chosen: list, taken: set) -> list:
        """Finish a distinct sample from the enumerated candidates."""
        pool = cand.xy()
        if len(pool):
            if taken:
                keys = pool[:, 0] * (1 << 32) + pool[:, 1]
                pool = pool[~np.isin(keys, np.array([x * (1 << 32) + y for x, y in taken], np.int64))]
            k = min(n - len(chosen), len(pool))
            if k:
                pick = np.sort(self.rng.choice(len(pool), size=k, replace=False))
                chosen.extend(map(tuple, pool[pick].tolist()))
        return chosen

    def cover(self, cand: Candidates, n: int) -> np.ndarray:
        """Greedy farthest-point cover: a random first candidate, then each next one farthest
        from the chosen.

        The result's covering radius (largest distance of any candidate to its nearest chosen
        point) is at most the smallest distance between two chosen points (a 2-approximation of
        the best cover with this many points). Fewer than ``n`` only when the candidates run
        out. Ties go to the first candidate in row-major order.
        """
        return self.covers(cand, [(n, self.cover_start(cand, n))])[0]

    def cover_start(self, cand: Candidates, n: int) -> int:
        """Draw the first point of a cover of ``n`` points (an index into the enumerated
        candidates; -1, drawing nothing, when there is nothing to cover)."""
        if n <= 0 or cand.region_empty:
            return -1
        size = len(cand.xy_int()[0])
        return int(self.rng.integers(0, size)) if size else -1

    @staticmethod
    def covers(cand: Candidates, requests: list[tuple[int, int]]) -> list[np.ndarray]:
        """:meth:`cover` for several ``(n, start)`` requests (starts from :meth:`cover_start`)
        at once: the greedy steps of all covers share each pass over the candidates."""
        out = [no_points() for _ in requests]
        live = [(i, n, j) for i, (n, j) in enumerate(requests) if n > 0 and j >= 0]
        if not live:
            return out
        xs, ys = cand.xy_int()  # relative to the rectangle's corner
        pts = np.stack([xs, ys], axis=1).astype(np.float64)
        norms = (pts * pts).sum(axis=1)

        def sq_dist(js: np.ndarray) -> np.ndarray:
            # |p - q|^2 = |p|^2 - 2 p.q + |q|^2 for every candidate p and each chosen q, as one
            # matrix product; integers far below 2**53, so float64 keeps them exact
            q = pts[js]
            d = q @ pts.T
            d *= -2.0
            d += norms
            d += norms[js][:, None]
            return d

        chosen = [[j] for _, _, j in live]
        want = [n for _, n, _ in live]
        rows = [r for r in range(len(live)) if want[r] > 1]  # covers still growing
        d2 = sq_dist(np.array([live[r][2] for r in rows], np.int64)) if rows else None
        while rows:
            js = d2.argmax(axis=1)
            best = d2[np.arange(len(rows)), js]
            keep = []
            for k, r in enumerate(rows):
                if best[k] <= 0:  # every candidate already chosen
                    continue
                chosen[r].append(int(js[k]))
                if len(chosen[r]) < want[r]:
                    keep.append(k)
            if not keep:
                break
            if len(keep) < len(rows):  # drop finished covers: later passes are over fewer rows
                d2 = d2[keep]
                js = js[keep]
                rows = [rows[k] for k in keep]
            np.minimum(d2, sq_dist(js), out=d2)
        for (i, _, _), idx in zip(live, chosen):
            idx = np.asarray(idx, np.int64)
            out[i] = np.stack([xs[idx].astype(np.int64) + cand.x0, ys[idx].astype(np.int64) + cand.y0], axis=1)
        return out


def as_sampler(rng: np.random.Generator | Sampler) -> Sampler:
    """A :class:`Sampler` for ``rng`` (a fresh one for a bare generator: one click set)."""
    return rng if isinstance(rng, Sampler) else Sampler(rng)


def spaced_sample(
    cand: Candidates,
    n: int,
    min_dist: float,
    rng: np.random.Generator | Sampler,
    avoid: np.ndarray | None = None,
) -> np.ndarray:
    """:meth:`Sampler.spaced` (``rng``: a generator or a :class:`Sampler`)."""
    return as_sampler(rng).spaced(cand, n, min_dist, avoid)


def farthest_point_cover(cand: Candidates, n: int, rng: np.random.Generator | Sampler) -> np.ndarray:
    """:meth:`Sampler.cover` (``rng``: a generator or a :class:`Sampler`)."""
    return as_sampler(rng).cover(cand, n)


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
